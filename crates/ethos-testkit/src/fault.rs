//! The faults the server can answer with, and their text names.
//!
//! A fault is named by a short string, optionally with a `=PARAM`:
//!
//! | name | answer |
//! |---|---|
//! | `ok` | a normal reply (streamed or not; logprobs when asked) |
//! | `401`, `403`, `408`, `500`, `502` | that HTTP status with a protocol-shaped JSON error body |
//! | `404` | 404 "model does not exist" |
//! | `400-logprobs` | 400 "logprobs not supported" **only when the request asks for logprobs**, else `ok` |
//! | `429` | 429 without `Retry-After` |
//! | `429-retry-after[=S]` | 429 with `Retry-After: S` seconds (default 1) |
//! | `503` | 503 without `Retry-After`; `503-retry-after[=S]` with it |
//! | `slow-first-byte[=MS]` | waits MS ms (default 3000) before the status line, then `ok` |
//! | `trickle[=MS]` | the `ok` reply written a few bytes at a time, MS ms apart (default 5) |
//! | `cut` | the reply is cut mid-event: the connection is dropped without ending the body |
//! | `invalid-json` | one event (or the whole body) is not JSON |
//! | `empty-choices` | a 200 reply with `choices: []` (Anthropic: `content: []`) |
//! | `invalid-utf8` | the reply text contains bytes that are not UTF-8 |
//! | `huge[=BYTES]` | a reply of BYTES bytes of text (default 10 MB) |
//! | `no-done` | a stream that ends cleanly but without `[DONE]` (Anthropic: without `message_stop`) |
//! | `latency=MS` | `ok`, after a fixed latency of MS ms (for benchmarks) |
//! | `413` | 413 "request too large" |
//! | `400-seed`, `400-temperature` | 400 "unsupported parameter" **only when the request sends that parameter**, else `ok` |
//! | `400-markup` | 400 whose message holds HTML, a script and Markdown |
//! | `429-retry-date[=S]` | 429 with `Retry-After` as an HTTP date S seconds ahead (default 1) |
//! | `503-html` | 503 with an HTML page (with a script in it) as the body and `Retry-After: 1`, as a proxy sends |
//! | `no-cors` | an `ok` reply without any `Access-Control-Allow-Origin` (a browser refuses it) |
//! | `sse-error` | a stream that sends some text, then an SSE error event (OpenAI `{"error":…}`, Anthropic `event: error`) |
//! | `cut-mid-token` | a stream cut inside a text piece (the event never ends) |
//! | `cut-mid-utf8` | a stream cut inside a multi-byte UTF-8 character |
//! | `hold` | nothing is sent until the test calls `FaultServer::release` (or the client goes away), then `ok` |
//! | `stall` | a stream that sends some text, then nothing more until the client goes away |
//! | `drip` | a stream that sends one piece of text per `FaultServer::release` (the test decides when each token arrives) |

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Ok,
    Unauthorized,
    Forbidden,
    NotFound,
    LogprobsUnsupported,
    RequestTimeout,
    TooManyRequests { retry_after_s: Option<u64> },
    InternalError,
    BadGateway,
    Unavailable { retry_after_s: Option<u64> },
    SlowFirstByte { ms: u64 },
    Trickle { ms: u64 },
    Cut,
    InvalidJson,
    EmptyChoices,
    InvalidUtf8,
    Huge { bytes: usize },
    NoDone,
    Latency { ms: u64 },
    PayloadTooLarge,
    SeedUnsupported,
    TemperatureUnsupported,
    MarkupError,
    RetryAfterDate { s: u64 },
    UnavailableHtml,
    NoCors,
    SseError,
    CutMidToken,
    CutMidUtf8,
    Hold,
    Stall,
    Drip,
}

pub const DEFAULT_HUGE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultParseError(pub String);

impl fmt::Display for FaultParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown fault {:?}: use ok, 401, 403, 404, 400-logprobs, 408, 429, 429-retry-after[=S], 500, 502, 503, 503-retry-after[=S], slow-first-byte[=MS], trickle[=MS], cut, invalid-json, empty-choices, invalid-utf8, huge[=BYTES], no-done, latency=MS, 413, 400-seed, 400-temperature, 400-markup, 429-retry-date[=S], 503-html, no-cors, sse-error, cut-mid-token, cut-mid-utf8, hold, stall, drip", self.0)
    }
}

impl std::error::Error for FaultParseError {}

