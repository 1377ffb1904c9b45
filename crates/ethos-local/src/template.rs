//! The model's chat template: the GGUF's own `tokenizer.chat_template` (Jinja) rendered with
//! `minijinja` the way Hugging Face and llama.cpp render it (trim_blocks, lstrip_blocks, Python
//! string methods through `minijinja-contrib`'s pycompat, `raise_exception`, `bos_token` /
//! `eos_token`, `add_generation_prompt = true`). A file without a template gets plain ChatML.
//!
//! A template is checked when the model loads, by rendering a few conversations of the shapes
//! this project sends (user; system + user; a whole exchange): one that fails there is refused
//! with its error, never replaced by a guess.

use ethos_engine::chat::{Message, Role};
use minijinja::{context, Environment, Error, ErrorKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model's chat template cannot be used: {0}")]
pub struct TemplateUnsupported(pub String);

/// ChatML, for files that carry no template.
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    source: String,
    bos_token: String,
    eos_token: String,
}

fn raise_exception(msg: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

fn environment(source: &str) -> Result<Environment<'_>, Error> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function("raise_exception", raise_exception);
    env.add_template("chat", source)?;
    Ok(env)
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

impl ChatTemplate {
    /// From GGUF `tokenizer.chat_template` (Jinja source; `None`: ChatML) and the text of the
    /// file's BOS/EOS tokens (empty when it has none).
    pub fn from_jinja(
        source: Option<&str>,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<Self, TemplateUnsupported> {
        let t = Self {
            source: source.unwrap_or(CHATML).to_string(),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        };
        environment(&t.source).map_err(|e| TemplateUnsupported(format!("{e:#}")))?;
        let probes: [&[Message]; 3] = [
            &[Message::user("Hi")],
            &[Message::system("S"), Message::user("Hi")],
            &[
                Message::system("S"),
                Message::user("Hi"),
                Message::assistant("Hello"),
                Message::user("Bye"),
            ],
        ];
        for p in probes {
            t.render(p)?;
        }
        Ok(t)
    }

    /// The prompt text for `messages`, ending with the assistant header (generation prompt).
    pub fn render(&self, messages: &[Message]) -> Result<String, TemplateUnsupported> {
        let msgs: Vec<_> = messages
            .iter()
            .map(|m| context! { role => role_name(m.role), content => m.content.as_str() })
            .collect();
        environment(&self.source)
            .and_then(|env| {
                env.get_template("chat")?.render(context! {
                    messages => msgs,
                    add_generation_prompt => true,
                    bos_token => self.bos_token.as_str(),
                    eos_token => self.eos_token.as_str(),
                })
            })
            .map_err(|e| TemplateUnsupported(format!("{e:#}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn smollm_template_adds_its_default_system_message() {
        let t = ChatTemplate::from_jinja(Some(SMOL), "", "").expect("chatml");
        assert_eq!(
            t.render(&[Message::user("Hi")]).expect("render"),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::system("S"), Message::user("Hi")]).expect("render"),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn other_families_render_through_jinja() {
        let llama = "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
        let t = ChatTemplate::from_jinja(Some(llama), "<|begin_of_text|>", "").expect("llama 3");
        assert_eq!(
            t.render(&[Message::user(" Hi ")]).expect("render"),
            "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        // Python string methods (pycompat).
        let py = "{% for m in messages %}{{ m.content.strip().upper() }}{% endfor %}";
        let t = ChatTemplate::from_jinja(Some(py), "", "").expect("pycompat");
        assert_eq!(t.render(&[Message::user(" hi ")]).expect("render"), "HI");
    }

    #[test]
    fn broken_or_refusing_templates_are_errors() {
        assert!(ChatTemplate::from_jinja(Some("{% for %}"), "", "").is_err());
        let strict = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}x";
        let e = ChatTemplate::from_jinja(Some(strict), "", "").expect_err("raises on a probe");
        assert!(e.to_string().contains("System role not supported"), "{e}");
        let plain = ChatTemplate::from_jinja(None, "", "").expect("chatml");
        assert_eq!(
            plain.render(&[Message::user("Hi")]).expect("render"),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }
}
