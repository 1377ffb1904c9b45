//! Parsers: the reference and strict answer parsers, selection, perspectives, distributions.

use ethos_engine::answer::{
    parse_reference, parse_selection, parse_strict, reference_letter, AnswerParser,
};
use ethos_engine::distribution::*;
use ethos_engine::persona::{parse_perspectives, reference_lines, split_fields, Perspective};
use ethos_engine::TokenLogprob;

// ------------------------------------------------------------------------------------------
// Reference answer parser
// ------------------------------------------------------------------------------------------

#[test]
fn reference_parser_cases_from_the_brief() {
    assert_eq!(parse_reference("Because it respects autonomy"), Some('B'));
    assert_eq!(
        parse_reference("Certainly, the value supports it"),
        Some('C')
    );
    assert_eq!(parse_reference("Answer: B"), Some('A'));
    assert_eq!(parse_reference("Either"), Some('C'));
    assert_eq!(parse_reference("(B)"), Some('B'));
    assert_eq!(parse_reference("I cannot tell."), None);
    assert_eq!(parse_reference(""), None);
}

#[test]
fn reference_parser_rule_one_details() {
    // Only the first space-separated token of the stripped answer counts for rule 1; letters are
    // checked in A..E order within it.
    assert_eq!(parse_reference("A"), Some('A'));
    assert_eq!(parse_reference("  C. Either"), Some('C'));
    assert_eq!(parse_reference("**B**"), Some('B'));
    assert_eq!(parse_reference("(BA) applies"), Some('A'));
    // A later token never counts for rule 1: "(BA)" is not "(B)" or "(A)", so nothing matches.
    assert_eq!(parse_reference("the value (BA) applies"), None);
    // "I" is not an option letter, and "Because" is not the first token: unparsed.
    assert_eq!(parse_reference("I pick Because"), None);
    // "The" holds no capital A–E: "Compassion" does not make it C (the later rules decide).
    assert_eq!(
        parse_reference("The value supports patient Compassion"),
        Some('A')
    );
    assert_eq!(reference_letter("The value of Compassion"), None);
    // A newline does not split: "no\nBecause" is one token, holding a B.
    assert_eq!(parse_reference("no\nBecause"), Some('B'));
    assert_eq!(parse_reference("\n\t Certainly\n"), Some('C'));
    // A later capital letter still counts through rule 7 (last character).
    assert_eq!(parse_reference("i think B"), Some('B'));
    // Lower-case letters do not count for rule 1.
    assert_eq!(parse_reference("b"), None);
    // D/E stop the rules; then the keyword fallback decides.
    assert_eq!(reference_letter("Definitely opposes"), Some('D'));
    assert_eq!(parse_reference("Definitely opposes"), Some('B'));
    assert_eq!(parse_reference("Definitely supports"), Some('A'));
    assert_eq!(parse_reference("Definitely"), None);
    assert_eq!(parse_reference("E"), None);
    assert_eq!(reference_letter("Either"), Some('E'));
}

#[test]
fn reference_parser_later_rules_on_lowercase_text() {
    // No capital A–E anywhere: rule 1 finds nothing, the lower-case rules apply.
    assert_eq!(parse_reference("the answer is b"), Some('B'));
    assert_eq!(parse_reference("so, answer: c"), Some('C'));
    assert_eq!(parse_reference("the correct answer is a"), Some('A'));
    assert_eq!(reference_letter("the answer is e"), Some('E'));
    // rule order: "the answer is" (rule 2) before "answer: " (rule 3)
    assert_eq!(
        parse_reference("answer: a, or rather the answer is b"),
        Some('B')
    );
    // letter order within a rule: a before b
    assert_eq!(
        parse_reference("the answer is b or the answer is a"),
        Some('A')
    );
}

