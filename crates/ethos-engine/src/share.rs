//! Share links: run records (item, settings, prompts, replies, scores; never a key: the record
//! has no field for one) in a URL fragment, so they never reach a server. The app
//! (src/share.rs) only adds the page URL and the compressor; reading a link reads outside data,
//! so nothing here panics on it.
//!
//! Two formats:
//! - `#r2=` (written): base64url (no padding) of the raw-deflate (RFC 1951) compressed
//!   [`payload`]: a header line `ethos-share 2 run` or `ethos-share 2 compare`, then one record
//!   per line as compact JSON (the record export's JSON without its layout whitespace) in which
//!   long strings seen before are references to them. Lossless: the records read back equal. The engine does not compress: the browser uses
//!   `CompressionStream("deflate-raw")`, the native tests `flate2`; both read each other's bytes.
//! - `#run=<run>~<baseline>~…` (read only): base64url of each record's pretty JSON, the links
//!   older builds made.

use crate::record::RunRecord;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The old, uncompressed format (still read).
pub const PREFIX: &str = "#run=";
/// The compressed format.
pub const PREFIX_V2: &str = "#r2=";

/// Separates the run from its baselines in a `#run=` link (not in the base64url alphabet).
pub const SEP: char = '~';

/// The longest link the app offers (characters, page URL included). Chromium takes URLs up to
/// 2 MB and Firefox up to 1 MB, but Firefox shows at most 65,536 characters in the address bar
/// and a link usually travels through mail or chat first: half that leaves room for the page
/// URL of any host and for wrapping. Longer runs are shared as the JSON file.
pub const MAX_LINK_CHARS: usize = 32_768;

/// The longest fragment that is read (characters). Old `#run=` links of a k = 24 run are about
/// 130k characters; anything past this is refused before it is decoded.
pub const MAX_FRAGMENT_CHARS: usize = 512 * 1024;

/// The most a `#r2=` payload may inflate to (bytes). A k = 24 run's payload is about 100 kB;
/// deflate can expand about 1000-fold, so without a cap a crafted link could eat the tab.
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;

const HEADER: &str = "ethos-share 2";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShareError {
    #[error("the share link is damaged (not valid base64; was it cut short when copied?)")]
    Encoding,
    #[error("the share link does not hold text")]
    NotText,
    #[error("the shared run could not be read: {0}")]
    Record(String),
    #[error(
        "the share link is {chars} characters long; links over {max} characters are not opened \
         (ask for the run's JSON file and import it instead)"
    )]
    TooLong { chars: usize, max: usize },
    #[error(
        "the share link is damaged (its compressed data does not unpack: {0}; was it cut short \
         when copied?)"
    )]
    Inflate(String),
    #[error(
        "the share link unpacks to more than {max} bytes, far more than any run; it is not opened"
    )]
    TooBig { max: usize },
    #[error("the share link is not one this app made: {0}")]
    Format(String),
}

/// What a link carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Shared {
    /// One run and its baselines (vanilla, prompting) on the same item.
    Run {
        run: RunRecord,
        baselines: Vec<RunRecord>,
    },
    /// Two runs side by side (the compare view).
    Compare { left: RunRecord, right: RunRecord },
}

impl Shared {
    pub fn run(run: RunRecord, baselines: Vec<RunRecord>) -> Self {
        Shared::Run { run, baselines }
    }

    fn kind(&self) -> &'static str {
        match self {
            Shared::Run { .. } => "run",
            Shared::Compare { .. } => "compare",
        }
    }

    fn records(&self) -> Vec<&RunRecord> {
        match self {
            Shared::Run { run, baselines } => std::iter::once(run).chain(baselines).collect(),
            Shared::Compare { left, right } => vec![left, right],
        }
    }
}

/// A link's fragment, read as far as the engine can without a decompressor.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// An old `#run=` link, fully read.
    Plain(Shared),
    /// A `#r2=` link: raw-deflate bytes. Inflate them (stopping past [`MAX_PAYLOAD_BYTES`],
    /// [`ShareError::TooBig`]) and pass the result to [`from_payload`].
    Deflated(Vec<u8>),
}

/// Remove the layout whitespace of a JSON text (outside strings; JSON strings hold no raw
/// whitespace but spaces, and escapes are copied as they are). `compact_json(pretty)` parses to
/// the same value as `pretty`.
pub fn compact_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

