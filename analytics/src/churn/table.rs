//! A feature table in memory: named columns of cells, read from CSV,
//! Parquet or Arrow record batches (the result of a feature query).
//!
//! Cells keep what the file holds: a number, a text or nothing. Whether a
//! column is numeric or categorical is decided later, by the encoder, so
//! that numbers stored as text (a quoted CSV field, a Parquet string
//! column) count as numbers.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch, RecordBatchReader, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::bounds::{CELL_BYTES_MAX, COLUMNS_MAX, FILE_BYTES_MAX, ROWS_MAX};
use super::error::ChurnError;

/// One value of a table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Empty, `NA`, `null`, `NaN`, ...
    Missing,
    /// A number (from a numeric Arrow column).
    Number(f64),
    /// Text as written (a CSV field, an Arrow string).
    Text(String),
}

impl Cell {
    /// The cell as a number: a number, or a text that parses as a finite
    /// one (surrounding spaces aside). `None` for missing cells and other
    /// texts.
    #[must_use]
    pub fn number(&self) -> Option<f64> {
        match self {
            Self::Number(x) => Some(*x),
            Self::Text(t) => t.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
            Self::Missing => None,
        }
    }

    /// The cell as a category name: its text, or its number printed.
    #[must_use]
    pub fn category(&self) -> Option<String> {
        match self {
            Self::Number(x) => Some(x.to_string()),
            Self::Text(t) => Some(t.trim().to_string()),
            Self::Missing => None,
        }
    }

    /// The cell as written, for messages.
    #[must_use]
    pub fn shown(&self) -> String {
        self.category().unwrap_or_default()
    }

    fn from_text(text: &str) -> Self {
        let trimmed = text.trim();
        if MISSING.iter().any(|m| trimmed.eq_ignore_ascii_case(m)) {
            Self::Missing
        } else {
            Self::Text(text.to_string())
        }
    }
}

/// Texts read as a missing value (case aside).
pub const MISSING: [&str; 8] = ["", "na", "n/a", "nan", "null", "none", "?", "-"];

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// One cell per row.
    pub cells: Vec<Cell>,
}

/// Named columns of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file's name, for messages.
    pub source_name: String,
    /// The columns in file order.
    pub columns: Vec<Column>,
    /// For a CSV file, the line each row starts on (from 1), so that
    /// messages name it; empty otherwise.
    lines: Vec<usize>,
}

impl Table {
    /// Reads a `.csv` or `.parquet` file (by its extension).
    ///
    /// # Errors
    /// [`ChurnError::UnknownFormat`], [`ChurnError::Io`],
    /// [`ChurnError::FileTooLarge`], and those of [`Table::from_csv`] and
    /// [`Table::from_batches`].
    pub fn read(path: &Path) -> Result<Self, ChurnError> {
        let io = |source| ChurnError::Io { path: path.to_path_buf(), source };
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        let bytes = std::fs::metadata(path).map_err(io)?.len();
        if bytes > FILE_BYTES_MAX {
            return Err(ChurnError::FileTooLarge { path: path.to_path_buf(), bytes, max: FILE_BYTES_MAX });
        }
        match extension.as_deref() {
            Some("csv") => {
                let mut text = String::new();
                File::open(path).and_then(|mut f| f.read_to_string(&mut text)).map_err(io)?;
                Self::from_csv(&text, &name)
            }
            Some("parquet") => {
                let file = File::open(path).map_err(io)?;
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
                let schema = reader.schema();
                let batches = reader.collect::<Result<Vec<_>, _>>()?;
                Self::from_batches(&schema, &batches, &name)
            }
            _ => Err(ChurnError::UnknownFormat { path: path.to_path_buf() }),
        }
    }

    /// Parses CSV text (RFC 4180: a header row, `,` between fields, `"`
    /// quotes with `""` inside; CRLF or LF line ends).
    ///
    /// # Errors
    /// [`ChurnError::Csv`] for a row with another number of fields than the
    /// header, an unclosed quote or an overlong field;
    /// [`ChurnError::Empty`], [`ChurnError::TooLarge`] and
    /// [`ChurnError::DuplicateColumn`].
    pub fn from_csv(text: &str, source_name: &str) -> Result<Self, ChurnError> {
        let csv_error = |line, message: String| ChurnError::Csv { source_name: source_name.to_string(), line, message };
        let mut records = CsvRecords { text: text.strip_prefix('\u{feff}').unwrap_or(text), at: 0, line: 1 };
        let Some((_, header)) = records.next_record().map_err(|(line, m)| csv_error(line, m))? else {
            return Err(ChurnError::Empty { source_name: source_name.to_string() });
        };
        if header.len() > COLUMNS_MAX {
            return Err(too_large(source_name, "columns", COLUMNS_MAX));
        }
        let mut columns: Vec<Column> =
            header.iter().map(|name| Column { name: name.trim().to_string(), cells: Vec::new() }).collect();
        check_names(&columns, source_name)?;
        let mut lines = Vec::new();
        while let Some((line, fields)) = records.next_record().map_err(|(line, m)| csv_error(line, m))? {
            if fields.len() == 1 && fields[0].trim().is_empty() {
                continue; // A blank line.
            }
            if fields.len() != columns.len() {
                return Err(csv_error(
                    line,
                    format!("{} fields, but the header has {} columns", fields.len(), columns.len()),
                ));
            }
            if lines.len() == ROWS_MAX {
                return Err(too_large(source_name, "rows", ROWS_MAX));
            }
            lines.push(line);
            for (column, field) in columns.iter_mut().zip(fields) {
                column.cells.push(Cell::from_text(&field));
            }
        }
        if lines.is_empty() {
            return Err(ChurnError::Empty { source_name: source_name.to_string() });
        }
        Ok(Self { source_name: source_name.to_string(), columns, lines })
    }

