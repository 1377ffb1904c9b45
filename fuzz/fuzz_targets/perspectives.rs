//! Stage-1 replies: the perspective parser on any text, never a panic; every parsed
//! perspective has a name and survives its own line format.
#![no_main]
use ethos_engine::persona::{parse_perspectives, reference_lines, split_fields};
use ethos_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = text(data);
    let _ = reference_lines(&t);
    for p in parse_perspectives(&t) {
        let _ = p.dims();
        let _ = p.has_dims();
        let _ = p.compose_raw();
        let line = p.to_line();
        let _ = split_fields(&line);
    }
    for line in t.lines() {
        let _ = split_fields(line);
    }
});
