//! Print the top next tokens of a raw prompt with each backend (debugging aid).
//!   cargo run -p ethos-local --example probe -- MODEL.gguf "prompt text"
use ethos_local::{LoadOptions, LocalModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(prompt)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: probe MODEL.gguf PROMPT");
        return;
    };
    for (name, opts) in [
        ("fast", LoadOptions::fast()),
        ("candle", LoadOptions::candle(false)),
    ] {
        let mut m = match LocalModel::from_path(std::path::Path::new(path), opts) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        // "chat:TEXT" applies the chat template to one user message.
        let toks = match prompt.strip_prefix("chat:") {
            Some(user) => m
                .prompt_tokens(&[ethos_engine::chat::Message::user(user)])
                .expect("chat template"),
            None => m.tokenizer().encode(prompt),
        };
        let t = std::time::Instant::now();
        match m.next_token(&toks) {
            Ok(d) => {
                let top: Vec<(String, f64)> = m
                    .top_logprobs(&d, 5)
                    .into_iter()
                    .map(|t| (t.token, (t.logprob * 1e4).round() / 1e4))
                    .collect();
                println!(
                    "{name:7} {:>4} tokens {:>6.0} ms {top:?}",
                    toks.len(),
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
            Err(e) => eprintln!("{name}: {e}"),
        }
    }
}
