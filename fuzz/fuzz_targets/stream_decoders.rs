//! The stream decoders of both protocols (OpenAI-compatible and Anthropic) on the same bytes: fed
//! whole and fed in pieces, each gives the same text and the same final response or error, never
//! a panic. (Each also meets the other protocol's streams, as with a misconfigured preset.)
#![no_main]
use ethos_fuzz::Decoder;
use ethos_providers::{anthropic, openai};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    Decoder {
        new: openai::StreamDecoder::new,
        feed: openai::StreamDecoder::feed,
        finish: openai::StreamDecoder::finish,
    }
    .check(data);
    Decoder {
        new: anthropic::StreamDecoder::new,
        feed: anthropic::StreamDecoder::feed,
        finish: anthropic::StreamDecoder::finish,
    }
    .check(data);
});
