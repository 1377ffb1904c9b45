//! `ethos-latency-server [--host H] [--tls-port P] [--http-port P] [--latency-ms MS]`
//! Runs the latency-injecting LLM server (HTTP/2 + TLS and plain HTTP/1.1) until killed.

use ethos_testkit::{LatencyConfig, LatencyServer};
use std::net::IpAddr;

const USAGE: &str = "usage: ethos-latency-server [--host 127.0.0.1] [--tls-port 8443] [--http-port 8091] [--latency-ms 400]";

fn main() {
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let (mut tls_port, mut http_port): (u16, u16) = (8443, 8091);
    let mut config = LatencyConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| match args.next() {
            Some(v) => v,
            None => fail(&format!("{name} needs a value")),
        };
        match a.as_str() {
            "--host" => {
                host = value("--host")
                    .parse()
                    .unwrap_or_else(|_| fail("--host must be an IP address"))
            }
            "--tls-port" => {
                tls_port = value("--tls-port")
                    .parse()
                    .unwrap_or_else(|_| fail("--tls-port must be a number 0-65535"))
            }
            "--http-port" => {
                http_port = value("--http-port")
                    .parse()
                    .unwrap_or_else(|_| fail("--http-port must be a number 0-65535"))
            }
            "--latency-ms" => {
                config.latency_ms = value("--latency-ms")
                    .parse()
                    .unwrap_or_else(|_| fail("--latency-ms must be a number"))
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    match LatencyServer::start_on(host, tls_port, http_port, config) {
        Ok(server) => {
            println!(
                "ethos-latency-server: latency {} ms; HTTP/2 + TLS at {} (Chromium: --ignore-certificate-errors-spki-list={}), HTTP/1.1 at {}; stats at /_control/stats",
                server.latency_ms(),
                server.https_base_url(),
                server.spki_sha256_base64(),
                server.http_base_url()
            );
            server.wait();
        }
        Err(e) => fail(&format!("cannot start: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("ethos-latency-server: {msg}\n{USAGE}");
    std::process::exit(2);
}
