//! Hand-written `Deserialize` plumbing for the engine's internally tagged enums (`Item`,
//! `RunResult`, `RunStatus`, `DistSetting`) and the untagged `ItemId`.
//!
//! serde's derive buffers an internally tagged object into its private `Content` tree and then
//! deserializes the variant from that tree, so every variant's fields (and everything nested in
//! them) are compiled twice: once for `serde_json` and once for the `Content` deserializer. In
//! the browser build that second copy is tens of kilobytes. Here the common case (the tag is the
//! object's first key, as every serializer of these types writes it) deserializes the variant
//! straight from the same `MapAccess`; any other key order is buffered as JSON, reordered with
//! the tag first and parsed again by the fast path. Accepted inputs, results and error kinds
//! are those of the derive (the tests in the owning modules check both orders and the errors).

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// An enum written as `{"<TAG>": "<variant>", ...variant fields}` (serde's internally tagged
/// representation).
pub(crate) trait InternallyTagged: Sized + DeserializeOwned {
    /// The derive's wording for type errors: "internally tagged enum <Name>".
    const EXPECTING: &'static str;
    const TAG: &'static str;
    const VARIANTS: &'static [&'static str];
    /// Deserialize variant `index` (into `VARIANTS`) from the object without its tag.
    fn variant<'de, D: Deserializer<'de>>(index: usize, rest: D) -> Result<Self, D::Error>;
}

/// `Deserialize` for an internally tagged enum: `internally_tagged!(Type, "tag", ["variant",
/// …], |index, rest| <deserialize variant `index` from `rest`>)`.
macro_rules! internally_tagged {
    ($ty:ident, $tag:literal, [$($name:literal),+ $(,)?], |$index:ident, $rest:ident| $body:expr) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::serde_tagged::deserialize_tagged(d)
            }
        }

        impl $crate::serde_tagged::InternallyTagged for $ty {
            const EXPECTING: &'static str = concat!("internally tagged enum ", stringify!($ty));
            const TAG: &'static str = $tag;
            const VARIANTS: &'static [&'static str] = &[$($name),+];
            fn variant<'de, D: serde::Deserializer<'de>>($index: usize, $rest: D) -> Result<Self, D::Error> {
                $body
            }
        }
    };
}
pub(crate) use internally_tagged;

/// `Deserialize::deserialize` for an [`InternallyTagged`] enum.
pub(crate) fn deserialize_tagged<'de, T: InternallyTagged, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_any(TaggedVisitor(PhantomData))
}

/// A unit variant of an internally tagged enum: any other fields are ignored, as by the derive.
pub(crate) fn unit_variant<'de, T, D: Deserializer<'de>>(d: D, value: T) -> Result<T, D::Error> {
    IgnoredAny::deserialize(d).map(|_| value)
}

use serde::Deserialize;

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: InternallyTagged> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if first == T::TAG {
            let index = map.next_value_seed(VariantSeed(T::VARIANTS))?;
            return T::variant(
                index,
                MapAccessDeserializer::new(NoSecondTag::<A, T> {
                    map,
                    tag: PhantomData,
                }),
            );
        }
        // The tag is elsewhere: keep every entry (duplicates and order included), put the tag
        // first and parse again.
        let mut entries = vec![(first, map.next_value::<Value>()?)];
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<Value>()?));
        }
        let mut tags = entries.iter().filter(|(k, _)| k == T::TAG);
        let Some((_, tag)) = tags.next() else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if tags.next().is_some() {
            return Err(de::Error::duplicate_field(T::TAG));
        }
        let mut text = String::with_capacity(256);
        text.push('{');
        push_entry(&mut text, T::TAG, tag);
        for (key, value) in entries.iter().filter(|(k, _)| k != T::TAG) {
            text.push(',');
            push_entry(&mut text, key, value);
        }
        text.push('}');
        serde_json::from_str(&text).map_err(json_error)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        // The derive also accepts `[tag, fields...]`.
        let Some(index) = seq.next_element_seed(VariantSeed(T::VARIANTS))? else {
            return Err(de::Error::missing_field(T::TAG));
        };
        T::variant(index, SeqAccessDeserializer::new(seq))
    }
}

