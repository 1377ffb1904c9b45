//! Inputs the fuzzer (`scripts/fuzz.sh`, target `gguf`) once crashed on, kept in the seed corpus
//! (`fuzz/seeds/gguf/crash-*.gguf`), and inputs that crashed candle's reader on reading its code
//! (`crash-alignment-zero.gguf`: `general.alignment = 0`, a division by zero): loading each must
//! give a model or an error, never a panic.
use ethos_local::{LoadOptions, LocalModel};
use std::path::PathBuf;

#[test]
fn crash_inputs_of_the_gguf_fuzzer_load_or_fail_plainly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/gguf");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("the gguf seed corpus") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.starts_with("crash-") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        match LocalModel::from_gguf_bytes(&bytes, LoadOptions::default()) {
            Ok(_) => eprintln!("{name}: loads"),
            Err(e) => eprintln!("{name}: {e}"),
        }
        seen += 1;
    }
    assert!(seen > 0, "no crash-* input in {}", dir.display());
}
