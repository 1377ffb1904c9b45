//! Cleaning what a model wrote: the stage-2 role preamble and option letter, and the
//! perspectives read from a stage-1 reply (reference `#` lines or the tolerant parser).

use super::*;

/// Strip a leading role preamble from the first line, as the reference does with the
/// case-insensitive pattern `^(As a|From the perspective|Speaking as).*?[:;]`. Returns the text
/// after the first `:` or `;` of the first line (trimmed at the start) and the removed preamble,
/// or the text unchanged and an empty preamble.
pub fn strip_preamble(text: &str) -> (String, String) {
    let t = text.trim_start();
    let first_line_end = t.find('\n').unwrap_or(t.len());
    let first = &t[..first_line_end];
    let lower = first.to_lowercase();
    let starts = ["as a", "from the perspective", "speaking as"]
        .iter()
        .any(|p| lower.starts_with(p));
    // `lower` is only used for the prefix test; positions are taken in the original line.
    if !starts {
        return (text.to_string(), String::new());
    }
    match first.find([':', ';']) {
        Some(pos) => {
            let preamble = &t[..=pos];
            (t[pos + 1..].trim_start().to_string(), preamble.to_string())
        }
        None => (text.to_string(), String::new()),
    }
}

/// A standalone option letter (not part of a word) in `text`, the last one found.
pub(super) fn standalone_letter(text: &str, n_options: usize) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    let allowed = &LETTERS[..n_options.min(LETTERS.len())];
    let mut found = None;
    for (i, c) in chars.iter().enumerate() {
        if !allowed.contains(c) {
            continue;
        }
        let before_ok = i == 0 || chars.get(i - 1).is_none_or(|b| !b.is_alphanumeric());
        let after_ok = chars
            .get(i + 1)
            .is_none_or(|a| !a.is_alphanumeric() && *a != '\'');
        if before_ok && after_ok {
            found = Some(*c);
        }
    }
    found
}

/// Clean a stage-2 reply: strip the role preamble and keep the option letter (multiple-choice
/// items). Returns (cleaned text, leading letter).
pub fn clean_comment(raw: &str, n_options: usize) -> (String, Option<char>) {
    let (cleaned, preamble) = strip_preamble(raw);
    if n_options == 0 {
        return (cleaned, None);
    }
    // When nothing was stripped, the comment's own leading letter; when a preamble was stripped
    // (it starts with "As a…", never with an option letter), the cleaned text's leading letter,
    // else the option letter named inside the preamble, put back in front.
    if let Some(l) = distribution::leading_letter(&cleaned, n_options) {
        return (cleaned, Some(l));
    }
    match standalone_letter(&preamble, n_options) {
        Some(l) if !preamble.is_empty() => (format!("{l}. {cleaned}"), Some(l)),
        _ => (cleaned, None),
    }
}

/// The perspective that replaces a regenerated one, from the perspectives parsed from its
/// stage-1 reply: the first whose name is not on the board (`board` holds every perspective,
/// the one being replaced included, so the new one differs from it), else the first. Names
/// compare case- and space-insensitively; a candidate with no text is skipped. None when the
/// reply held no usable perspective.
pub fn choose_replacement(
    candidates: Vec<Perspective>,
    board: &[Perspective],
) -> Option<Perspective> {
    let taken: Vec<String> = board.iter().map(|p| name_key(&p.name)).collect();
    let mut usable = candidates
        .into_iter()
        .filter(|p| !p.raw.trim().is_empty())
        .peekable();
    let first = usable.peek().cloned();
    usable
        .find(|p| {
            let key = name_key(&p.name);
            !key.is_empty() && !taken.contains(&key)
        })
        .or(first)
}

/// A perspective name for comparisons: lower case, words separated by one space.
pub(super) fn name_key(name: &str) -> String {
    name.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}
