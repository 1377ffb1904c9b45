//! The chat templates rendered by this runtime (minijinja) against Python `jinja2` (the
//! reference implementation Hugging Face uses), byte for byte: the templates inside the Qwen and
//! SmolLM2 GGUFs, plus Llama 3 and Gemma 3 style templates and one using Python string methods.
//!
//! jinja2 comes from `scripts/llama-server.sh jinja` (a pinned venv; ETHOS_JINJA_PYTHON or its
//! cache path). Without it the test says SKIPPED (a failure with ETHOS_REQUIRE_LOCAL_MODEL=1).

mod common;
use common::{env_or_cache_file, gguf_path, qwen_gguf_path, skip};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ethos_engine::chat::Message;
use ethos_local::template::ChatTemplate;
use serde_json::json;

/// Renders each conversation as Hugging Face does (sandboxed, trim_blocks, lstrip_blocks,
/// raise_exception, add_generation_prompt) and prints the results as JSON.
const RENDER_PY: &str = r#"
import json, sys
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
job = json.load(sys.stdin)
def raise_exception(message):
    raise TemplateError(message)
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.globals["raise_exception"] = raise_exception
t = env.from_string(job["template"])
print(json.dumps([t.render(messages=m, add_generation_prompt=True, bos_token=job["bos"], eos_token=job["eos"]) for m in job["conversations"]]))
"#;

fn jinja_python() -> Option<PathBuf> {
    env_or_cache_file("ETHOS_JINJA_PYTHON", "jinja2-3.1.6/venv/bin/python")
}

fn conversations() -> Vec<Vec<Message>> {
    vec![
        vec![Message::user("Hi")],
        vec![
            Message::system("You are a nurse with 30 years in palliative care."),
            Message::user("  Which option? (A) tell the truth\n(B) wait  \n"),
        ],
        vec![
            Message::system("S"),
            Message::user("Première question — « oui » ou 'non'? 你好"),
            Message::assistant(" A. Because {{ braces }} and {% tags %} are only text. "),
            Message::user("And now?\n\n"),
        ],
    ]
}

fn python_render(py: &Path, template: &str, bos: &str, eos: &str) -> Vec<String> {
    let job = json!({
        "template": template, "bos": bos, "eos": eos,
        "conversations": conversations(),
    });
    let mut child = Command::new(py)
        .arg("-c")
        .arg(RENDER_PY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write job");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "jinja2 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<String>>(&out.stdout).expect("json from python")
}

/// (template, bos text, eos text) of a GGUF, from its metadata only.
fn gguf_template(path: &Path) -> (String, String, String) {
    use candle_core::quantized::gguf_file::Content;
    let mut f = std::io::BufReader::new(std::fs::File::open(path).expect("open gguf"));
    let ct = Content::read(&mut f).expect("gguf header");
    let s = |k: &str| {
        ct.metadata
            .get(k)
            .and_then(|v| v.to_string().ok())
            .cloned()
    };
    let tokens = ct
        .metadata
        .get("tokenizer.ggml.tokens")
        .and_then(|v| v.to_vec().ok())
        .cloned()
        .unwrap_or_default();
    let tok = |k: &str| {
        ct.metadata
            .get(k)
            .and_then(|v| v.to_u32().ok())
            .and_then(|i| tokens.get(i as usize))
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default()
    };
    (
        s("tokenizer.chat_template").expect("the file has a chat template"),
        tok("tokenizer.ggml.bos_token_id"),
        tok("tokenizer.ggml.eos_token_id"),
    )
}

const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

const GEMMA3: &str = "{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = \"\" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = \"model\" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- else -%}
        {{ raise_exception(\"Invalid content type\") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
";

/// Python string methods as Qwen3-style templates use them.
const PYMETHODS: &str = "{%- for message in messages %}
    {%- set content = message.content %}
    {%- if message.role == 'assistant' and '</think>' in content %}
        {%- set content = content.split('</think>')[-1].lstrip('\n') %}
    {%- endif %}
    {{- '<|im_start|>' + message.role + '\n' + content.strip() + '<|im_end|>\n' }}
    {%- if content.startswith('And') or content.endswith('?') %}{{- '[q]' }}{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}";

#[test]
fn chat_templates_render_like_python_jinja2() {
    let Some(py) = jinja_python() else {
        skip("no Python with jinja2 (scripts/llama-server.sh jinja, or set ETHOS_JINJA_PYTHON)");
        return;
    };
    let mut cases: Vec<(String, String, String, String)> = vec![
        ("llama 3".into(), LLAMA3.into(), "<|begin_of_text|>".into(), "<|eot_id|>".into()),
        ("gemma 3".into(), GEMMA3.into(), "<bos>".into(), "<eos>".into()),
        ("python methods".into(), PYMETHODS.into(), String::new(), String::new()),
    ];
    for (name, path) in [("Qwen GGUF", qwen_gguf_path()), ("SmolLM2 GGUF", gguf_path())] {
        match path {
            Some(p) => {
                let (t, bos, eos) = gguf_template(&p);
                cases.push((name.into(), t, bos, eos));
            }
            None => eprintln!("{name}: file absent, its template not compared"),
        }
    }
    for (name, template, bos, eos) in cases {
        let ours = ChatTemplate::from_jinja(Some(&template), &bos, &eos)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let theirs = python_render(&py, &template, &bos, &eos);
        for (conv, want) in conversations().iter().zip(&theirs) {
            let got = ours.render(conv).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&got, want, "{name}: minijinja and jinja2 differ");
        }
        eprintln!("{name}: {} conversations byte-identical", theirs.len());
    }
}
