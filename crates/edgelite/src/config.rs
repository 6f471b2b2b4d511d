//! Per-connection options (`sqlite3_db_config`) and run-time limits (`sqlite3_limit`), as
//! rusqlite's `config` and `limits` modules.
//!
//! ```
//! use edgelite::config::DbConfig;
//! let conn = edgelite::Connection::open_in_memory()?;
//! assert!(conn.set_db_config(DbConfig::Defensive, true)?);
//! assert!(conn.db_config(DbConfig::Defensive)?);
//! // DEFENSIVE refuses PRAGMA writable_schema, which would let SQL rewrite the schema by hand
//! conn.execute_batch("PRAGMA writable_schema = ON")?;
//! assert!(conn.execute_batch("UPDATE sqlite_schema SET sql = 'x'").is_err());
//! # Ok::<(), edgelite::Error>(())
//! ```

use crate::{Connection, Result, ffi};

/// A boolean connection option of `sqlite3_db_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum DbConfig {
    /// Foreign key constraints are enforced.
    EnableFkey = ffi::SQLITE_DBCONFIG_ENABLE_FKEY,
    /// Triggers run.
    EnableTrigger = ffi::SQLITE_DBCONFIG_ENABLE_TRIGGER,
    /// `fts3_tokenizer()` accepts its two-argument form, which installs a blob as a C pointer
    /// to a tokenizer: only for trusted SQL. On by default in edgelite, as in Debian's library
    /// (`SQLITE_ENABLE_FTS3_TOKENIZER`).
    EnableFts3Tokenizer = ffi::SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER,
    /// `sqlite3_load_extension()` works (the SQL function `load_extension()` is a separate switch,
    /// off unless `sqlite3_enable_load_extension` turns it on).
    EnableLoadExtension = ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
    /// Closing the last connection to a WAL database does not checkpoint it.
    NoCkptOnClose = ffi::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
    /// The query planner stability guarantee.
    EnableQpsg = ffi::SQLITE_DBCONFIG_ENABLE_QPSG,
    /// EXPLAIN QUERY PLAN shows trigger programs.
    TriggerEqp = ffi::SQLITE_DBCONFIG_TRIGGER_EQP,
    /// The next VACUUM empties the database.
    ResetDatabase = ffi::SQLITE_DBCONFIG_RESET_DATABASE,
    /// Defensive mode: SQL cannot deliberately corrupt the database (no `writable_schema`
    /// writes, no writes to virtual tables' shadow tables or to `sqlite_dbpage`, no
    /// `PRAGMA journal_mode=OFF`).
    Defensive = ffi::SQLITE_DBCONFIG_DEFENSIVE,
    /// `PRAGMA writable_schema` is on.
    WritableSchema = ffi::SQLITE_DBCONFIG_WRITABLE_SCHEMA,
    /// ALTER TABLE RENAME behaves as before 3.26.
    LegacyAlterTable = ffi::SQLITE_DBCONFIG_LEGACY_ALTER_TABLE,
    /// Double-quoted string literals are accepted in DML.
    DqsDml = ffi::SQLITE_DBCONFIG_DQS_DML,
    /// Double-quoted string literals are accepted in DDL.
    DqsDdl = ffi::SQLITE_DBCONFIG_DQS_DDL,
    /// Views may be used.
    EnableView = ffi::SQLITE_DBCONFIG_ENABLE_VIEW,
    /// New databases use the legacy file format.
    LegacyFileFormat = ffi::SQLITE_DBCONFIG_LEGACY_FILE_FORMAT,
    /// Schema-defined SQL (views, triggers, defaults) may call functions and virtual tables not
    /// marked innocuous.
    TrustedSchema = ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA,
    /// Statements collect the run-time counters of `sqlite3_stmt_scanstatus_v2()`. Compiled
    /// in, but off on a new connection: it costs time on every opcode of every statement.
    StmtScanStatus = ffi::SQLITE_DBCONFIG_STMT_SCANSTATUS,
}

