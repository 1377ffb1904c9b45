//! Helpers shared by the `ethos` binary's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The bundled MoralChoice file.
pub fn moralchoice() -> String {
    format!(
        "{}/../../public/vital/vital_distributional_moralchoice.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A fresh, empty temporary directory for one test (`prefix`, the process id and `name`).
pub fn tmp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir
}
