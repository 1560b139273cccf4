//! Row counts and money sums of a table, kept exactly as `Decimal128`
//! units (ten-billionths), which commits compare before and after writing.

use std::collections::BTreeMap;

use arrow_array::{Array, Decimal128Array, RecordBatch};
use ratewire_rater::money::POWERS_OF_TEN;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::schema::{DECIMAL_PRECISION, DECIMAL_SCALE, Table};

/// Units in one: `10^DECIMAL_SCALE`.
const UNITS_PER_ONE: i128 = 10_i128.pow(DECIMAL_SCALE.unsigned_abs() as u32);

/// The largest magnitude `Decimal128(38, 10)` holds, in units.
const UNITS_MAX: i128 = 10_i128.pow(DECIMAL_PRECISION as u32) - 1;

/// A decimal as `Decimal128(38, 10)` units.
///
/// # Panics
/// If the value has a non-zero digit beyond the tenth decimal or does not
/// fit 38 digits: the ledger never rounds, so such a value reaching it is a
/// bug upstream (the rater's decoder refuses such values at the boundary).
#[must_use]
pub fn to_units(value: Decimal) -> i128 {
    let scale = value.scale() as usize;
    let mantissa = value.mantissa();
    let target = DECIMAL_SCALE.unsigned_abs() as usize;
    let units = if scale <= target {
        // Every entry (at most 10^28) is a positive i128.
        let factor = POWERS_OF_TEN[target - scale].cast_signed();
        // Most amounts are under 2^64 units of their scale: times at most
        // 10^10 (under 2^34), that cannot overflow, and the checked 128-bit
        // multiplication, a library call, is left for the rest.
        if mantissa.unsigned_abs() < 1 << 64 {
            Some(mantissa.wrapping_mul(factor))
        } else {
            mantissa.checked_mul(factor)
        }
    } else {
        let divisor = POWERS_OF_TEN[scale - target].cast_signed();
        assert!(mantissa % divisor == 0, "{value} has more than {target} decimals: the ledger would round it");
        Some(mantissa / divisor)
    };
    let Some(units) = units.filter(|u| u.abs() <= UNITS_MAX) else {
        panic!("{value} does not fit Decimal128({DECIMAL_PRECISION}, {DECIMAL_SCALE})");
    };
    units
}

/// Formats units as a decimal with all ten places: `-1.5` is `-1.5000000000`.
#[must_use]
pub fn format_units(units: i128) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    let one = UNITS_PER_ONE.unsigned_abs();
    let width = DECIMAL_SCALE.unsigned_abs() as usize;
    format!("{sign}{}.{:0width$}", magnitude / one, magnitude % one)
}

/// Parses a decimal with at most ten places into units.
#[must_use]
pub fn parse_units(text: &str) -> Option<i128> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let width = DECIMAL_SCALE.unsigned_abs() as usize;
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || fraction.len() > width || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let fraction: i128 = if fraction.is_empty() { 0 } else { format!("{fraction:0<width$}").parse().ok()? };
    let units = whole.checked_mul(UNITS_PER_ONE)?.checked_add(fraction)?;
    (units <= UNITS_MAX).then_some(if negative { -units } else { units })
}

/// Rows and money sums of some rows of one table. Serialized as
/// `{"rows": 3, "gross": "1.2300000000", ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Rows.
    pub rows: u64,
    /// Sum of each of the table's [`Table::total_columns`], in units.
    #[serde(flatten, with = "units_map")]
    pub sums: BTreeMap<String, i128>,
}

impl Totals {
    /// Zero rows, with a zero sum for each of the table's money columns.
    #[must_use]
    pub fn zero(table: Table) -> Self {
        Self { rows: 0, sums: table.total_columns().iter().map(|c| ((*c).to_string(), 0)).collect() }
    }

