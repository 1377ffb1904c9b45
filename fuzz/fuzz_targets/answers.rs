//! Stage-3 and judge replies: the answer parsers, the selection parser, the option-letter and
//! verbalised-distribution readers and the judge's score readers, on any text. Never a panic,
//! and every result is in range.
#![no_main]
use ethos_engine::{answer, distribution, metrics};
use ethos_fuzz::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the number of options / perspectives; the rest is the reply.
    let (n, reply) = match data.split_first() {
        Some((&b, rest)) => (usize::from(b), rest),
        None => (0, data),
    };
    let t = text(reply);
    for letter in [
        answer::parse_reference(&t),
        answer::parse_strict(&t),
        answer::reference_letter(&t),
    ]
    .into_iter()
    .flatten()
    {
        assert!(('A'..='E').contains(&letter), "letter {letter:?}");
    }
    for k in [0, 1, 3, n, usize::MAX] {
        if let Some(i) = answer::parse_selection(&t, k) {
            assert!(i < k, "selection {i} of {k}");
        }
    }
    let n_options = n % 8;
    if let Some(c) = distribution::leading_letter(&t, n_options) {
        let i = (c as usize).wrapping_sub('A' as usize);
        assert!(i < n_options.min(5), "letter {c:?} of {n_options} options");
    }
    let options: Vec<String> = t.lines().take(n_options).map(str::to_string).collect();
    for d in [
        distribution::from_verbalised(&t, n_options),
        distribution::from_verbalised_with_options(&t, &options),
    ]
    .into_iter()
    .flatten()
    {
        assert!(d.probs.iter().all(|p| p.is_finite() && *p >= 0.0), "{:?}", d.probs);
    }
    let s = distribution::from_samples(&[t.to_string()], n_options);
    assert_eq!(s.probs.len(), n_options.max(1), "one probability per option (at least one)");
    if let Some(p) = metrics::parse_judge_probability(&t) {
        assert!((0.0..=1.0).contains(&p), "judge probability {p}");
    }
    if let Ok(scores) = metrics::parse_judge_scores(&t, n % 12) {
        assert_eq!(scores.len(), n % 12);
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)), "{scores:?}");
    }
});
