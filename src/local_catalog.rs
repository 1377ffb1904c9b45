//! The short list of models offered for the "In this browser" provider: name, file, size,
//! licence, what each is good for, and the speed to expect on this device (an estimate scaled
//! from the in-tab runtime's measured speed; bench/local_model/RESULTS.md).

use crate::local_model::{DEFAULT_LOCAL_MODEL_URL, HUB_LOCAL_MODEL_URL};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogModel {
    /// Stable id (the picker's option value).
    pub id: &'static str,
    pub name: &'static str,
    pub url: &'static str,
    /// The file's size in MB (about: a hub may republish it).
    pub mb: u32,
    pub licence: &'static str,
    pub good_for: &'static str,
}

/// Generation tokens/s per thread of a 1 GB Q4_K_M file in the tab. Measured on
/// Qwen2.5-Coder-1.5B Q4_K_M (1.117 GB) on a 2-core machine: 9.2 tokens/s on one thread, 13.8 on
/// two (bench/local_model/RESULTS.md, "Subnormal Q6_K scales"); the two-thread figure is used
/// (one thread is a little faster than this says). Speed scales about inversely with the file's
/// size: generation reads every weight once per token.
const TOKENS_PER_S_PER_GB_PER_THREAD: f64 = 7.7;

pub const CATALOG: &[CatalogModel] = &[
    CatalogModel {
        id: "smollm2-135m",
        name: "SmolLM2-135M-Instruct (Q4_1), beside this page",
        url: DEFAULT_LOCAL_MODEL_URL,
        mb: 98,
        licence: "Apache-2.0",
        good_for: "trying the whole flow quickly; its perspectives and comments say little about the method",
    },
    CatalogModel {
        id: "smollm2-360m",
        name: "SmolLM2-360M-Instruct (Q8_0)",
        url: HUB_LOCAL_MODEL_URL,
        mb: 386,
        licence: "Apache-2.0",
        good_for: "a quick look with somewhat better English; often repeats perspectives",
    },
    CatalogModel {
        id: "qwen2.5-0.5b",
        name: "Qwen2.5-0.5B-Instruct (Q4_K_M)",
        url: "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf",
        mb: 491,
        licence: "Apache-2.0",
        good_for: "the smallest model that plays the method's parts: every perspective's five fields filled, every choice comment starting with an option letter (measured on its Coder sibling)",
    },
    CatalogModel {
        id: "qwen2.5-1.5b",
        name: "Qwen2.5-1.5B-Instruct (Q4_K_M)",
        url: "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct-GGUF/resolve/main/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        mb: 1_120,
        licence: "Apache-2.0",
        good_for: "more distinct perspectives: six different names in 60-80 % of runs for its Coder sibling (measured with llama-server, against 30-50 % for the 0.5B); several minutes per item in this tab on two cores",
    },
    CatalogModel {
        id: "qwen3-0.6b",
        name: "Qwen3-0.6B (Q8_0)",
        url: "https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf",
        mb: 639,
        licence: "Apache-2.0",
        good_for: "a newer small model; this runtime's Qwen3 support was checked against llama.cpp on test files, not on this one",
    },
    CatalogModel {
        id: "llama-3.2-1b",
        name: "Llama-3.2-1B-Instruct (Q4_K_M)",
        url: "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        mb: 808,
        licence: "Llama 3.2 Community License",
        good_for: "Meta's small model; Llama 3 support was checked against llama.cpp on test files, not on this one",
    },
    CatalogModel {
        id: "gemma-3-1b",
        name: "Gemma-3-1B-it (Q4_K_M)",
        url: "https://huggingface.co/unsloth/gemma-3-1b-it-GGUF/resolve/main/gemma-3-1b-it-Q4_K_M.gguf",
        mb: 806,
        licence: "Gemma Terms of Use",
        good_for: "Google's small model; Gemma 3 support was checked against llama.cpp on test files, not on this one",
    },
];

/// The catalog entry whose file is at `url`, if any.
pub fn by_url(url: &str) -> Option<&'static CatalogModel> {
    CATALOG.iter().find(|m| m.url == url.trim())
}

pub fn by_id(id: &str) -> Option<&'static CatalogModel> {
    CATALOG.iter().find(|m| m.id == id)
}

impl CatalogModel {
    /// Generation tokens/s to expect with `threads` threads (an estimate).
    pub fn expected_tokens_per_s(&self, threads: usize) -> f64 {
        let gb = f64::from(self.mb.max(1)) / 1000.0;
        TOKENS_PER_S_PER_GB_PER_THREAD * threads.clamp(1, 8) as f64 / gb
    }

    /// "Qwen2.5-0.5B-Instruct (Q4_K_M): about 491 MB, Apache-2.0. Good for: …. Expected here:
    /// about 31 tokens/s (2 threads)."
    pub fn describe(&self, threads: usize) -> String {
        let size = if self.mb >= 1000 {
            format!("{:.1} GB", f64::from(self.mb) / 1000.0)
        } else {
            format!("{} MB", self.mb)
        };
        let tps = self.expected_tokens_per_s(threads);
        format!(
            "{}: about {size}, {}. Good for: {}. Expected here: about {} tokens/s ({} thread{}; an estimate).",
            self.name,
            self.licence,
            self.good_for,
            if tps >= 10.0 { format!("{tps:.0}") } else { format!("{tps:.1}") },
            threads,
            if threads == 1 { "" } else { "s" }
        )
    }
}
