//! `ethos-fault-server [--host H] [--port P] [--latency-ms MS] [--text TEXT]...`
//! Runs the fault-injecting LLM server until killed.

use ethos_testkit::{Config, FaultServer};
use std::net::{IpAddr, SocketAddr};

const USAGE: &str =
    "usage: ethos-fault-server [--host 127.0.0.1] [--port 8090] [--latency-ms MS] [--text TEXT]...";

fn main() {
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: u16 = 8090;
    let mut config = Config::default();
    let mut texts = Vec::new();
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
            "--port" => {
                port = value("--port")
                    .parse()
                    .unwrap_or_else(|_| fail("--port must be a number 0-65535"))
            }
            "--latency-ms" => {
                config.latency_ms = value("--latency-ms")
                    .parse()
                    .unwrap_or_else(|_| fail("--latency-ms must be a number"))
            }
            "--text" => texts.push(value("--text")),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    if !texts.is_empty() {
        config.reply.texts = texts;
    }
    match FaultServer::start_on(SocketAddr::new(host, port), config) {
        Ok(server) => {
            println!("ethos-fault-server listening on {} (OpenAI: {}/chat/completions, Anthropic: {}/messages, stats: {}/_control/stats)", server.url(), server.base_url(), server.base_url(), server.url());
            server.wait();
        }
        Err(e) => fail(&format!("cannot listen on {host}:{port}: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("ethos-fault-server: {msg}\n{USAGE}");
    std::process::exit(2);
}
