//! The read-only rules: which statements are run at all.
//!
//! Statements are parsed here, and each must be a query (`SELECT`, `WITH`,
//! `VALUES`), an `EXPLAIN` of one, `DESCRIBE` or `SHOW`; anything else
//! (DDL, DML, `COPY`, `SET`, transactions, `CREATE EXTERNAL TABLE`) is
//! refused before it is planned. Table functions other than the built-in
//! generators are refused too, so that no statement names a file. A second
//! line of defence checks each plan with DataFusion's own `SQLOptions`
//! ([`read_only_options`]), and the ledger's tables cannot be written to.

use std::fmt;
use std::ops::ControlFlow;

use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{Statement as SqlStatement, TableFactor, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

use crate::bounds::STATEMENTS_PER_REQUEST_MAX;
use crate::error::Error;

/// Table functions a query may call: generators that read nothing.
pub const TABLE_FUNCTIONS_ALLOWED: [&str; 2] = ["generate_series", "range"];

/// One statement that passed the read-only rules.
#[derive(Debug, Clone)]
pub struct Statement(pub(crate) DfStatement);

/// A transaction statement, which the Postgres endpoint accepts and does
/// nothing for: clients such as psycopg open a transaction before their
/// first query, and a read-only session has nothing to commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT` (not to a savepoint).
    Rollback,
}

impl Statement {
    /// The transaction statement this is, if it is one.
    #[must_use]
    pub fn control(&self) -> Option<Control> {
        match &self.0 {
            DfStatement::Statement(inner) => control(inner),
            _ => None,
        }
    }
}

fn control(statement: &SqlStatement) -> Option<Control> {
    match statement {
        SqlStatement::StartTransaction { .. } => Some(Control::Begin),
        SqlStatement::Commit { chain: false, .. } => Some(Control::Commit),
        SqlStatement::Rollback { chain: false, savepoint: None } => Some(Control::Rollback),
        _ => None,
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parses `sql` (Postgres dialect, as DataFusion reads it) into statements,
/// each checked against the read-only rules. An empty request (only
/// whitespace, comments and `;`) gives none.
///
/// # Errors
/// [`Error::Sql`] for a syntax error, [`Error::ReadOnly`] or
/// [`Error::TableFunction`] for a refused statement, and
/// [`Error::TooManyStatements`].
pub fn parse(sql: &str) -> Result<Vec<Statement>, Error> {
    parse_with(sql, false)
}

/// As [`parse`], also accepting the transaction statements of [`Control`]
/// when `transactions` is set.
pub(crate) fn parse_with(sql: &str, transactions: bool) -> Result<Vec<Statement>, Error> {
    let statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})?;
    if statements.len() > STATEMENTS_PER_REQUEST_MAX {
        return Err(Error::TooManyStatements { count: statements.len(), max: STATEMENTS_PER_REQUEST_MAX });
    }
    statements
        .into_iter()
        .map(|s| {
            let accepted = transactions && matches!(&s, DfStatement::Statement(inner) if control(inner).is_some());
            if !accepted {
                check(&s)?;
            }
            Ok(Statement(s))
        })
        .collect()
}

/// DataFusion's own switches for the same rules, applied to every plan.
#[must_use]
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

fn check(statement: &DfStatement) -> Result<(), Error> {
    match statement {
        DfStatement::Statement(inner) => check_sql(inner),
        DfStatement::Explain(explain) => check(&explain.statement),
        DfStatement::CreateExternalTable(_) | DfStatement::CopyTo(_) | DfStatement::Reset(_) => {
            Err(Error::ReadOnly { statement: kind(&statement.to_string()) })
        }
    }
}

