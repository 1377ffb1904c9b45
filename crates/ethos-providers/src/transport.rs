//! The transport abstraction: send one HTTP request and stream its body.
//!
//! Implemented by `web::WebTransport` (browser fetch), `native::NativeTransport` (reqwest,
//! feature `native`) and scripted in-memory transports in tests. Futures need not be `Send`.

use crate::http::HttpRequest;
use ethos_engine::ChatError;

/// The status line of a finished response (the body went to `on_chunk`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpStatus {
    pub status: u16,
    /// The raw `Retry-After` header value, if the server sent one (and, in a browser, exposed it).
    pub retry_after: Option<String>,
}

impl HttpStatus {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Contract for implementors:
/// - `send` performs the request and calls `on_chunk` with the body bytes, in order, as they
///   arrive (any chunking; chunk boundaries carry no meaning). On a non-2xx status the body is
///   still streamed so the caller can read the error. It returns the status once the body has
///   ended. If `on_chunk` returns `Err`, stop reading, abort the request and return that error.
/// - Connection failures -> `ChatError::Network(plain-language diagnosis)`; a transport-level
///   timeout -> `ChatError::Timeout`; an abort the user asked for -> `ChatError::Cancelled`.
///   A body cut short by the network -> `ChatError::Network`. Never put the key in an error.
/// - Dropping the future returned by `send` must abort the request (browser: AbortController).
/// - `sleep(ms)` waits without blocking the thread; `now_ms()` is Unix time in milliseconds
///   (used to evaluate HTTP-date `Retry-After` values); `jitter()` is uniform in `[0, 1)`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(
        &self,
        req: HttpRequest,
        on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
    ) -> Result<HttpStatus, ChatError>;
    async fn sleep(&self, ms: u64);
    fn now_ms(&self) -> f64;
    fn jitter(&self) -> f64;
}

/// Forward the trait through smart pointers and references.
macro_rules! forward_transport {
    ($($ptr:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ptr {
            async fn send(
                &self,
                req: HttpRequest,
                on_chunk: &mut dyn FnMut(&[u8]) -> Result<(), ChatError>,
            ) -> Result<HttpStatus, ChatError> {
                (**self).send(req, on_chunk).await
            }
            async fn sleep(&self, ms: u64) {
                (**self).sleep(ms).await
            }
            fn now_ms(&self) -> f64 {
                (**self).now_ms()
            }
            fn jitter(&self) -> f64 {
                (**self).jitter()
            }
        }
    )*};
}

forward_transport!(&T, std::rc::Rc<T>, std::sync::Arc<T>);
