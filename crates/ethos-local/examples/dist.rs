//! The exact option distribution of one chat prompt, natively, as JSON (the benchmark compares
//! it with the browser build's).
//!   cargo run -p ethos-local --example dist -- MODEL.gguf PROMPT_FILE N_OPTIONS
use ethos_engine::chat::Message;
use ethos_local::{LoadOptions, LocalModel};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(prompt_file), Some(n)) = (
        args.get(1),
        args.get(2),
        args.get(3).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: dist MODEL.gguf PROMPT_FILE N_OPTIONS");
        std::process::exit(2);
    };
    let run = || -> Result<String, String> {
        let prompt = std::fs::read_to_string(prompt_file).map_err(|e| e.to_string())?;
        let mut m = LocalModel::from_path(std::path::Path::new(path), LoadOptions::default())
            .map_err(|e| e.to_string())?;
        let tokens = m
            .prompt_tokens(&[Message::user(prompt)])
            .map_err(|e| e.to_string())?;
        let d = m.next_token(&tokens).map_err(|e| e.to_string())?;
        let letters = m.letter_distribution(&d, n, 10);
        serde_json::to_string(&serde_json::json!({ "backend": m.info().backend, "prompt_tokens": tokens.len(), "dist": letters }))
            .map_err(|e| e.to_string())
    };
    match run() {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
