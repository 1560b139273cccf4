//! Postgres queries, simple and extended (prepared, with `$n` parameters in
//! text or binary), answered by DataFusion and encoded by arrow-pg.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch, into_pg_type};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

use crate::error::Error;
use crate::guard::{Control, Statement, parse_with};
use crate::source::{Source, execute, plan};

/// Answers the queries of every connection.
#[derive(Debug)]
pub(crate) struct QueryService {
    source: Source,
    parser: Arc<Parser>,
}

impl QueryService {
    pub(crate) fn new(source: Source) -> Self {
        Self { parser: Arc::new(Parser { source: source.clone() }), source }
    }

    /// Runs one statement on the ledger's latest commit.
    async fn respond(
        &self,
        statement: &Statement,
        parameters: Option<ParamValues>,
        format: &Format,
        metadata: &HashMap<String, String>,
    ) -> Result<Response, Error> {
        match statement.control() {
            Some(Control::Begin) => return Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Some(Control::Commit) => return Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
            Some(Control::Rollback) => return Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
            None => {}
        }
        let (context, sequence) = self.source.context()?;
        log::debug!("running on commit {sequence}: {statement}");
        let plan = plan(&context, statement).await?;
        let rows = execute(&context, plan, parameters).await?;
        let options = Arc::new(FormatOptions::from_client_metadata(metadata));
        Ok(Response::Query(encode(rows, format, options).map_err(|e| Error::Sql(DataFusionError::External(e.into())))?))
    }
}

/// The rows of `rows` as Postgres data rows, encoded as they come.
fn encode(
    rows: SendableRecordBatchStream,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<QueryResponse> {
    let fields = Arc::new(arrow_schema_to_pg_fields(&rows.schema(), format, Some(options))?);
    let encoded = Arc::clone(&fields);
    let data = rows
        .map(move |batch| {
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => encode_recordbatch(Arc::clone(&encoded), batch),
                Err(e) => Box::new(std::iter::once(Err(PgWireError::UserError(Box::new(error_info(&Error::Sql(e))))))),
            };
            stream::iter(rows)
        })
        .flatten();
    Ok(QueryResponse::new(fields, data))
}

/// An error as the client sees it, with the closest SQLSTATE.
fn error_info(error: &Error) -> ErrorInfo {
    let code = match error {
        Error::ReadOnly { .. } => "25006",
        Error::TableFunction { .. } => "42501",
        Error::TooManyStatements { .. } => "54000",
        Error::Sql(DataFusionError::SQL(..)) => "42601",
        Error::Sql(DataFusionError::Plan(_) | DataFusionError::SchemaError(..)) => "42000",
        Error::Sql(DataFusionError::ResourcesExhausted(_)) => "53200",
        _ => "XX000",
    };
    ErrorInfo::new("ERROR".to_string(), code.to_string(), error.to_string())
}

fn user_error(error: &Error) -> PgWireError {
    PgWireError::UserError(Box::new(error_info(error)))
}

