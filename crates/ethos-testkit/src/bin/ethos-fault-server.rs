//! `ethos-fault-server [--host H] [--port P] [--latency-ms MS] [--text TEXT]...`
//! Runs the fault-injecting LLM server until killed.

use ethos_testkit::cli::Args;
use ethos_testkit::{Config, FaultServer};
use std::net::{IpAddr, SocketAddr};

const USAGE: &str =
    "usage: ethos-fault-server [--host 127.0.0.1] [--port 8090] [--latency-ms MS] [--text TEXT]...";

fn main() {
    let mut args = Args::new("ethos-fault-server", USAGE);
    let mut host: IpAddr = IpAddr::from([127, 0, 0, 1]);
    let mut port: u16 = 8090;
    let mut config = Config::default();
    let mut texts = Vec::new();
    while let Some(a) = args.next_flag() {
        match a.as_str() {
            "--host" => host = args.value("--host", "an IP address"),
            "--port" => port = args.value("--port", "a number 0-65535"),
            "--latency-ms" => config.latency_ms = args.value("--latency-ms", "a number"),
            "--text" => texts.push(args.value::<String>("--text", "a text")),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => args.fail(&format!("unknown argument {other:?}")),
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
        Err(e) => args.fail(&format!("cannot listen on {host}:{port}: {e}")),
    }
}