#[test]
fn reference_parser_keyword_fallback() {
    assert_eq!(parse_reference("it supports the situation"), Some('A'));
    assert_eq!(parse_reference("they oppose this"), Some('B'));
    assert_eq!(parse_reference("well, it depends"), Some('C'));
    assert_eq!(parse_reference("either way"), Some('C'));
    // support is checked before oppose
    assert_eq!(parse_reference("support and oppose"), Some('A'));
    // a rule-1 hit among A–C wins over keywords
    assert_eq!(
        parse_reference("Because they oppose it, support fails"),
        Some('B')
    );
}

// ------------------------------------------------------------------------------------------
// Strict parser and selection
// ------------------------------------------------------------------------------------------

#[test]
fn strict_parser() {
    assert_eq!(parse_strict("A"), Some('A'));
    assert_eq!(parse_strict("  B. Opposes"), Some('B'));
    assert_eq!(parse_strict("(C)"), Some('C'));
    assert_eq!(parse_strict("**A**: supports"), Some('A'));
    assert_eq!(parse_strict("\"B\""), Some('B'));
    assert_eq!(parse_strict("Because"), None);
    assert_eq!(parse_strict("Certainly"), None);
    assert_eq!(parse_strict("Answer: B"), None);
    assert_eq!(parse_strict("D"), None);
    assert_eq!(parse_strict("a"), None);
    assert_eq!(parse_strict(""), None);
    assert_eq!(parse_strict("((**"), None);
    assert_eq!(AnswerParser::Strict.parse("Answer: B"), None);
    assert_eq!(AnswerParser::Reference.parse("Answer: B"), Some('A'));
}

#[test]
fn selection_parser() {
    assert_eq!(parse_selection("Comment 3 is best", 6), Some(2));
    assert_eq!(parse_selection("3", 6), Some(2));
    // lowest number wins, wherever it appears
    assert_eq!(parse_selection("4, not 2", 6), Some(1));
    // "10" contains "1"
    assert_eq!(parse_selection("10", 12), Some(0));
    assert_eq!(parse_selection("12", 12), Some(0));
    assert_eq!(parse_selection("27", 6), Some(1));
    assert_eq!(parse_selection("7", 6), None);
    assert_eq!(parse_selection("0", 6), None);
    assert_eq!(parse_selection("none", 6), None);
    assert_eq!(parse_selection("3", 0), None);
    assert_eq!(parse_selection("97", 97), Some(6));
    assert_eq!(
        parse_selection("99999999999999999999999", usize::MAX),
        Some(8)
    );
    assert_eq!(parse_selection("٣", 6), None);
}

// ------------------------------------------------------------------------------------------
// Perspectives
// ------------------------------------------------------------------------------------------

fn p(name: &str, dims: [&str; 5], raw: &str) -> Perspective {
    Perspective {
        raw: raw.into(),
        name: name.into(),
        core_value: dims[0].into(),
        framework: dims[1].into(),
        right_duty: dims[2].into(),
        emotion: dims[3].into(),
        stakeholder: dims[4].into(),
    }
}

const REF: &str = "Here are the perspectives:\n#Patient Advocate: Autonomy, Deontology, Right to informed consent, Concern, Patient\n# Hospital Administrator: Efficiency, Utilitarianism, Duty of stewardship, Pragmatism, Institution\n## Notes\nnot a perspective\n";

#[test]
fn reference_lines_are_exact() {
    assert_eq!(
        reference_lines(REF),
        vec![
            "Patient Advocate: Autonomy, Deontology, Right to informed consent, Concern, Patient",
            "Hospital Administrator: Efficiency, Utilitarianism, Duty of stewardship, Pragmatism, Institution",
            "# Notes",
        ]
    );
    assert_eq!(reference_lines(" #indented"), Vec::<String>::new());
    assert_eq!(reference_lines("#"), vec![""]);
}

