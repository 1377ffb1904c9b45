//! Whole (non-streamed) provider replies: chat and model-list bodies of both protocols, error
//! bodies and `Retry-After` values. Any bytes give a value or an error, never a panic.
#![no_main]
use ethos_fuzz::text;
use ethos_providers::{anthropic, errors, openai, retry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = openai::parse_chat(data);
    let _ = openai::parse_models(data);
    let _ = anthropic::parse_chat(data);
    let _ = anthropic::parse_models(data);
    // A 400 naming a parameter, a rate limit and a server error take different paths; each
    // reads the body's message (errors::body_message).
    for status in [400, 429, 503] {
        let e = errors::error_from_status(status, data, None, "openai");
        let _ = e.to_string();
    }
    let t = text(data);
    let _ = errors::redact_key_like(&t);
    let _ = retry::parse_retry_after(&t);
    let _ = retry::parse_retry_after_at(&t, 1.7e12);
});
