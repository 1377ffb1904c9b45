//! Comparing two runs (the compare view): what differs between their settings, method and
//! scenario, and how far apart their predicted distributions are.

use crate::metrics::try_js_distance;
use crate::record::{RunRecord, RunResult};
use crate::settings::RunSettings;
use serde_json::Value;

/// One setting that differs: its name and both values as shown to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Dotted path of the setting (`k`, `decoding.comments.temperature`, `templates.read`), or
    /// `model` when each run uses one model for every stage, `method`, `scenario`.
    pub setting: String,
    pub left: String,
    pub right: String,
}

/// The order settings are listed in: as in [`RunSettings`] (what changes the numbers most first).
const ORDER: &[&str] = &[
    "k",
    "models",
    "distribution",
    "decoding",
    "templates",
    "structured_perspectives",
    "system_role",
    "top_logprobs",
    "keep_extra",
    "max_perspective_tries",
    "seed",
    "send_seed",
    "concurrency",
];

/// Longer values are cut to a window around the first difference.
const SHOWN_CHARS: usize = 90;

/// Every setting whose value differs between `a` and `b`, in [`ORDER`]. A run with one model for
/// every stage against another such run gives one `model` line rather than one per stage.
pub fn settings_diff(a: &RunSettings, b: &RunSettings) -> Vec<Difference> {
    let (va, vb) = (to_value(a), to_value(b));
    let mut out = Vec::new();
    let single = a.models.is_single() && b.models.is_single();
    if single && a.models.combine != b.models.combine {
        out.push(Difference {
            setting: "model".into(),
            left: a.models.combine.clone(),
            right: b.models.combine.clone(),
        });
    }
    let mut leaves = Vec::new();
    walk("", Some(&va), Some(&vb), &mut leaves);
    leaves.retain(|(path, _, _)| !(single && path.starts_with("models.")));
    leaves.sort_by_key(|(path, _, _)| {
        let top = path.split('.').next().unwrap_or("");
        ORDER.iter().position(|o| *o == top).unwrap_or(ORDER.len())
    });
    for (setting, l, r) in leaves {
        let (left, right) = shown(&l, &r);
        out.push(Difference {
            setting,
            left,
            right,
        });
    }
    out
}

/// What differs between two runs: method, scenario, then [`settings_diff`].
pub fn runs_diff(a: &RunRecord, b: &RunRecord) -> Vec<Difference> {
    let mut out = Vec::new();
    if a.method != b.method {
        out.push(Difference {
            setting: "method".into(),
            left: a.method.label().into(),
            right: b.method.label().into(),
        });
    }
    if a.item != b.item {
        let name = |r: &RunRecord| {
            let title: String = r.item.title().chars().take(SHOWN_CHARS).collect();
            format!("#{} {title}", r.item.id())
        };
        out.push(Difference {
            setting: "scenario".into(),
            left: name(a),
            right: name(b),
        });
    }
    out.extend(settings_diff(&a.settings, &b.settings));
    out
}

/// The predicted distribution of a run, if it has one.
pub fn prediction(r: &RunRecord) -> Option<&[f64]> {
    match &r.result {
        Some(RunResult::Distribution(d)) => Some(&d.distribution),
        _ => None,
    }
}

/// Jensen–Shannon distance (natural log) between two runs' predictions, when both have one over
/// the same number of options.
pub fn js_between(a: &RunRecord, b: &RunRecord) -> Option<f64> {
    let (p, q) = (prediction(a)?, prediction(b)?);
    (p.len() == q.len())
        .then(|| try_js_distance(p, q))
        .flatten()
}

fn to_value(s: &RunSettings) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// Collect `(path, left, right)` for every leaf that differs (a key on one side only counts,
/// with `Null` on the other).
fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<(String, Value, Value)>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&sub, x.get(k), y.get(k), out);
            }
        }
        _ if a == b => {}
        _ => out.push((
            path.to_string(),
            a.cloned().unwrap_or(Value::Null),
            b.cloned().unwrap_or(Value::Null),
        )),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Both values as text; long ones are cut to the same window around their first difference.
