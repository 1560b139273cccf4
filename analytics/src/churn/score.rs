//! Scoring: a model file applied to a feature table gives the ranked risk
//! list, one row per table row: its keys, rank, score, risk band and the
//! three features that raise its score most.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use ndarray::Axis;

use super::error::ChurnError;
use super::metrics::ranking;
use super::table::Table;
use super::train::ModelFile;

/// Reasons given per row.
pub const REASONS: usize = 3;

/// The columns of a risk list whose rows are named by the `keys` columns:
/// the keys (text), then `rank`, `score`, `band` and `reason_1` ..
/// `reason_3`.
#[must_use]
pub fn risk_list_schema(keys: &[&str]) -> SchemaRef {
    let mut fields: Vec<Field> = keys.iter().map(|key| Field::new(*key, DataType::Utf8, true)).collect();
    fields.push(Field::new("rank", DataType::UInt64, false));
    fields.push(Field::new("score", DataType::Float64, false));
    fields.push(Field::new("band", DataType::Utf8, false));
    fields.extend((1..=REASONS).map(|k| Field::new(format!("reason_{k}"), DataType::Utf8, true)));
    Arc::new(ArrowSchema::new(fields))
}

/// The risk list of every row of `table`, highest score first, with the
/// `keys` columns of the table (those it has) first, as text: a batch of
/// [`risk_list_schema`].
///
/// # Errors
/// [`ChurnError::NoColumn`] for a feature column the table lacks, and
/// [`ChurnError::Arrow`].
pub fn score(file: &ModelFile, table: &Table, keys: &[&str]) -> Result<RecordBatch, ChurnError> {
    let all: Vec<usize> = (0..table.rows()).collect();
    let x = file.schema.encode(table, &all)?;
    let scores = file.model.predict(x.view());
    let order = ranking(&scores);
    let mut present = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for key in keys {
        let Ok(column) = table.column(key) else { continue };
        present.push(*key);
        columns.push(Arc::new(order.iter().map(|&r| column.cells[r].category()).collect::<StringArray>()));
    }
    let mut reasons: Vec<Vec<Option<String>>> = (0..REASONS).map(|_| Vec::with_capacity(order.len())).collect();
    for &r in &order {
        let row = x.index_axis(Axis(0), r);
        let given = top_reasons(file, row.to_vec().as_slice(), &file.model.contributions(row));
        for (k, list) in reasons.iter_mut().enumerate() {
            list.push(given.get(k).cloned());
        }
    }
    columns.push(Arc::new((1..=order.len() as u64).collect::<UInt64Array>()));
    columns.push(Arc::new(order.iter().map(|&r| scores[r]).collect::<Float64Array>()));
    columns.push(Arc::new(order.iter().map(|&r| Some(file.bands.of(scores[r]))).collect::<StringArray>()));
    for list in reasons {
        columns.push(Arc::new(StringArray::from(list)));
    }
    Ok(RecordBatch::try_new(risk_list_schema(&present), columns)?)
}

/// The features that raise a row's score most (positive contributions
/// only), as `name = value (+contribution)`.
fn top_reasons(file: &ModelFile, row: &[f64], contributions: &[f64]) -> Vec<String> {
    let mut order: Vec<usize> = (0..contributions.len()).filter(|&j| contributions[j] > 1e-9).collect();
    order.sort_by(|&a, &b| contributions[b].total_cmp(&contributions[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(REASONS)
        .map(|j| {
            let name = &file.feature_names[j];
            // One-hot and missing indicators say it all by their name.
            if name.contains('=') || name.ends_with("(missing)") {
                format!("{name} (+{:.2})", contributions[j])
            } else {
                format!("{name} = {} (+{:.2})", short(row[j]), contributions[j])
            }
        })
        .collect()
}

/// A number with at most two decimals, trailing zeros dropped.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    use super::*;
    use crate::churn::encode::labels;
    use crate::churn::train::{Split, train};

    #[test]
    fn ranked_with_bands_and_reasons() {
        let mut csv = String::from("customer,late,usage,churn\n");
        let mut rng = fastrand::Rng::with_seed(5);
        for i in 0..300 {
            let late = rng.usize(0..5);
            let usage = rng.f64() * 10.0;
            let churn = rng.f64() < 0.05 + 0.18 * late as f64;
            csv.push_str(&format!("K{i},{late},{usage:.1},{}\n", u8::from(churn)));
        }
        let t = Table::from_csv(&csv, "t.csv").unwrap();
        let split = Split::stratified(&labels(&t, "churn").unwrap(), "churn", 1).unwrap();
        let file = train(&t, "churn", &[], &split).unwrap();
        let list = score(&file, &t, &["customer", "absent"]).unwrap();
        assert_eq!(list.num_rows(), 300);
        let schema = list.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["customer", "rank", "score", "band", "reason_1", "reason_2", "reason_3"]);
        assert_eq!(schema, risk_list_schema(&["customer"]));
        let scores = list.column(2).as_primitive::<Float64Type>();
        assert!(scores.values().windows(2).all(|w| w[0] >= w[1]));
        let bands = list.column(3).as_string::<i32>();
        assert_eq!(bands.value(0), "high");
        let reason = list.column(4).as_string::<i32>();
        assert!(reason.value(0).starts_with("late = 4 (+"), "{}", reason.value(0));
        assert!(list.column(0).as_string::<i32>().value(0).starts_with('K'));
        assert!(!list.column(0).is_null(0));
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(3.0), "3");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(0.123), "0.12");
    }
}
