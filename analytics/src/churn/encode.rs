//! From a table to a matrix of numbers: which columns are features, how
//! each is encoded (numbers as they are with missing values filled,
//! categories one-hot), and the labels.
//!
//! The encoding is fitted on the training rows only (the fill value of a
//! column is the median of its training values), recorded in the model
//! file, and applied as recorded when scoring.

use std::collections::{BTreeMap, BTreeSet};

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::bounds::{ID_ROWS_MIN, LEVELS_MAX};
use super::error::ChurnError;
use super::table::{Cell, Column, Table};

/// The category name of a missing value.
pub const MISSING_LEVEL: &str = "(missing)";
/// The category name shared by the levels past [`LEVELS_MAX`].
pub const OTHER_LEVEL: &str = "other";

/// How one column of the table becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Feature {
    /// A number, missing values replaced by `fill`; with
    /// `missing_indicator`, a second feature that is 1 where it was missing.
    Numeric {
        /// The column.
        column: String,
        /// What a missing value becomes: the training median.
        fill: f64,
        /// Whether the training rows had missing values.
        missing_indicator: bool,
    },
    /// One feature per level, 1 where the column has it.
    Categorical {
        /// The column.
        column: String,
        /// The levels in order (`(missing)` and `other` among them when
        /// the training rows had them).
        levels: Vec<String>,
    },
}

impl Feature {
    /// The column it reads.
    #[must_use]
    pub fn column(&self) -> &str {
        match self {
            Self::Numeric { column, .. } | Self::Categorical { column, .. } => column,
        }
    }
}

/// A column left out of the features, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignored {
    /// The column.
    pub column: String,
    /// Why: `id-like (unique per row)`, `constant`, `always missing`.
    pub reason: String,
}

/// The features of a model: the columns read, in order, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The label column of the training table.
    pub label: String,
    /// The feature columns.
    pub features: Vec<Feature>,
    /// Columns of the training table left out.
    pub ignored: Vec<Ignored>,
}

impl Schema {
    /// Decides the features of `table` from its `rows` (the training rows),
    /// leaving out the label, the `keep_out` columns (keys such as the
    /// account and as-of date) and the columns that cannot help.
    ///
    /// # Errors
    /// [`ChurnError::NotANumber`] for a column of numbers with a few
    /// values that are not, and [`ChurnError::NoFeatures`].
    pub fn fit(table: &Table, label: &str, keep_out: &[&str], rows: &[usize]) -> Result<Self, ChurnError> {
        let mut features = Vec::new();
        let mut ignored = Vec::new();
        for column in &table.columns {
            if column.name == label || keep_out.contains(&column.name.as_str()) {
                continue;
            }
            let ignore = |reason: &str| Ignored { column: column.name.clone(), reason: reason.to_string() };
            let present: Vec<usize> = (0..column.cells.len()).filter(|&i| column.cells[i] != Cell::Missing).collect();
            if present.is_empty() {
                ignored.push(ignore("always missing"));
                continue;
            }
            let numeric = numeric_or_error(table, column, &present)?;
            if id_like(column, numeric, present.len()) {
                ignored.push(ignore("id-like (unique per row)"));
                continue;
            }
            let feature = if numeric {
                let mut values: Vec<f64> = rows.iter().filter_map(|&r| column.cells[r].number()).collect();
                let missing_indicator = values.len() < rows.len();
                Feature::Numeric { column: column.name.clone(), fill: median(&mut values), missing_indicator }
            } else {
                Feature::Categorical { column: column.name.clone(), levels: levels(column, rows) }
            };
            if constant(column, &feature) {
                ignored.push(ignore("constant"));
                continue;
            }
            features.push(feature);
        }
        if features.is_empty() {
            return Err(ChurnError::NoFeatures);
        }
        Ok(Self { label: label.to_string(), features, ignored })
    }