fn check_sql(statement: &SqlStatement) -> Result<(), Error> {
    match statement {
        SqlStatement::Query(_)
        | SqlStatement::ExplainTable { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowFunctions { .. } => check_relations(statement),
        SqlStatement::Explain { statement: inner, .. } => check_sql(inner),
        _ => Err(Error::ReadOnly { statement: kind(&statement.to_string()) }),
    }
}

/// Refuses every relation that is not a table, a subquery, a join or
/// `UNNEST`, and every table function but [`TABLE_FUNCTIONS_ALLOWED`].
fn check_relations(statement: &SqlStatement) -> Result<(), Error> {
    struct Relations;
    impl Visitor for Relations {
        type Break = Error;
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Error> {
            let refused = |name: String| ControlFlow::Break(Error::TableFunction { name });
            match factor {
                TableFactor::Table { name, args: Some(_), .. } => {
                    let called = name.to_string().to_lowercase();
                    if TABLE_FUNCTIONS_ALLOWED.contains(&called.as_str()) {
                        ControlFlow::Continue(())
                    } else {
                        refused(called)
                    }
                }
                TableFactor::Table { .. }
                | TableFactor::Derived { .. }
                | TableFactor::NestedJoin { .. }
                | TableFactor::UNNEST { .. } => ControlFlow::Continue(()),
                other => refused(kind(&other.to_string()).to_lowercase()),
            }
        }
    }
    match statement.visit(&mut Relations) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The leading keywords of a statement (`INSERT INTO`, `CREATE EXTERNAL
/// TABLE`, `COPY`), to name it in a refusal without echoing its data.
fn kind(sql: &str) -> String {
    /// Keywords that name a kind of statement, at most.
    const KIND_WORDS_MAX: usize = 3;
    let words: Vec<&str> = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .take_while(|w| !w.is_empty() && ALL_KEYWORDS.contains(&w.to_ascii_uppercase().as_str()))
        .take(KIND_WORDS_MAX)
        .collect();
    if words.is_empty() { "this statement".to_string() } else { words.join(" ").to_ascii_uppercase() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn refusal(sql: &str) -> String {
        match parse(sql) {
            Err(e @ (Error::ReadOnly { .. } | Error::TableFunction { .. })) => e.to_string(),
            other => panic!("{sql}: {other:?}"),
        }
    }

    #[test]
    fn queries_explain_describe_and_show_pass() {
        for sql in [
            "select 1",
            "with t as (select 1 as x) select x from t",
            "values (1), (2)",
            "explain select * from rated",
            "explain analyze select count(*) from rated",
            "describe rated",
            "show tables",
            "show columns from rated",
            "select * from generate_series(1, 3)",
            "select unnest(discounts) from rated",
            "select * from rated r join (select * from draws) d using (event_id)",
            " ; ",
        ] {
            parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        assert_eq!(parse("select 1; select 2;").unwrap().len(), 2);
        assert!(parse("-- nothing\n;").unwrap().is_empty());
    }

    #[test]
    fn writes_and_file_access_are_refused_by_name() {
        for (sql, name) in [
            ("insert into rated select * from rated", "INSERT INTO"),
            ("create table t as select 1", "CREATE TABLE"),
            ("create external table t stored as csv location '/etc/passwd'", "CREATE EXTERNAL TABLE"),
            ("copy rated to '/tmp/out.parquet'", "COPY"),
            ("copy (select 1) to '/tmp/out.csv'", "COPY"),
            ("drop table rated", "DROP TABLE"),
            ("delete from rated", "DELETE FROM"),
            ("update rated set gross = 0", "UPDATE"),
            ("set datafusion.execution.target_partitions = 1", "SET"),
            ("begin", "BEGIN"),
            ("create view v as select 1", "CREATE VIEW"),
            ("explain insert into rated select * from rated", "INSERT INTO"),
        ] {
            let message = refusal(sql);
            assert!(message.starts_with(&format!("refused: {name} is not allowed")), "{sql}: {message}");
        }
        for sql in [
            "select * from read_parquet('/etc/passwd')",
            "select * from read_csv('/etc/passwd')",
            "select * from rated where exists (select 1 from parquet_metadata('/etc/x'))",
        ] {
            assert!(refusal(sql).starts_with("refused: table function"), "{sql}");
        }
        // One refused statement refuses the whole request.
        refusal("select 1; drop table rated");
    }

    #[test]
    fn transactions_pass_only_where_asked_for() {
        for (sql, expected) in [
            ("begin", Control::Begin),
            ("start transaction read only", Control::Begin),
            ("commit", Control::Commit),
            ("end", Control::Commit),
            ("rollback", Control::Rollback),
        ] {
            let statements = parse_with(sql, true).unwrap();
            assert_eq!(statements[0].control(), Some(expected), "{sql}");
            assert!(parse(sql).is_err(), "{sql}");
        }
        assert!(parse_with("rollback to savepoint a", true).is_err());
        assert_eq!(parse("select 1").unwrap()[0].control(), None);
    }

    #[test]
    fn syntax_errors_are_datafusion_errors() {
        assert!(matches!(parse("selec 1"), Err(Error::Sql(_))));
    }
}