#[test]
fn tolerant_parser_reference_form() {
    let got = parse_perspectives(REF);
    assert_eq!(
        got,
        vec![
            p(
                "Patient Advocate",
                ["Autonomy", "Deontology", "Right to informed consent", "Concern", "Patient"],
                "Patient Advocate: Autonomy, Deontology, Right to informed consent, Concern, Patient"
            ),
            p(
                "Hospital Administrator",
                ["Efficiency", "Utilitarianism", "Duty of stewardship", "Pragmatism", "Institution"],
                "Hospital Administrator: Efficiency, Utilitarianism, Duty of stewardship, Pragmatism, Institution"
            ),
        ]
    );
    // raw of '#' lines equals the reference parse
    let refs = reference_lines(REF);
    assert_eq!(got[0].raw, refs[0]);
    assert_eq!(got[1].raw, refs[1]);
}

#[test]
fn tolerant_parser_lists_and_bullets() {
    let text = "1. Nurse: Care, Care ethics, Duty to care, Compassion, Clinician\n2) Insurer: Cost, Utilitarianism, Right to fair pricing, Caution, Payer\n- Family member: Loyalty, Virtue ethics, Right to be informed, Fear, Family\n* Ethicist: Justice, Principlism, Duty of fairness, Calm, Committee\n• Patient: Autonomy, Kantian, Right to refuse, Anxiety, Patient\n";
    let got = parse_perspectives(text);
    let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["Nurse", "Insurer", "Family member", "Ethicist", "Patient"]
    );
    assert_eq!(
        got[1].raw,
        "Insurer: Cost, Utilitarianism, Right to fair pricing, Caution, Payer"
    );
    assert_eq!(got[4].stakeholder, "Patient");
    assert_eq!(got[3].framework, "Principlism");
}

#[test]
fn tolerant_parser_bold_and_headings() {
    let text = "**Patient Advocate**: Autonomy, Deontology, Consent, Concern, Patient\n1. **Nurse:** Care, Care ethics, Duty to care, Compassion, Clinician\n## Public Health Officer: Population health, Utilitarianism, Duty to protect, Resolve, Public";
    let got = parse_perspectives(text);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].name, "Patient Advocate");
    assert_eq!(got[0].core_value, "Autonomy");
    assert_eq!(
        got[0].raw,
        "**Patient Advocate**: Autonomy, Deontology, Consent, Concern, Patient"
    );
    assert_eq!(got[1].name, "Nurse");
    assert_eq!(got[1].core_value, "Care");
    assert_eq!(got[2].name, "Public Health Officer");
    assert_eq!(got[2].stakeholder, "Public");
}

#[test]
fn tolerant_parser_markdown_blocks() {
    let text = "## Perspectives\n\n### 1. The Patient Advocate\n- **Core value:** Autonomy\n- **Ethical framework:** Deontology\n- Right/Duty: Right to informed consent\n- Emotion: Concern\n- Stakeholder: Patient\n\n### 2. The Budget Officer\nCore Value: Efficiency\nFramework: Utilitarianism\n";
    let got = parse_perspectives(text);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        p(
            "The Patient Advocate",
            ["Autonomy", "Deontology", "Right to informed consent", "Concern", "Patient"],
            "The Patient Advocate: Autonomy, Deontology, Right to informed consent, Concern, Patient"
        )
    );
    assert_eq!(got[1].name, "The Budget Officer");
    assert_eq!(got[1].framework, "Utilitarianism");
    assert_eq!(got[1].emotion, "");
}

/// A structured stage-1 reply cut off by the token limit (Qwen2.5-Coder-0.5B at 450 tokens): the
/// outer object never closes, every perspective object before the cut is read, the cut one is not.
#[test]
fn a_json_reply_cut_off_by_the_token_limit_keeps_its_complete_perspectives() {
    let one = |name: &str, value: &str| {
        format!(
            "    {{\n      \"core_value\": \"{value}\",\n      \"emotion\": \"Hope {{calm}}\",\n      \"ethical_framework\": \"Care ethics\",\n      \"name\": \"{name}\",\n      \"right_duty\": \"Duty of care\",\n      \"stakeholder\": \"Patients\"\n    }}"
        )
    };
    let text = format!(
        "{{\n  \"perspectives\": [\n{},\n{},\n{},\n    {{\n      \"core_value\": \"Trans",
        one("Safety First", "Saving lives"),
        one("Fairness", "Justice"),
        one("Transparency", "Honesty")
    );
    let got = parse_perspectives(&text);
    let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Safety First", "Fairness", "Transparency"]);
    assert_eq!(got[1].core_value, "Justice");
    assert_eq!(got[0].emotion, "Hope {calm}", "a brace inside a string is text");
    assert!(got.iter().all(|p| p.dims_filled()));
    // A whole reply with one perspective is read as before (no salvage of the outer object).
    let whole = format!("{{\"perspectives\": [\n{}\n]}}", one("Solo", "Care"));
    let got = parse_perspectives(&whole);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "Solo");
}