    /// A table of record batches: numeric Arrow columns become numbers
    /// (decimals through [`super::money_feature`]), every other type its
    /// text.
    ///
    /// # Errors
    /// [`ChurnError::Empty`], [`ChurnError::TooLarge`],
    /// [`ChurnError::DuplicateColumn`] and [`ChurnError::Arrow`].
    pub fn from_batches(schema: &SchemaRef, batches: &[RecordBatch], source_name: &str) -> Result<Self, ChurnError> {
        if schema.fields().len() > COLUMNS_MAX {
            return Err(too_large(source_name, "columns", COLUMNS_MAX));
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows > ROWS_MAX {
            return Err(too_large(source_name, "rows", ROWS_MAX));
        }
        if rows == 0 {
            return Err(ChurnError::Empty { source_name: source_name.to_string() });
        }
        let mut columns: Vec<Column> = schema
            .fields()
            .iter()
            .map(|f| Column { name: f.name().clone(), cells: Vec::with_capacity(rows) })
            .collect();
        check_names(&columns, source_name)?;
        for batch in batches {
            for (column, array) in columns.iter_mut().zip(batch.columns()) {
                push_cells(&mut column.cells, array)?;
            }
        }
        Ok(Self { source_name: source_name.to_string(), columns, lines: Vec::new() })
    }

    /// The table as one record batch: a column of numbers (and missing
    /// values) as Float64, any other as Utf8.
    ///
    /// # Errors
    /// [`ChurnError::Arrow`].
    pub fn to_batch(&self) -> Result<RecordBatch, ChurnError> {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for column in &self.columns {
            let numeric = column.cells.iter().all(|c| matches!(c, Cell::Number(_) | Cell::Missing));
            if numeric {
                fields.push(Field::new(&column.name, DataType::Float64, true));
                arrays.push(Arc::new(column.cells.iter().map(Cell::number).collect::<Float64Array>()));
            } else {
                fields.push(Field::new(&column.name, DataType::Utf8, true));
                arrays.push(Arc::new(column.cells.iter().map(Cell::category).collect::<StringArray>()));
            }
        }
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
    }

    /// Number of rows.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.cells.len())
    }

    /// A row as messages name it: `line N` of a CSV file, `row N` (from 1)
    /// otherwise.
    #[must_use]
    pub fn row_name(&self, row: usize) -> String {
        match self.lines.get(row) {
            Some(line) => format!("line {line}"),
            None => format!("row {}", row + 1),
        }
    }

