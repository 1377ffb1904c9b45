//! Transport-neutral HTTP request description produced by the protocol builders.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    /// Header name/value pairs. May contain the key: never log or record this struct.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}
