//! Replies for the faults a hostile or broken server sends beyond plain statuses: parameters
//! refused by name, markup in error messages, Retry-After as an HTTP date, proxy HTML pages,
//! missing CORS headers, SSE error events, streams cut inside a token or a UTF-8 character,
//! and replies held until the test releases them (or that never end).

use crate::fault::Fault;
use crate::http::{head, Step};
use crate::reply::{
    anthropic_stream_events, cors_headers, error_body, full_body, json_response, ok_steps,
    openai_stream_events, sse_anthropic, sse_openai, stream_steps, ChatCall, OkReply, Protocol,
};
use serde_json::json;

/// An error message holding an HTML image with a handler, a script and Markdown: a page that
/// shows it must show it as text.
pub const MARKUP_MESSAGE: &str = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script> **bold** [link](javascript:window.__xss=3)";

/// The HTML page a proxy answers 503 with (and `Retry-After: 1`).
pub const PROXY_PAGE: &str = "<!DOCTYPE html><html><head><title>503 Service Unavailable</title><script>window.__xss=4</script></head><body><h1>Service Unavailable</h1><p>The upstream is overloaded.</p></body></html>";

/// `secs` after the epoch as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan"),
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The first events of a normal stream, then `tail` (an unfinished event), then a dropped
/// connection.
fn cut_inside(call: &ChatCall, reply: &OkReply, id: &str, origin: Option<&str>, tail: &[u8]) -> Vec<Step> {
    let mut events = match call.protocol {
        Protocol::OpenAi => openai_stream_events(call, reply, id),
        Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
    };
    events.truncate(if call.protocol == Protocol::OpenAi { 2 } else { 4 });
    let mut last = match call.protocol {
        Protocol::OpenAi => format!("data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"").into_bytes(),
        Protocol::Anthropic => b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"".to_vec(),
    };
    last.extend_from_slice(tail);
    events.push(last);
    stream_steps(origin, events, false)
}

/// The answer to a chat request under one of the faults of this module.
pub fn response(fault: Fault, call: &ChatCall, reply: &OkReply, id: &str, origin: Option<&str>) -> Vec<Step> {
    let p = call.protocol;
    let err = |status: u16, msg: &str, param: Option<&str>, extra: &[(&str, String)]| {
        json_response(status, &error_body(p, status, msg, param), origin, extra)
    };
    match fault {
        Fault::PayloadTooLarge => err(413, "Request too large: the prompt is longer than this server accepts.", None, &[]),
        Fault::SeedUnsupported if call.seed => err(400, "Unsupported parameter: 'seed' is not supported with this model.", Some("seed"), &[]),
        Fault::TemperatureUnsupported if call.temperature => err(
            400,
            "Unsupported value: 'temperature' does not support this value with this model. Only the default (1) value is supported.",
            Some("temperature"),
            &[],
        ),
        Fault::MarkupError => err(400, MARKUP_MESSAGE, None, &[]),
        Fault::RetryAfterDate { s } => err(
            429,
            "Rate limit reached for requests. Please try again later.",
            None,
            &[("Retry-After", http_date(now_secs() + s))],
        ),
        Fault::UnavailableHtml => {
            let mut headers = vec![
                ("Content-Type".to_string(), "text/html; charset=utf-8".to_string()),
                ("Content-Length".to_string(), PROXY_PAGE.len().to_string()),
                ("Retry-After".to_string(), "1".to_string()),
            ];
            headers.extend(cors_headers(origin));
            let mut bytes = head(503, &headers);
            bytes.extend_from_slice(PROXY_PAGE.as_bytes());
            vec![Step::Write(bytes)]
        }
        Fault::NoCors => {
            let body = full_body(call, reply, id);
            let headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("Content-Length".to_string(), body.len().to_string()),
            ];
            let mut bytes = head(200, &headers);
            bytes.extend_from_slice(body.as_bytes());
            vec![Step::Write(bytes)]
        }
        Fault::SseError if call.stream => {
            let (mut events, error) = match p {
                Protocol::OpenAi => (
                    openai_stream_events(call, reply, id),
                    sse_openai(&json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}})),
                ),
                Protocol::Anthropic => (
                    anthropic_stream_events(call, reply, id, true),
                    sse_anthropic("error", &json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})),
                ),
            };
            events.truncate(if p == Protocol::OpenAi { 2 } else { 4 });
            events.push(error);
            stream_steps(origin, events, true)
        }
        Fault::CutMidToken if call.stream => cut_inside(call, reply, id, origin, b" Autono"),
        Fault::CutMidUtf8 if call.stream => cut_inside(call, reply, id, origin, &[b' ', b'c', b'a', b'f', 0xc3]),
        Fault::SseError | Fault::CutMidToken | Fault::CutMidUtf8 => {
            // Not streamed: half a body, then a dropped connection.
            let body = full_body(call, reply, id).into_bytes();
            let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
            headers.extend(cors_headers(origin));
            headers.push(("Content-Length".into(), body.len().to_string()));
            let mut bytes = head(200, &headers);
            bytes.extend_from_slice(body.get(..body.len() / 2).unwrap_or(&[]));
            vec![Step::Write(bytes), Step::Abort]
        }
        Fault::Hold => {
            let mut steps = vec![Step::WaitRelease];
            steps.extend(ok_steps(call, reply, id, origin));
            steps
        }
        Fault::Drip if call.stream => {
            let events = match p {
                Protocol::OpenAi => openai_stream_events(call, reply, id),
                Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
            };
            // Every event that carries text waits for its own release; the others (role,
            // block start, finish) follow at once, so each release adds exactly one piece of text.
            let mut steps = Vec::new();
            for (step, event) in stream_steps(origin, events.clone(), true)
                .into_iter()
                .zip(std::iter::once(None).chain(events.iter().map(Some)).chain(std::iter::repeat(None)))
            {
                if event.is_some_and(|e| carries_text(e)) {
                    steps.push(Step::WaitNextRelease);
                }
                steps.push(step);
            }
            steps
        }
        Fault::Drip => {
            let mut steps = vec![Step::WaitNextRelease];
            steps.extend(ok_steps(call, reply, id, origin));
            steps
        }
        Fault::Stall => {
            let mut steps = ok_steps(call, reply, id, origin);
            if call.stream {
                // The head and the first events, then nothing.
                steps = stream_steps(origin, openai_or_anthropic_head_events(call, reply, id), false);
                steps.pop();
            } else if let Some(Step::Write(b)) = steps.first_mut() {
                let keep = b.len().saturating_sub(b.len() / 3);
                b.truncate(keep);
            }
            steps.push(Step::WaitClose);
            steps
        }
        // The parameter faults answer normally when the request does not send the parameter.
        _ => ok_steps(call, reply, id, origin),
    }
}

/// The first few events of a normal stream (some text included).
fn openai_or_anthropic_head_events(call: &ChatCall, reply: &OkReply, id: &str) -> Vec<Vec<u8>> {
    let mut events = match call.protocol {
        Protocol::OpenAi => openai_stream_events(call, reply, id),
        Protocol::Anthropic => anthropic_stream_events(call, reply, id, true),
    };
    events.truncate(if call.protocol == Protocol::OpenAi { 4 } else { 6 });
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}

/// Whether a stream event holds a piece of reply text (an OpenAI delta with content, an
/// Anthropic text delta).
fn carries_text(event: &[u8]) -> bool {
    let e = String::from_utf8_lossy(event);
    e.contains("\"text_delta\"") || (e.contains("\"content\":\"") && !e.contains("\"content\":\"\""))
}
