//! Churn risk: feature tables, two linfa models, their figures, the ranked
//! risk list and the report.
//!
//! - [`Table`]: a feature table read from CSV, Parquet or a query result;
//! - [`Schema`]: which columns are features and how they are encoded
//!   (numbers with missing values filled, categories one-hot, id-like
//!   columns left out), fitted on the training rows;
//! - [`Split`], [`train`]: a logistic regression on standardised features
//!   and a decision tree, the better by validation ROC AUC kept in a
//!   [`ModelFile`] with its schema and its [`Metrics`] on the test rows;
//! - [`score`]: the ranked risk list with bands and reasons, which SQL
//!   reads as the table [`RISK_TABLE`] (`churn_risk`) once it is in the
//!   ledger's [`risk_list_dir`];
//! - [`features`]: the churn features of accounts by SQL over the ledger,
//!   per as-of date, with their labels;
//! - [`report`]: an HTML page of the model's curves and weights.
//!
//! Scores and features are `f64`: model arithmetic, not money. Money
//! enters only through [`money_feature`].

// Model maths (standardisation, gradients, probabilities, curves) is
// floating point by nature; no amount of money is computed here.
#![allow(clippy::float_arithmetic)]

mod bounds;
mod encode;
mod error;
pub mod features;
mod metrics;
mod model;
pub mod report;
mod risk_table;
mod score;
mod table;
mod train;

pub use bounds::{
    AS_OF_DATES_MAX, CELL_BYTES_MAX, CLASS_ROWS_MIN, COLUMNS_MAX, CURVE_POINTS_MAX, FILE_BYTES_MAX, ID_ROWS_MIN,
    LEVELS_MAX, LOGISTIC_ITERATIONS_MAX, ROWS_MAX, SCORE_BINS, TREE_DEPTH_MAX,
};
pub use encode::{Feature, Ignored, MISSING_LEVEL, OTHER_LEVEL, Schema, labels};
pub use error::ChurnError;
pub use metrics::{CalibrationBin, Metrics, precision_at, roc_auc};
pub use model::{Kind, Model, Node};
pub(crate) use risk_table::RiskTable;
pub use risk_table::{RISK_LIST_CSV, RISK_LIST_DIR, RISK_LIST_PARQUET, RISK_TABLE, risk_list_dir, risk_table_schema};
pub use score::{REASONS, risk_list_schema, score};
pub use table::{Cell, Column, MISSING, Table};
pub use train::{Bands, MODEL_FORMAT, ModelFile, Split, train};

/// A ledger amount (`Decimal128` units at `scale`) as a feature value.
///
/// The one place where money becomes floating point: a feature is an
/// input to a model, where a lost cent changes nothing; the amount itself
/// is never computed with, rounded or written back as money.
#[must_use]
pub fn money_feature(units: i128, scale: i8) -> f64 {
    // Precision loss past 2^53 units is acceptable for a model input.
    #[allow(clippy::cast_precision_loss)]
    let value = units as f64;
    value / 10f64.powi(i32::from(scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_to_a_feature() {
        assert_eq!(money_feature(12_500_000_000, 10), 1.25);
        assert_eq!(money_feature(-5, 0), -5.0);
    }
}
