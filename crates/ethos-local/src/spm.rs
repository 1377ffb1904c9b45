//! SentencePiece BPE with byte fallback (`tokenizer.ggml.model = llama`: Gemma, Llama 2, Mistral),
//! as llama.cpp's `llm_tokenizer_spm` does it: spaces become `▁` (with one in front of the text
//! when the file asks for a space prefix), every character starts as a symbol, the adjacent pair
//! whose joined text is the vocabulary entry of the highest score is joined first (ties: the
//! leftmost); a symbol left that is no entry (only single characters can be: every join makes an
//! entry) becomes its byte tokens (`<0xAB>`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// GGUF token type of a byte token (`<0x0A>`).
pub const TOKEN_TYPE_BYTE: i32 = 6;

/// What SentencePiece needs beyond the token texts.
#[derive(Debug, Clone)]
pub struct Spm {
    scores: Vec<f32>,
    /// `tokenizer.ggml.add_space_prefix` (llama.cpp's default: true).
    pub add_space_prefix: bool,
    /// The token of each byte, for the fallback.
    byte_tokens: [Option<u32>; 256],
    /// The byte a byte token stands for.
    token_byte: HashMap<u32, u8>,
}

impl Spm {
    /// `ids`: the vocabulary's text → id map (the tokenizer's own).
    pub fn new(
        tokens: &[String],
        ids: &HashMap<String, u32>,
        types: &[i32],
        scores: Vec<f32>,
        add_space_prefix: bool,
    ) -> Self {
        let mut byte_tokens = [None; 256];
        let mut token_byte = HashMap::new();
        for (i, text) in tokens.iter().enumerate() {
            let is_byte = types.get(i) == Some(&TOKEN_TYPE_BYTE);
            if let Some(b) = parse_byte_token(text).filter(|_| is_byte) {
                if let Some(slot) = byte_tokens.get_mut(usize::from(b)) {
                    slot.get_or_insert(i as u32);
                }
                token_byte.insert(i as u32, b);
            }
        }
        // llama.cpp falls back to the byte as a one-character token when there is no `<0xAB>`.
        for (b, slot) in byte_tokens.iter_mut().enumerate() {
            if slot.is_none() && b < 0x80 {
                *slot = ids.get(&char::from(b as u8).to_string()).copied();
            }
        }
        Self {
            scores,
            add_space_prefix,
            byte_tokens,
            token_byte,
        }
    }

    /// The byte a byte token stands for (None for every other token).
    pub fn byte_of(&self, id: u32) -> Option<u8> {
        self.token_byte.get(&id).copied()
    }

    /// Tokenise one stretch of plain text (between special tokens) with the vocabulary `ids`.
    pub fn encode(&self, ids: &HashMap<String, u32>, plain: &str, out: &mut Vec<u32>) {
        let mut text = String::with_capacity(plain.len() + 3);
        if self.add_space_prefix {
            text.push(' ');
        }
        text.push_str(plain);
        let text = text.replace(' ', "\u{2581}");
        let mut session = Session {
            text: &text,
            symbols: Vec::new(),
            queue: BinaryHeap::new(),
            ids,
            scores: &self.scores,
        };
        session.run();
        let mut i = if session.symbols.is_empty() {
            None
        } else {
            Some(0)
        };
        while let Some(at) = i {
            session.emit(at, &self.byte_tokens, out);
            i = session.symbols.get(at).and_then(|s| s.next);
        }
    }
}

/// `<0xAB>` → 0xAB.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    (hex.len() == 2).then(|| u8::from_str_radix(hex, 16).ok())?
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    left: usize,
    right: usize,
    score: f32,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// The heap's top: the highest score, then the leftmost pair (llama.cpp's comparator).
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

struct Session<'a> {
    text: &'a str,
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
    ids: &'a HashMap<String, u32>,
    scores: &'a [f32],
}

impl<'a> Session<'a> {
    fn piece(&self, start: usize, len: usize) -> &'a str {
        self.text.get(start..start + len).unwrap_or("")
    }

    fn run(&mut self) {
        let n = self.text.chars().count();
        for (index, (start, c)) in self.text.char_indices().enumerate() {
            self.symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: index.checked_sub(1),
                next: (index + 1 < n).then_some(index + 1),
            });
        }
        for i in 1..self.symbols.len() {
            self.try_add(Some(i - 1), Some(i));
        }
        while let Some(b) = self.queue.pop() {
            let (Some(l), Some(r)) = (self.symbols.get(b.left), self.symbols.get(b.right)) else {
                continue;
            };
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            let (r_len, r_next) = (r.len, r.next);
            if let Some(l) = self.symbols.get_mut(b.left) {
                l.len += r_len;
                l.next = r_next;
            }
            if let Some(r) = self.symbols.get_mut(b.right) {
                r.len = 0;
            }
            if let Some(next) = r_next.and_then(|i| self.symbols.get_mut(i)) {
                next.prev = Some(b.left);
            }
            let prev = self.symbols.get(b.left).and_then(|s| s.prev);
            self.try_add(prev, Some(b.left));
            self.try_add(Some(b.left), r_next);
        }
    }

    fn try_add(&mut self, left: Option<usize>, right: Option<usize>) {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let (Some(l), Some(r)) = (self.symbols.get(left), self.symbols.get(right)) else {
            return;
        };
        let size = l.len + r.len;
        let text = self.piece(l.start, size);
        let Some(id) = self.ids.get(text) else {
            return;
        };
        let score = self.scores.get(*id as usize).copied().unwrap_or(0.0);
        self.queue.push(Bigram {
            left,
            right,
            score,
            size,
        });
    }

    /// The tokens of symbol `at`: its entry, or its bytes' tokens.
    fn emit(&self, at: usize, bytes: &[Option<u32>; 256], out: &mut Vec<u32>) {
        let Some(s) = self.symbols.get(at) else {
            return;
        };
        let text = self.piece(s.start, s.len);
        match self.ids.get(text) {
            Some(id) => out.push(*id),
            None => out.extend(
                text.bytes()
                    .filter_map(|b| bytes.get(usize::from(b)).copied().flatten()),
            ),
        }
    }
}
