//! Share links: run records (item, settings, prompts, replies, scores; never a key: the record
//! has no field for one) in the URL fragment, so they never reach a server. The format, and the
//! reading of old `#run=` links, live in the engine (`ethos_engine::share`, tested natively with
//! flate2); this adds the page URL and the browser's deflate.

use crate::browser;
use crate::deflate::{self, DeflateError};
pub use ethos_engine::share::Shared;
use ethos_engine::share::{
    fragment_v2, from_payload, payload, read_link, Link, ShareError, MAX_LINK_CHARS,
    MAX_PAYLOAD_BYTES,
};

/// Why no link was made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error(
        "This run is too long for a link ({chars} characters; links stop at {max}). \
         Share the JSON file instead: the other side imports it."
    )]
    TooLong { chars: usize, max: usize },
    #[error("No share link could be made: {0}")]
    Deflate(DeflateError),
}

/// The page URL with `shared` compressed into its fragment, if it fits [`MAX_LINK_CHARS`].
pub async fn link_for(shared: &Shared) -> Result<String, LinkError> {
    let packed = deflate::deflate(payload(shared).as_bytes())
        .await
        .map_err(LinkError::Deflate)?;
    let url = format!(
        "{}{}",
        browser::page_url_without_hash(),
        fragment_v2(&packed)
    );
    let chars = url.chars().count();
    if chars > MAX_LINK_CHARS {
        return Err(LinkError::TooLong {
            chars,
            max: MAX_LINK_CHARS,
        });
    }
    Ok(url)
}

/// The page's fragment as a share link: None when there is none.
pub fn page_link() -> Option<Result<Link, ShareError>> {
    read_link(&browser::hash())
}

/// What a link carries (inflating a `#r2=` one, at most [`MAX_PAYLOAD_BYTES`]).
pub async fn open(link: Link) -> Result<Shared, ShareError> {
    match link {
        Link::Plain(shared) => Ok(shared),
        Link::Deflated(bytes) => {
            let text = deflate::inflate(&bytes, MAX_PAYLOAD_BYTES)
                .await
                .map_err(|e| match e {
                    DeflateError::TooBig(max) => ShareError::TooBig { max },
                    other => ShareError::Inflate(other.to_string()),
                })?;
            from_payload(&text)
        }
    }
}