#[test]
fn tolerant_parser_json() {
    let text = "```json\n[{\"name\": \"Nurse\", \"core_value\": \"Care\", \"ethical_framework\": \"Care ethics\", \"right_duty\": \"Duty to care\", \"emotion\": \"Compassion\", \"stakeholder\": \"Clinician\"},\n {\"name\": \"Insurer\", \"core_value\": \"Cost\"}]\n```";
    let got = parse_perspectives(text);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        p(
            "Nurse",
            [
                "Care",
                "Care ethics",
                "Duty to care",
                "Compassion",
                "Clinician"
            ],
            "Nurse: Care, Care ethics, Duty to care, Compassion, Clinician"
        )
    );
    assert_eq!(
        got[1],
        p("Insurer", ["Cost", "", "", "", ""], "Insurer: Cost")
    );

    let wrapped = r#"Sure! {"perspectives": [{"perspective": "Ethicist", "coreValue": "Justice", "framework": "Principlism", "key_right_or_duty": "Fairness", "emotional_tone": "Calm", "stakeholder_role": "Committee"}]}"#;
    let got = parse_perspectives(wrapped);
    assert_eq!(
        got,
        vec![p(
            "Ethicist",
            ["Justice", "Principlism", "Fairness", "Calm", "Committee"],
            "Ethicist: Justice, Principlism, Fairness, Calm, Committee"
        )]
    );

    let by_name = r#"{"Doctor": {"value": "Beneficence", "emotion": ["hope", "worry"]}, "Lawyer": {"framework": "Rights", "stakeholder": null}}"#;
    let got = parse_perspectives(by_name);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].name, "Doctor");
    assert_eq!(got[0].emotion, "hope, worry");
    assert_eq!(got[1].name, "Lawyer");
    assert_eq!(got[1].stakeholder, "");

    let strings =
        r##"["#Nurse: Care, Care ethics, Duty to care, Compassion, Clinician", "Insurer: Cost"]"##;
    let got = parse_perspectives(strings);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].stakeholder, "Clinician");
    assert_eq!(got[1].core_value, "Cost");
}

#[test]
fn tolerant_parser_unmarked_fallback_and_garbage() {
    let text = "Patient Advocate: Autonomy, Deontology, Consent, Concern, Patient\nHere are some thoughts: nothing\n";
    let got = parse_perspectives(text);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "Patient Advocate");
    assert!(parse_perspectives("").is_empty());
    assert!(parse_perspectives("I'm sorry, I can't help with that.").is_empty());
    assert!(parse_perspectives("## Perspectives\n").is_empty());
    assert!(parse_perspectives("# Perspectives:\n").is_empty());
    let got = parse_perspectives("#Six ethical perspectives\n#Nurse: Care, Care ethics\n#Payer\n");
    assert_eq!(
        got.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["Nurse", "Payer"]
    );
    assert!(parse_perspectives("{\"a\": 1}").is_empty());
    assert!(parse_perspectives("[[[[[[").is_empty());
}

