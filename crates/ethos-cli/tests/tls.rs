//! `ethos run` over HTTPS (HTTP/2 + TLS) against the latency server, whose certificate was issued
//! by a test CA made when the server started: with `SSL_CERT_FILE` pointing at that CA the batch
//! runs and scores exactly as the same batch over plain HTTP; without it the run fails with a
//! message that says the certificate is not trusted and names `SSL_CERT_FILE`.

mod common;

use common::moralchoice;
use ethos_testkit::LatencyServer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tmp_dir(name: &str) -> PathBuf {
    common::tmp_dir("ethos-tls", name)
}

/// `ethos run` on two items × EthosAgents (k = 3) and vanilla against `base_url`, with
/// `SSL_CERT_FILE` set to `ca` (or unset, and no certificate directory either).
fn ethos_run(base_url: &str, out: &Path, methods: &str, ca: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ethos"));
    cmd.args([
        "run",
        "--file",
        &moralchoice(),
        "--ids",
        "C_001,H_010",
        "--method",
        methods,
        "--provider",
        "openai",
        "--base-url",
        base_url,
        "--model",
        "m",
        "--k",
        "3",
        "--out",
        &out.to_string_lossy(),
    ]);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    cmd.output().expect("run ethos")
}

fn summary(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {text}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).expect("one JSON summary on stdout")
}

#[test]
fn https_with_a_local_ca_in_ssl_cert_file_works_and_scores_like_http() {
    let server = LatencyServer::start(0).expect("latency server");
    let dir = tmp_dir("ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca_pem()).expect("write CA");

    let https = summary(&ethos_run(
        &server.https_base_url(),
        &dir.join("https.json"),
        "ethosagents,vanilla",
        Some(&ca),
    ));
    let stats = server.stats();
    assert_eq!(stats.calls, 2 * (1 + 3 + 3) + 2, "{stats:?}");
    assert!(
        stats
            .calls_log
            .iter()
            .all(|c| c.tls && c.version == "HTTP/2.0"),
        "every call went over TLS, as HTTP/2 (ALPN)"
    );
    assert_eq!(https["done"].as_u64(), Some(4), "{https}");

    let http = summary(&ethos_run(
        &server.http_base_url(),
        &dir.join("http.json"),
        "ethosagents,vanilla",
        None,
    ));
    for m in ["ethosagents", "vanilla"] {
        assert!(https["results"][m]["dist"].is_object(), "{https}");
        assert_eq!(
            https["results"][m]["dist"], http["results"][m]["dist"],
            "{m}: the scores over HTTPS equal those over HTTP"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn https_without_the_ca_fails_with_a_certificate_error() {
    let server = LatencyServer::start(0).expect("latency server");
    let dir = tmp_dir("no-ca");
    let out = ethos_run(
        &server.https_base_url(),
        &dir.join("out.json"),
        "vanilla",
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("certificate") && stderr.contains("not trusted"),
        "{stderr}"
    );
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    eprintln!("without the CA: {}", stderr.lines().last().unwrap_or(""));
    assert_eq!(server.stats().calls, 0, "no request got through");

    // A CA file that is not the server's CA: the same refusal, naming the file.
    let other = LatencyServer::start(0).expect("another server");
    let wrong = dir.join("other-ca.pem");
    std::fs::write(&wrong, other.ca_pem()).expect("write CA");
    let out = ethos_run(
        &server.https_base_url(),
        &dir.join("out2.json"),
        "vanilla",
        Some(&wrong),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("not trusted") && stderr.contains("other-ca.pem"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
