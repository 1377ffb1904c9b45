//! A byte-level BPE tokenizer rebuilt from a GGUF's `tokenizer.ggml.*` metadata (the `gpt2`
//! tokenizer model), splitting words the way llama.cpp does for the `smollm` (and GPT-2 style)
//! pre-tokenizer: special tokens first, then every number codepoint on its own, then the GPT-2
//! word pattern. No downloads: everything comes from the file.

use std::collections::HashMap;

/// GGUF `tokenizer.ggml.token_type` values.
const TOKEN_TYPE_UNKNOWN: i32 = 2;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenizerError {
    #[error("the model file has no tokenizer: {0}")]
    Missing(String),
    #[error("the model's tokenizer is not supported: {0}")]
    Unsupported(String),
}

/// Which pre-tokenizer splits words before BPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// `\p{N}` first (each number codepoint alone), then the GPT-2 pattern (smollm, starcoder, …).
    DigitsThenGpt2,
    /// The GPT-2 pattern alone (`gpt2`, `mpt`, `olmo`, …).
    Gpt2,
    /// Qwen2's pattern (`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`): Llama 3's with single digits.
    Qwen2,
    /// Llama 3's pattern (`llama-bpe`): Qwen2's with numbers in groups of up to three digits,
    /// and a word found whole in the vocabulary taken as one token before any merge (llama.cpp's
    /// `ignore_merges`).
    Llama3,
}

