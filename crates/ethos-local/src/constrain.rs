//! JSON-schema-constrained decoding for the in-tab model: a byte-level pushdown automaton for
//! the schema subset the engine sends (objects with required properties, arrays with
//! minItems/maxItems, strings with an optional maxLength). A token is allowed when its bytes keep
//! the output a prefix of a document the schema accepts; the end of text is allowed once the
//! document is complete. Object keys come in the order of `required`.
//!
//! Strings without a `maxLength` are capped at [`DEFAULT_MAX_STRING`] bytes so that a small
//! model cannot ramble past its token budget inside one field.

use serde_json::Value;

/// Bytes of a string value when the schema gives no `maxLength`.
pub const DEFAULT_MAX_STRING: usize = 80;
/// Consecutive whitespace bytes allowed between tokens.
const MAX_WS: u8 = 16;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Object { keys: Vec<(Vec<u8>, usize)> },
    Array { item: usize, min: usize, max: usize },
    Str { max: usize },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ObjStep {
    ExpectKey,
    InKey(usize),
    AfterKey,
    AfterValue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ArrStep {
    AfterOpen,
    ExpectItem,
    AfterItem,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    Value(usize),
    Obj {
        node: usize,
        key: usize,
        step: ObjStep,
    },
    Arr {
        node: usize,
        count: usize,
        step: ArrStep,
    },
    Str {
        max: usize,
        len: usize,
        esc: bool,
    },
}

/// The schema, compiled.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    nodes: Vec<Node>,
}

/// Where the output is in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonState {
    stack: Vec<Frame>,
    done: bool,
    ws: u8,
}

impl Schema {
    /// Compile the supported subset; None for anything else (then decoding is unconstrained).
    pub fn compile(schema: &Value) -> Option<Schema> {
        let mut s = Schema { nodes: Vec::new() };
        s.node(schema, 0)?;
        Some(s)
    }

    fn node(&mut self, v: &Value, depth: usize) -> Option<usize> {
        if depth > 16 {
            return None;
        }
        let id = self.nodes.len();
        self.nodes.push(Node::Str { max: 0 });
        let node = match v.get("type")?.as_str()? {
            "object" => {
                let props = v.get("properties")?.as_object()?;
                let order: Vec<String> = match v.get("required").and_then(Value::as_array) {
                    Some(r) => r
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                    None => props.keys().cloned().collect(),
                };
                let mut keys = Vec::new();
                for k in order {
                    let child = self.node(props.get(&k)?, depth + 1)?;
                    keys.push((k.into_bytes(), child));
                }
                Node::Object { keys }
            }
            "array" => {
                let item = self.node(v.get("items")?, depth + 1)?;
                let min = v.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
                let max = v
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .map(|m| m as usize)
                    .unwrap_or(usize::MAX)
                    .max(min);
                Node::Array { item, min, max }
            }
            "string" => Node::Str {
                max: v
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .map(|m| m as usize)
                    .unwrap_or(DEFAULT_MAX_STRING)
                    .max(1),
            },
            _ => return None,
        };
        self.nodes[id] = node;
        Some(id)
    }

    pub fn start(&self) -> JsonState {
        JsonState {
            stack: vec![Frame::Value(0)],
            done: false,
            ws: 0,
        }
    }