/// The text a `#r2=` link compresses: the header line, then one compact record per line, with
/// repeated strings replaced by references ([`share_strings`]). (Compacting the export's pretty
/// JSON, rather than serialising compactly, keeps one record serializer in the browser build.)
pub fn payload(shared: &Shared) -> String {
    let records: Vec<String> = shared
        .records()
        .iter()
        .map(|r| compact_json(&r.to_json()))
        .collect();
    format!(
        "{HEADER} {}\n{}",
        shared.kind(),
        share_strings(&records.join("\n"))
    )
}

/// Strings (as escaped in the JSON text) at least this long are remembered for references.
const REF_MIN: usize = 64;
/// A remembered string at least this long is referred to from inside a longer one.
const REF_INSIDE_MIN: usize = 200;

/// The end (index of the closing quote) of the JSON string whose content starts `text`.
fn literal_end(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Deflate only looks 32 kB back, but a run repeats its texts much further apart (a comment is
/// the reply of its call, the comment record, and part of the prompt of its read). Every string
/// literal of at least [`REF_MIN`] bytes is remembered in order; a later literal equal to a
/// remembered one becomes `"\/N"`, and one containing a remembered string of at least
/// [`REF_INSIDE_MIN`] bytes becomes `"\/N,P,<prefix><suffix>"` (P = bytes of prefix). serde_json
/// never writes `\/`, so no real string reads as a reference. Lossless: [`expand_strings`].
fn share_strings(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut seen: Vec<&str> = Vec::new();
    let mut rest = json;
    while let Some(q) = rest.find('"') {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let Some(end) = literal_end(rest) else { break };
        let lit = &rest[..end];
        rest = &rest[end..];
        if lit.len() < REF_MIN {
            out.push_str(lit);
        } else if let Some(n) = seen.iter().position(|s| *s == lit) {
            out.push_str(&format!("\\/{n}"));
        } else {
            let inside = seen
                .iter()
                .enumerate()
                .filter(|(_, s)| s.len() >= REF_INSIDE_MIN)
                .filter_map(|(n, s)| lit.find(s).map(|at| (n, at, s.len())))
                // Not right after a lone backslash: the escape would swallow what follows.
                .filter(|(_, at, _)| {
                    lit[..*at].bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 0
                })
                .max_by_key(|(_, _, len)| *len);
            match inside {
                Some((n, at, len)) => {
                    out.push_str(&format!("\\/{n},{at},"));
                    out.push_str(&lit[..at]);
                    out.push_str(&lit[at + len..]);
                }
                None => out.push_str(lit),
            }
            seen.push(lit);
        }
        // The closing quote.
        out.push('"');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

/// Undo [`share_strings`], stopping past `cap` bytes. A reference to nothing is an error.
fn expand_strings(text: &str, cap: usize) -> Result<String, ShareError> {
    let bad = |what: &str| ShareError::Format(format!("a damaged string reference ({what})"));
    let mut out = String::with_capacity(text.len().min(cap));
    let mut seen: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(q) = rest.find('"') {
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let end = literal_end(rest).ok_or_else(|| bad("a string without its end"))?;
        let lit = &rest[..end];
        rest = &rest[end + 1..];
        let full = match lit.strip_prefix("\\/") {
            None => {
                if lit.len() >= REF_MIN {
                    seen.push(lit.to_string());
                }
                out.push_str(lit);
                out.push('"');
                if out.len() > cap {
                    return Err(ShareError::TooBig { max: cap });
                }
                continue;
            }
            Some(r) => r,
        };
        let mut parts = full.splitn(3, ',');
        let n: usize = parts
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| bad("no number"))?;
        let target = seen
            .get(n)
            .ok_or_else(|| bad("to a string that is not there"))?;
        match (parts.next(), parts.next()) {
            (None, _) => out.push_str(target),
            (Some(at), Some(tail)) => {
                let at: usize = at.parse().map_err(|_| bad("no position"))?;
                let (prefix, suffix) = match (tail.get(..at), tail.get(at..)) {
                    (Some(p), Some(s)) => (p, s),
                    _ => return Err(bad("a position outside the string")),
                };
                if out.len() + prefix.len() + target.len() + suffix.len() > cap {
                    return Err(ShareError::TooBig { max: cap });
                }
                let whole = format!("{prefix}{target}{suffix}");
                out.push_str(&whole);
                seen.push(whole);
            }
            (Some(_), None) => return Err(bad("no text")),
        }
        out.push('"');
        if out.len() > cap {
            return Err(ShareError::TooBig { max: cap });
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Read a [`payload`] (after inflating). Every record must be valid.
pub fn from_payload(bytes: &[u8]) -> Result<Shared, ShareError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(ShareError::TooBig {
            max: MAX_PAYLOAD_BYTES,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ShareError::NotText)?;
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    let Some(kind) = header.strip_prefix(HEADER).map(str::trim) else {
        return Err(ShareError::Format(format!(
            "it starts {:?}, not {HEADER:?}",
            header.chars().take(40).collect::<String>()
        )));
    };
    let body = expand_strings(body, MAX_PAYLOAD_BYTES)?;
    let lines = body.split('\n').filter(|l| !l.is_empty());
    let mut records = Vec::new();
    for (i, line) in lines.enumerate() {
        let r = RunRecord::from_json(line)
            .map_err(|e| ShareError::Record(format!("record {} of the link: {e}", i + 1)))?;
        records.push(r);
    }
    let count = records.len();
    let mut records = records.into_iter();
    match (kind, records.next()) {
        (_, None) => Err(ShareError::Format("it holds no run".into())),
        ("run", Some(run)) => Ok(Shared::Run {
            run,
            baselines: records.collect(),
        }),
        ("compare", Some(left)) => match (records.next(), count) {
            (Some(right), 2) => Ok(Shared::Compare { left, right }),
            _ => Err(ShareError::Format(format!(
                "a comparison of {count} runs (it takes two)"
            ))),
        },
        (other, Some(_)) => Err(ShareError::Format(format!(
            "it holds a {:?}, not a run or a comparison",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// The `#r2=` fragment for a compressed [`payload`].
pub fn fragment_v2(deflated: &[u8]) -> String {
    format!("{PREFIX_V2}{}", URL_SAFE_NO_PAD.encode(deflated))
}

/// Read a page's fragment: None when it is not a share link at all.
pub fn read_link(fragment: &str) -> Option<Result<Link, ShareError>> {
    let fragment = fragment.trim();
    let (v2, data) = if let Some(d) = fragment.strip_prefix(PREFIX_V2) {
        (true, d)
    } else {
        (false, fragment.strip_prefix(PREFIX)?)
    };
    let chars = fragment.chars().count();
    if chars > MAX_FRAGMENT_CHARS {
        return Some(Err(ShareError::TooLong {
            chars,
            max: MAX_FRAGMENT_CHARS,
        }));
    }
    Some(if v2 {
        base64(data).map(Link::Deflated)
    } else {
        decode_all(data).map(|(run, baselines)| Link::Plain(Shared::Run { run, baselines }))
    })
}

fn base64(data: &str) -> Result<Vec<u8>, ShareError> {
    URL_SAFE_NO_PAD
        .decode(data.trim().trim_end_matches('='))
        .map_err(|_| ShareError::Encoding)
}

/// One record as base64url (no padding) of its pretty JSON: the old `#run=` format.
pub fn encode(r: &RunRecord) -> String {
    URL_SAFE_NO_PAD.encode(r.to_json().as_bytes())
}

/// One record from [`encode`]'s text, with or without the `#run=` prefix and padding.
pub fn decode(fragment: &str) -> Result<RunRecord, ShareError> {
    let bytes = base64(fragment.trim().trim_start_matches(PREFIX))?;
    let text = String::from_utf8(bytes).map_err(|_| ShareError::NotText)?;
    RunRecord::from_json(&text).map_err(|e| ShareError::Record(e.to_string()))
}

/// The old fragment for a run and its baselines: `#run=<run>~<baseline>~<baseline>`.
pub fn fragment(r: &RunRecord, baselines: &[RunRecord]) -> String {
    let mut f = format!("{PREFIX}{}", encode(r));
    for b in baselines {
        f.push(SEP);
        f.push_str(&encode(b));
    }
    f
}

/// Decode an old fragment made by [`fragment`]: the run, and the baselines that could be read.
pub fn decode_all(fragment: &str) -> Result<(RunRecord, Vec<RunRecord>), ShareError> {
    let mut parts = fragment.trim().trim_start_matches(PREFIX).split(SEP);
    let run = decode(parts.next().unwrap_or(""))?;
    let baselines = parts.filter_map(|p| decode(p).ok()).collect();
    Ok((run, baselines))
}