fn shown(a: &Value, b: &Value) -> (String, String) {
    let (a, b): (Vec<char>, Vec<char>) = (text(a).chars().collect(), text(b).chars().collect());
    if a.len() <= SHOWN_CHARS && b.len() <= SHOWN_CHARS {
        return (a.iter().collect(), b.iter().collect());
    }
    let first = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let start = first.saturating_sub(SHOWN_CHARS / 3);
    let cut = |s: &[char]| {
        let end = (start + SHOWN_CHARS).min(s.len());
        let mut t: String = s.get(start..end).unwrap_or_default().iter().collect();
        if start > 0 {
            t.insert(0, '…');
        }
        if end < s.len() {
            t.push('…');
        }
        t
    };
    (cut(&a), cut(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DistSetting, Method};
    use crate::vital::Item;

    fn names(d: &[Difference]) -> Vec<&str> {
        d.iter().map(|d| d.setting.as_str()).collect()
    }

    #[test]
    fn equal_settings_have_no_difference() {
        let s = RunSettings::with_model("m");
        assert_eq!(settings_diff(&s, &s.clone()), Vec::new());
    }

    #[test]
    fn differing_settings_are_listed_with_both_values_in_order() {
        let a = RunSettings::with_model("smollm2");
        let mut b = RunSettings::with_model("gpt-4o-mini");
        b.k = 24;
        b.decoding.comments.temperature = 0.7;
        b.distribution = DistSetting::Sampling { n: 5 };
        b.send_seed = false;
        let d = settings_diff(&a, &b);
        assert_eq!(
            names(&d),
            [
                "model",
                "k",
                "distribution.method",
                "distribution.n",
                "decoding.comments.temperature",
                "send_seed"
            ]
        );
        assert_eq!(
            (d[0].left.as_str(), d[0].right.as_str()),
            ("smollm2", "gpt-4o-mini")
        );
        assert_eq!((d[1].left.as_str(), d[1].right.as_str()), ("6", "24"));
        assert_eq!(
            (d[2].left.as_str(), d[2].right.as_str()),
            ("auto", "sampling")
        );
        assert_eq!((d[3].left.as_str(), d[3].right.as_str()), ("—", "5"));
        assert_eq!((d[4].left.as_str(), d[4].right.as_str()), ("1.0", "0.7"));
        assert_eq!((d[5].left.as_str(), d[5].right.as_str()), ("yes", "no"));
        // The other way round: the same lines, sides swapped.
        let back = settings_diff(&b, &a);
        assert_eq!(names(&back), names(&d));
        assert_eq!(back[0].left, "gpt-4o-mini");
    }

    #[test]
    fn per_stage_models_are_listed_per_stage() {
        let a = RunSettings::with_model("m");
        let mut b = a.clone();
        b.models.comments = "big".into();
        b.models.judge = Some("judge".into());
        let d = settings_diff(&a, &b);
        assert_eq!(names(&d), ["models.comments", "models.judge"]);
        assert_eq!((d[1].left.as_str(), d[1].right.as_str()), ("—", "judge"));
    }

    #[test]
    fn long_template_edits_show_where_they_differ() {
        let a = RunSettings::with_model("m");
        let mut b = a.clone();
        b.templates.read = format!("{} Think twice.", b.templates.read);
        let d = settings_diff(&a, &b);
        assert_eq!(names(&d), ["templates.read"]);
        assert!(d[0].right.contains("Think twice."), "{:?}", d[0]);
        assert!(d[0].right.starts_with('…') && d[0].right.chars().count() <= SHOWN_CHARS + 2);
        assert!(!d[0].left.contains("Think twice."));
    }

    #[test]
    fn runs_differ_in_method_and_scenario_too() {
        let item =
            |id: &str| Item::custom(id, "Q?", &["Yes".into(), "No".into()], None).expect("item");
        let a = RunRecord::new(item("a"), RunSettings::with_model("m"), Method::EthosAgents);
        let mut b = RunRecord::new(item("b"), RunSettings::with_model("m"), Method::Vanilla);
        b.settings.k = 3;
        let d = runs_diff(&a, &b);
        assert_eq!(names(&d), ["method", "scenario", "k"]);
        assert_eq!(d[0].right, "Vanilla");
        assert!(
            d[1].left.starts_with("#a") && d[1].right.starts_with("#b"),
            "{d:?}"
        );
        assert_eq!(runs_diff(&a, &a.clone()), Vec::new());
        assert_eq!(js_between(&a, &b), None, "no predictions yet");
    }
}