    /// The column named `name`.
    ///
    /// # Errors
    /// [`ChurnError::NoColumn`], listing the columns there are.
    pub fn column(&self, name: &str) -> Result<&Column, ChurnError> {
        self.columns.iter().find(|c| c.name == name).ok_or_else(|| ChurnError::NoColumn {
            column: name.to_string(),
            available: self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }
}

fn too_large(source_name: &str, what: &'static str, max: usize) -> ChurnError {
    ChurnError::TooLarge { source_name: source_name.to_string(), what, max }
}

fn check_names(columns: &[Column], source_name: &str) -> Result<(), ChurnError> {
    let mut seen = std::collections::BTreeSet::new();
    for column in columns {
        if !seen.insert(column.name.as_str()) {
            return Err(ChurnError::DuplicateColumn {
                source_name: source_name.to_string(),
                column: column.name.clone(),
            });
        }
    }
    Ok(())
}

/// Appends an Arrow array's values as cells.
fn push_cells(cells: &mut Vec<Cell>, array: &ArrayRef) -> Result<(), ChurnError> {
    match array.data_type() {
        DataType::Decimal128(_, scale) => {
            let values = array.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>();
            cells.extend((0..values.len()).map(|i| {
                if values.is_null(i) {
                    Cell::Missing
                } else {
                    Cell::Number(super::money_feature(values.value(i), *scale))
                }
            }));
        }
        t if t.is_numeric() => {
            let values = cast(array, &DataType::Float64)?;
            let values = values.as_primitive::<Float64Type>();
            cells.extend((0..values.len()).map(|i| {
                let x = values.value(i);
                if values.is_null(i) || !x.is_finite() { Cell::Missing } else { Cell::Number(x) }
            }));
        }
        _ => {
            let values = cast(array, &DataType::Utf8)?;
            let values = values.as_string::<i32>();
            cells.extend(
                (0..values.len()).map(
                    |i| {
                        if values.is_null(i) { Cell::Missing } else { Cell::from_text(values.value(i)) }
                    },
                ),
            );
        }
    }
    Ok(())
}

/// A CSV record: the line it starts on and its fields.
type Record = (usize, Vec<String>);

/// The records of a CSV text, one at a time.
struct CsvRecords<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl CsvRecords<'_> {
    /// The next record and the line it starts on; `None` at the end.
    fn next_record(&mut self) -> Result<Option<Record>, (usize, String)> {
        let bytes = self.text.as_bytes();
        if self.at >= bytes.len() {
            return Ok(None);
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut i = self.at;
        loop {
            if field.len() > CELL_BYTES_MAX {
                return Err((start_line, format!("a field of more than {CELL_BYTES_MAX} bytes")));
            }
            if fields.len() > COLUMNS_MAX {
                return Err((start_line, format!("more than {COLUMNS_MAX} fields")));
            }
            let Some(&b) = bytes.get(i) else {
                if quoted {
                    return Err((start_line, "a quoted field is not closed".to_string()));
                }
                fields.push(field);
                self.at = i;
                return Ok(Some((start_line, fields)));
            };
            if quoted {
                match b {
                    b'"' if bytes.get(i + 1) == Some(&b'"') => {
                        field.push('"');
                        i += 2;
                    }
                    b'"' => {
                        quoted = false;
                        i += 1;
                    }
                    _ => {
                        if b == b'\n' {
                            self.line += 1;
                        }
                        let end = next_char_end(self.text, i);
                        field.push_str(&self.text[i..end]);
                        i = end;
                    }
                }
                continue;
            }
            match b {
                b'"' if field.trim().is_empty() => {
                    field.clear();
                    quoted = true;
                    i += 1;
                }
                b',' => {
                    fields.push(std::mem::take(&mut field));
                    i += 1;
                }
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => i += 1,
                b'\n' => {
                    fields.push(field);
                    self.line += 1;
                    self.at = i + 1;
                    return Ok(Some((start_line, fields)));
                }
                _ => {
                    let end = next_char_end(self.text, i);
                    field.push_str(&self.text[i..end]);
                    i = end;
                }
            }
        }
    }
}

/// The end of the character starting at byte `i`.
fn next_char_end(text: &str, i: usize) -> usize {
    text[i..].chars().next().map_or(text.len(), |c| i + c.len_utf8())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use datafusion::arrow::array::{Decimal128Array, Int64Array};

    use super::*;

    #[test]
    fn csv_with_quotes_missing_values_and_crlf() {
        let t = Table::from_csv(
            "id,plan,spend\r\n1,\"gold, yearly\",\"12.5\"\r\n2,NA,\n\n3,\"say \"\"hi\"\"\",7\n",
            "t.csv",
        )
        .unwrap();
        assert_eq!(t.rows(), 3);
        assert_eq!(t.columns[1].cells[0], Cell::Text("gold, yearly".into()));
        assert_eq!(t.columns[1].cells[1], Cell::Missing);
        assert_eq!(t.columns[1].cells[2], Cell::Text("say \"hi\"".into()));
        assert_eq!(t.columns[2].cells[0].number(), Some(12.5));
        assert_eq!(t.columns[2].cells[1], Cell::Missing);
        assert_eq!(t.row_name(2), "line 5");
    }

    #[test]
    fn bad_csv_names_the_line() {
        let e = Table::from_csv("a,b\n1,2\n3\n", "t.csv").unwrap_err().to_string();
        assert_eq!(e, "t.csv: line 3: 1 fields, but the header has 2 columns");
        let e = Table::from_csv("a,b\n1,\"2\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("line 2: a quoted field is not closed"), "{e}");
        let e = Table::from_csv("a,a\n1,2\n", "t.csv").unwrap_err().to_string();
        assert!(e.contains("\"a\" appears twice"), "{e}");
        assert!(matches!(Table::from_csv("a,b\n", "t.csv"), Err(ChurnError::Empty { .. })));
    }

    #[test]
    fn arrow_decimals_become_numbers_and_strings_stay_text() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("amount", DataType::Decimal128(38, 10), true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let amounts = Decimal128Array::from(vec![Some(12_500_000_000), None]).with_precision_and_scale(38, 10).unwrap();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(3), None])),
                Arc::new(amounts),
                Arc::new(StringArray::from(vec![Some("4.5"), Some("null")])),
            ],
        )
        .unwrap();
        let t = Table::from_batches(&schema, &[batch], "q").unwrap();
        assert_eq!(t.columns[0].cells, vec![Cell::Number(3.0), Cell::Missing]);
        assert_eq!(t.columns[1].cells, vec![Cell::Number(1.25), Cell::Missing]);
        assert_eq!(t.columns[2].cells[0].number(), Some(4.5));
        assert_eq!(t.columns[2].cells[1], Cell::Missing);
        assert_eq!(t.row_name(1), "row 2");
    }
}
