//! The Hrana data model (JSON), shared by HTTP and WebSocket.
//!
//! Field names follow the Hrana 3 spec and what the published clients send (see
//! `docs/sync-protocol.md` §1). Unknown fields are ignored, as the spec requires.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Hrana value. Integers travel as decimal strings, blobs as base64.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        match self {
            Value::Null => map.serialize_entry("type", "null")?,
            Value::Integer(i) => {
                map.serialize_entry("type", "integer")?;
                map.serialize_entry("value", &i.to_string())?;
            }
            // JSON has no infinities; SQLite has no NaN. An infinite double cannot be
            // represented, so it goes out as null rather than as an invalid document.
            Value::Float(f) if !f.is_finite() => map.serialize_entry("type", "null")?,
            Value::Float(f) => {
                map.serialize_entry("type", "float")?;
                map.serialize_entry("value", f)?;
            }
            Value::Text(t) => {
                map.serialize_entry("type", "text")?;
                map.serialize_entry("value", t)?;
            }
            Value::Blob(b) => {
                map.serialize_entry("type", "blob")?;
                map.serialize_entry("base64", &STANDARD.encode(b))?;
            }
        }
        map.end()
    }
}

#[derive(Deserialize)]
struct RawValue {
    #[serde(rename = "type")]
    ty: String,
    value: Option<serde_json::Value>,
    base64: Option<String>,
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        let raw = RawValue::deserialize(d)?;
        match raw.ty.as_str() {
            "null" => Ok(Value::Null),
            // The spec says a string; a JSON number is accepted too when it is an exact integer.
            "integer" => match raw.value {
                Some(serde_json::Value::String(s)) => {
                    s.trim().parse().map(Value::Integer).map_err(|_| D::Error::custom("integer value out of range"))
                }
                Some(serde_json::Value::Number(n)) => {
                    n.as_i64().map(Value::Integer).ok_or_else(|| D::Error::custom("integer value out of range"))
                }
                _ => Err(D::Error::custom("integer value must be a string")),
            },
            "float" => match raw.value {
                Some(serde_json::Value::Number(n)) => {
                    n.as_f64().map(Value::Float).ok_or_else(|| D::Error::custom("bad float value"))
                }
                _ => Err(D::Error::custom("float value must be a number")),
            },
            "text" => match raw.value {
                Some(serde_json::Value::String(s)) => Ok(Value::Text(s)),
                _ => Err(D::Error::custom("text value must be a string")),
            },
            "blob" => {
                let b64 = raw.base64.ok_or_else(|| D::Error::missing_field("base64"))?;
                // The Rust client sends unpadded base64, the TS client padded: take both.
                STANDARD_NO_PAD
                    .decode(b64.trim_end_matches('='))
                    .map(Value::Blob)
                    .map_err(|e| D::Error::custom(format!("bad base64 in blob: {e}")))
            }
            other => Err(D::Error::custom(format!("unknown value type {other:?}"))),
        }
    }
}

/// A named argument.
#[derive(Clone, Debug, Deserialize)]
pub struct NamedArg {
    /// The parameter's name, with or without its `:`/`@`/`$` prefix.
    pub name: String,
    /// The value.
    pub value: Value,
}

/// One SQL statement with its arguments.
#[derive(Clone, Debug, Deserialize)]
pub struct Stmt {
    /// The SQL text (exclusive with `sql_id`).
    #[serde(default)]
    pub sql: Option<String>,
    /// The id of SQL stored with `store_sql`.
    #[serde(default)]
    pub sql_id: Option<i32>,
    /// Positional arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Named arguments.
    #[serde(default)]
    pub named_args: Vec<NamedArg>,
    /// Whether rows are returned (default true).
    #[serde(default)]
    pub want_rows: Option<bool>,
}

/// A batch of conditional steps.
#[derive(Clone, Debug, Deserialize)]
pub struct Batch {
    /// The steps, run in order.
    pub steps: Vec<BatchStep>,
}

