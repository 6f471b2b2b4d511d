//! SQLite result codes as Rust values, with the names libsqlite3-sys gives them.

use core::ffi::c_int;
use core::fmt;

use crate::bindings::*;

/// The primary result code of a failed SQLite call, by meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `SQLITE_INTERNAL`: an internal logic error in SQLite (or in an extension).
    InternalMalfunction,
    /// `SQLITE_PERM`: access permission denied.
    PermissionDenied,
    /// `SQLITE_ABORT`: a callback asked for the operation to stop.
    OperationAborted,
    /// `SQLITE_BUSY`: the database file is locked.
    DatabaseBusy,
    /// `SQLITE_LOCKED`: a table in the database is locked.
    DatabaseLocked,
    /// `SQLITE_NOMEM`: a memory allocation failed.
    OutOfMemory,
    /// `SQLITE_READONLY`: an attempt to write a read-only database.
    ReadOnly,
    /// `SQLITE_INTERRUPT`: the operation was interrupted by `sqlite3_interrupt()`.
    OperationInterrupted,
    /// `SQLITE_IOERR`: the operating system reported an I/O error.
    SystemIoFailure,
    /// `SQLITE_CORRUPT`: the database disk image is malformed.
    DatabaseCorrupt,
    /// `SQLITE_NOTFOUND`: unknown opcode in `sqlite3_file_control()`, or similar.
    NotFound,
    /// `SQLITE_FULL`: the disk is full.
    DiskFull,
    /// `SQLITE_CANTOPEN`: unable to open the database file.
    CannotOpen,
    /// `SQLITE_PROTOCOL`: the locking protocol failed.
    FileLockingProtocolFailed,
    /// `SQLITE_SCHEMA`: the schema changed.
    SchemaChanged,
    /// `SQLITE_TOOBIG`: a string or BLOB exceeds the size limit.
    TooBig,
    /// `SQLITE_CONSTRAINT`: a constraint was violated.
    ConstraintViolation,
    /// `SQLITE_MISMATCH`: data type mismatch.
    TypeMismatch,
    /// `SQLITE_MISUSE`: the library was used incorrectly.
    ApiMisuse,
    /// `SQLITE_NOLFS`: large files are not supported by the host.
    NoLargeFileSupport,
    /// `SQLITE_AUTH`: the authorizer denied the statement.
    AuthorizationForStatementDenied,
    /// `SQLITE_RANGE`: a parameter index is out of range.
    ParameterOutOfRange,
    /// `SQLITE_NOTADB`: the file is not a database.
    NotADatabase,
    /// Any other code.
    Unknown,
}

/// A failed SQLite call: its primary code by meaning and the full (extended) result code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Error {
    /// The primary code, by meaning.
    pub code: ErrorCode,
    /// The extended result code as SQLite returned it.
    pub extended_code: c_int,
}

impl Error {
    /// Classifies an SQLite result code (primary or extended).
    #[must_use]
    pub fn new(result_code: c_int) -> Self {
        let code = match result_code & 0xff {
            SQLITE_INTERNAL => ErrorCode::InternalMalfunction,
            SQLITE_PERM => ErrorCode::PermissionDenied,
            SQLITE_ABORT => ErrorCode::OperationAborted,
            SQLITE_BUSY => ErrorCode::DatabaseBusy,
            SQLITE_LOCKED => ErrorCode::DatabaseLocked,
            SQLITE_NOMEM => ErrorCode::OutOfMemory,
            SQLITE_READONLY => ErrorCode::ReadOnly,
            SQLITE_INTERRUPT => ErrorCode::OperationInterrupted,
            SQLITE_IOERR => ErrorCode::SystemIoFailure,
            SQLITE_CORRUPT => ErrorCode::DatabaseCorrupt,
            SQLITE_NOTFOUND => ErrorCode::NotFound,
            SQLITE_FULL => ErrorCode::DiskFull,
            SQLITE_CANTOPEN => ErrorCode::CannotOpen,
            SQLITE_PROTOCOL => ErrorCode::FileLockingProtocolFailed,
            SQLITE_SCHEMA => ErrorCode::SchemaChanged,
            SQLITE_TOOBIG => ErrorCode::TooBig,
            SQLITE_CONSTRAINT => ErrorCode::ConstraintViolation,
            SQLITE_MISMATCH => ErrorCode::TypeMismatch,
            SQLITE_MISUSE => ErrorCode::ApiMisuse,
            SQLITE_NOLFS => ErrorCode::NoLargeFileSupport,
            SQLITE_AUTH => ErrorCode::AuthorizationForStatementDenied,
            SQLITE_RANGE => ErrorCode::ParameterOutOfRange,
            SQLITE_NOTADB => ErrorCode::NotADatabase,
            _ => ErrorCode::Unknown,
        };
        Error { code, extended_code: result_code }
    }

    /// The primary result code (the low byte of the extended code).
    #[must_use]
    pub fn sqlite_error_code(&self) -> c_int {
        self.extended_code & 0xff
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error code {}: {}", self.extended_code, code_to_str(self.extended_code))
    }
}

impl std::error::Error for Error {}

/// SQLite's English text for a result code, as `sqlite3_errstr()` gives it.
#[must_use]
pub fn code_to_str(code: c_int) -> &'static str {
    // SAFETY: sqlite3_errstr accepts any integer and needs no initialisation.
    let text = unsafe { sqlite3_errstr(code) };
    // SAFETY: it returns a pointer to a static, NUL-terminated ASCII string.
    let text = unsafe { core::ffi::CStr::from_ptr(text) };
    text.to_str().unwrap_or("unknown error")
}

/// Why a loadable extension could not take its API routines table (libsqlite3-sys's type, kept
/// so that code matching on it compiles; edgelite links the core, so it never occurs here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// The routines pointer handed to the extension entry point was null.
    NullApiPointer,
    /// The core is older than the extension requires.
    VersionMismatch {
        /// The version the extension was built for.
        compile_time: i32,
        /// The version of the running core.
        runtime: i32,
    },
    /// A routine the extension needs is missing from the table.
    NullFunctionPointer,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::NullApiPointer => f.write_str("invalid sqlite3_api_routines pointer"),
            InitError::VersionMismatch { compile_time, runtime } => {
                write!(f, "SQLite version mismatch: {runtime} < {compile_time}")
            }
            InitError::NullFunctionPointer => f.write_str("some sqlite3_api_routines functions are missing"),
        }
    }
}

impl std::error::Error for InitError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extended_codes_classify_by_primary_code() {
        let e = Error::new(SQLITE_CONSTRAINT_UNIQUE);
        assert_eq!(e.code, ErrorCode::ConstraintViolation);
        assert_eq!(e.sqlite_error_code(), SQLITE_CONSTRAINT);
        assert_eq!(Error::new(SQLITE_IOERR_SHORT_READ).code, ErrorCode::SystemIoFailure);
        assert_eq!(Error::new(12345).code, ErrorCode::Unknown);
    }

    #[test]
    fn messages_come_from_sqlite() {
        assert_eq!(code_to_str(SQLITE_BUSY), "database is locked");
        assert_eq!(Error::new(SQLITE_CORRUPT).to_string(), "Error code 11: database disk image is malformed");
    }
}