#[test]
fn split_fields_variants() {
    assert_eq!(
        split_fields("Nurse: Care, Care ethics, Duty to care, Compassion, Clinician"),
        p(
            "Nurse",
            [
                "Care",
                "Care ethics",
                "Duty to care",
                "Compassion",
                "Clinician"
            ],
            "Nurse: Care, Care ethics, Duty to care, Compassion, Clinician"
        )
    );
    // missing fields -> empty strings
    let s = split_fields("Nurse: Care, Care ethics");
    assert_eq!(
        (
            s.right_duty.as_str(),
            s.emotion.as_str(),
            s.stakeholder.as_str()
        ),
        ("", "", "")
    );
    // no colon
    assert_eq!(split_fields("Just a name").name, "Just a name");
    assert!(!split_fields("Just a name").has_dims());
    // extra commas go into the last field
    let s = split_fields("Nurse: Care, Care ethics, Duty to care, Compassion, Patient, family");
    assert_eq!(s.stakeholder, "Patient, family");
    // labelled pieces go to their field, wherever they are
    let s = split_fields("Nurse: Emotion: Calm, Core value: Care, Deontology");
    assert_eq!(
        (
            s.core_value.as_str(),
            s.framework.as_str(),
            s.emotion.as_str()
        ),
        ("Care", "Deontology", "Calm")
    );
    // dash separator and semicolons
    let s = split_fields("The Nurse — Care; Care ethics; Duty to care; Compassion; Clinician.");
    assert_eq!(
        (
            s.name.as_str(),
            s.core_value.as_str(),
            s.stakeholder.as_str()
        ),
        ("The Nurse", "Care", "Clinician")
    );
    // six comma pieces without a colon: the first is the name
    let s = split_fields("Nurse, Care, Care ethics, Duty to care, Compassion, Clinician");
    assert_eq!(
        (s.name.as_str(), s.stakeholder.as_str()),
        ("Nurse", "Clinician")
    );
    // "Perspective 2:" prefix
    assert_eq!(split_fields("Perspective 2: Nurse: Care").name, "Nurse");
    assert_eq!(split_fields("").name, "");
    // to_line round trip
    let s = split_fields("Nurse: Care, Care ethics, Duty to care, Compassion, Clinician");
    let again = parse_perspectives(&s.to_line());
    assert_eq!(again[0].dims(), s.dims());
}

// ------------------------------------------------------------------------------------------
// Distributions
// ------------------------------------------------------------------------------------------

fn tl(token: &str, p: f64) -> TokenLogprob {
    TokenLogprob {
        token: token.into(),
        logprob: p.ln(),
    }
}

fn close_vec(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
    }
}

#[test]
fn full_vocabulary_letter_probs_map_like_the_top_list() {
    // The same mapping as on a best-first list that holds every letter's best token.
    let top = vec![tl(" B", 0.5), tl("A", 0.2), tl("C", 0.05)];
    let full = from_letter_probs(&[0.2, 0.5, 0.05], 3);
    let listed = from_top_logprobs(&top, 3);
    close_vec(&full.probs, &listed.probs);
    assert_eq!(full.method, DistMethod::Logprobs);
    // Extra letters ignored, missing ones 0, NaN/negative treated as 0, nothing -> uniform.
    close_vec(&from_letter_probs(&[0.1, 0.3, 0.6], 2).probs, &[0.25, 0.75]);
    close_vec(&from_letter_probs(&[0.4], 2).probs, &[1.0, 0.0]);
    close_vec(&from_letter_probs(&[f64::NAN, -1.0, 0.2], 3).probs, &[0.0, 0.0, 1.0]);
    let d = from_letter_probs(&[0.0, 0.0], 2);
    close_vec(&d.probs, &[0.5, 0.5]);
    assert!(d.uniform_fallback);
}

