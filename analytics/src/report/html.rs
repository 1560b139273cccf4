//! Readable invoices: one self-contained HTML file per account, period and
//! currency, from the `invoice_lines` and `invoices` views.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::Error;

/// Lines one invoice may have; an invoice with more stops the writer
/// rather than holding them all.
pub const INVOICE_LINES_MAX: usize = 10_000;

/// The query whose rows [`InvoiceHtml`] reads, for every period; add
/// `where l.period = '...'` through [`InvoiceHtml::query`].
pub const HTML_INVOICE_QUERY: &str = "select l.account, l.period, l.currency, l.kind, l.service, l.plan, \
     l.records, l.rated_quantity, l.allowance_quantity, l.charge, l.discount, l.line_net, l.line_tax, l.line_total, \
     i.total_net, i.total_tax, i.total \
     from invoice_lines l join invoices i \
     on i.account = l.account and i.period = l.period and i.currency = l.currency";

const ORDER: &str = " order by l.account, l.period, l.currency, l.kind, l.service, l.plan";

/// The columns of [`HTML_INVOICE_QUERY`], in order.
const COLUMNS: [&str; 17] = [
    "account",
    "period",
    "currency",
    "kind",
    "service",
    "plan",
    "records",
    "rated_quantity",
    "allowance_quantity",
    "charge",
    "discount",
    "line_net",
    "line_tax",
    "line_total",
    "total_net",
    "total_tax",
    "total",
];

/// Writes the rows of [`InvoiceHtml::query`], sorted by invoice, as one
/// HTML file per invoice in a directory; holds one invoice's lines at a
/// time.
#[derive(Debug)]
pub struct InvoiceHtml {
    dir: PathBuf,
    /// The lines of the invoice being read, as text cells in [`COLUMNS`] order.
    lines: Vec<Vec<String>>,
    written: Vec<PathBuf>,
}

impl InvoiceHtml {
    /// The query to run, for one period (`YYYY-MM`) or all.
    ///
    /// # Errors
    /// [`Error::Period`] for a period that is not `YYYY-MM`.
    pub fn query(period: Option<&str>) -> Result<String, Error> {
        Ok(match period {
            Some(period) => format!("{HTML_INVOICE_QUERY} where l.period = '{}'{ORDER}", checked_period(period)?),
            None => format!("{HTML_INVOICE_QUERY}{ORDER}"),
        })
    }

    /// A writer into `dir`, which must exist.
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), lines: Vec::new(), written: Vec::new() }
    }

    /// Reads a batch of the query's rows, writing each invoice it completes.
    ///
    /// # Errors
    /// [`Error::Arrow`] for a batch that is not the query's,
    /// [`Error::InvoiceTooLong`] and [`Error::Io`].
    pub fn push(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let options = FormatOptions::default();
        let mut formatters = Vec::with_capacity(COLUMNS.len());
        for name in COLUMNS {
            let column = batch.column_by_name(name).ok_or_else(|| {
                datafusion::arrow::error::ArrowError::SchemaError(format!("the invoice rows have no column {name}"))
            })?;
            formatters.push(ArrayFormatter::try_new(column.as_ref(), &options)?);
        }
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(row).to_string()).collect();
            if self.lines.first().is_some_and(|first| first[..3] != cells[..3]) {
                self.flush()?;
            }
            if self.lines.len() == INVOICE_LINES_MAX {
                return Err(Error::InvoiceTooLong { account: cells[0].clone(), max: INVOICE_LINES_MAX });
            }
            self.lines.push(cells);
        }
        Ok(())
    }

    /// Writes the last invoice; returns the files written.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn finish(mut self) -> Result<Vec<PathBuf>, Error> {
        self.flush()?;
        Ok(self.written)
    }

    fn flush(&mut self) -> Result<(), Error> {
        let Some(first) = self.lines.first() else { return Ok(()) };
        let name = format!("{}_{}_{}.html", file_safe(&first[0]), file_safe(&first[1]), file_safe(&first[2]));
        let path = self.dir.join(name);
        std::fs::write(&path, render(&self.lines)).map_err(|source| Error::Io { path: path.clone(), source })?;
        self.written.push(path);
        self.lines.clear();
        Ok(())
    }
}

/// `period` if it is `YYYY-MM`.
///
/// # Errors
/// [`Error::Period`].
pub fn checked_period(period: &str) -> Result<&str, Error> {
    let bytes = period.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() == 7 && bytes[4] == b'-' && digits(0..4) && digits(5..7) {
        Ok(period)
    } else {
        Err(Error::Period { value: period.to_string() })
    }
}