impl PreTokenizer {
    /// From GGUF `tokenizer.ggml.pre`. Unknown names are refused rather than guessed.
    pub fn from_gguf_name(name: &str) -> Result<Self, TokenizerError> {
        match name {
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva" => Ok(PreTokenizer::DigitsThenGpt2),
            "gpt2" | "gpt-2" | "mpt" | "olmo" | "jais" | "default" => Ok(PreTokenizer::Gpt2),
            "qwen2" | "deepseek-r1-qwen" | "megrez" => Ok(PreTokenizer::Qwen2),
            "llama-bpe" | "llama3" | "llama-v3" => Ok(PreTokenizer::Llama3),
            other => Err(TokenizerError::Unsupported(format!(
                "pre-tokenizer '{other}' (supported: smollm, starcoder, gpt2, qwen2, llama-bpe and relatives)"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tokenizer {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    /// (left, right) → rank.
    ranks: HashMap<(String, String), u32>,
    /// Control and user-defined tokens, longest first: matched verbatim in the input text.
    specials: Vec<(String, u32)>,
    is_special: Vec<bool>,
    pre: PreTokenizer,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
    /// SentencePiece (`tokenizer.ggml.model = llama`) instead of byte-level BPE.
    spm: Option<crate::spm::Spm>,
}

/// GPT-2's reversible map of bytes to printable characters.
fn byte_chars() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    for b in 0..=255u8 {
        let printable =
            (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        let c = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + n).unwrap_or('\u{FFFD}');
            n += 1;
            c
        };
        if let Some(slot) = table.get_mut(usize::from(b)) {
            *slot = c;
        }
    }
    table
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

fn is_number(c: char) -> bool {
    c.is_numeric()
}

fn is_ws(c: char) -> bool {
    c.is_whitespace()
}

impl Tokenizer {
    /// Build from the GGUF arrays. `types` may be empty (then no token is special).
    pub fn new(
        tokens: Vec<String>,
        types: &[i32],
        merges: &[String],
        pre: PreTokenizer,
    ) -> Result<Self, TokenizerError> {
        if tokens.is_empty() {
            return Err(TokenizerError::Missing("no tokens".into()));
        }
        let mut ids = HashMap::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let id = u32::try_from(i)
                .map_err(|_| TokenizerError::Unsupported("vocabulary too large".into()))?;
            ids.entry(t.clone()).or_insert(id);
        }
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            let Some((a, b)) = m.split_once(' ') else {
                return Err(TokenizerError::Unsupported(format!(
                    "malformed merge '{m}'"
                )));
            };
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            ranks.entry((a.to_string(), b.to_string())).or_insert(rank);
        }
        let mut is_special = vec![false; tokens.len()];
        let mut specials = Vec::new();
        for (i, ty) in types.iter().enumerate() {
            if *ty == TOKEN_TYPE_CONTROL || *ty == TOKEN_TYPE_USER_DEFINED {
                if let (Some(text), Some(flag)) = (tokens.get(i), is_special.get_mut(i)) {
                    *flag = true;
                    if !text.is_empty() {
                        specials.push((text.clone(), i as u32));
                    }
                }
            }
        }
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        let byte_to_char = byte_chars();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        Ok(Self {
            tokens,
            ids,
            ranks,
            specials,
            is_special,
            pre,
            byte_to_char,
            char_to_byte,
            spm: None,
        })
    }

    /// SentencePiece BPE with byte fallback: the GGUF's tokens, types and scores, and
    /// `tokenizer.ggml.add_space_prefix` (see [`crate::spm`]).
    pub fn new_spm(
        tokens: Vec<String>,
        types: &[i32],
        scores: Vec<f32>,
        add_space_prefix: bool,
    ) -> Result<Self, TokenizerError> {
        if scores.len() != tokens.len() {
            return Err(TokenizerError::Missing(format!(
                "{} token scores for {} tokens",
                scores.len(),
                tokens.len()
            )));
        }
        let mut t = Self::new(tokens, types, &[], PreTokenizer::Gpt2)?;
        let spm = crate::spm::Spm::new(&t.tokens, &t.ids, types, scores, add_space_prefix);
        // llama.cpp also splits an unknown token's text out of the input (`<unk>`).
        for (i, ty) in types.iter().enumerate() {
            if *ty == TOKEN_TYPE_UNKNOWN {
                if let Some(text) = t.tokens.get(i).filter(|x| !x.is_empty()) {
                    t.specials.push((text.clone(), i as u32));
                }
            }
        }
        t.specials
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        t.spm = Some(spm);
        Ok(t)
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    /// Whether `id` is a control or user-defined token.
    pub fn is_special(&self, id: u32) -> bool {
        self.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// Tokenise `text`, recognising special tokens written in it (as llama.cpp's server does for
    /// a chat prompt).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        let mut plain_start = 0usize;
        let mut i = 0usize;
        // Split on special tokens (longest first at each position).
        while i < rest.len() {
            let hit = if self.specials.is_empty() {
                None
            } else {
                rest.get(i..).and_then(|tail| {
                    self.specials
                        .iter()
                        .find(|(s, _)| tail.starts_with(s.as_str()))
                })
            };
            if let Some((s, id)) = hit {
                if let Some(plain) = rest.get(plain_start..i) {
                    self.encode_plain(plain, &mut out);
                }
                out.push(*id);
                let next = i + s.len();
                rest = rest.get(next..).unwrap_or("");
                i = 0;
                plain_start = 0;
            } else {
                i += rest
                    .get(i..)
                    .and_then(|t| t.chars().next())
                    .map_or(1, char::len_utf8);
            }
        }
        if let Some(plain) = rest.get(plain_start..) {
            self.encode_plain(plain, &mut out);
        }
        out
    }

    fn encode_plain(&self, text: &str, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        if let Some(spm) = &self.spm {
            // Every stretch of plain text starts the input or follows a special token, where
            // llama.cpp adds the space prefix.
            spm.encode(&self.ids, text, out);
            return;
        }
        let chars: Vec<char> = text.chars().collect();
        let mut fragments: Vec<&[char]> = Vec::new();
        match self.pre {
            PreTokenizer::Qwen2 => {
                for word in llama3_split(&chars, 1) {
                    self.bpe_word(word, out);
                }
                return;
            }
            PreTokenizer::Llama3 => {
                for word in llama3_split(&chars, 3) {
                    if let Some(id) = self.ids.get(&self.byte_encoded(word)) {
                        out.push(*id);
                    } else {
                        self.bpe_word(word, out);
                    }
                }
                return;
            }
            PreTokenizer::Gpt2 => fragments.push(&chars),
            PreTokenizer::DigitsThenGpt2 => {
                let mut start = 0;
                for (i, c) in chars.iter().enumerate() {
                    if is_number(*c) {
                        if start < i {
                            fragments.extend(chars.get(start..i));
                        }
                        fragments.extend(chars.get(i..i + 1));
                        start = i + 1;
                    }
                }
                if start < chars.len() {
                    fragments.extend(chars.get(start..));
                }
            }
        }
        for frag in fragments {
            for word in gpt2_split(frag) {
                self.bpe_word(word, out);
            }
        }
    }

    /// A word's UTF-8 bytes as the vocabulary spells them (GPT-2's byte-to-character map).
    fn byte_encoded(&self, word: &[char]) -> String {
        let mut encoded = String::new();
        let mut buf = [0u8; 4];
        for c in word {
            for b in c.encode_utf8(&mut buf).bytes() {
                if let Some(ch) = self.byte_to_char.get(usize::from(b)) {
                    encoded.push(*ch);
                }
            }
        }
        encoded
    }

    fn bpe_word(&self, word: &[char], out: &mut Vec<u32>) {
        let encoded = self.byte_encoded(word);
        let mut symbols: Vec<String> = encoded.chars().map(String::from).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for (i, pair) in symbols.windows(2).enumerate() {
                if let [a, b] = pair {
                    if let Some(r) = self.ranks.get(&(a.clone(), b.clone())) {
                        if best.is_none_or(|(br, _)| *r < br) {
                            best = Some((*r, i));
                        }
                    }
                }
            }
            let Some((_, i)) = best else { break };
            if i + 1 < symbols.len() {
                let right = symbols.remove(i + 1);
                if let Some(left) = symbols.get_mut(i) {
                    left.push_str(&right);
                }
            } else {
                break;
            }
        }
        for s in symbols {
            if let Some(id) = self.ids.get(&s) {
                out.push(*id);
            } else {
                // Not in the vocabulary: one token per character (llama.cpp does the same per byte).
                for c in s.chars() {
                    if let Some(id) = self.ids.get(&c.to_string()) {
                        out.push(*id);
                    }
                }
            }
        }
    }

    /// The raw bytes a token stands for. Special tokens give their text when `with_special`,
    /// otherwise nothing (as llama.cpp renders them in generated text).
    pub fn token_bytes(&self, id: u32, with_special: bool) -> Vec<u8> {
        let Some(text) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        if self.is_special(id) {
            return if with_special {
                text.as_bytes().to_vec()
            } else {
                Vec::new()
            };
        }
        if let Some(spm) = &self.spm {
            return match spm.byte_of(id) {
                Some(b) => vec![b],
                None => text.replace('\u{2581}', " ").into_bytes(),
            };
        }
        let mut bytes = Vec::with_capacity(text.len());
        let mut buf = [0u8; 4];
        for c in text.chars() {
            match self.char_to_byte.get(&c) {
                Some(b) => bytes.push(*b),
                None => bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            }
        }
        bytes
    }

    /// A token's text (lossy where a token is part of a multi-byte character).
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.token_bytes(id, true)).into_owned()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|id| self.token_bytes(*id, false))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Incremental UTF-8 decoding of a token stream: yields the text that became complete.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let s = s.to_string();
                self.pending.clear();
                s
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    // Invalid (not merely incomplete): flush lossily.
                    let s = String::from_utf8_lossy(&self.pending).into_owned();
                    self.pending.clear();
                    return s;
                }
                let s =
                    String::from_utf8_lossy(self.pending.get(..valid).unwrap_or(&[])).into_owned();
                self.pending.drain(..valid.min(self.pending.len()));
                s
            }
        }
    }

    pub fn finish(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}

