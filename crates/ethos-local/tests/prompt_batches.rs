//! A prompt's next-token log-probabilities do not depend on how the runtime cuts the prompt into
//! batches: the whole prompt at once (batches of even sizes up to 32 tokens, the k-quant rows'
//! four-tokens-to-a-vector kernels) gives the same bits as the same tokens fed one at a time
//! (the generation kernels), on SmolLM2 (Q4_1) and Qwen2.5-Coder-0.5B (Q5_0, Q8_0, Q4_K, Q6_K).
//! Runs whenever the model files are cached (scripts/llama-server.sh model / qwen).
mod common;

use std::path::Path;

use common::{gguf_path, qwen_gguf_path, skip};
use ethos_engine::chat::Message;
use ethos_local::{LoadOptions, LocalModel};

fn one_at_a_time_equals_whole(path: &Path) {
    let mut model = LocalModel::from_path(path, LoadOptions::default()).expect("load");
    let messages = vec![Message::user(
        "A patient refuses a blood transfusion that would save her life. Her family asks the \
         doctors to give it anyway. Answer with one letter: A) respect her refusal B) override it",
    )];
    let tokens = model.prompt_tokens(&messages).expect("prompt");
    // More than one batch (the cut is then 21 + 20 or so, not 32 + a few), and not a multiple of
    // four (the last four-token tile of a batch is partly empty).
    assert!(tokens.len() > 33 && tokens.len() % 4 != 0, "{} tokens", tokens.len());
    let whole = model.next_token(&tokens).expect("forward pass").logprobs;
    let mut last = Vec::new();
    model
        .forced_logits(&tokens, &mut |i, logits| {
            if i + 1 == tokens.len() {
                last = logits.to_vec();
            }
        })
        .expect("one token at a time");
    let stepwise = ethos_local::NextToken::from_logits(&last).logprobs;
    assert_eq!(whole.len(), stepwise.len());
    let differ = whole.iter().zip(&stepwise).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    assert_eq!(differ, 0, "{differ} of {} log-probabilities differ", whole.len());
}

#[test]
fn smollm2_batches_equal_one_token_at_a_time() {
    let Some(path) = gguf_path() else {
        skip("no SmolLM2 GGUF (scripts/llama-server.sh model)");
        return;
    };
    one_at_a_time_equals_whole(&path);
}

#[test]
fn qwen_k_quant_batches_equal_one_token_at_a_time() {
    let Some(path) = qwen_gguf_path() else {
        skip("no Qwen2.5-Coder-0.5B GGUF (scripts/llama-server.sh qwen)");
        return;
    };
    one_at_a_time_equals_whole(&path);
}
