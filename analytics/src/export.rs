//! Writing a result: an aligned text table, CSV, JSON lines or Parquet.
//!
//! Amounts stay exact in every format: the table and CSV print every
//! decimal place, JSON writes decimals as strings (as `rated.jsonl` does),
//! and Parquet keeps `Decimal128`.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::{LineDelimitedWriter, WriterBuilder as JsonWriterBuilder};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;

use crate::bounds::TABLE_ROWS_MAX;
use crate::error::Error;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text with a header, then the row count.
    Table,
    /// CSV with a header row; lists and structs as their text form.
    Csv,
    /// JSON lines: one object per row, every column present (null when
    /// null), decimals as strings.
    Json,
    /// One Parquet file (ZSTD), the result's Arrow types kept.
    Parquet,
}

impl Format {
    /// Every format, as the command line names them.
    pub const ALL: [Format; 4] = [Format::Table, Format::Csv, Format::Json, Format::Parquet];

    /// The format's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {name}; one of {}", names.join(", "))
        })
    }
}

/// What [`write()`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows written.
    pub rows: usize,
    /// Whether the table format stopped at [`TABLE_ROWS_MAX`] rows.
    pub truncated: bool,
}

/// Writes a result with columns `schema`, batch by batch, to `out`.
///
/// # Errors
/// The first error of `batches`, [`Error::Arrow`], [`Error::Parquet`] and
/// [`Error::Write`].
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, Error>>,
    out: &mut (dyn Write + Send),
) -> Result<Written, Error> {
    let mut rows = 0;
    match format {
        Format::Table => return write_table(schema, batches, out),
        Format::Csv => {
            let mut writer = CsvWriterBuilder::new().with_header(true).build(&mut *out);
            let mut empty = true;
            for batch in batches {
                let batch = flat(&batch?)?;
                rows += batch.num_rows();
                empty = false;
                writer.write(&batch)?;
            }
            if empty {
                // The header alone, for a result without rows.
                writer.write(&RecordBatch::new_empty(flat_schema(schema)))?;
            }
        }
        Format::Json => {
            let mut writer: LineDelimitedWriter<_> =
                JsonWriterBuilder::new().with_explicit_nulls(true).build(&mut *out);
            for batch in batches {
                let batch = stringify_decimals(&batch?)?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
        Format::Parquet => {
            let properties =
                WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
            let mut writer = ArrowWriter::try_new(&mut *out, Arc::clone(schema), Some(properties))?;
            for batch in batches {
                let batch = batch?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.close()?;
        }
    }
    out.flush().map_err(Error::Write)?;
    Ok(Written { rows, truncated: false })
}

fn write_table(
    schema: &SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, Error>>,
    out: &mut (dyn Write + Send),
) -> Result<Written, Error> {
    let mut kept = Vec::new();
    let mut rows = 0;
    let mut truncated = false;
    for batch in batches {
        let batch = batch?;
        let room = TABLE_ROWS_MAX - rows;
        if batch.num_rows() > room {
            kept.push(batch.slice(0, room));
            rows += room;
            truncated = true;
            break;
        }
        rows += batch.num_rows();
        kept.push(batch);
    }
    let table = pretty_format_batches_with_schema(Arc::clone(schema), &kept)?;
    let plural = if rows == 1 { "" } else { "s" };
    let note =
        if truncated { format!(", stopped at {TABLE_ROWS_MAX}: use --format csv or LIMIT") } else { String::new() };
    writeln!(out, "{table}\n({rows} row{plural}{note})").map_err(Error::Write)?;
    out.flush().map_err(Error::Write)?;
    Ok(Written { rows, truncated })
}

/// The batch with its nested columns (lists, structs, maps) as text, which
/// CSV cannot hold otherwise.
fn flat(batch: &RecordBatch) -> Result<RecordBatch, Error> {
    let options = FormatOptions::default();
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            if !column.data_type().is_nested() {
                return Ok(Arc::clone(column));
            }
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray =
                (0..column.len()).map(|i| column.is_valid(i).then(|| formatter.value(i).to_string())).collect();
            Ok(Arc::new(text) as ArrayRef)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(RecordBatch::try_new(flat_schema(&batch.schema()), columns)?)
}

fn flat_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_nested() {
                Field::new(f.name(), DataType::Utf8, f.is_nullable())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The batch with every decimal, at any depth, cast to its exact text.
fn stringify_decimals(batch: &RecordBatch) -> Result<RecordBatch, Error> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        let target = text_decimals(field.data_type());
        columns.push(if &target == field.data_type() { Arc::clone(column) } else { cast(column, &target)? });
        fields.push(field.as_ref().clone().with_data_type(target));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

fn text_decimals(data_type: &DataType) -> DataType {
    let field = |f: &Field| Arc::new(f.clone().with_data_type(text_decimals(f.data_type())));
    match data_type {
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) | DataType::Decimal256(..) => {
            DataType::Utf8
        }
        DataType::List(item) => DataType::List(field(item)),
        DataType::LargeList(item) => DataType::LargeList(field(item)),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use datafusion::arrow::array::{Decimal128Array, ListArray, StringArray};
    use datafusion::arrow::datatypes::Int32Type;

    fn batch() -> RecordBatch {
        let amount = Decimal128Array::from(vec![15_000_000_000, -1]).with_precision_and_scale(38, 10).unwrap();
        let names = StringArray::from(vec![Some("A,1"), None]);
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), Some(vec![])]);
        RecordBatch::try_from_iter([
            ("amount", Arc::new(amount) as ArrayRef),
            ("name", Arc::new(names) as ArrayRef),
            ("list", Arc::new(list) as ArrayRef),
        ])
        .unwrap()
    }

    fn render(format: Format) -> String {
        let batch = batch();
        let mut out = Vec::new();
        write(format, &batch.schema(), std::iter::once(Ok(batch.clone())), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_keeps_every_decimal_place_and_flattens_lists() {
        assert_eq!(render(Format::Csv), "amount,name,list\n1.5000000000,\"A,1\",\"[1, 2]\"\n-0.0000000001,,[]\n");
    }

    #[test]
    fn json_writes_decimals_as_strings_and_nulls() {
        assert_eq!(
            render(Format::Json),
            "{\"amount\":\"1.5000000000\",\"name\":\"A,1\",\"list\":[1,2]}\n{\"amount\":\"-0.0000000001\",\"name\":null,\"list\":[]}\n"
        );
    }

    #[test]
    fn table_aligns_and_counts() {
        let text = render(Format::Table);
        assert!(text.contains("| 1.5000000000  | A,1  | [1, 2] |"), "{text}");
        assert!(text.ends_with("(2 rows)\n"), "{text}");
    }

    #[test]
    fn empty_results_keep_their_header() {
        let schema = batch().schema();
        let mut out = Vec::new();
        write(Format::Csv, &schema, std::iter::empty(), &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "amount,name,list\n");
    }

    #[test]
    fn formats_round_trip_their_names() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
        assert!("xml".parse::<Format>().is_err());
    }
}