#[async_trait]
impl SimpleQueryHandler for QueryService {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = parse_with(query, true).map_err(|e| user_error(&e))?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            match self.respond(statement, None, &Format::UnifiedText, client.metadata()).await {
                Ok(response) => responses.push(response),
                Err(e) => {
                    // As Postgres does: the statements after a failed one
                    // are not run.
                    responses.push(Response::Error(Box::new(error_info(&e))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// A statement prepared by a Parse message: what Describe reports.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    statement: Statement,
    /// The result's columns; empty for a transaction statement.
    schema: Option<SchemaRef>,
    /// The types of `$1`, `$2`, ..., as DataFusion inferred them.
    parameters: Vec<Option<DataType>>,
}

/// Parses and plans statements of the extended protocol.
#[derive(Debug)]
pub(crate) struct Parser {
    source: Source,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = parse_with(sql, true).map_err(|e| user_error(&e))?;
        let statement = match statements.len() {
            0 => return Ok(None),
            1 => statements.remove(0),
            count => {
                let info = ErrorInfo::new(
                    "ERROR".to_string(),
                    "42601".to_string(),
                    format!("cannot insert multiple commands into a prepared statement ({count} given)"),
                );
                return Err(PgWireError::UserError(Box::new(info)));
            }
        };
        if statement.control().is_some() {
            return Ok(Some(Prepared { statement, schema: None, parameters: Vec::new() }));
        }
        let planned = async {
            let (context, _) = self.source.context()?;
            let plan = plan(&context, &statement).await?;
            let types = plan.get_parameter_types()?;
            Ok::<_, Error>((plan.schema().inner().clone(), types))
        };
        let (schema, types) = planned.await.map_err(|e| user_error(&e))?;
        // `$1` ... `$n`, in order; a gap is a parameter of unknown type.
        let count = types.keys().filter_map(|k| k.strip_prefix('$')?.parse::<usize>().ok()).max().unwrap_or(0);
        let parameters = (1..=count).map(|n| types.get(&format!("${n}")).cloned().flatten()).collect();
        Ok(Some(Prepared { statement, schema: Some(schema), parameters }))
    }

    fn get_parameter_types(&self, prepared: &Prepared) -> PgWireResult<Vec<Type>> {
        prepared.parameters.iter().map(|t| t.as_ref().map_or(Ok(Type::UNKNOWN), into_pg_type)).collect()
    }

    fn get_result_schema(&self, prepared: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match &prepared.schema {
            Some(schema) => arrow_schema_to_pg_fields(schema, format.unwrap_or(&Format::UnifiedText), None),
            None => Ok(Vec::new()),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryService {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let parameters = parameter_values(portal, &prepared.parameters).map_err(|e| user_error(&e))?;
        self.respond(&prepared.statement, parameters, &portal.result_column_format, client.metadata())
            .await
            .map_err(|e| user_error(&e))
    }
}

/// The portal's parameters, text or binary, decoded by the type the client
/// declared (or else the one DataFusion inferred) and cast to the inferred
/// type.
fn parameter_values(portal: &Portal<Prepared>, inferred: &[Option<DataType>]) -> Result<Option<ParamValues>, Error> {
    if portal.parameters.is_empty() {
        return Ok(None);
    }
    let declared = &portal.statement.parameter_types;
    let mut values = Vec::with_capacity(portal.parameters.len());
    for i in 0..portal.parameters.len() {
        let target = inferred.get(i).cloned().flatten();
        let wire = match declared.get(i).cloned().flatten() {
            Some(t) if t != Type::UNKNOWN => t,
            _ => target.as_ref().and_then(|t| into_pg_type(t).ok()).unwrap_or(Type::UNKNOWN),
        };
        let value = decode(portal, i, &wire).map_err(|e| {
            Error::Sql(DataFusionError::Execution(format!("parameter ${} ({}): {e}", i + 1, wire.name())))
        })?;
        values.push(match target {
            Some(target) if target != value.data_type() => value.cast_to(&target)?,
            _ => value,
        });
    }
    Ok(Some(ParamValues::from(values)))
}

/// One parameter as the client encoded it. Types other than these are
/// taken as text, and refused if sent in binary.
fn decode(portal: &Portal<Prepared>, i: usize, wire: &Type) -> PgWireResult<ScalarValue> {
    let text = |value: Option<String>| ScalarValue::Utf8(value);
    Ok(match *wire {
        Type::BOOL => ScalarValue::Boolean(portal.parameter(i, wire)?),
        Type::INT2 => ScalarValue::Int16(portal.parameter(i, wire)?),
        Type::INT4 => ScalarValue::Int32(portal.parameter(i, wire)?),
        Type::INT8 => ScalarValue::Int64(portal.parameter(i, wire)?),
        Type::FLOAT4 => ScalarValue::Float32(portal.parameter(i, wire)?),
        Type::FLOAT8 => ScalarValue::Float64(portal.parameter(i, wire)?),
        // Exact: through the decimal's text, which the cast reads back.
        Type::NUMERIC => text(portal.parameter::<rust_decimal::Decimal>(i, wire)?.map(|d| d.to_string())),
        Type::DATE => text(portal.parameter::<chrono::NaiveDate>(i, wire)?.map(|d| d.to_string())),
        Type::TIMESTAMP => text(portal.parameter::<chrono::NaiveDateTime>(i, wire)?.map(|t| t.to_string())),
        Type::TIMESTAMPTZ => {
            text(portal.parameter::<chrono::DateTime<chrono::FixedOffset>>(i, wire)?.map(|t| t.to_rfc3339()))
        }
        _ if portal.parameter_format.is_binary(i) => {
            return Err(PgWireError::InvalidRustTypeForParameter(format!("{} in binary", wire.name())));
        }
        _ => text(portal.parameter::<String>(i, &Type::TEXT)?),
    })
}