    /// The names of the encoded features, one per matrix column:
    /// `column`, `column (missing)`, `column=level`.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for feature in &self.features {
            match feature {
                Feature::Numeric { column, missing_indicator, .. } => {
                    names.push(column.clone());
                    if *missing_indicator {
                        names.push(format!("{column} (missing)"));
                    }
                }
                Feature::Categorical { column, levels } => {
                    names.extend(levels.iter().map(|level| format!("{column}={level}")));
                }
            }
        }
        names
    }

    /// The matrix of `rows` of `table`: one row each, one column per
    /// [`Schema::names`]. A value that is not a number in a numeric column
    /// counts as missing; an unseen level as `other` (or as no level).
    ///
    /// # Errors
    /// [`ChurnError::NoColumn`] for a feature column `table` lacks.
    pub fn encode(&self, table: &Table, rows: &[usize]) -> Result<Array2<f64>, ChurnError> {
        let width = self.names().len();
        let mut matrix = Array2::<f64>::zeros((rows.len(), width));
        let mut at = 0;
        for feature in &self.features {
            let column = table.column(feature.column())?;
            match feature {
                Feature::Numeric { fill, missing_indicator, .. } => {
                    for (i, &r) in rows.iter().enumerate() {
                        let value = column.cells[r].number();
                        matrix[[i, at]] = value.unwrap_or(*fill);
                        if *missing_indicator && value.is_none() {
                            matrix[[i, at + 1]] = 1.0;
                        }
                    }
                    at += 1 + usize::from(*missing_indicator);
                }
                Feature::Categorical { levels, .. } => {
                    let index: BTreeMap<&str, usize> =
                        levels.iter().enumerate().map(|(i, level)| (level.as_str(), i)).collect();
                    for (i, &r) in rows.iter().enumerate() {
                        let level = level_of(&column.cells[r]);
                        if let Some(k) = index.get(level.as_str()).or_else(|| index.get(OTHER_LEVEL)) {
                            matrix[[i, at + k]] = 1.0;
                        }
                    }
                    at += levels.len();
                }
            }
        }
        Ok(matrix)
    }
}

/// The labels of `column`: 1/0, true/false, yes/no (also y/n, t/f and
/// `1.0`/`0.0`), case and spaces aside.
///
/// # Errors
/// [`ChurnError::BadLabel`], [`ChurnError::MissingLabel`], naming the row,
/// and [`ChurnError::OneClass`].
pub fn labels(table: &Table, column: &str) -> Result<Vec<bool>, ChurnError> {
    let cells = &table.column(column)?.cells;
    let mut labels = Vec::with_capacity(cells.len());
    for (row, cell) in cells.iter().enumerate() {
        let text = match cell {
            Cell::Missing => {
                return Err(ChurnError::MissingLabel { column: column.to_string(), row: table.row_name(row) });
            }
            other => other.shown().to_ascii_lowercase(),
        };
        let label = match text.as_str() {
            "1" | "1.0" | "true" | "t" | "yes" | "y" => true,
            "0" | "0.0" | "false" | "f" | "no" | "n" => false,
            _ => {
                return Err(ChurnError::BadLabel {
                    column: column.to_string(),
                    row: table.row_name(row),
                    value: cell.shown(),
                });
            }
        };
        labels.push(label);
    }
    if let Some(&first) = labels.first()
        && labels.iter().all(|&l| l == first)
    {
        return Err(ChurnError::OneClass { column: column.to_string(), value: first });
    }
    Ok(labels)
}

/// Whether a column is numeric: every value present is a number. A
/// column that is numbers but for a few values (at most 5 %) is an error
/// naming the first, since it is most likely a typing slip.
fn numeric_or_error(table: &Table, column: &Column, present: &[usize]) -> Result<bool, ChurnError> {
    let not_numbers: Vec<usize> = present.iter().copied().filter(|&r| column.cells[r].number().is_none()).collect();
    if not_numbers.is_empty() {
        return Ok(true);
    }
    let numbers = present.len() - not_numbers.len();
    if numbers > 0 && not_numbers.len() * 20 <= present.len() {
        let row = not_numbers[0];
        return Err(ChurnError::NotANumber {
            column: column.name.clone(),
            row: table.row_name(row),
            value: column.cells[row].shown(),
            numbers,
            values: present.len(),
        });
    }
    Ok(false)
}

/// An id: a value in every row, each different, and text or whole numbers
/// (a measured quantity may be unique per row by chance, an integer key is
/// not).
fn id_like(column: &Column, numeric: bool, present: usize) -> bool {
    let rows = column.cells.len();
    if rows < ID_ROWS_MIN || present < rows {
        return false;
    }
    if numeric && column.cells.iter().any(|c| c.number().is_some_and(|x| x.fract() != 0.0)) {
        return false;
    }
    let distinct: BTreeSet<String> = column.cells.iter().map(level_of).collect();
    distinct.len() == rows
}

fn constant(column: &Column, feature: &Feature) -> bool {
    match feature {
        Feature::Numeric { missing_indicator, .. } => {
            let mut values = column.cells.iter().filter_map(Cell::number);
            let first = values.next();
            !missing_indicator && values.all(|x| Some(x) == first)
        }
        Feature::Categorical { levels, .. } => levels.len() < 2,
    }
}

/// A cell's level: its trimmed text, or `(missing)`.
fn level_of(cell: &Cell) -> String {
    cell.category().unwrap_or_else(|| MISSING_LEVEL.to_string())
}