/// Word boundaries found so far by a split.
struct Words {
    spans: Vec<(usize, usize)>,
    prev: usize,
}

impl Words {
    fn new() -> Self {
        Self {
            spans: Vec::new(),
            prev: 0,
        }
    }

    /// A word ends at `end` (nothing when empty).
    fn push(&mut self, end: usize) {
        if end > self.prev {
            self.spans.push((self.prev, end));
        }
        self.prev = end;
    }

    fn slices(self, cpts: &[char]) -> Vec<&[char]> {
        self.spans
            .into_iter()
            .filter_map(|(a, b)| cpts.get(a..b))
            .collect()
    }
}

/// Where the whitespace rules of the split end a word starting at `pos` (`\s*[\r\n]+` first
/// when `newlines`, then `\s+(?!\S)`, `\s+`; one character when nothing matches).
fn whitespace_end(cpts: &[char], pos: usize, newlines: bool) -> usize {
    let mut spaces = 0;
    let mut last_newline_end = 0;
    while let Some(c) = cpts.get(pos + spaces).copied().filter(|c| is_ws(*c)) {
        if newlines && matches!(c, '\r' | '\n') {
            last_newline_end = pos + spaces + 1;
        }
        spaces += 1;
    }
    if last_newline_end > 0 {
        last_newline_end
    } else if spaces > 1 && pos + spaces < cpts.len() {
        pos + spaces - 1
    } else {
        pos + spaces.max(1)
    }
}

