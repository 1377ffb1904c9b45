//! Raw deflate (RFC 1951) with the browser's own `CompressionStream` / `DecompressionStream`
//! ("deflate-raw"): share links are compressed without shipping a compressor in the app. The
//! bindings are declared here (a few methods of the Streams API) rather than taken from web-sys.
//!
//! Inflating reads outside data: the input is fed in small pieces and the output is counted as
//! it arrives, so a crafted link that unpacks to gigabytes is stopped at the cap after at most
//! one piece's worth (about 1 MB) more, and damaged data is an error, never a panic.

use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    type CompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<CompressionStream, JsValue>;

    type DecompressionStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;

    /// What both streams are: a `{ readable, writable }` pair.
    type Transform;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &Transform) -> Readable;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &Transform) -> Writable;

    type Readable;
    #[wasm_bindgen(method, js_name = getReader, catch)]
    fn get_reader(this: &Readable) -> Result<Reader, JsValue>;

    type Reader;
    #[wasm_bindgen(method)]
    fn read(this: &Reader) -> Promise;
    #[wasm_bindgen(method)]
    fn cancel(this: &Reader) -> Promise;

    type Writable;
    #[wasm_bindgen(method, js_name = getWriter, catch)]
    fn get_writer(this: &Writable) -> Result<Writer, JsValue>;

    type Writer;
    #[wasm_bindgen(method, getter)]
    fn ready(this: &Writer) -> Promise;
    #[wasm_bindgen(method)]
    fn write(this: &Writer, chunk: &Uint8Array) -> Promise;
    #[wasm_bindgen(method)]
    fn close(this: &Writer) -> Promise;
}

/// Input is fed in pieces this big: deflate expands at most about 1032-fold, so one piece
/// unpacks to at most about 1 MB past the cap.
const PIECE: usize = 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeflateError {
    #[error("this browser has no {0} (needed for share links); try a current Chrome, Edge, Firefox or Safari")]
    Unsupported(&'static str),
    #[error("{0}")]
    Stream(String),
    #[error("more than {0} bytes")]
    TooBig(usize),
}

fn js_text(v: &JsValue) -> String {
    v.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| v.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}

fn stream_error(v: JsValue) -> DeflateError {
    DeflateError::Stream(js_text(&v))
}

/// Compress `bytes` as raw deflate.
pub async fn deflate(bytes: &[u8]) -> Result<Vec<u8>, DeflateError> {
    let t = CompressionStream::new("deflate-raw")
        .map_err(|_| DeflateError::Unsupported("CompressionStream"))?;
    pump(t.unchecked_into(), bytes, usize::MAX).await
}

/// Inflate raw deflate `bytes`; more than `cap` bytes of output is [`DeflateError::TooBig`].
pub async fn inflate(bytes: &[u8], cap: usize) -> Result<Vec<u8>, DeflateError> {
    let t = DecompressionStream::new("deflate-raw")
        .map_err(|_| DeflateError::Unsupported("DecompressionStream"))?;
    pump(t.unchecked_into(), bytes, cap).await
}

/// Write `input` into the transform piece by piece while reading its output (both at once: the
/// stream applies back-pressure), stopping once the output passes `cap`.
async fn pump(t: Transform, input: &[u8], cap: usize) -> Result<Vec<u8>, DeflateError> {
    let writer = t.writable().get_writer().map_err(stream_error)?;
    let reader = t.readable().get_reader().map_err(stream_error)?;
    let feed = async {
        for piece in input.chunks(PIECE) {
            // After the reader stops (cap, damage) these reject: the feed just ends.
            JsFuture::from(writer.ready()).await?;
            JsFuture::from(writer.write(&Uint8Array::from(piece))).await?;
        }
        JsFuture::from(writer.close()).await.map(|_| ())
    };
    let drain = async {
        let mut out = Vec::new();
        loop {
            let step = JsFuture::from(reader.read()).await.map_err(stream_error)?;
            let done = Reflect::get(&step, &JsValue::from_str("done"))
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            if done {
                return Ok(out);
            }
            let chunk = Reflect::get(&step, &JsValue::from_str("value"))
                .ok()
                .and_then(|v| v.dyn_into::<Uint8Array>().ok())
                .ok_or_else(|| DeflateError::Stream("the stream gave no bytes".into()))?;
            let start = out.len();
            let len = chunk.length() as usize;
            if start.saturating_add(len) > cap {
                let _ = JsFuture::from(reader.cancel()).await;
                return Err(DeflateError::TooBig(cap));
            }
            out.resize(start + len, 0);
            chunk.copy_to(&mut out[start..]);
        }
    };
    let (_fed, drained): (Result<(), JsValue>, _) = futures::join!(feed, drain);
    drained
}
