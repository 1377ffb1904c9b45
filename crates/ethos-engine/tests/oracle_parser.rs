//! The reference answer parser against a second, independent implementation of the spec's rule
//! list in Python (`tests/oracle/answer_parser.py`), on a seeded corpus of generated answers.
//!
//! The Python runs with `$ETHOS_ORACLE_PYTHON` (scripts/test.sh sets it to the oracle venv),
//! else `python3` on PATH; the test skips, loudly, only when neither can be started.

use ethos_engine::answer::{parse_reference, reference_letter};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use support::{run_python, Rng};

#[path = "oracle/support.rs"]
mod support;

/// First tokens: with and without capitals A–E, inside words, wrapped, lower-case, D/E.
const FIRST: &[&str] = &[
    "A",
    "B",
    "C",
    "D",
    "E",
    "A.",
    "B)",
    "(C)",
    "**B**",
    "\"A\"",
    "Because",
    "Certainly",
    "Definitely",
    "Either",
    "Absolutely",
    "Both",
    "Clearly",
    "Every",
    "The",
    "I",
    "It",
    "Yes",
    "No",
    "Option",
    "Answer:",
    "answer:",
    "a",
    "b",
    "c",
    "because",
    "certainly",
    "the",
    "i",
    "Supports",
    "Opposes",
    "OK",
    "Hmm",
    "Well,",
    "So",
    "Sure",
    "Compassion",
    "Justice",
    "(BA)",
    "x",
    "1.",
    "—",
    "é",
    "İ",
    "Σ",
];

/// Phrases each later rule looks for, keywords, and filler (some with capitals inside).
const PHRASES: &[&str] = &[
    "the answer is a",
    "the answer is b",
    "the answer is c",
    "the answer is d",
    "The answer is B",
    "THE ANSWER IS C",
    "the answer is e",
    "answer: a",
    "answer: b",
    "Answer: C",
    "answer: d",
    " A ",
    " B ",
    " C ",
    " D ",
    " E ",
    " A.",
    " B.",
    " C.",
    " E.",
    "the correct answer is a",
    "the correct answer is b",
    "The correct answer is C",
    "the correct answer is d",
    "A: ",
    "B: ",
    "C: ",
    "D: ",
    "E: ",
    "A\n",
    "B\n",
    "C\n",
    "D\n",
    "(A)",
    "(B)",
    "(C)",
    "(D)",
    "(E)",
    "(a)",
    "support",
    "supports",
    "Supports",
    "SUPPORT",
    "oppose",
    "opposes",
    "Opposes",
    "either",
    "Either",
    "neither",
    "it depends",
    "It Depends",
    "It depends",
    "it  depends",
    "the value",
    "patient",
    "Compassion",
    "autonomy",
    "Beneficence",
    "I think",
    "option",
    "because",
    "of Duty",
    "rights",
    "CARE",
    "is",
    "answer",
    "answer is",
];

const SEPARATORS: &[&str] = &[
    " ", " ", " ", "  ", "\n", "\n\n", "\t", "\r\n", "", ", ", ". ", "\u{a0}", "\u{1c}", "\u{2003}",
];

const EDGES: &[&str] = &[
    "",
    " ",
    "\n",
    "\t\n ",
    "\u{1c}",
    "\u{1c}B",
    "\u{1f} C",
    "\u{85}A",
    "A",
    "a",
    "E",
    "e",
    "I pick Because",
    "The value supports patient Compassion",
    "The value of Compassion",
    "no\nBecause",
    "\n\t Certainly\n",
    "Because",
    "it depends",
    "either",
    "(BA) applies",
    "the value (BA) applies",
    "i think B",
    "Answer: B",
    "answer: b",
    "x B",
    "x B.",
    "B:",
    "B: ",
    "ends with D",
    "ends with C",
    "(E)",
    "Definitely opposes",
    "Definitely supports",
];

fn corpus(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut out: Vec<String> = EDGES.iter().map(|s| s.to_string()).collect();
    while out.len() < n {
        let mut s = String::new();
        // Leading whitespace sometimes (strip removes it; a newline never splits a token).
        if rng.below(4) == 0 {
            s.push_str(rng.pick(&[" ", "  ", "\n", "\t", "\n ", "\u{1d}", "\u{3000}"]));
        }
        if rng.below(6) != 0 {
            s.push_str(rng.pick(FIRST));
        }
        for _ in 0..rng.below(6) {
            s.push_str(rng.pick(SEPARATORS));
            s.push_str(rng.pick(PHRASES));
        }
        if rng.below(5) == 0 {
            s.push_str(rng.pick(&["", " ", "\n", ".", "A", "B", "C", "D", ")", " \u{1c}"]));
        }
        out.push(s);
    }
    out
}

/// The Python that runs the oracle: `$ETHOS_ORACLE_PYTHON`, else `python3`.
fn python() -> Option<String> {
    let candidates = std::env::var("ETHOS_ORACLE_PYTHON")
        .ok()
        .into_iter()
        .chain(["python3".to_string()]);
    for p in candidates {
        if Command::new(&p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(p);
        }
    }
    None
}

fn letter(v: &Value) -> Option<char> {
    v.as_str()
        .map(|s| s.chars().next().expect("a one-letter string"))
}

#[test]
fn reference_parser_equals_the_python_rule_list() {
    let Some(python) = python() else {
        eprintln!(
            "SKIP reference_parser_equals_the_python_rule_list: no Python (set ETHOS_ORACLE_PYTHON \
             or put python3 on PATH; scripts/test.sh does)"
        );
        return;
    };
    let answers = corpus(5_000, 0x5eed_0f_a11);
    let script = format!(
        "{}/tests/oracle/answer_parser.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let input = serde_json::to_string(&answers).expect("corpus as JSON");
    let verdicts: Vec<Value> =
        serde_json::from_str(&run_python(&python, &script, &input)).expect("oracle JSON");
    assert_eq!(verdicts.len(), answers.len());

    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (answer, v) in answers.iter().zip(&verdicts) {
        let (py_letter, py_class) = (letter(&v[0]), letter(&v[1]));
        *by_rule
            .entry(v[2].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
        let (rs_letter, rs_class) = (reference_letter(answer), parse_reference(answer));
        if (rs_letter, rs_class) != (py_letter, py_class) {
            mismatches.push(format!(
                "{answer:?}: Rust {rs_letter:?}/{rs_class:?}, Python {py_letter:?}/{py_class:?} (rule {})",
                v[2]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} answers differ, e.g.:\n{}",
        mismatches.len(),
        answers.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    // The corpus reaches every rule, the keyword fallback and the unparsed class.
    for rule in [
        "1", "2", "3", "4", "5", "6", "7", "8", "keyword", "unparsed",
    ] {
        let n = by_rule.get(rule).copied().unwrap_or(0);
        assert!(n >= 10, "rule {rule} decided only {n} answers: {by_rule:?}");
    }
    eprintln!(
        "{} answers agree; decided by rule: {by_rule:?}",
        answers.len()
    );
}