/// llama.cpp's hand-written GPT-2 split (`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
/// ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`) over one fragment.
fn gpt2_split(cpts: &[char]) -> Vec<&[char]> {
    let n = cpts.len();
    let get = |p: usize| cpts.get(p).copied();
    let letter = |p: usize| get(p).is_some_and(is_letter);
    let number = |p: usize| get(p).is_some_and(is_number);
    let other = |p: usize| get(p).is_some_and(|c| !(is_ws(c) || is_letter(c) || is_number(c)));
    let mut words = Words::new();
    let mut pos = 0usize;
    while pos < n {
        let c = get(pos).unwrap_or('\0');
        if c == '\'' && pos + 1 < n {
            let c1 = get(pos + 1).unwrap_or('\0');
            if matches!(c1, 's' | 't' | 'm' | 'd') {
                pos += 2;
                words.push(pos);
                continue;
            }
            if pos + 2 < n {
                let c2 = get(pos + 2).unwrap_or('\0');
                if matches!((c1, c2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                    pos += 3;
                    words.push(pos);
                    continue;
                }
            }
        }
        let look = if c == ' ' { pos + 1 } else { pos };
        if letter(look) {
            pos = look;
            while letter(pos) {
                pos += 1;
            }
            words.push(pos);
            continue;
        }
        if number(look) {
            pos = look;
            while number(pos) {
                pos += 1;
            }
            words.push(pos);
            continue;
        }
        if other(look) {
            pos = look;
            while other(pos) {
                pos += 1;
            }
            words.push(pos);
            continue;
        }
        pos = whitespace_end(cpts, pos, false);
        words.push(pos);
    }
    words.slices(cpts)
}

/// llama.cpp's hand-written Llama 3 / Qwen2 split (`(?i:'s|'t|'re|'ve|'m|'ll|'d)|
/// [^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
/// \s+(?!\S)|\s+`).
fn llama3_split(cpts: &[char], max_digits: usize) -> Vec<&[char]> {
    let n = cpts.len();
    let get = |p: usize| cpts.get(p).copied();
    let letter = |p: usize| get(p).is_some_and(is_letter);
    let number = |p: usize| get(p).is_some_and(is_number);
    let other = |p: usize| get(p).is_some_and(|c| !(is_ws(c) || is_letter(c) || is_number(c)));
    let lower = |p: usize| get(p).and_then(|c| c.to_lowercase().next());
    let mut words = Words::new();
    let mut pos = 0usize;
    while pos < n {
        let c = get(pos).unwrap_or('\0');
        if c == '\'' && pos + 1 < n {
            if matches!(lower(pos + 1), Some('s' | 't' | 'm' | 'd')) {
                pos += 2;
                words.push(pos);
                continue;
            }
            if pos + 2 < n
                && matches!(
                    (lower(pos + 1), lower(pos + 2)),
                    (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))
                )
            {
                pos += 3;
                words.push(pos);
                continue;
            }
        }
        if !(c == '\r' || c == '\n' || is_number(c)) && (is_letter(c) || letter(pos + 1)) {
            pos += 1;
            while letter(pos) {
                pos += 1;
            }
            words.push(pos);
            continue;
        }
        if is_number(c) {
            let mut ini = pos;
            while number(pos) {
                pos += 1;
                if pos - ini >= max_digits {
                    words.push(pos);
                    ini = pos;
                }
            }
            words.push(pos);
            continue;
        }
        let look = if c == ' ' { pos + 1 } else { pos };
        if other(look) {
            pos = look;
            while other(pos) {
                pos += 1;
            }
            while matches!(get(pos), Some('\r' | '\n')) {
                pos += 1;
            }
            words.push(pos);
            continue;
        }
        pos = whitespace_end(cpts, pos, true);
        words.push(pos);
    }
    words.slices(cpts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_qwen(s: &str) -> Vec<String> {
        let c: Vec<char> = s.chars().collect();
        llama3_split(&c, 1)
            .into_iter()
            .map(|w| w.iter().collect())
            .collect()
    }

    #[test]
    fn qwen2_split_matches_the_pattern() {
        assert_eq!(split_qwen("Hello world"), ["Hello", " world"]);
        assert_eq!(split_qwen("It'S 123!\n\nx"), ["It", "'S", " ", "1", "2", "3", "!\n\n", "x"]);
        assert_eq!(split_qwen("a \n\n  b"), ["a", " \n\n", " ", " b"]);
        assert_eq!(split_qwen("x   y"), ["x", "  ", " y"]);
        assert_eq!(split_qwen("(A) ...end  "), ["(A", ")", " ...", "end", "  "]);
        assert_eq!(split_qwen("\tword"), ["\tword"]);
    }

    fn split(s: &str) -> Vec<String> {
        let c: Vec<char> = s.chars().collect();
        gpt2_split(&c)
            .into_iter()
            .map(|w| w.iter().collect())
            .collect()
    }

    #[test]
    fn gpt2_split_matches_the_pattern() {
        assert_eq!(split("Hello world"), ["Hello", " world"]);
        assert_eq!(split("it's  ok!\n"), ["it", "'s", " ", " ok", "!", "\n"]);
        assert_eq!(split("a\nb"), ["a", "\n", "b"]);
        assert_eq!(split("x   y"), ["x", "  ", " y"]);
        assert_eq!(split("Answer:"), ["Answer", ":"]);
    }

    fn toy() -> Tokenizer {
        toy_with(PreTokenizer::DigitsThenGpt2, &[])
    }

    /// The toy vocabulary plus `extra` tokens (no merges make them).
    fn toy_with(pre: PreTokenizer, extra: &[&str]) -> Tokenizer {
        let bc = byte_chars();
        let mut tokens: Vec<String> = vec!["<|im_start|>".into(), "<|im_end|>".into()];
        tokens.extend(bc.iter().map(|c| c.to_string()));
        let g = bc[usize::from(b' ')];
        tokens.push(format!("{g}a"));
        tokens.push("ab".into());
        tokens.push(format!("{g}ab"));
        tokens.extend(extra.iter().map(|t| t.to_string()));
        let merges = vec![format!("{g} a"), "a b".to_string(), format!("{g}a b")];
        let mut types = vec![3, 3];
        types.extend(std::iter::repeat_n(1, tokens.len() - 2));
        Tokenizer::new(tokens, &types, &merges, pre).expect("toy tokenizer")
    }

    #[test]
    fn llama3_groups_digits_by_three_and_takes_whole_words_before_merges() {
        let texts = |t: &Tokenizer, s: &str| -> Vec<String> {
            t.encode(s).iter().map(|i| t.token_text(*i)).collect()
        };
        // "12345" is one token of the vocabulary, but Llama 3 splits numbers into groups of up
        // to three digits first; "abab" is a whole word of the vocabulary that no merge makes.
        let t = toy_with(PreTokenizer::Llama3, &["123", "12345", "abab"]);
        assert_eq!(texts(&t, "12345"), ["123", "4", "5"]);
        assert_eq!(texts(&t, "abab"), ["abab"]);
        let q = toy_with(PreTokenizer::Qwen2, &["123", "12345", "abab"]);
        assert_eq!(texts(&q, "12345"), ["1", "2", "3", "4", "5"]);
        assert_eq!(texts(&q, "abab"), ["ab", "ab"]);
        assert_eq!(
            PreTokenizer::from_gguf_name("llama-bpe").ok(),
            Some(PreTokenizer::Llama3)
        );
    }

    #[test]
    fn bpe_merges_by_rank_and_specials_split() {
        let t = toy();
        let ids = t.encode("<|im_start|>ab ab12<|im_end|>");
        let texts: Vec<String> = ids.iter().map(|i| t.token_text(*i)).collect();
        assert_eq!(texts, ["<|im_start|>", "ab", " ab", "1", "2", "<|im_end|>"]);
        assert_eq!(t.decode(&ids), "ab ab12");
    }

    #[test]
    fn bytes_round_trip_through_the_byte_map() {
        let t = toy();
        let s = "héllo – ✓ 你好";
        assert_eq!(t.decode(&t.encode(s)), s);
    }

    #[test]
    fn stream_decoder_waits_for_whole_characters() {
        let mut d = StreamDecoder::default();
        let bytes = "é".as_bytes();
        assert_eq!(d.push(&bytes[..1]), "");
        assert_eq!(d.push(&bytes[1..]), "é");
        assert_eq!(d.finish(), "");
    }
}
