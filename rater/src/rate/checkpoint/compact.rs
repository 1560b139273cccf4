//! How a checkpoint writes amounts and dates. In a human-readable format
//! (JSON, checkpoint format 1) as text, as `rust_decimal` and `chrono` write
//! them; in a binary one (postcard, format 3 on) a decimal as its magnitude
//! and its scale with the sign, and a date as its day number: a third of the
//! bytes of the text, and no formatting or parsing of it.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The top bit of the scale byte: the sign (a decimal's scale is at most 28).
const NEGATIVE: u8 = 0x80;

/// An amount as a checkpoint writes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Amount(pub Decimal);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return Serialize::serialize(&self.0, s);
        }
        // The scale is at most 28: it fits below the sign bit.
        let scale = u8::try_from(self.0.scale()).unwrap_or(u8::MAX);
        let sign = if self.0.is_sign_negative() { NEGATIVE } else { 0 };
        (self.0.mantissa().unsigned_abs(), scale | sign).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return <Decimal as Deserialize>::deserialize(d).map(Amount);
        }
        let (magnitude, scale_and_sign) = <(u128, u8)>::deserialize(d)?;
        let magnitude = i128::try_from(magnitude).map_err(|_| D::Error::custom("amount out of range"))?;
        let mut amount = Decimal::try_from_i128_with_scale(magnitude, u32::from(scale_and_sign & !NEGATIVE))
            .map_err(|e| D::Error::custom(format!("amount out of range: {e}")))?;
        amount.set_sign_negative(scale_and_sign & NEGATIVE != 0);
        Ok(Amount(amount))
    }
}

/// A date as a checkpoint writes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Day(pub NaiveDate);

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() { self.0.serialize(s) } else { Datelike::num_days_from_ce(&self.0).serialize(s) }
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return NaiveDate::deserialize(d).map(Day);
        }
        let days = i32::deserialize(d)?;
        NaiveDate::from_num_days_from_ce_opt(days).map(Day).ok_or_else(|| D::Error::custom("date out of range"))
    }
}

/// `#[serde(with)]` for a [`Decimal`] field.
pub(super) mod amount {
    use super::{Amount, Decimal, Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        Amount(*value).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        Amount::deserialize(d).map(|a| a.0)
    }
}

/// `#[serde(with)]` for an `Option<NaiveDate>` field.
pub(super) mod day {
    use super::{Day, Deserialize, Deserializer, NaiveDate, Serialize, Serializer};

    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(value: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        value.map(Day).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<Day>::deserialize(d).map(|day| day.map(|d| d.0))
    }
}

/// `#[serde(with)]` for a list of names with an amount each.
pub(super) mod named_amounts {
    use super::{Amount, Decimal, Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &[(String, Decimal)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(value.iter().map(|(name, amount)| (name, Amount(*amount))))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Decimal)>, D::Error> {
        Vec::<(String, Amount)>::deserialize(d).map(|list| list.into_iter().map(|(name, a)| (name, a.0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_bytes(value: &impl Serialize) -> Vec<u8> {
        let mut buf = [0_u8; 64];
        postcard::to_slice(value, &mut buf).unwrap().to_vec()
    }

    #[test]
    fn amounts_and_dates_keep_value_scale_and_sign() {
        for text in [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "12.34",
            "-12.3400",
            "79228162514264337593543950335",
            "-0.0000000000000000000000000001",
        ] {
            let amount: Decimal = text.parse().unwrap();
            let bytes = to_bytes(&Amount(amount));
            let back: Amount = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.0.to_string(), amount.to_string(), "{text}");
            assert_eq!(back.0.is_sign_negative(), amount.is_sign_negative(), "{text}");
            // Text where the format is text.
            assert_eq!(serde_json::to_string(&Amount(amount)).unwrap(), serde_json::to_string(&amount).unwrap());
        }
        for date in [NaiveDate::MIN, NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(), NaiveDate::MAX] {
            let back: Day = postcard::from_bytes(&to_bytes(&Day(date))).unwrap();
            assert_eq!(back.0, date);
            assert_eq!(serde_json::to_string(&Day(date)).unwrap(), serde_json::to_string(&date).unwrap());
        }
    }

    #[test]
    fn damaged_amounts_and_dates_are_refused() {
        // A scale of 29, and a day beyond chrono's range.
        assert!(postcard::from_bytes::<Amount>(&[1, 29]).is_err());
        assert!(postcard::from_bytes::<Day>(&to_bytes(&i32::MAX)).is_err());
    }
}
