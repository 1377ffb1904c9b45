//! The columns of a benchmark's comparison: every model × every method, with their labels, element
//! ids and file names.

use ethos_engine::batch::BatchSpec;
use ethos_engine::settings::Method;

/// One column of the comparison: a method with one of the batch's models.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub method: Method,
    pub model: usize,
    pub label: String,
    /// `ethosagents`, or `ethosagents-1` for the second model (element ids).
    pub slug: String,
    /// `ethosagents`, or `ethosagents.gpt-4o-mini` when models are compared (file names).
    pub file_tag: String,
}

/// The arms of a batch: every model × every method.
pub fn arms(spec: &BatchSpec) -> Vec<Arm> {
    let n = spec.models.len().max(1);
    (0..n)
        .flat_map(|model| {
            spec.methods.iter().map(move |&method| Arm {
                method,
                model,
                label: spec.arm_label(method, model),
                slug: if model == 0 {
                    Method::id(method).to_string()
                } else {
                    format!("{}-{model}", Method::id(method))
                },
                file_tag: match spec.models.get(model) {
                    Some(name) if spec.models.len() > 1 => {
                        let safe: String = name
                            .chars()
                            .map(|c| {
                                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                                    c
                                } else {
                                    '_'
                                }
                            })
                            .collect();
                        format!("{}.{safe}", Method::id(method))
                    }
                    _ => Method::id(method).to_string(),
                },
            })
        })
        .collect()
}
