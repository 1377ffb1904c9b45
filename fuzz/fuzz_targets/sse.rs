//! The SSE framing: any bytes, fed whole and fed in pieces, give the same events or an error,
//! never a panic.
#![no_main]
use ethos_fuzz::pieces;
use ethos_providers::sse::{SseEvent, SseParser};
use libfuzzer_sys::fuzz_target;

fn run<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<SseEvent>, String> {
    let mut p = SseParser::new();
    let mut events = Vec::new();
    for c in chunks {
        events.extend(p.feed(c).map_err(|e| e.to_string())?);
    }
    events.extend(p.finish().map_err(|e| e.to_string())?);
    Ok(events)
}

fuzz_target!(|data: &[u8]| {
    let whole = run([data]);
    let split = run(pieces(data));
    let bytewise = run(data.chunks(1));
    assert_eq!(whole, split, "the events depend on how the bytes were split");
    assert_eq!(whole, bytewise, "the events depend on how the bytes were split");
});
