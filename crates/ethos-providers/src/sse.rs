//! A byte-level Server-Sent-Events parser (the WHATWG event-stream format).
//!
//! Bytes may arrive split at any boundary, including inside a UTF-8 sequence or between the
//! CR and LF of a CRLF. Lines end with CRLF, LF or CR. `data:` lines of one event are joined
//! with `\n`; `event:` names the event; lines starting with `:` are comments; `id:`/`retry:` and
//! unknown fields are ignored; a blank line dispatches the event (an event with no data is not
//! dispatched). A leading UTF-8 BOM is skipped. Invalid UTF-8 is an error, not a panic.

use ethos_engine::ChatError;

/// Longest line accepted (a single `data:` line of a chunk is a few KiB; 8 MiB is generous).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, if one was given (OpenAI streams have none; Anthropic names all).
    pub event: Option<String>,
    /// The data lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended with CR: a leading LF of the next chunk belongs to it.
    after_cr: bool,
    /// Still at the very start of the stream (for the BOM check).
    at_start: bool,
    data: String,
    has_data: bool,
    event: Option<String>,
    failed: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Feed the next bytes; returns the events completed by them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, ChatError> {
        let mut out = Vec::new();
        self.feed_into(bytes, &mut out)?;
        Ok(out)
    }

    /// As [`SseParser::feed`], pushing the completed events to `out`: on an error, the events
    /// completed before it are in `out` (so what a stream delivered before an invalid line does
    /// not depend on how its bytes were split).
    pub fn feed_into(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), ChatError> {
        if self.failed {
            return Err(ChatError::Malformed(
                "the event stream was already invalid".into(),
            ));
        }
        let mut rest = bytes;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest.first() == Some(&b'\n') {
                rest = rest.get(1..).unwrap_or(&[]);
            }
        }
        while !rest.is_empty() {
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(pos) => {
                    let (head, tail) = rest.split_at(pos);
                    self.push_line_bytes(head)?;
                    let is_cr = tail.first() == Some(&b'\r');
                    let mut skip = 1;
                    if is_cr {
                        match tail.get(1) {
                            Some(b'\n') => skip = 2,
                            Some(_) => {}
                            None => self.after_cr = true,
                        }
                    }
                    rest = tail.get(skip..).unwrap_or(&[]);
                    if let Err(e) = self.end_line(out) {
                        self.failed = true;
                        return Err(e);
                    }
                }
                None => {
                    self.push_line_bytes(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    /// The stream ended. A last line without its terminator is processed as a line and a
    /// pending event without its blank line is dispatched (lenient: the protocol decoders
    /// detect truncation by their own end markers). Bytes ending inside a UTF-8 sequence are an
    /// error.
    pub fn finish(&mut self) -> Result<Vec<SseEvent>, ChatError> {
        if self.failed {
            return Err(ChatError::Malformed(
                "the event stream was already invalid".into(),
            ));
        }
        let mut out = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut out)?;
        }
        if self.has_data {
            self.dispatch(&mut out);
        }
        self.event = None;
        self.after_cr = false;
        Ok(out)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), ChatError> {
        if self.line.len().saturating_add(bytes.len()) > MAX_LINE_BYTES {
            self.failed = true;
            return Err(ChatError::Malformed(format!(
                "an event-stream line is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), ChatError> {
        let raw = std::mem::take(&mut self.line);
        let mut bytes: &[u8] = &raw;
        if self.at_start {
            self.at_start = false;
            if let Some(stripped) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
                bytes = stripped;
            }
        }
        let line = std::str::from_utf8(bytes)
            .map_err(|_| ChatError::Malformed("the event stream is not valid UTF-8".into()))?;
        if line.is_empty() {
            if self.has_data {
                self.dispatch(out);
            } else {
                self.event = None;
            }
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = line.get(i + 1..).unwrap_or("");
                (
                    line.get(..i).unwrap_or(""),
                    v.strip_prefix(' ').unwrap_or(v),
                )
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        out.push(SseEvent {
            event: self.event.take().filter(|e| !e.is_empty()),
            data: std::mem::take(&mut self.data),
        });
        self.has_data = false;
    }
}

/// What a protocol's stream decoder does with parsed events.
pub(crate) trait EventHandler {
    /// Handle events, pushing text pieces to `deltas`.
    fn handle(&mut self, events: Vec<SseEvent>, deltas: &mut Vec<String>) -> Result<(), ChatError>;
    /// Whether the protocol's end marker was seen.
    fn complete(&self) -> bool;
    /// Whether the reply said it was finished (a finish/stop reason) before any end marker.
    fn reply_finished(&self) -> bool;
}

/// The framing shared by the protocol stream decoders: SSE parsing, errors reported after the
/// text pieces that preceded them (so results do not depend on chunking), and the distinction
/// between an empty stream, a truncated one and a complete one.
#[derive(Debug, Default)]
pub(crate) struct Framed<H> {
    sse: SseParser,
    /// An error met after text pieces of the same feed: reported by the next call.
    pending_error: Option<ChatError>,
    /// Any byte arrived (an empty body is "empty", anything else cut short is truncation).
    saw_bytes: bool,
    /// Any event was parsed (a body without events is not an event stream at all).
    saw_event: bool,
    pub(crate) handler: H,
}

impl<H: EventHandler> Framed<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self {
            sse: SseParser::new(),
            pending_error: None,
            saw_bytes: false,
            saw_event: false,
            handler,
        }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<String>, ChatError> {
        if let Some(e) = &self.pending_error {
            return Err(e.clone());
        }
        self.saw_bytes |= !bytes.is_empty();
        // The events before an invalid line still count: their text comes first, then the error.
        let mut events = Vec::new();
        let framing = self.sse.feed_into(bytes, &mut events);
        self.saw_event |= !events.is_empty();
        let mut deltas = Vec::new();
        match self.handler.handle(events, &mut deltas).and(framing) {
            Ok(()) => Ok(deltas),
            Err(e) if deltas.is_empty() => Err(e),
            Err(e) => {
                self.pending_error = Some(e);
                Ok(deltas)
            }
        }
    }

    /// The stream ended. Returns the handler if the end marker was seen. Without it: a stream
    /// whose reply had finished (finish/stop reason seen) is malformed (a server quirk, not
    /// retried); one that stopped mid-reply is truncation, reported as a network error (the
    /// client may retry), even if its unterminated tail does not parse; an empty stream is
    /// malformed.
    /// Whether any event has been parsed so far.
    pub(crate) fn saw_event(&self) -> bool {
        self.saw_event
    }

    pub(crate) fn finish(mut self, end_marker: &str) -> Result<H, ChatError> {
        if let Some(e) = self.pending_error.take() {
            return Err(e);
        }
        let mut ignored = Vec::new();
        let handler = &mut self.handler;
        let tail = self
            .sse
            .finish()
            .and_then(|events| handler.handle(events, &mut ignored));
        if !self.handler.complete() {
            return Err(if tail.is_ok() && self.handler.reply_finished() {
                // The whole reply came, then the server closed without the marker: a server
                // quirk that a retry would not fix.
                ChatError::Malformed(format!("the stream ended without {end_marker}"))
            } else if self.saw_bytes || tail.is_err() {
                crate::errors::truncated(end_marker)
            } else {
                ChatError::Malformed("the reply stream was empty".into())
            });
        }
        tail.map(|()| self.handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Result<Vec<SseEvent>, ChatError> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c)?);
        }
        out.extend(p.finish()?);
        Ok(out)
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_string),
            data: data.to_string(),
        }
    }

    #[test]
    fn basic_multiline_comment_and_names() {
        let s = b": hello\nevent: a\ndata: x\ndata:y\n\ndata: z\nid: 3\nretry: 10\n\n\n";
        assert_eq!(
            all(&[s]).unwrap(),
            vec![ev(Some("a"), "x\ny"), ev(None, "z")]
        );
    }

    #[test]
    fn cr_only_and_crlf_split_between_cr_and_lf() {
        assert_eq!(
            all(&[b"data: a\r", b"\ndata: b\r\n\r", b"\n"]).unwrap(),
            vec![ev(None, "a\nb")]
        );
        assert_eq!(
            all(&[b"data: a\r\rdata: b\r\r"]).unwrap(),
            vec![ev(None, "a"), ev(None, "b")]
        );
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_name_resets() {
        assert_eq!(
            all(&[b"event: ping\n\ndata: q\n\n"]).unwrap(),
            vec![ev(None, "q")]
        );
    }

    #[test]
    fn utf8_split_and_invalid() {
        let s = "data: caf\u{e9} \u{1F600}\n\n".as_bytes();
        for i in 0..=s.len() {
            let (a, b) = s.split_at(i);
            assert_eq!(all(&[a, b]).unwrap(), vec![ev(None, "caf\u{e9} \u{1F600}")]);
        }
        assert!(matches!(
            all(&[b"data: \xff\xfe\n\n"]),
            Err(ChatError::Malformed(_))
        ));
        // Ends inside a UTF-8 sequence.
        assert!(matches!(
            all(&[b"data: caf\xc3"]),
            Err(ChatError::Malformed(_))
        ));
    }

    #[test]
    fn bom_is_skipped_and_finish_is_lenient() {
        assert_eq!(
            all(&[b"\xEF\xBB", b"\xBFdata: a\n"]).unwrap(),
            vec![ev(None, "a")]
        );
        assert_eq!(all(&[b"data: tail"]).unwrap(), vec![ev(None, "tail")]);
    }

    #[test]
    fn field_without_colon_and_empty_data() {
        assert_eq!(all(&[b"data\n\n"]).unwrap(), vec![ev(None, "")]);
    }
}