/// The levels of a categorical column in the training rows, most frequent
/// first (ties by name), at most [`LEVELS_MAX`]; `other` stands for the rest.
fn levels(column: &Column, rows: &[usize]) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for &r in rows {
        *counts.entry(level_of(&column.cells[r])).or_default() += 1;
    }
    let mut by_count: Vec<(String, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other = by_count.len() > LEVELS_MAX;
    let mut levels: Vec<String> =
        by_count.into_iter().take(if other { LEVELS_MAX - 1 } else { LEVELS_MAX }).map(|(l, _)| l).collect();
    if other && !levels.iter().any(|l| l == OTHER_LEVEL) {
        levels.push(OTHER_LEVEL.to_string());
    }
    levels
}

/// The median of `values` (the mean of the middle two for an even count);
/// 0 for none.
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn table() -> Table {
        let mut csv = String::from("customer,plan,spend,calls,churned\n");
        for i in 0..24 {
            let plan = ["gold", "silver", "bronze"][i % 3];
            let spend = if i % 5 == 0 { String::new() } else { format!("\"{}.5\"", i) };
            let label = ["yes", "no", "No", "TRUE", "0", "1"][i % 6];
            csv.push_str(&format!("C{i:03},{plan},{spend},{},{label}\n", i % 4));
        }
        Table::from_csv(&csv, "t.csv").unwrap()
    }

    #[test]
    fn numbers_as_text_one_hot_ids_and_missing_values() {
        let t = table();
        let rows: Vec<usize> = (0..t.rows()).collect();
        let schema = Schema::fit(&t, "churned", &[], &rows).unwrap();
        assert_eq!(
            schema.ignored,
            vec![Ignored { column: "customer".into(), reason: "id-like (unique per row)".into() }]
        );
        assert_eq!(
            schema.names(),
            ["plan=bronze", "plan=gold", "plan=silver", "spend", "spend (missing)", "calls"].map(String::from)
        );
        let m = schema.encode(&t, &[0, 1]).unwrap();
        // Row 0: gold, spend missing (filled with the median), calls 0.
        let Feature::Numeric { fill, .. } = schema.features[1] else { panic!() };
        assert_eq!(m.row(0).to_vec(), vec![0.0, 1.0, 0.0, fill, 1.0, 0.0]);
        assert_eq!(m.row(1).to_vec(), vec![0.0, 0.0, 1.0, 1.5, 0.0, 1.0]);
        assert_eq!(fill, 12.5);
    }

    #[test]
    fn labels_in_every_spelling_and_errors_naming_the_row() {
        let t = table();
        let labels = labels(&t, "churned").unwrap();
        assert_eq!(&labels[..6], &[true, false, false, true, false, true]);
        let bad = Table::from_csv("x,y\n1,yes\n2,maybe\n", "b.csv").unwrap();
        assert_eq!(
            super::labels(&bad, "y").unwrap_err().to_string(),
            "column \"y\", line 3: the label \"maybe\" is not 1/0, true/false or yes/no"
        );
        let missing = Table::from_csv("x,y\n1,\n", "b.csv").unwrap();
        assert!(super::labels(&missing, "y").unwrap_err().to_string().contains("line 2: the label is missing"));
        let one = Table::from_csv("x,y\n1,1\n2,yes\n", "b.csv").unwrap();
        assert!(matches!(super::labels(&one, "y"), Err(ChurnError::OneClass { value: true, .. })));
        assert!(super::labels(&one, "z").unwrap_err().to_string().contains("has no column \"z\""));
    }

    #[test]
    fn a_stray_text_in_a_numeric_column_is_named() {
        let mut csv = String::from("spend,y\n");
        for i in 0..40 {
            csv.push_str(&format!("{},{}\n", if i == 7 { "12,5".replace(',', ";") } else { i.to_string() }, i % 2));
        }
        let t = Table::from_csv(&csv, "s.csv").unwrap();
        let rows: Vec<usize> = (0..t.rows()).collect();
        let e = Schema::fit(&t, "y", &[], &rows).unwrap_err().to_string();
        assert!(e.contains("column \"spend\", line 9: \"12;5\" is not a number"), "{e}");
    }

    #[test]
    fn rare_levels_share_other_and_unseen_ones_go_there() {
        let mut csv = String::from("city,y\n");
        for i in 0..100 {
            csv.push_str(&format!("c{},{}\n", i % 40, i % 2));
        }
        let t = Table::from_csv(&csv, "c.csv").unwrap();
        let rows: Vec<usize> = (0..t.rows()).collect();
        let schema = Schema::fit(&t, "y", &[], &rows).unwrap();
        let names = schema.names();
        assert_eq!(names.len(), LEVELS_MAX);
        assert_eq!(names.last().unwrap(), "city=other");
        let unseen = Table::from_csv("city,y\nnowhere,0\n", "u.csv").unwrap();
        let m = schema.encode(&unseen, &[0]).unwrap();
        assert_eq!(m[[0, LEVELS_MAX - 1]], 1.0);
        assert_eq!(m.row(0).sum(), 1.0);
    }

    #[test]
    fn the_median() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