    /// Feed one byte; false (and the state unchanged in meaning only if cloned first) if the
    /// byte cannot continue a valid document.
    pub fn feed(&self, st: &mut JsonState, b: u8) -> bool {
        let ws = matches!(b, b' ' | b'\n' | b'\r' | b'\t');
        let in_string = matches!(
            st.stack.last(),
            Some(Frame::Str { .. })
                | Some(Frame::Obj {
                    step: ObjStep::InKey(_),
                    ..
                })
        );
        if ws && !in_string {
            st.ws = st.ws.saturating_add(1);
            return st.ws <= MAX_WS;
        }
        st.ws = 0;
        if st.done {
            return false;
        }
        let Some(top) = st.stack.last().copied() else {
            return false;
        };
        match top {
            Frame::Value(n) => match (&self.nodes[n], b) {
                (Node::Object { .. }, b'{') => self.set(
                    st,
                    Frame::Obj {
                        node: n,
                        key: 0,
                        step: ObjStep::ExpectKey,
                    },
                ),
                (Node::Array { .. }, b'[') => self.set(
                    st,
                    Frame::Arr {
                        node: n,
                        count: 0,
                        step: ArrStep::AfterOpen,
                    },
                ),
                (Node::Str { max }, b'"') => self.set(
                    st,
                    Frame::Str {
                        max: *max,
                        len: 0,
                        esc: false,
                    },
                ),
                _ => false,
            },
            Frame::Obj { node, key, step } => {
                let Node::Object { keys } = &self.nodes[node] else {
                    return false;
                };
                match step {
                    ObjStep::ExpectKey if key < keys.len() && b == b'"' => self.set(
                        st,
                        Frame::Obj {
                            node,
                            key,
                            step: ObjStep::InKey(0),
                        },
                    ),
                    ObjStep::ExpectKey if key == keys.len() && key == 0 && b == b'}' => {
                        self.complete(st)
                    }
                    ObjStep::InKey(pos) => {
                        let name = &keys[key].0;
                        if pos < name.len() && name[pos] == b {
                            self.set(
                                st,
                                Frame::Obj {
                                    node,
                                    key,
                                    step: ObjStep::InKey(pos + 1),
                                },
                            )
                        } else if pos == name.len() && b == b'"' {
                            self.set(
                                st,
                                Frame::Obj {
                                    node,
                                    key,
                                    step: ObjStep::AfterKey,
                                },
                            )
                        } else {
                            false
                        }
                    }
                    ObjStep::AfterKey if b == b':' => {
                        let child = keys[key].1;
                        self.set(
                            st,
                            Frame::Obj {
                                node,
                                key,
                                step: ObjStep::AfterValue,
                            },
                        );
                        st.stack.push(Frame::Value(child));
                        true
                    }
                    ObjStep::AfterValue if key + 1 < keys.len() && b == b',' => self.set(
                        st,
                        Frame::Obj {
                            node,
                            key: key + 1,
                            step: ObjStep::ExpectKey,
                        },
                    ),
                    ObjStep::AfterValue if key + 1 >= keys.len() && b == b'}' => self.complete(st),
                    _ => false,
                }
            }
            Frame::Arr { node, count, step } => {
                let Node::Array { item, min, max } = self.nodes[node] else {
                    return false;
                };
                match step {
                    ArrStep::AfterOpen | ArrStep::AfterItem if b == b']' && count >= min => {
                        self.complete(st)
                    }
                    ArrStep::AfterItem if b == b',' && count < max => self.set(
                        st,
                        Frame::Arr {
                            node,
                            count,
                            step: ArrStep::ExpectItem,
                        },
                    ),
                    ArrStep::AfterOpen | ArrStep::ExpectItem if count < max => {
                        self.set(
                            st,
                            Frame::Arr {
                                node,
                                count,
                                step: ArrStep::AfterItem,
                            },
                        );
                        st.stack.push(Frame::Value(item));
                        // The byte starts the item's value.
                        self.feed(st, b)
                    }
                    _ => false,
                }
            }
            Frame::Str { max, len, esc } => {
                if esc {
                    self.set(
                        st,
                        Frame::Str {
                            max,
                            len: len + 1,
                            esc: false,
                        },
                    )
                } else if b == b'"' {
                    self.complete(st)
                } else if b < 0x20 || len >= max {
                    false
                } else if b == b'\\' {
                    len + 1 < max
                        && self.set(
                            st,
                            Frame::Str {
                                max,
                                len: len + 1,
                                esc: true,
                            },
                        )
                } else {
                    self.set(
                        st,
                        Frame::Str {
                            max,
                            len: len + 1,
                            esc: false,
                        },
                    )
                }
            }
        }
    }

    fn set(&self, st: &mut JsonState, f: Frame) -> bool {
        if let Some(top) = st.stack.last_mut() {
            *top = f;
        }
        true
    }

    /// The value on top is finished: pop it and move its parent on.
    fn complete(&self, st: &mut JsonState) -> bool {
        st.stack.pop();
        match st.stack.last().copied() {
            None => st.done = true,
            Some(Frame::Arr { node, count, .. }) => {
                self.set(
                    st,
                    Frame::Arr {
                        node,
                        count: count + 1,
                        step: ArrStep::AfterItem,
                    },
                );
            }
            Some(_) => {} // an object's step is already AfterValue
        }
        true
    }

