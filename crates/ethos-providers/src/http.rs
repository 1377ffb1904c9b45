//! Transport-neutral HTTP request description produced by the protocol builders.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Headers whose values are secrets: never printed.
const SECRET_HEADERS: [&str; 3] = ["authorization", "x-api-key", "x-goog-api-key"];

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    /// Header name/value pairs. May contain the key: never log or record this struct's headers
    /// (its `Debug` hides the secret ones).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s));
                (k.as_str(), if secret { "[hidden]" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secret_headers() {
        let req = HttpRequest {
            method: "POST".into(),
            url: "http://x/v1/chat/completions".into(),
            headers: vec![
                ("Authorization".into(), "Bearer sk-secret-123".into()),
                ("x-api-key".into(), "sk-ant-secret".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: None,
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("application/json") && shown.contains("[hidden]"));
    }
}
