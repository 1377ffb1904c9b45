//! JSON formats of a stage-1 reply (structured output, fenced JSON, objects keyed by field).

use super::*;

pub(super) fn parse_json_text(text: &str) -> Vec<Perspective> {
    let found = match crate::distribution::find_json(text) {
        Some(v) => from_json(&v, 0),
        None => Vec::new(),
    };
    if found.len() <= 1 {
        // A reply cut off by the token limit leaves its outer object or array open: the first
        // complete JSON value is then one perspective's object. Read every complete one instead.
        let salvaged: Vec<Perspective> = complete_objects(text)
            .iter()
            .filter_map(|o| from_object(o, ""))
            .collect();
        if salvaged.len() > found.len() {
            return salvaged;
        }
    }
    found
}

/// Every complete JSON object in `text`, in order, the ones nested in another left out (at most
/// 256 tries, so an odd reply cannot make this quadratic).
fn complete_objects(text: &str) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    let mut from = 0;
    for _ in 0..256 {
        let Some(start) = text.get(from..).and_then(|t| t.find('{')).map(|i| from + i) else {
            break;
        };
        let mut stream =
            serde_json::Deserializer::from_str(&text[start..]).into_iter::<Map<String, Value>>();
        match stream.next() {
            Some(Ok(obj)) => {
                out.push(obj);
                from = start + stream.byte_offset();
            }
            _ => from = start + 1,
        }
    }
    out
}

pub(super) fn from_json(v: &Value, depth: usize) -> Vec<Perspective> {
    if depth > 3 {
        return Vec::new();
    }
    match v {
        Value::Array(arr) => arr
            .iter()
            .filter_map(|e| match e {
                Value::Object(o) => from_object(o, ""),
                Value::String(s) => {
                    let (_, content) = strip_marker(s);
                    let p = split_fields(content);
                    (!p.name.is_empty() || p.has_dims()).then_some(p)
                }
                _ => None,
            })
            .collect(),
        Value::Object(obj) => {
            // {"perspectives": [...]} or any key holding a list.
            if let Some(list) = obj.values().find(|x| {
                x.as_array()
                    .is_some_and(|a| a.iter().any(|e| e.is_object() || e.is_string()))
            }) {
                let found = from_json(list, depth + 1);
                if !found.is_empty() {
                    return found;
                }
            }
            let has_field_keys = obj.keys().any(|k| label_field(k).is_some());
            if !has_field_keys && !obj.is_empty() && obj.values().all(Value::is_object) {
                // {"Patient Advocate": {...}, ...}
                return obj
                    .iter()
                    .filter_map(|(k, x)| x.as_object().and_then(|o| from_object(o, k)))
                    .collect();
            }
            if !has_field_keys && !obj.is_empty() && obj.values().all(Value::is_string) {
                // {"Patient Advocate": "Autonomy, Deontology, …", ...}
                return obj
                    .iter()
                    .map(|(k, x)| {
                        let mut p = Perspective {
                            name: clean_value(k),
                            ..Default::default()
                        };
                        assign_dims(&mut p, x.as_str().unwrap_or(""));
                        p.raw = p.compose_raw();
                        p
                    })
                    .collect();
            }
            from_object(obj, "").into_iter().collect()
        }
        _ => Vec::new(),
    }
}

pub(super) fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_string(),
        Value::Array(a) => a
            .iter()
            .map(json_text)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn from_object(obj: &Map<String, Value>, default_name: &str) -> Option<Perspective> {
    let mut p = Perspective::default();
    for (k, v) in obj {
        let Some(field) = json_key_field(k) else {
            continue;
        };
        let target = p.field_mut(field);
        if target.is_empty() {
            *target = json_text(v);
        }
    }
    if p.name.is_empty() {
        p.name = clean_value(default_name);
    }
    if p.name.is_empty() && !p.has_dims() {
        return None;
    }
    p.raw = p.compose_raw();
    Some(p)
}
