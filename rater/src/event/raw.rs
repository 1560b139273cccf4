//! The lenient reading of a payload: every field any kind of envelope may
//! carry, each kept as a [`Field`] whatever its JSON type, so that a wrong
//! type becomes a reject naming the field rather than a parse error.
//!
//! [`Raw`] is filled either by serde (this module: the reference for every
//! corner of JSON, and the only reader of CloudEvents) or by the fast scanner
//! in `scan`, which must give exactly what serde gives.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The fields of an envelope (or of a CloudEvent's `data`), as read.
/// Unknown fields are ignored; a known field given twice is a parse error.
#[derive(Debug, Default, PartialEq, Deserialize)]
pub(super) struct Raw<'a> {
    #[serde(default, borrow)]
    pub v: Field<'a>,
    #[serde(default, borrow)]
    pub id: Field<'a>,
    #[serde(default, borrow)]
    pub kind: Field<'a>,
    #[serde(default, borrow)]
    pub account: Field<'a>,
    #[serde(default, borrow)]
    pub time: Field<'a>,
    #[serde(default, borrow)]
    pub service: Field<'a>,
    #[serde(default, borrow)]
    pub quantity: Field<'a>,
    #[serde(default, borrow)]
    pub unit: Field<'a>,
    #[serde(default, borrow)]
    pub destination: Field<'a>,
    #[serde(default, borrow)]
    pub device: Field<'a>,
    #[serde(default, borrow)]
    pub apn: Field<'a>,
    #[serde(default, borrow)]
    pub action: Field<'a>,
    #[serde(default, borrow)]
    pub plan: Field<'a>,
    #[serde(default, borrow)]
    pub amount: Field<'a>,
    #[serde(default, borrow)]
    pub currency: Field<'a>,
    #[serde(default, borrow)]
    pub balance: Field<'a>,
    #[serde(default, borrow)]
    pub reason: Field<'a>,
    #[serde(default, borrow)]
    pub channel: Field<'a>,
    #[serde(default, borrow)]
    pub specversion: Field<'a>,
    #[serde(default, borrow, rename = "type")]
    pub ce_type: Field<'a>,
    #[serde(default, borrow)]
    pub subject: Field<'a>,
    #[serde(default, borrow)]
    pub data: Option<Box<Raw<'a>>>,
}

/// A JSON value as far as the decoder cares.
#[derive(Debug, Default, PartialEq)]
pub(super) enum Field<'a> {
    /// Not there, or `null`.
    #[default]
    Absent,
    /// A string; borrowed from the payload unless it had escapes.
    Str(Cow<'a, str>),
    /// A non-negative integer that fits 64 bits.
    Unsigned(u64),
    /// A negative integer that fits 64 bits.
    Signed(i64),
    /// A number with a fraction or exponent, `-0`, or an integer too large
    /// for 64 bits; its binary value is not kept.
    Fraction,
    Bool,
    Object,
    Array,
}

impl Field<'_> {
    pub fn is_present(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Absent => "nothing".into(),
            Self::Str(s) => format!("the string {s:?}"),
            Self::Unsigned(n) => n.to_string(),
            Self::Signed(n) => n.to_string(),
            Self::Fraction => "a fractional number".into(),
            Self::Bool => "a boolean".into(),
            Self::Object => "an object".into(),
            Self::Array => "an array".into(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::Unsigned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Field::Signed(v), Field::Unsigned))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Fraction)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Bool)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Array)
    }
}
