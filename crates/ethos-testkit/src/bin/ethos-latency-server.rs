//! `ethos-latency-server [--host H] [--tls-port P] [--http-port P] [--latency-ms MS] [--ca-file F]`
//! Runs the latency-injecting LLM server (HTTP/2 + TLS and plain HTTP/1.1) until killed.
//! `--ca-file F` writes the PEM certificate of the test CA that issued the server's certificate
//! (for a client that verifies it, e.g. `SSL_CERT_FILE=F ethos run --base-url https://…`).

use ethos_testkit::cli::Args;
use ethos_testkit::{LatencyConfig, LatencyServer};
use std::net::IpAddr;

const USAGE: &str = "usage: ethos-latency-server [--host 127.0.0.1] [--tls-port 8443] [--http-port 8091] [--latency-ms 400] [--ca-file ca.pem]";

fn main() {
    let mut args = Args::new("ethos-latency-server", USAGE);
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let (mut tls_port, mut http_port): (u16, u16) = (8443, 8091);
    let mut config = LatencyConfig::default();
    let mut ca_file: Option<String> = None;
    while let Some(a) = args.next_flag() {
        match a.as_str() {
            "--host" => host = args.value("--host", "an IP address"),
            "--tls-port" => tls_port = args.value("--tls-port", "a number 0-65535"),
            "--http-port" => http_port = args.value("--http-port", "a number 0-65535"),
            "--latency-ms" => config.latency_ms = args.value("--latency-ms", "a number"),
            "--ca-file" => ca_file = Some(args.value("--ca-file", "a file path")),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => args.fail(&format!("unknown argument {other:?}")),
        }
    }
    match LatencyServer::start_on(host, tls_port, http_port, config) {
        Ok(server) => {
            if let Some(path) = &ca_file {
                if let Err(e) = std::fs::write(path, server.ca_pem()) {
                    args.fail(&format!("cannot write {path}: {e}"));
                }
            }
            println!(
                "ethos-latency-server: latency {} ms; HTTP/2 + TLS at {} (Chromium: --ignore-certificate-errors-spki-list={}), HTTP/1.1 at {}; stats at /_control/stats",
                server.latency_ms(),
                server.https_base_url(),
                server.spki_sha256_base64(),
                server.http_base_url()
            );
            server.wait();
        }
        Err(e) => args.fail(&format!("cannot start: {e}")),
    }
}
