//! Shared by the oracle tests (`ethos-engine/tests/oracle_parser.rs`,
//! `ethos-cli/tests/oracle_metrics.rs`): a seeded generator and running a Python oracle.

use std::io::Write;
use std::process::{Command, Stdio};

/// A small seeded generator (xorshift64*), so a corpus is the same on every run.
pub struct Rng(pub u64);

#[allow(dead_code)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
}

/// Run `python script` with `input` on stdin; its stdout. Panics with its stderr if it fails.
pub fn run_python(python: &str, script: &str, input: &str) -> String {
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the Python oracle {python}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("send the input to the oracle");
    let out = child.wait_with_output().expect("the Python oracle ends");
    assert!(
        out.status.success(),
        "the Python oracle {script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 from the oracle")
}
