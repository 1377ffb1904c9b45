//! The model's chat template. Only ChatML (`<|im_start|>role\n…<|im_end|>\n`) is implemented,
//! which is what SmolLM2 (and Qwen, and many small instruct models) use; the template text from
//! the GGUF decides whether it applies and supplies the default system message, if any.

use ethos_engine::chat::{Message, Role};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTemplate {
    /// Inserted when the first message is not a system message (SmolLM2's template does this).
    pub default_system: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model's chat template is not supported (only ChatML is): {0}")]
pub struct TemplateUnsupported(pub String);

impl ChatTemplate {
    /// Read from GGUF `tokenizer.chat_template` (Jinja source). `None` (no template in the file)
    /// means plain ChatML without a default system message.
    pub fn from_jinja(source: Option<&str>) -> Result<Self, TemplateUnsupported> {
        let Some(src) = source else {
            return Ok(Self {
                default_system: None,
            });
        };
        if !src.contains("<|im_start|>") || !src.contains("<|im_end|>") {
            let head: String = src.chars().take(80).collect();
            return Err(TemplateUnsupported(head));
        }
        let marker = "<|im_start|>system";
        let default_system = if src.contains("!= 'system'") || src.contains("!= \"system\"") {
            src.find(marker).and_then(|at| {
                let rest = src.get(at + marker.len()..)?;
                let rest = rest
                    .strip_prefix("\\n")
                    .or_else(|| rest.strip_prefix('\n'))?;
                let end = rest.find("<|im_end|>")?;
                let text = rest.get(..end)?;
                // A Jinja expression inside the default would be something we cannot evaluate.
                if text.contains("{{") || text.contains("{%") || text.contains("' +") {
                    return None;
                }
                Some(text.replace("\\n", "\n"))
            })
        } else {
            None
        };
        Ok(Self { default_system })
    }

    /// The prompt text for `messages`, ending with the assistant header (generation prompt).
    pub fn render(&self, messages: &[Message]) -> String {
        let mut out = String::new();
        let first_is_system = messages.first().is_some_and(|m| m.role == Role::System);
        if !first_is_system {
            if let Some(sys) = &self.default_system {
                out.push_str("<|im_start|>system\n");
                out.push_str(sys);
                out.push_str("<|im_end|>\n");
            }
        }
        for m in messages {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            out.push_str("<|im_start|>");
            out.push_str(role);
            out.push('\n');
            out.push_str(&m.content);
            out.push_str("<|im_end|>\n");
        }
        out.push_str("<|im_start|>assistant\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    #[test]
    fn smollm_template_adds_its_default_system_message() {
        let t = ChatTemplate::from_jinja(Some(SMOL)).expect("chatml");
        assert_eq!(
            t.render(&[Message::user("Hi")]),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            t.render(&[Message::system("S"), Message::user("Hi")]),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn non_chatml_templates_are_refused() {
        assert!(ChatTemplate::from_jinja(Some("{{ bos_token }}[INST] {{ m }} [/INST]")).is_err());
        assert_eq!(
            ChatTemplate::from_jinja(None),
            Ok(ChatTemplate {
                default_system: None
            })
        );
    }
}