/// One invoice as HTML. `lines` share their account, period and currency.
fn render(lines: &[Vec<String>]) -> String {
    let first = &lines[0];
    let (account, period, currency) = (escape(&first[0]), escape(&first[1]), escape(&first[2]));
    let mut html = String::with_capacity(4_096 + 512 * lines.len());
    html.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Invoice</title>\n<style>\n\
         body { font-family: sans-serif; margin: 2em; color: #222; }\n\
         table { border-collapse: collapse; width: 100%; }\n\
         th, td { padding: 0.3em 0.6em; border-bottom: 1px solid #ddd; }\n\
         th { text-align: left; background: #f3f3f3; }\n\
         td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }\n\
         tfoot td { font-weight: bold; border-bottom: none; }\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = write!(
        html,
        "<h1>Invoice</h1>\n<p>Account <strong>{account}</strong><br>Period <strong>{period}</strong><br>\
         Currency <strong>{currency}</strong></p>\n"
    );
    html.push_str(
        "<table>\n<thead><tr><th>Kind</th><th>Service</th><th>Plan</th><th class=\"n\">Records</th>\
         <th class=\"n\">Quantity</th><th class=\"n\">From allowances</th><th class=\"n\">Charge</th>\
         <th class=\"n\">Discount</th><th class=\"n\">Net</th><th class=\"n\">Tax</th><th class=\"n\">Total</th>\
         </tr></thead>\n<tbody>\n",
    );
    for line in lines {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&line[3]),
            escape(&line[4]),
            escape(&line[5]),
            escape(&line[6]),
            escape(&quantity(&line[7])),
            escape(&quantity(&line[8])),
            escape(&money(&line[9])),
            escape(&money(&line[10])),
            escape(&money(&line[11])),
            escape(&money(&line[12])),
            escape(&money(&line[13])),
        );
    }
    let _ = write!(
        html,
        "</tbody>\n<tfoot>\n<tr><td colspan=\"10\">Net</td><td class=\"n\">{}</td></tr>\n\
         <tr><td colspan=\"10\">Tax</td><td class=\"n\">{}</td></tr>\n\
         <tr><td colspan=\"10\">Total due ({currency})</td><td class=\"n\">{}</td></tr>\n\
         </tfoot>\n</table>\n</body>\n</html>\n",
        escape(&money(&first[14])),
        escape(&money(&first[15])),
        escape(&money(&first[16])),
    );
    html
}

/// Text safe in HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A file name part: letters, digits, `-` and `.` as they are, every other
/// byte as `%XX`, so that two accounts never share a file.
fn file_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || (byte == b'.' && !out.is_empty()) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// A decimal without the trailing zeros beyond two places: `1.5000000000`
/// -> `1.50`.
fn money(text: &str) -> String {
    match text.split_once('.') {
        Some((whole, fraction)) => {
            let trimmed = fraction.trim_end_matches('0');
            format!("{whole}.{trimmed:0<2}")
        }
        None if text.is_empty() => String::new(),
        None => format!("{text}.00"),
    }
}

/// A decimal without trailing zeros: `60.0000000000` -> `60`.
fn quantity(text: &str) -> String {
    match text.split_once('.') {
        Some((whole, fraction)) => match fraction.trim_end_matches('0') {
            "" => whole.to_string(),
            kept => format!("{whole}.{kept}"),
        },
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<b a=\"x\">Tom & Jerry's</b>"), "&lt;b a=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/b&gt;");
    }

    #[test]
    fn file_names_keep_accounts_apart() {
        assert_eq!(file_safe("A1"), "A1");
        assert_eq!(file_safe("a/b"), "a%2Fb");
        assert_eq!(file_safe("a_b"), "a%5Fb");
        assert_eq!(file_safe("../x"), "%2E.%2Fx");
    }

    #[test]
    fn amounts_show_at_least_cents() {
        assert_eq!(money("1.5000000000"), "1.50");
        assert_eq!(money("0.1234500000"), "0.12345");
        assert_eq!(money("-3"), "-3.00");
        assert_eq!(quantity("60.0000000000"), "60");
        assert_eq!(quantity("1.2500000000"), "1.25");
    }

    #[test]
    fn periods_are_checked() {
        assert!(checked_period("2026-10").is_ok());
        for bad in ["2026-1", "2026-10'", "x' or '1'='1", "202610", "2026/10"] {
            assert!(checked_period(bad).is_err(), "{bad}");
        }
    }
}
