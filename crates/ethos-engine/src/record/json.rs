//! Reading and writing records as JSON: the version check before parsing, the export format.

use super::*;

/// The `version` of a JSON document when it is an object whose `version` is a non-negative
/// integer (as `Value::as_u64` would say), else None. Any other JSON is accepted and skipped;
/// invalid JSON is an error.
pub(super) struct VersionProbe(Option<u64>);

impl<'de> Deserialize<'de> for VersionProbe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Probe { top: true }).map(VersionProbe)
    }
}

/// The value of `version` inside the top-level object.
pub(super) struct VersionValue(Option<u64>);

impl<'de> Deserialize<'de> for VersionValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Probe { top: false }).map(VersionValue)
    }
}

/// `top`: looking at the whole document (only an object carries a version); else at the value
/// of `version` (only a non-negative integer is one).
pub(super) struct Probe {
    top: bool,
}

impl<'de> serde::de::Visitor<'de> for Probe {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.top && key == "version" {
                version = map.next_value::<VersionValue>()?.0;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(version)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok((!self.top).then_some(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).ok().filter(|_| !self.top))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl RunRecord {
    /// Parse and validate a record exported by this app.
    pub fn from_json(text: &str) -> Result<Self, RecordError> {
        // A cheap first pass reads only `version` (skipping the rest); the record is then parsed
        // straight from the text. (Going through `serde_json::Value` would make the compiler emit
        // a second copy of every deserializer, which the browser build pays for in size.)
        let VersionProbe(found) =
            serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
        match found {
            None => return Err(RecordError::Json("no `version` field".into())),
            Some(v) if v != u64::from(RECORD_VERSION) => {
                return Err(RecordError::Version {
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: RECORD_VERSION,
                })
            }
            Some(_) => {}
        }
        let record: RunRecord =
            serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
        record.validate()?;
        Ok(record)
    }

    /// Pretty JSON (the export and share format).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// A JSON array of records, each as [`RunRecord::to_json`] writes it (so the browser build
/// carries one record serializer, not a compact one besides the pretty one).
pub fn records_to_json(records: &[RunRecord]) -> String {
    let parts: Vec<String> = records.iter().map(RunRecord::to_json).collect();
    format!("[{}]", parts.join(",\n"))
}
