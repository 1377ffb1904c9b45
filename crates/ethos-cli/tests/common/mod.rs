//! Helpers shared by the `ethos` binary's integration tests.
#![allow(dead_code)]

use ethos_testkit::FaultServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// The `ethos` binary with `args`, run to its end.
pub fn ethos(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ethos"))
        .args(args)
        .output()
        .expect("run ethos")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A reply that serves every stage: an answer letter first, then three `#` perspective lines.
pub const REPLY: &str = "A. We should follow the procedure.\n\
#Carer: compassion, ethics of care, right to care, empathy, nurse\n\
#Jurist: justice, deontology, duty of fairness, calm, judge\n\
#Planner: welfare, consequentialism, right to resources, worry, administrator";

/// A fault server answering every call with [`REPLY`].
pub fn server() -> FaultServer {
    let s = FaultServer::start().expect("fault server");
    s.set_texts(vec![REPLY.into()]);
    s
}

/// The batch most tests run: 4 MoralChoice items × EthosAgents (k = 3: 1 + 3 + 3 calls) and
/// vanilla (1 call), model "m", against `server` over `provider`, then `extra`.
pub fn four_items(server: &FaultServer, provider: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = extra.to_vec();
    a.splice(0..0, ["--k", "3"]);
    moralchoice_run(server, provider, 4, "ethosagents,vanilla", out, &a)
}

/// `ethos run` of the first `first` MoralChoice items × `methods`, model "m", against `server`
/// over `provider`, writing `out`, then `extra`.
pub fn moralchoice_run(
    server: &FaultServer,
    provider: &str,
    first: usize,
    methods: &str,
    out: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "run",
        "--file",
        &moralchoice(),
        "--first",
        &first.to_string(),
        "--method",
        methods,
        "--provider",
        provider,
        "--base-url",
        &server.base_url(),
        "--model",
        "m",
        "--out",
        &out.to_string_lossy(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// The calls of [`four_items`].
pub const FOUR_ITEMS_CALLS: u64 = 4 * 7 + 4;
