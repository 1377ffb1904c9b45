//! Run-record import (an exported file, or a record from storage): any text is a record or a
//! clear error, never a panic; an accepted record survives its own export.
#![no_main]
use ethos_engine::record::RunRecord;
use ethos_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = RunRecord::from_json(&text(data)) {
        let back = RunRecord::from_json(&r.to_json());
        assert!(back.is_ok(), "an imported record does not re-import: {back:?}");
    }
});
