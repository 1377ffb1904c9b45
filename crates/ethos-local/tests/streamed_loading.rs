//! A GGUF streamed in chunks (`StreamLoader`, the browser's download path) gives the same model
//! as the whole file in memory: same info, same next-token log-probabilities bit for bit, on
//! SmolLM2 (Q4_1) and Qwen2.5-Coder-0.5B (Q5_0, Q8_0, Q4_K, Q6_K). A file with one byte
//! changed is refused by its SHA-256; a file cut short, or longer than announced, is an error.
//! Runs whenever the model files are cached (scripts/llama-server.sh model / qwen).
mod common;

use std::path::Path;

use common::{gguf_path, qwen_gguf_path, skip};
use ethos_engine::chat::Message;
use ethos_local::stream::StreamLoader;
use ethos_local::{LoadOptions, LocalModel};
use sha2::{Digest, Sha256};

/// Chunk sizes as a network hands them out: tiny ones first (the header arrives a few bytes at
/// a time), then uneven ones around a typical read size.
fn chunks(len: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut at, mut i) = (0usize, 0usize);
    while at < len {
        let size = if at < 4096 {
            1 + i % 7
        } else {
            [65_536, 16_384, 131_072, 1_000, 300_001][i % 5]
        };
        let end = (at + size).min(len);
        out.push(at..end);
        at = end;
        i += 1;
    }
    out
}

fn stream(bytes: &[u8], total: Option<u64>) -> StreamLoader {
    let mut s = StreamLoader::new(total);
    for r in chunks(bytes.len()) {
        s.push(&bytes[r]).expect("a chunk of a good file is accepted");
    }
    s
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn logprobs(model: &mut LocalModel) -> Vec<f64> {
    let messages = vec![Message::user(
        "A patient refuses a blood transfusion. Answer with one letter: A) respect it B) override it",
    )];
    let tokens = model.prompt_tokens(&messages).expect("prompt");
    model.next_token(&tokens).expect("forward pass").logprobs
}

/// `faults`: also the corrupted, cut-short and overlong forms (on the small file: each is a
/// whole stream of the file).
fn same_model_streamed(path: &Path, faults: bool) {
    let bytes = std::fs::read(path).expect("read the GGUF");
    let want_sha = sha256(&bytes);
    let mut whole = LocalModel::from_gguf_bytes(&bytes, LoadOptions::default()).expect("load");

    let s = stream(&bytes, Some(bytes.len() as u64));
    assert_eq!(s.received(), bytes.len() as u64);
    assert_eq!(s.sha256_hex(), want_sha);
    let mut streamed = s
        .finish(LoadOptions::default(), Some(&want_sha.to_uppercase()))
        .expect("the streamed file loads, its hash matching in either case");
    assert_eq!(streamed.info().sha256.as_deref(), Some(want_sha.as_str()));
    let mut info = streamed.info().clone();
    info.sha256 = None;
    assert_eq!(&info, whole.info(), "same model info");
    assert_eq!(streamed.info().backend, "fast");
    let (a, b) = (logprobs(&mut whole), logprobs(&mut streamed));
    assert_eq!(a.len(), b.len());
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "the streamed model computes the same bits"
    );

    if !faults {
        return;
    }
    // No total announced: the same model.
    let mut unannounced = stream(&bytes, None)
        .finish(LoadOptions::default(), None)
        .expect("loads without a total");
    assert!(logprobs(&mut unannounced)
        .iter()
        .zip(&a)
        .all(|(x, y)| x.to_bits() == y.to_bits()));

    // One byte changed in the last tensor's data: refused by its hash, nothing built.
    let mut bad = bytes.clone();
    let i = bad.len() - 100;
    bad[i] ^= 0x40;
    let e = stream(&bad, Some(bad.len() as u64))
        .finish(LoadOptions::default(), Some(&want_sha))
        .err()
        .expect("a corrupted file is refused");
    assert!(e.to_string().contains("corrupted"), "{e}");

    // Cut short, with and without a total.
    let cut = &bytes[..bytes.len() - 5000];
    for total in [Some(bytes.len() as u64), None] {
        let e = stream(cut, total)
            .finish(LoadOptions::default(), None)
            .err()
            .expect("a file cut short is refused");
        assert!(e.to_string().contains("cut short"), "{total:?}: {e}");
    }

    // More than announced.
    let mut s = StreamLoader::new(Some(1000));
    s.push(&bytes[..600]).expect("within the total");
    assert!(s.push(&bytes[600..1200]).is_err(), "past the announced size");
    assert!(s.push(&bytes[1200..1300]).is_err(), "an error stays an error");
}

#[test]
fn smollm2_streamed_equals_whole() {
    let Some(path) = gguf_path() else {
        skip("no SmolLM2 GGUF (scripts/llama-server.sh model)");
        return;
    };
    same_model_streamed(&path, true);
}

#[test]
fn qwen_k_quants_streamed_equal_whole() {
    let Some(path) = qwen_gguf_path() else {
        skip("no Qwen2.5-Coder-0.5B GGUF (scripts/llama-server.sh qwen)");
        return;
    };
    same_model_streamed(&path, false);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bytes in [&b""[..], b"GGUF", b"not a gguf at all", &[0xFF; 5000]] {
        let mut s = StreamLoader::new(Some(bytes.len() as u64));
        let pushed = s.push(bytes);
        if pushed.is_ok() {
            assert!(s.finish(LoadOptions::default(), None).is_err());
        }
    }
}