/// One step of a batch.
#[derive(Clone, Debug, Deserialize)]
pub struct BatchStep {
    /// Runs the step only if this holds.
    #[serde(default)]
    pub condition: Option<BatchCond>,
    /// The statement.
    pub stmt: Stmt,
}

/// A batch step condition.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BatchCond {
    /// Step `step` ran and succeeded.
    Ok {
        /// The step index.
        step: u32,
    },
    /// Step `step` ran and failed.
    Error {
        /// The step index.
        step: u32,
    },
    /// Negation.
    Not {
        /// The negated condition.
        cond: Box<BatchCond>,
    },
    /// Conjunction.
    And {
        /// All must hold.
        conds: Vec<BatchCond>,
    },
    /// Disjunction.
    Or {
        /// One must hold.
        conds: Vec<BatchCond>,
    },
    /// The connection is in autocommit mode (Hrana 3).
    IsAutocommit {},
}

/// A request on a stream (HTTP pipeline entries; WS requests add stream ids around these).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamRequest {
    /// Close the stream.
    Close {},
    /// Run one statement.
    Execute {
        /// The statement.
        stmt: Stmt,
    },
    /// Run a batch.
    Batch {
        /// The batch.
        batch: Batch,
    },
    /// Run several `;`-separated statements, discarding rows.
    Sequence {
        /// SQL text.
        #[serde(default)]
        sql: Option<String>,
        /// Or stored SQL.
        #[serde(default)]
        sql_id: Option<i32>,
    },
    /// Describe a statement.
    Describe {
        /// SQL text.
        #[serde(default)]
        sql: Option<String>,
        /// Or stored SQL.
        #[serde(default)]
        sql_id: Option<i32>,
    },
    /// Store SQL text under an id.
    StoreSql {
        /// The id.
        sql_id: i32,
        /// The text.
        sql: String,
    },
    /// Forget stored SQL.
    CloseSql {
        /// The id.
        sql_id: i32,
    },
    /// Whether the stream's connection is in autocommit mode.
    GetAutocommit {},
}

/// A Hrana error object. `code` is always a string (the Rust client requires it).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Error {
    /// A human-readable message.
    pub message: String,
    /// A machine-readable code (`SQLITE_CONSTRAINT_UNIQUE`, `ARGS_INVALID`, …).
    pub code: String,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: &str, message: impl Into<String>) -> Error {
        Error { message: message.into(), code: code.to_owned() }
    }
}

/// A result column.
#[derive(Clone, Debug, Serialize)]
pub struct Col {
    /// The column name.
    pub name: Option<String>,
    /// The declared type, if the column comes straight from a table column.
    pub decltype: Option<String>,
}

/// The result of one statement.
#[derive(Clone, Debug, Serialize)]
pub struct StmtResult {
    /// The columns.
    pub cols: Vec<Col>,
    /// The rows.
    pub rows: Vec<Vec<Value>>,
    /// Rows changed by the statement.
    pub affected_row_count: u64,
    /// The connection's last insert rowid, as a decimal string.
    pub last_insert_rowid: Option<String>,
    /// Always null: this server has no replication index for Hrana.
    pub replication_index: Option<String>,
    /// Rows read (not tracked: 0).
    pub rows_read: u64,
    /// Rows written (the affected row count for writes).
    pub rows_written: u64,
    /// Time spent executing, in milliseconds.
    pub query_duration_ms: f64,
}

/// The result of a batch: one slot per step in each array.
#[derive(Clone, Debug, Serialize)]
pub struct BatchResult {
    /// Results of steps that ran and succeeded.
    pub step_results: Vec<Option<StmtResult>>,
    /// Errors of steps that ran and failed.
    pub step_errors: Vec<Option<Error>>,
    /// Always null.
    pub replication_index: Option<String>,
}

/// A described parameter.
#[derive(Clone, Debug, Serialize)]
pub struct DescribeParam {
    /// The name with its prefix, or null for `?`.
    pub name: Option<String>,
}

