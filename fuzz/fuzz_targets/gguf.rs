//! GGUF files (downloaded or picked by the user for the in-tab model): the header and metadata
//! reader behind `LocalModel::from_gguf_bytes`, on any bytes. A model or an error, never a panic
//! and never an allocation the file's size does not justify.
#![no_main]
use ethos_local::{LoadOptions, LocalModel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = LocalModel::from_gguf_bytes(data, LoadOptions::default());
});