    /// The totals of a record batch of `table`.
    ///
    /// # Panics
    /// If a money column is missing, not `Decimal128` or holds nulls: the
    /// schema rules all three out.
    #[must_use]
    pub fn of_batch(table: Table, batch: &RecordBatch) -> Self {
        let mut totals = Self::zero(table);
        totals.rows = batch.num_rows() as u64;
        for (name, sum) in &mut totals.sums {
            let column = batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<Decimal128Array>());
            let Some(column) = column else { panic!("{table}.{name} is not a Decimal128 column") };
            assert_eq!(column.null_count(), 0, "{table}.{name} holds nulls");
            for value in column.values().iter() {
                *sum = checked(sum.checked_add(*value));
            }
        }
        totals
    }

    /// Adds `other` (of the same table) to these totals.
    pub fn add(&mut self, other: &Totals) {
        self.rows += other.rows;
        for (name, value) in &other.sums {
            let sum = self.sums.entry(name.clone()).or_default();
            *sum = checked(sum.checked_add(*value));
        }
    }
}

/// A sum, which must stay within 38 digits.
fn checked(sum: Option<i128>) -> i128 {
    let Some(sum) = sum.filter(|s| s.abs() <= UNITS_MAX) else {
        panic!("a ledger total overflows Decimal128({DECIMAL_PRECISION}, {DECIMAL_SCALE})");
    };
    sum
}

/// Serde for a map of unit sums as decimal strings.
mod units_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(sums: &BTreeMap<String, i128>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(sums.iter().map(|(name, units)| (name, super::format_units(*units))))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i128>, D::Error> {
        let text = BTreeMap::<String, String>::deserialize(d)?;
        text.into_iter()
            .map(|(name, value)| match super::parse_units(&value) {
                Some(units) => Ok((name, units)),
                None => Err(D::Error::custom(format!("{name}: {value:?} is not a decimal with at most 10 places"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or_default()
    }

    #[test]
    fn units_are_exact_at_ten_places() {
        assert_eq!(to_units(dec("0.30")), 3_000_000_000);
        assert_eq!(to_units(dec("-1.0000000001")), -10_000_000_001);
        // Trailing zeros beyond the tenth place lose nothing.
        assert_eq!(to_units(dec("2.500000000000")), 25_000_000_000);
        assert_eq!(to_units(Decimal::ZERO), 0);
    }

    #[test]
    #[should_panic(expected = "more than 10 decimals")]
    fn an_eleventh_decimal_is_refused() {
        let _ = to_units(dec("0.00000000001"));
    }

    #[test]
    fn units_are_exact_around_the_64_bit_mantissa_boundary() {
        // Below 2^64 the mantissa is scaled without an overflow check; at
        // and above it, with one. Both give the exact product at every scale.
        for mantissa in [(1_i128 << 64) - 1, 1 << 64, (1 << 64) + 1, 123_456_789, -(1 << 64), -((1 << 64) - 1)] {
            for scale in 0..=10 {
                let value = Decimal::from_i128_with_scale(mantissa, scale);
                assert_eq!(to_units(value), mantissa * 10_i128.pow(10 - scale), "{value}");
            }
        }
        // The largest Decimal, at scale 0, does not fit 38 digits with ten places.
        assert!(std::panic::catch_unwind(|| to_units(Decimal::MAX)).is_err());
    }

    #[test]
    fn format_and_parse_are_inverse() {
        for units in [0, 1, -1, 3_000_000_000, -10_000_000_001, UNITS_MAX, -UNITS_MAX] {
            let text = format_units(units);
            assert_eq!(parse_units(&text), Some(units), "{text}");
        }
        assert_eq!(format_units(-15_000_000_000), "-1.5000000000");
        assert_eq!(format_units(-1), "-0.0000000001");
        assert_eq!(parse_units("0.47"), Some(4_700_000_000));
        assert_eq!(parse_units("12"), Some(120_000_000_000));
        for bad in ["", "-", ".5", "1.00000000001", "1e3", "+1", "1.2.3", "１", "1000000000000000000000000000000"] {
            assert_eq!(parse_units(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn totals_serialize_as_decimal_strings() {
        let mut totals = Totals::zero(Table::Rated);
        totals.rows = 2;
        totals.sums.insert("gross".into(), 4_700_000_000);
        let json = serde_json::to_string(&totals).unwrap_or_default();
        assert_eq!(json, r#"{"rows":2,"gross":"0.4700000000","net":"0.0000000000","tax":"0.0000000000"}"#);
        let back: Totals = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, totals);
        assert!(serde_json::from_str::<Totals>(r#"{"rows":1,"gross":"x"}"#).is_err());
    }
}