#[test]
fn top_logprobs_reference_mapping() {
    // " A" and "A" both trim to A: the first (highest) one counts. "a" and "Answer" do not.
    let top = vec![
        tl(" A", 0.5),
        tl("B", 0.2),
        tl("A", 0.1),
        tl("a", 0.1),
        tl("Answer", 0.05),
        tl(" C\n", 0.05),
    ];
    let d = from_top_logprobs(&top, 3);
    close_vec(&d.probs, &[0.5 / 0.75, 0.2 / 0.75, 0.05 / 0.75]);
    assert_eq!(d.method, DistMethod::Logprobs);
    assert!(!d.uniform_fallback);
    // letters beyond the options are ignored; missing ones get 0
    let d = from_top_logprobs(&[tl("C", 0.3), tl("B", 0.6)], 2);
    close_vec(&d.probs, &[0.0, 1.0]);
    // an unsorted list: the most probable match counts
    let d = from_top_logprobs(&[tl("A", 0.1), tl("B", 0.3), tl(" A", 0.6)], 2);
    close_vec(&d.probs, &[0.6 / 0.9, 0.3 / 0.9]);
    // nothing usable -> uniform, flagged
    let d = from_top_logprobs(&[tl("The", 0.9)], 4);
    close_vec(&d.probs, &[0.25; 4]);
    assert!(d.uniform_fallback);
    let d = from_top_logprobs(&[], 0);
    assert_eq!(d.probs, vec![1.0]);
    // odd logprobs never give NaN
    let top = vec![
        TokenLogprob {
            token: "A".into(),
            logprob: f64::NAN,
        },
        TokenLogprob {
            token: "B".into(),
            logprob: 3.0,
        },
    ];
    close_vec(&from_top_logprobs(&top, 2).probs, &[0.0, 1.0]);
    let top = vec![TokenLogprob {
        token: "A".into(),
        logprob: f64::NEG_INFINITY,
    }];
    assert!(from_top_logprobs(&top, 2).uniform_fallback);
}

