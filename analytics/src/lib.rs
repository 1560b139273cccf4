//! Analytics over the ledger: DataFusion SQL on its committed files, and a
//! read-only Postgres-wire endpoint for psql and BI tools.
//!
//! The central types:
//! - [`Source`], a ledger directory and the accounts reference file: each
//!   [`Source::context`] is a DataFusion session over the ledger's latest
//!   commit, with the tables `rated`, `draws`, `rejects` and `facts`
//!   (exactly the files the manifests list, with the partition columns
//!   `period` and `day`), `accounts` and `churn_risk` (the ledger's churn
//!   risk list, empty until `ratewire churn score` wrote one);
//! - [`parse`], which parses SQL and refuses anything but queries,
//!   `EXPLAIN`, `DESCRIBE` and `SHOW` (the read-only rules);
//! - [`Engine`], which runs a [`Statement`] from synchronous code and
//!   yields its [`Rows`];
//! - [`write()`], which writes a result as a [`Format`]: an aligned table,
//!   CSV, JSON lines or Parquet, amounts exact in each;
//! - [`serve`], the Postgres wire protocol over the same rules, with
//!   password authentication ([`ServeConfig`]).
//! - the finance reports as views in every session ([`REPORT_VIEWS`]:
//!   `invoice_lines`, `invoices`, `revenue`, `receivables`, `reconcile`),
//!   and [`InvoiceHtml`], which writes readable invoices.
//! - [`churn`], churn risk: features by SQL, linfa models, the ranked
//!   risk list and its report.
//!
//! Amounts stay `Decimal128(38, 10)` end to end; the query results never
//! cast them to floating point (the churn features convert amounts in
//! one documented place, [`churn::money_feature`]).
//!
//! ```
//! use ratewire_analytics::{Engine, Format, Source, parse, write};
//!
//! let dir = tempfile::tempdir().unwrap();
//! drop(ratewire_ledger::Ledger::open(dir.path()).unwrap()); // An empty ledger.
//! let engine = Engine::new(Source::open(dir.path(), None).unwrap()).unwrap();
//! let statements = parse("select count(*) as n, sum(gross) as gross from rated").unwrap();
//! let rows = engine.query(&statements[0]).unwrap();
//! let mut out = Vec::new();
//! write(Format::Csv, &rows.schema(), rows, &mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "n,gross\n0,\n");
//!
//! assert!(parse("drop table rated").is_err());
//! ```

mod accounts;
mod bounds;
pub mod churn;
mod engine;
mod error;
mod export;
mod guard;
mod ledger_table;
mod pg;
mod report;
mod serve;
mod source;

pub use accounts::{accounts_batch, accounts_schema};
pub use bounds::{
    ACCEPT_RETRY_MS, BATCH_ROWS, CONNECTIONS_MAX, QUERY_MEMORY_BYTES_MAX, STATEMENT_BYTES_MAX,
    STATEMENTS_PER_REQUEST_MAX, TABLE_ROWS_MAX,
};
pub use engine::{Engine, Rows};
pub use error::Error;
pub use export::{Format, Written, write};
pub use guard::{Control, Statement, TABLE_FUNCTIONS_ALLOWED, parse, read_only_options};
pub use ledger_table::{PARTITION_COLUMNS, table_schema};
pub use report::{
    HTML_INVOICE_QUERY, INVOICE_LINES_MAX, InvoiceHtml, LEDGER_OFFSETS_TABLE, LEDGER_TOTALS_TABLE, REPORT_VIEWS,
    checked_period, receivables_sql, view_sql,
};
pub use serve::{ServeConfig, serve};
pub use source::{ACCOUNTS_TABLE, Source, execute, plan};