/// The result of `describe`.
#[derive(Clone, Debug, Serialize)]
pub struct DescribeResult {
    /// The parameters, indexed from 1.
    pub params: Vec<DescribeParam>,
    /// The result columns.
    pub cols: Vec<Col>,
    /// Whether it is an EXPLAIN statement.
    pub is_explain: bool,
    /// Whether it does not write.
    pub is_readonly: bool,
}

/// A successful stream response, tagged by `type`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamResponse {
    /// `close` done.
    Close {},
    /// `execute` done.
    Execute {
        /// The statement's result.
        result: StmtResult,
    },
    /// `batch` done.
    Batch {
        /// The batch's result.
        result: BatchResult,
    },
    /// `sequence` done.
    Sequence {},
    /// `describe` done.
    Describe {
        /// The description.
        result: DescribeResult,
    },
    /// `store_sql` done.
    StoreSql {},
    /// `close_sql` done.
    CloseSql {},
    /// `get_autocommit` done.
    GetAutocommit {
        /// Whether the connection is in autocommit mode.
        is_autocommit: bool,
    },
}

/// One entry of a cursor (Hrana 3).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CursorEntry {
    /// A step starts.
    StepBegin {
        /// The step index.
        step: u32,
        /// Its columns.
        cols: Vec<Col>,
    },
    /// A row of the current step.
    Row {
        /// The values.
        row: Vec<Value>,
    },
    /// The current step ended.
    StepEnd {
        /// Rows changed.
        affected_row_count: u64,
        /// Last insert rowid.
        last_insert_rowid: Option<String>,
    },
    /// A step failed.
    StepError {
        /// The step index.
        step: u32,
        /// The error.
        error: Error,
    },
    /// The cursor failed (always last).
    Error {
        /// The error.
        error: Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_both_base64_forms() {
        let v: Value = serde_json::from_str(r#"{"type":"blob","base64":"AQI"}"#).expect("unpadded");
        assert_eq!(v, Value::Blob(vec![1, 2]));
        let v: Value = serde_json::from_str(r#"{"type":"blob","base64":"AQI="}"#).expect("padded");
        assert_eq!(v, Value::Blob(vec![1, 2]));
        let v: Value = serde_json::from_str(r#"{"type":"integer","value":"-9223372036854775808"}"#).expect("int");
        assert_eq!(v, Value::Integer(i64::MIN));
        assert_eq!(serde_json::to_string(&Value::Integer(5)).expect("ser"), r#"{"type":"integer","value":"5"}"#);
        assert!(serde_json::from_str::<Value>(r#"{"type":"integer","value":"9223372036854775808"}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"type":"blob","base64":"!!"}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"type":"weird"}"#).is_err());
    }

    #[test]
    fn floats_parse_and_print_exactly() {
        for text in ["-1.25e-300", "5e-324", "2.225073858507201e-308", "1.7976931348623157e308", "-0.0", "1e23"] {
            let json = format!(r#"{{"type":"float","value":{text}}}"#);
            let v: Value = serde_json::from_str(&json).expect("float");
            let want: f64 = text.parse().expect("rust parse");
            let Value::Float(got) = v else { panic!("{v:?}") };
            assert_eq!(got.to_bits(), want.to_bits(), "{text} parsed as {got:e}");
            let back = serde_json::to_string(&Value::Float(got)).expect("ser");
            let again: Value = serde_json::from_str(&back).expect("reparse");
            assert_eq!(again, Value::Float(got), "{back}");
            assert!(matches!(again, Value::Float(f) if f.to_bits() == want.to_bits()), "{back}");
        }
    }

    #[test]
    fn conditions_parse() {
        let c: BatchCond = serde_json::from_str(
            r#"{"type":"not","cond":{"type":"and","conds":[{"type":"ok","step":0},{"type":"is_autocommit"}]}}"#,
        )
        .expect("cond");
        assert!(matches!(c, BatchCond::Not { .. }));
    }
}