fn push_entry(text: &mut String, key: &str, value: &Value) {
    text.push_str(&Value::from(key).to_string());
    text.push(':');
    text.push_str(&value.to_string());
}

/// A `serde_json` error from the reordered text, without its position in that text (the outer
/// deserializer adds the position in the real input).
fn json_error<E: de::Error>(e: serde_json::Error) -> E {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    E::custom(message.strip_suffix(position.as_str()).unwrap_or(&message))
}

/// The tag's value: a variant name (or, as the derive allows, its index).
struct VariantSeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for VariantSeed {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for VariantSeed {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
        match usize::try_from(v) {
            Ok(i) if i < self.0.len() => Ok(i),
            _ => Err(E::invalid_value(
                Unexpected::Unsigned(v),
                &format!("variant index 0 <= i < {}", self.0.len()).as_str(),
            )),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|name| *name == v)
            .ok_or_else(|| E::unknown_variant(v, self.0))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<usize, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(v), &self)),
        }
    }
}

/// The rest of a tagged object: a second tag is an error, as with the derive.
struct NoSecondTag<A, T> {
    map: A,
    tag: PhantomData<T>,
}

impl<'de, A: MapAccess<'de>, T: InternallyTagged> MapAccess<'de> for NoSecondTag<A, T> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        match self.map.next_key::<String>()? {
            None => Ok(None),
            Some(key) if key == T::TAG => Err(de::Error::duplicate_field(T::TAG)),
            Some(key) => seed
                .deserialize(de::value::StringDeserializer::<A::Error>::new(key))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// An enum written as `{"<TAG>": "<variant>", "<CONTENT>": <variant data>}` (serde's adjacently
/// tagged representation; other keys are ignored).
pub(crate) trait AdjacentlyTagged: Sized + DeserializeOwned {
    /// The derive's wording for type errors: "adjacently tagged enum <Name>".
    const EXPECTING: &'static str;
    /// The Rust type name (what the derive passes to `deserialize_struct`).
    const NAME: &'static str;
    const TAG: &'static str;
    const CONTENT: &'static str;
    /// `[TAG, CONTENT]`.
    const FIELDS: &'static [&'static str];
    const VARIANTS: &'static [&'static str];
    /// Variant `index` when the object has no content (unit variants); None: content required.
    fn without_content(index: usize) -> Option<Self>;
    /// Deserialize variant `index` from its content.
    fn content<'de, D: Deserializer<'de>>(index: usize, content: D) -> Result<Self, D::Error>;
}

/// `Deserialize::deserialize` for an [`AdjacentlyTagged`] enum.
pub(crate) fn deserialize_adjacent<'de, T: AdjacentlyTagged, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_struct(T::NAME, T::FIELDS, AdjacentVisitor(PhantomData))
}

/// The content of a unit variant: `null` (`expecting`: "unit variant Enum::Variant").
pub(crate) fn unit_content<'de, T, D: Deserializer<'de>>(
    d: D,
    value: T,
    expecting: &'static str,
) -> Result<T, D::Error> {
    struct Unit(&'static str);
    impl<'de> Visitor<'de> for Unit {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_none<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    }
    d.deserialize_any(Unit(expecting)).map(|()| value)
}

#[derive(PartialEq)]
enum Adjacent {
    Tag,
    Content,
}

/// The next key that is the tag or the content; other entries are skipped.
fn next_relevant<'de, A: MapAccess<'de>, T: AdjacentlyTagged>(
    map: &mut A,
) -> Result<Option<Adjacent>, A::Error> {
    while let Some(key) = map.next_key::<String>()? {
        if key == T::TAG {
            return Ok(Some(Adjacent::Tag));
        }
        if key == T::CONTENT {
            return Ok(Some(Adjacent::Content));
        }
        map.next_value::<IgnoredAny>()?;
    }
    Ok(None)
}

/// After the tag and the content: only other keys may follow.
fn no_more<'de, A: MapAccess<'de>, T: AdjacentlyTagged>(
    map: &mut A,
    value: T,
) -> Result<T, A::Error> {
    match next_relevant::<A, T>(map)? {
        Some(Adjacent::Tag) => Err(de::Error::duplicate_field(T::TAG)),
        Some(Adjacent::Content) => Err(de::Error::duplicate_field(T::CONTENT)),
        None => Ok(value),
    }
}

struct ContentSeed<T>(usize, PhantomData<T>);

impl<'de, T: AdjacentlyTagged> DeserializeSeed<'de> for ContentSeed<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        T::content(self.0, d)
    }
}