    /// Whether these bytes can follow the state.
    pub fn accepts(&self, st: &JsonState, bytes: &[u8]) -> bool {
        let mut s = st.clone();
        bytes.iter().all(|&b| self.feed(&mut s, b))
    }

    /// Advance the state by these bytes (they must be accepted).
    pub fn advance(&self, st: &mut JsonState, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.feed(st, b))
    }
}

impl JsonState {
    /// The document is complete: the end of text may come.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn perspectives(k: usize) -> Schema {
        let field = json!({"type": "string"});
        Schema::compile(&json!({
            "type": "object",
            "properties": {"perspectives": {"type": "array", "minItems": k, "maxItems": k, "items": {
                "type": "object",
                "properties": {"name": field, "core_value": field},
                "required": ["name", "core_value"]}}},
            "required": ["perspectives"]
        }))
        .expect("compiles")
    }

    fn run(s: &Schema, text: &str) -> (bool, bool) {
        let mut st = s.start();
        let ok = s.advance(&mut st, text.as_bytes());
        (ok, st.is_done())
    }

    #[test]
    fn documents_of_the_schema_are_accepted_and_complete() {
        let s = perspectives(2);
        let doc = r#"{"perspectives": [{"name": "A", "core_value": "care"},
            {"name": "B \"q\"", "core_value": "duty"}]}"#;
        assert_eq!(run(&s, doc), (true, true));
        // Every prefix is accepted and not complete.
        for cut in 1..doc.len() {
            assert_eq!(
                run(&s, &doc[..cut]),
                (true, false),
                "prefix {cut}: {}",
                &doc[..cut]
            );
        }
    }

    #[test]
    fn wrong_keys_counts_and_shapes_are_refused() {
        let s = perspectives(2);
        assert!(!run(&s, r#"{"persp": "#).0, "unknown key");
        assert!(
            !run(&s, r#"{"perspectives": [{"core_value""#).0,
            "keys in the required order"
        );
        assert!(
            !run(&s, r#"{"perspectives": [{"name": "A", "core_value": "c"}]"#).0,
            "too few items"
        );
        let three = r#"{"perspectives": [{"name": "A", "core_value": "c"}, {"name": "B", "core_value": "c"}, "#;
        assert!(!run(&s, three).0, "too many items");
        assert!(
            !run(&s, r#"{"perspectives": [{"name": 3"#).0,
            "a number where a string goes"
        );
        assert!(
            !run(&s, "{\"perspectives\": [{\"name\": \"a\nb").0,
            "raw newline in a string"
        );
        let done = r#"{"perspectives": [{"name": "A", "core_value": "c"}, {"name": "B", "core_value": "c"}]}"#;
        assert!(
            !run(&s, &format!("{done}x")).0,
            "nothing after the document"
        );
        assert!(
            run(&s, &format!("{done}\n")).0,
            "whitespace after it is fine"
        );
    }

    #[test]
    fn strings_are_capped() {
        let s = perspectives(1);
        let long = "x".repeat(DEFAULT_MAX_STRING);
        assert!(run(&s, &format!(r#"{{"perspectives": [{{"name": "{long}""#)).0);
        assert!(!run(&s, &format!(r#"{{"perspectives": [{{"name": "{long}x"#)).0);
        let capped = Schema::compile(&json!({"type": "string", "maxLength": 3})).unwrap();
        assert_eq!(run(&capped, r#""abc""#), (true, true));
        assert!(!run(&capped, r#""abcd"#).0);
    }

    #[test]
    fn unsupported_schemas_compile_to_none() {
        assert!(Schema::compile(&json!({"type": "number"})).is_none());
        assert!(Schema::compile(
            &json!({"type": "object", "properties": {"a": {"type": "integer"}}})
        )
        .is_none());
        assert!(Schema::compile(&json!({"anyOf": []})).is_none());
    }

    #[test]
    fn the_engines_perspectives_schema_compiles() {
        let v = ethos_engine::pipeline::perspectives_schema(3);
        let s = Schema::compile(&v).expect("the engine's schema is in the subset");
        let item = r#"{"name": "N", "core_value": "v", "ethical_framework": "f", "right_duty": "r", "emotion": "e", "stakeholder": "s"}"#;
        let doc = format!(r#"{{"perspectives": [{item}, {item}, {item}]}}"#);
        assert_eq!(run(&s, &doc), (true, true));
    }
}
