//! Parsing model answers: the reference A/B/C answer parser, a strict parser, and stage-3
//! comment selection. OWNER: engine-functions helper. Signatures are shared; keep them.

/// The reference parser (see spec/evaluation.md): returns 'A', 'B' or 'C', or None (= wrong).
pub fn parse_reference(answer: &str) -> Option<char> {
    let _ = answer;
    None
}

/// Strict: the answer's first non-space character is A, B or C (optionally in `(`…`)` or `**`).
pub fn parse_strict(answer: &str) -> Option<char> {
    let _ = answer;
    None
}

/// Reference selection parse: the first i in 1..=k whose decimal string occurs in the reply
/// (so the lowest number wins). Returns a 0-based index.
pub fn parse_selection(reply: &str, k: usize) -> Option<usize> {
    let _ = (reply, k);
    None
}