impl Fault {
    /// Every fault kind, with default parameters (for listings and exhaustive tests).
    pub fn all() -> Vec<Fault> {
        vec![
            Fault::Ok,
            Fault::Unauthorized,
            Fault::Forbidden,
            Fault::NotFound,
            Fault::LogprobsUnsupported,
            Fault::RequestTimeout,
            Fault::TooManyRequests {
                retry_after_s: None,
            },
            Fault::TooManyRequests {
                retry_after_s: Some(1),
            },
            Fault::InternalError,
            Fault::BadGateway,
            Fault::Unavailable {
                retry_after_s: None,
            },
            Fault::Unavailable {
                retry_after_s: Some(1),
            },
            Fault::SlowFirstByte { ms: 3000 },
            Fault::Trickle { ms: 5 },
            Fault::Cut,
            Fault::InvalidJson,
            Fault::EmptyChoices,
            Fault::InvalidUtf8,
            Fault::Huge {
                bytes: DEFAULT_HUGE_BYTES,
            },
            Fault::NoDone,
            Fault::Latency { ms: 100 },
            Fault::PayloadTooLarge,
            Fault::SeedUnsupported,
            Fault::TemperatureUnsupported,
            Fault::MarkupError,
            Fault::RetryAfterDate { s: 1 },
            Fault::UnavailableHtml,
            Fault::NoCors,
            Fault::SseError,
            Fault::CutMidToken,
            Fault::CutMidUtf8,
            Fault::Hold,
            Fault::Stall,
            Fault::Drip,
        ]
    }