#[test]
fn votes_and_samples() {
    let d = from_votes(
        &[Some('A'), Some('B'), Some('A'), None, Some('E'), Some('b')],
        3,
    );
    close_vec(&d.probs, &[0.5, 0.5, 0.0]);
    assert_eq!(d.method, DistMethod::Votes);
    assert!(from_votes(&[None, Some('Z')], 2).uniform_fallback);
    let texts: Vec<String> = [
        "A. Because",
        "(B) no",
        "**A**",
        "As a nurse, I",
        "Answer: C",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let d = from_samples(&texts, 3);
    close_vec(&d.probs, &[0.5, 0.25, 0.25]);
    assert_eq!(d.method, DistMethod::Sampling);
}

#[test]
fn leading_letter_cases() {
    assert_eq!(leading_letter("A. I would", 2), Some('A'));
    assert_eq!(leading_letter("  \"B\" because", 2), Some('B'));
    assert_eq!(leading_letter("(B) I", 2), Some('B'));
    assert_eq!(leading_letter("**B**: I", 2), Some('B'));
    assert_eq!(leading_letter("Option C", 3), Some('C'));
    assert_eq!(leading_letter("The answer is D", 5), Some('D'));
    assert_eq!(leading_letter("C", 2), None);
    assert_eq!(leading_letter("As a nurse", 2), None);
    assert_eq!(leading_letter("a. lower", 2), None);
    assert_eq!(leading_letter("", 2), None);
}

#[test]
fn verbalised() {
    let d = from_verbalised(r#"{"A": 60, "B": 30, "C": 10}"#, 3).unwrap();
    close_vec(&d.probs, &[0.6, 0.3, 0.1]);
    assert_eq!(d.method, DistMethod::Verbalised);
    assert!(!d.uniform_fallback);
    let d = from_verbalised(
        "Here you go:\n```json\n{\"A\": 0.25, \"B\": \"75%\"}\n```\nHope it helps",
        2,
    )
    .unwrap();
    close_vec(&d.probs, &[0.25, 0.75]);
    let d = from_verbalised(r#"{"Option A": "40 %", "(B)": 40, "C.": 20, "D": 0}"#, 3).unwrap();
    close_vec(&d.probs, &[0.4, 0.4, 0.2]);
    let d = from_verbalised(r#"{"distribution": {"A": 1, "B": 3}}"#, 2).unwrap();
    close_vec(&d.probs, &[0.25, 0.75]);
    let d = from_verbalised("[0.2, 0.8]", 2).unwrap();
    close_vec(&d.probs, &[0.2, 0.8]);
    // option texts as keys
    let opts = vec!["Yes".to_string(), "No".to_string()];
    let d = from_verbalised_with_options(r#"{"yes": 70, "No.": 30}"#, &opts).unwrap();
    close_vec(&d.probs, &[0.7, 0.3]);
    // unusable
    assert!(from_verbalised("no json here", 2)
        .unwrap_err()
        .contains("no JSON"));
    assert!(from_verbalised(r#"{"A": 0, "B": 0}"#, 2)
        .unwrap_err()
        .contains("zero"));
    assert!(from_verbalised(r#"{"A": -5, "B": 10}"#, 2)
        .unwrap_err()
        .contains("negative"));
    assert!(from_verbalised(r#"{"A": "lots"}"#, 2).is_err());
    assert!(from_verbalised(r#"{"x": 1}"#, 2)
        .unwrap_err()
        .contains("\"A\", \"B\""));
    assert!(from_verbalised("[1, 2, 3]", 2).is_err());
}

#[test]
fn mean_of_distributions() {
    close_vec(
        &mean(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![0.5, 0.5]]),
        &[0.5, 0.5],
    );
    assert!(mean(&[]).is_empty());
    close_vec(&mean(&[vec![1.0], vec![0.0, 1.0]]), &[0.5, 0.5]);
}

#[test]
fn tolerant_parser_more_model_styles() {
    // dash before labelled dimensions
    let got = parse_perspectives("1. **The Patient** – Core Value: Autonomy; Ethical Framework: Deontology; Right: Informed consent; Emotion: Anxiety; Stakeholder: Patient");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].name, "The Patient");
    assert_eq!(
        got[0].dims(),
        [
            "Autonomy",
            "Deontology",
            "Informed consent",
            "Anxiety",
            "Patient"
        ]
    );
    // numbers inside the '#' line or the bold name
    let got = parse_perspectives("#1 The Nurse: Care, Care ethics, Duty to care, Compassion, Clinician\n**2. The Payer**: Cost, Utilitarianism, Fair pricing, Caution, Insurer");
    assert_eq!(
        got.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["The Nurse", "The Payer"]
    );
    assert_eq!(
        got[0].raw,
        "1 The Nurse: Care, Care ethics, Duty to care, Compassion, Clinician"
    );
    // "Name:" as a label
    let got = parse_perspectives("- Name: Nurse, Core value: Care, Emotion: Calm");
    assert_eq!(got.len(), 1);
    assert_eq!(
        (
            got[0].name.as_str(),
            got[0].core_value.as_str(),
            got[0].emotion.as_str()
        ),
        ("Nurse", "Care", "Calm")
    );
    let got = parse_perspectives(
        "Name: Nurse\nCore value: Care\n\nName: Payer\nCore value: Cost\nEmotion: Worry",
    );
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[1].name.as_str(), got[1].emotion.as_str()),
        ("Payer", "Worry")
    );
    // Markdown table
    let table = "## Perspectives\n\n| # | Perspective | Core Value | Ethical Framework | Right/Duty | Emotion | Stakeholder |\n|---|---|---|---|---|---|---|\n| 1 | **Nurse** | Care | Care ethics | Duty to care | Compassion | Clinician |\n| 2 | Payer | Cost | Utilitarianism | Fair pricing | Caution | Insurer |\n";
    let got = parse_perspectives(table);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0],
        p(
            "Nurse",
            [
                "Care",
                "Care ethics",
                "Duty to care",
                "Compassion",
                "Clinician"
            ],
            "Nurse: Care, Care ethics, Duty to care, Compassion, Clinician"
        )
    );
    assert_eq!(got[1].stakeholder, "Insurer");
    // a table without field names is not a perspective table
    assert!(parse_perspectives("| a | b |\n|---|---|\n| 1 | 2 |").is_empty());
}