/// A run-time limit of `sqlite3_limit`, per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
#[non_exhaustive]
pub enum Limit {
    /// The largest string or blob, and the largest row, in bytes.
    Length = ffi::SQLITE_LIMIT_LENGTH,
    /// The longest SQL text, in bytes.
    SqlLength = ffi::SQLITE_LIMIT_SQL_LENGTH,
    /// Columns in a table, index, view, result set, ORDER BY or GROUP BY.
    Column = ffi::SQLITE_LIMIT_COLUMN,
    /// The depth of an expression tree.
    ExprDepth = ffi::SQLITE_LIMIT_EXPR_DEPTH,
    /// Terms of a compound SELECT.
    CompoundSelect = ffi::SQLITE_LIMIT_COMPOUND_SELECT,
    /// Instructions of one prepared statement.
    VdbeOp = ffi::SQLITE_LIMIT_VDBE_OP,
    /// Arguments of a function.
    FunctionArg = ffi::SQLITE_LIMIT_FUNCTION_ARG,
    /// Attached databases.
    Attached = ffi::SQLITE_LIMIT_ATTACHED,
    /// The length of a LIKE or GLOB pattern.
    LikePatternLength = ffi::SQLITE_LIMIT_LIKE_PATTERN_LENGTH,
    /// The largest `?NNN` parameter number.
    VariableNumber = ffi::SQLITE_LIMIT_VARIABLE_NUMBER,
    /// The depth of trigger recursion.
    TriggerDepth = ffi::SQLITE_LIMIT_TRIGGER_DEPTH,
    /// Auxiliary worker threads of one statement.
    WorkerThreads = ffi::SQLITE_LIMIT_WORKER_THREADS,
}

impl Connection {
    /// Turns a boolean option on or off; returns its value afterwards.
    ///
    /// # Errors
    ///
    /// The error SQLite returns (an option it does not know is `SQLITE_ERROR`).
    pub fn set_db_config(&self, config: DbConfig, on: bool) -> Result<bool> {
        self.inner().db_config_bool(config as i32, i32::from(on))
    }

    /// Removes the virtual table module `name` (a built-in one such as `bytecode`, or one a
    /// program registered) from this connection: its eponymous table and `CREATE VIRTUAL
    /// TABLE ... USING name` then fail with "no such table" / "no such module", and a table
    /// of the user's that has that name is not affected. Removing a name no module has does
    /// nothing.
    ///
    /// # Errors
    ///
    /// The error SQLite returns (a name with a NUL byte is `SQLITE_MISUSE`).
    pub fn drop_module(&self, name: &str) -> Result<()> {
        let name = std::ffi::CString::new(name)
            .map_err(|_| crate::Error::from_code(ffi::SQLITE_MISUSE, Some("module name with a NUL byte".to_owned())))?;
        self.inner().drop_module(&name)
    }

    /// Sets a run-time limit (SQLite lowers a value above the compile-time maximum to it);
    /// returns the previous value.
    pub fn set_limit(&self, limit: Limit, value: i32) -> i32 {
        self.inner().limit(limit as i32, value.max(0))
    }

    /// The current value of a run-time limit.
    #[must_use]
    pub fn limit(&self, limit: Limit) -> i32 {
        self.inner().limit(limit as i32, -1)
    }

    /// The current value of a boolean option.
    ///
    /// # Errors
    ///
    /// As [`Connection::set_db_config`].
    pub fn db_config(&self, config: DbConfig) -> Result<bool> {
        self.inner().db_config_bool(config as i32, -1)
    }
}

#[cfg(test)]
mod tests {
    use super::DbConfig;
    use crate::Connection;

    #[test]
    fn options_set_and_read_back() {
        let conn = Connection::open_in_memory().expect("open");
        // built with SQLITE_ENABLE_FTS3_TOKENIZER: on until turned off
        assert!(conn.db_config(DbConfig::EnableFts3Tokenizer).expect("query"));
        assert!(!conn.set_db_config(DbConfig::EnableFts3Tokenizer, false).expect("off"));
        assert!(!conn.db_config(DbConfig::EnableFts3Tokenizer).expect("query"));
        let e = conn
            .query_row("SELECT fts3_tokenizer('x', X'4141414141414141')", [], |_| Ok(()))
            .expect_err("the two-argument form is off");
        assert!(e.to_string().contains("fts3tokenize disabled"), "{e}");
        assert!(!conn.db_config(DbConfig::Defensive).expect("query"));
        let before = conn.limit(super::Limit::Length);
        assert_eq!(conn.set_limit(super::Limit::Length, 1000), before);
        assert_eq!(conn.limit(super::Limit::Length), 1000);
        let e = conn.query_row("SELECT zeroblob(1001)", [], |_| Ok(())).expect_err("over the limit");
        assert_eq!(e.sqlite_error_code(), Some(crate::ErrorCode::TooBig), "{e}");
        assert!(conn.set_db_config(DbConfig::Defensive, true).expect("on"));
    }

    /// Scan status would read the cycle counter twice per opcode (a full scan 1.15x slower
    /// than Debian's library): off until asked for.
    #[test]
    fn statement_scan_status_is_off_until_asked_for() {
        let conn = Connection::open_in_memory().expect("open");
        assert!(!conn.db_config(DbConfig::StmtScanStatus).expect("query"));
        assert!(conn.set_db_config(DbConfig::StmtScanStatus, true).expect("on"));
        assert!(conn.db_config(DbConfig::StmtScanStatus).expect("query"));
    }
}