struct AdjacentVisitor<T>(PhantomData<T>);

impl<'de, T: AdjacentlyTagged> Visitor<'de> for AdjacentVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        match next_relevant::<A, T>(&mut map)? {
            None => Err(de::Error::missing_field(T::TAG)),
            Some(Adjacent::Tag) => {
                let index = map.next_value_seed(VariantSeed(T::VARIANTS))?;
                match next_relevant::<A, T>(&mut map)? {
                    Some(Adjacent::Tag) => Err(de::Error::duplicate_field(T::TAG)),
                    Some(Adjacent::Content) => {
                        let value = map.next_value_seed(ContentSeed::<T>(index, PhantomData))?;
                        no_more(&mut map, value)
                    }
                    None => T::without_content(index)
                        .ok_or_else(|| de::Error::missing_field(T::CONTENT)),
                }
            }
            Some(Adjacent::Content) => {
                // Content before the tag: keep it as JSON, read the tag, parse both in order.
                let content = map.next_value::<Value>()?;
                match next_relevant::<A, T>(&mut map)? {
                    Some(Adjacent::Tag) => {
                        let index = map.next_value_seed(VariantSeed(T::VARIANTS))?;
                        let mut text = String::with_capacity(64);
                        text.push('{');
                        push_entry(
                            &mut text,
                            T::TAG,
                            &Value::from(T::VARIANTS.get(index).copied().unwrap_or_default()),
                        );
                        text.push(',');
                        push_entry(&mut text, T::CONTENT, &content);
                        text.push('}');
                        let value = serde_json::from_str(&text).map_err(json_error)?;
                        no_more(&mut map, value)
                    }
                    Some(Adjacent::Content) => Err(de::Error::duplicate_field(T::CONTENT)),
                    None => Err(de::Error::missing_field(T::TAG)),
                }
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        // The derive also accepts `[tag, content]`.
        let Some(index) = seq.next_element_seed(VariantSeed(T::VARIANTS))? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        match seq.next_element_seed(ContentSeed::<T>(index, PhantomData))? {
            Some(value) => Ok(value),
            None => Err(de::Error::invalid_length(1, &self)),
        }
    }
}

/// `Deserialize` for an enum that is either an integer or a string (serde's untagged
/// `Int(i64) | Str(String)`), with the derive's error for anything else.
pub(crate) fn int_or_string<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<Result<i64, String>, D::Error> {
    d.deserialize_any(IntOrString(expecting))
}

struct IntOrString(&'static str);

impl IntOrString {
    fn no_match<E: de::Error>(&self) -> E {
        E::custom(format_args!(
            "data did not match any variant of untagged enum {}",
            self.0
        ))
    }
}

impl<'de> Visitor<'de> for IntOrString {
    type Value = Result<i64, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "untagged enum {}", self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Ok(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v).map(Ok).map_err(|_| self.no_match())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Err(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Err(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Err(s.to_string())),
            Err(_) => Err(self.no_match()),
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.no_match())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.no_match())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.no_match())
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.no_match())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let _ = IgnoredAny::deserialize(d)?;
        Err(self.no_match())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(self.no_match())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Err(self.no_match())
    }
}

#[cfg(test)]
mod tests;
