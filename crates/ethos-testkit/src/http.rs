//! A deliberately small HTTP/1.1 server side: read one request (Content-Length bodies only),
//! write a response as a list of steps (bytes, pauses, an abrupt close). One request per
//! connection (`Connection: close`), which is all the fault server needs and keeps every
//! fault (a cut stream, a truncated body) unambiguous for the client.

use tokio::io::{AsyncRead, AsyncReadExt};

const MAX_HEAD: usize = 64 * 1024;
/// Request bodies above this are refused (a Batch-API upload of a whole stage is tens of MB).
pub const MAX_BODY: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Status to answer with and a message.
    Bad(u16, String),
    /// The connection went away; answer nothing.
    Closed,
}

/// Read one request. `Ok(None)` when the peer closed before sending anything.
pub async fn read_request<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Request>, ReadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Bad(431, "request head too large".into()));
        }
        let n = r.read(&mut tmp).await.map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Closed)
            };
        }
        buf.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
    };
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or(&[]))
        .map_err(|_| ReadError::Bad(400, "request head is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    if method.is_empty() || target.is_empty() {
        return Err(ReadError::Bad(
            400,
            format!("bad request line {request_line:?}"),
        ));
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        return Err(ReadError::Bad(
            411,
            "chunked request bodies are not supported: send Content-Length".into(),
        ));
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ReadError::Bad(400, "bad Content-Length".into()))?,
    };
    if len > MAX_BODY {
        return Err(ReadError::Bad(
            413,
            format!("request body over {MAX_BODY} bytes"),
        ));
    }
    let mut body: Vec<u8> = buf.get(head_end + 4..).unwrap_or(&[]).to_vec();
    while body.len() < len {
        let n = r.read(&mut tmp).await.map_err(|_| ReadError::Closed)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        body.extend_from_slice(tmp.get(..n).unwrap_or(&[]));
    }
    body.truncate(len);
    req.body = body;
    Ok(Some(req))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One step of writing a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Write(Vec<u8>),
    Sleep(u64),
    /// Drop the connection now, whatever the body framing promised.
    Abort,
    /// Send nothing more until the test releases held replies (`FaultServer::release`); end
    /// the connection if the client goes away first.
    WaitRelease,
    /// Send nothing more until the next `FaultServer::release` after the previous step of this
    /// reply (one release lets one step through); end the connection if the client goes away.
    WaitNextRelease,
    /// Send nothing more until the client goes away (a reply that never ends).
    WaitClose,
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The status line and headers (with `Connection: close`), ending with the blank line.
pub fn head(status: u16, headers: &[(String, String)]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in headers {
        s.push_str(n);
        s.push_str(": ");
        s.push_str(v);
        s.push_str("\r\n");
    }
    s.push_str("Connection: close\r\n\r\n");
    s.into_bytes()
}

/// One chunk of a `Transfer-Encoding: chunked` body.
pub fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Split every write into pieces of at most `piece` bytes with `ms` pauses between them.
pub fn trickle(steps: Vec<Step>, piece: usize, ms: u64) -> Vec<Step> {
    let piece = piece.max(1);
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Write(bytes) => {
                for p in bytes.chunks(piece) {
                    out.push(Step::Write(p.to_vec()));
                    out.push(Step::Sleep(ms));
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A blocking plain-HTTP/1.1 exchange for tests: `method path` with `body` (`Connection:
/// close`, Content-Length); the status and the body as text.
pub fn blocking_exchange(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(addr)?;
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    c.read_to_string(&mut reply)?;
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<Option<Request>, ReadError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|_| ReadError::Closed)?;
        let mut r = bytes;
        rt.block_on(read_request(&mut r))
    }

    #[test]
    fn reads_a_post_with_a_body() {
        let req = read(b"POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nX-Y: z\r\n\r\nabcdEXTRA").ok().flatten();
        let req = req.as_ref();
        assert_eq!(req.map(|r| r.path.as_str()), Some("/v1/chat/completions"));
        assert_eq!(req.map(|r| r.body.as_slice()), Some(&b"abcd"[..]));
        assert_eq!(req.and_then(|r| r.header("x-y")), Some("z"));
    }

    #[test]
    fn rejects_bad_heads_without_panicking() {
        assert_eq!(read(b"").ok().flatten().map(|r| r.method), None);
        assert!(matches!(
            read(b"GARBAGE\r\n\r\n"),
            Err(ReadError::Bad(400, _))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(ReadError::Bad(400, _))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ReadError::Bad(411, _))
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
            Err(ReadError::Closed)
        ));
        assert!(matches!(
            read(b"POST / HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n"),
            Err(ReadError::Bad(413, _))
        ));
    }

    #[test]
    fn chunk_framing() {
        assert_eq!(
            chunk(b"hello world!!!!!!"),
            b"11\r\nhello world!!!!!!\r\n".to_vec()
        );
        let t = trickle(vec![Step::Write(b"abcde".to_vec()), Step::Abort], 2, 1);
        assert_eq!(t.len(), 7);
        assert_eq!(t.last(), Some(&Step::Abort));
    }
}
