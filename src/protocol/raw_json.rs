//! Deserialising relayed JSON (`GameData.data`) as a [`RawJson`] whatever the key order.
//!
//! `Box<RawValue>` only deserialises straight from serde_json's own deserializer, which hands
//! it the raw text. When a client writes `"data"` before `"type"` (allowed, §1.3), serde buffers
//! the payload before it knows the variant and replays it through its private content
//! deserializer, which `RawValue` rejects ("invalid type: newtype struct"). For that case this
//! module rebuilds the value through `serde_json::Value` and prints it once: the same
//! re-serialisation 0.1.0 applied to every relayed payload, so the result is still what a
//! 0.1.0 client could receive. The common order (`type` first) keeps the text exactly as the client sent it.

use std::{fmt, iter};

use serde::de::value::MapDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::types::RawJson;

/// `deserialize_with` function for a `RawJson` field.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RawJson, D::Error> {
    Box::<RawValue>::deserialize(Intercept(deserializer))
}

/// Passes `RawValue`'s request through to the real deserializer, wrapping its visitor so the
/// buffered-content path can be answered too. `RawValue` asks only for a newtype struct; any
/// other request is forwarded as `deserialize_any`.
struct Intercept<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Intercept<D> {
    type Error = D::Error;

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        let wrapped = RawOrBuffered {
            token: name,
            inner: visitor,
        };
        self.0.deserialize_newtype_struct(name, wrapped)
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// `RawValue`'s own visitor, plus an answer for the buffered-content deserializer.
struct RawOrBuffered<V> {
    /// The newtype name `RawValue` asked for; it doubles as the key of the one-entry map through
    /// which serde_json hands raw text to `RawValue`'s visitor.
    token: &'static str,
    inner: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for RawOrBuffered<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    /// serde_json's raw-text path: hand it to `RawValue` untouched.
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(map)
    }

    /// The buffered path: the content deserializer offers the value as a newtype struct.
    /// Rebuild the JSON text and feed it to `RawValue` the way serde_json would have.
    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        let value = serde_json::Value::deserialize(d)?;
        let text = serde_json::to_string(&value).map_err(de::Error::custom)?;
        let raw = MapDeserializer::<_, D2::Error>::new(iter::once((self.token, text)));
        self.inner.visit_map(raw)
    }
}