    /// The name without its parameter, as counted in the stats.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Unauthorized => "401",
            Fault::Forbidden => "403",
            Fault::NotFound => "404",
            Fault::LogprobsUnsupported => "400-logprobs",
            Fault::RequestTimeout => "408",
            Fault::TooManyRequests {
                retry_after_s: None,
            } => "429",
            Fault::TooManyRequests {
                retry_after_s: Some(_),
            } => "429-retry-after",
            Fault::InternalError => "500",
            Fault::BadGateway => "502",
            Fault::Unavailable {
                retry_after_s: None,
            } => "503",
            Fault::Unavailable {
                retry_after_s: Some(_),
            } => "503-retry-after",
            Fault::SlowFirstByte { .. } => "slow-first-byte",
            Fault::Trickle { .. } => "trickle",
            Fault::Cut => "cut",
            Fault::InvalidJson => "invalid-json",
            Fault::EmptyChoices => "empty-choices",
            Fault::InvalidUtf8 => "invalid-utf8",
            Fault::Huge { .. } => "huge",
            Fault::NoDone => "no-done",
            Fault::Latency { .. } => "latency",
            Fault::PayloadTooLarge => "413",
            Fault::SeedUnsupported => "400-seed",
            Fault::TemperatureUnsupported => "400-temperature",
            Fault::MarkupError => "400-markup",
            Fault::RetryAfterDate { .. } => "429-retry-date",
            Fault::UnavailableHtml => "503-html",
            Fault::NoCors => "no-cors",
            Fault::SseError => "sse-error",
            Fault::CutMidToken => "cut-mid-token",
            Fault::CutMidUtf8 => "cut-mid-utf8",
            Fault::Hold => "hold",
            Fault::Stall => "stall",
            Fault::Drip => "drip",
        }
    }

    /// Parse one fault name (see the module docs). Case-insensitive, surrounding spaces ignored.
    pub fn parse(text: &str) -> Result<Fault, FaultParseError> {
        let err = || FaultParseError(text.to_string());
        let t = text.trim().to_ascii_lowercase();
        let (name, param) = match t.split_once('=') {
            Some((n, p)) => (n.trim().to_string(), Some(p.trim().to_string())),
            None => (t.clone(), None),
        };
        let num = |default: u64| -> Result<u64, FaultParseError> {
            match &param {
                None => Ok(default),
                Some(p) => p.parse::<u64>().map_err(|_| err()),
            }
        };
        let no_param = |f: Fault| if param.is_some() { Err(err()) } else { Ok(f) };
        match name.as_str() {
            "ok" => no_param(Fault::Ok),
            "401" => no_param(Fault::Unauthorized),
            "403" => no_param(Fault::Forbidden),
            "404" => no_param(Fault::NotFound),
            "400-logprobs" | "400" => no_param(Fault::LogprobsUnsupported),
            "408" => no_param(Fault::RequestTimeout),
            "429" => no_param(Fault::TooManyRequests {
                retry_after_s: None,
            }),
            "429-retry-after" => Ok(Fault::TooManyRequests {
                retry_after_s: Some(num(1)?),
            }),
            "500" => no_param(Fault::InternalError),
            "502" => no_param(Fault::BadGateway),
            "503" => no_param(Fault::Unavailable {
                retry_after_s: None,
            }),
            "503-retry-after" => Ok(Fault::Unavailable {
                retry_after_s: Some(num(1)?),
            }),
            "slow-first-byte" => Ok(Fault::SlowFirstByte { ms: num(3000)? }),
            "trickle" => Ok(Fault::Trickle { ms: num(5)? }),
            "cut" => no_param(Fault::Cut),
            "invalid-json" => no_param(Fault::InvalidJson),
            "empty-choices" => no_param(Fault::EmptyChoices),
            "invalid-utf8" => no_param(Fault::InvalidUtf8),
            "huge" => Ok(Fault::Huge {
                bytes: usize::try_from(num(DEFAULT_HUGE_BYTES as u64)?).map_err(|_| err())?,
            }),
            "no-done" => no_param(Fault::NoDone),
            "413" => no_param(Fault::PayloadTooLarge),
            "400-seed" => no_param(Fault::SeedUnsupported),
            "400-temperature" => no_param(Fault::TemperatureUnsupported),
            "400-markup" => no_param(Fault::MarkupError),
            "429-retry-date" => Ok(Fault::RetryAfterDate { s: num(1)? }),
            "503-html" => no_param(Fault::UnavailableHtml),
            "no-cors" => no_param(Fault::NoCors),
            "sse-error" => no_param(Fault::SseError),
            "cut-mid-token" => no_param(Fault::CutMidToken),
            "cut-mid-utf8" => no_param(Fault::CutMidUtf8),
            "hold" => no_param(Fault::Hold),
            "stall" => no_param(Fault::Stall),
            "drip" => no_param(Fault::Drip),
            "latency" => match param {
                Some(_) => Ok(Fault::Latency { ms: num(0)? }),
                None => Err(err()),
            },
            _ => Err(err()),
        }
    }

    /// Parse a comma-separated sequence, e.g. `503,503,ok`.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, FaultParseError> {
        let list: Vec<Fault> = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(Fault::parse)
            .collect::<Result<_, _>>()?;
        if list.is_empty() {
            return Err(FaultParseError(text.to_string()));
        }
        Ok(list)
    }

    /// The HTTP status this fault answers with (200 for the body-level faults).
    pub fn status(&self) -> u16 {
        match self {
            Fault::Unauthorized => 401,
            Fault::Forbidden => 403,
            Fault::NotFound => 404,
            Fault::LogprobsUnsupported
            | Fault::SeedUnsupported
            | Fault::TemperatureUnsupported
            | Fault::MarkupError => 400,
            Fault::RequestTimeout => 408,
            Fault::PayloadTooLarge => 413,
            Fault::TooManyRequests { .. } | Fault::RetryAfterDate { .. } => 429,
            Fault::InternalError => 500,
            Fault::BadGateway => 502,
            Fault::Unavailable { .. } | Fault::UnavailableHtml => 503,
            _ => 200,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::TooManyRequests {
                retry_after_s: Some(s),
            } => write!(f, "429-retry-after={s}"),
            Fault::Unavailable {
                retry_after_s: Some(s),
            } => write!(f, "503-retry-after={s}"),
            Fault::SlowFirstByte { ms } => write!(f, "slow-first-byte={ms}"),
            Fault::Trickle { ms } => write!(f, "trickle={ms}"),
            Fault::Huge { bytes } => write!(f, "huge={bytes}"),
            Fault::Latency { ms } => write!(f, "latency={ms}"),
            Fault::RetryAfterDate { s } => write!(f, "429-retry-date={s}"),
            other => f.write_str(other.kind()),
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = FaultParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fault::parse(s)
    }
}

impl serde::Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fault::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The prefix of a model name that selects faults: `fault:429-retry-after`, `fault:503,503,ok`.
pub const MODEL_PREFIX: &str = "fault:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips_through_its_name() {
        for f in Fault::all() {
            assert_eq!(Fault::parse(&f.to_string()), Ok(f), "{f}");
        }
    }

    #[test]
    fn parameters_and_lists() {
        assert_eq!(
            Fault::parse(" 429-Retry-After=7 "),
            Ok(Fault::TooManyRequests {
                retry_after_s: Some(7)
            })
        );
        assert_eq!(
            Fault::parse("429-retry-after"),
            Ok(Fault::TooManyRequests {
                retry_after_s: Some(1)
            })
        );
        assert_eq!(Fault::parse("huge=10"), Ok(Fault::Huge { bytes: 10 }));
        assert_eq!(Fault::parse_list("503,503,ok").map(|l| l.len()), Ok(3));
        assert!(Fault::parse("latency").is_err());
        assert!(Fault::parse("ok=3").is_err());
        assert!(Fault::parse("418").is_err());
        assert!(Fault::parse("trickle=fast").is_err());
        assert!(Fault::parse_list(" , ").is_err());
    }
}
