//! Unit tests of the pipeline's cleaning and planning rules.

use super::cleaning::standalone_letter;
use super::*;

#[test]
fn preamble() {
    assert_eq!(strip_preamble("As a nurse: care first.").0, "care first.");
    assert_eq!(
        strip_preamble("  speaking AS the family; we must.").0,
        "we must."
    );
    assert_eq!(
        strip_preamble("From the perspective of X, Y: z\nmore").0,
        "z\nmore"
    );
    assert_eq!(
        strip_preamble("As a nurse, I think\nthat: x").0,
        "As a nurse, I think\nthat: x"
    );
    assert_eq!(strip_preamble("B. As a nurse: no").0, "B. As a nurse: no");
    assert_eq!(strip_preamble("Asking: no").0, "Asking: no");
}

#[test]
fn fallback_is_deterministic_and_in_range() {
    let id = ItemId::Int(7);
    for k in 1..10 {
        let a = fallback_index(42, &id, k);
        assert!(a < k);
        assert_eq!(a, fallback_index(42, &id, k));
    }
    let picks: std::collections::HashSet<usize> =
        (0..50).map(|s| fallback_index(s, &id, 6)).collect();
    assert!(picks.len() > 3, "{picks:?}");
}

fn named(name: &str) -> Perspective {
    persona::split_fields(&format!(
        "{name}: value, framework, duty, emotion, stakeholder"
    ))
}

#[test]
fn replacement_is_the_first_name_not_on_the_board() {
    let board = [named("Patient Advocate"), named("Hospital Manager")];
    let reply = vec![
        named("patient  ADVOCATE"),
        named("Hospital Manager"),
        named("Ethics Officer"),
        named("Family Carer"),
    ];
    let got = choose_replacement(reply, &board).map(|p| p.name);
    assert_eq!(got.as_deref(), Some("Ethics Officer"));
}

#[test]
fn replacement_falls_back_to_the_first_usable_one() {
    let board = [named("A"), named("B")];
    let blank = Perspective::default();
    let got = choose_replacement(vec![blank.clone(), named("B"), named("A")], &board);
    assert_eq!(got.map(|p| p.name).as_deref(), Some("B"));
    assert_eq!(choose_replacement(vec![blank], &board), None);
    assert_eq!(choose_replacement(Vec::new(), &board), None);
    // A blank card on the board takes no name.
    let got = choose_replacement(vec![named("C")], &[Perspective::default()]);
    assert_eq!(got.map(|p| p.name).as_deref(), Some("C"));
}

#[test]
fn standalone() {
    assert_eq!(standalone_letter("As a nurse, I choose B", 3), Some('B'));
    assert_eq!(standalone_letter("As a nurse", 3), None);
}
