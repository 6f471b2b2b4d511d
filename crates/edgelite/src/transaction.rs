//! Transactions and savepoints.
//!
//! A [`Transaction`] or [`Savepoint`] that goes out of scope without
//! [`commit`](Transaction::commit) is rolled back, unless its [`DropBehavior`] says otherwise.
//!
//! ```
//! use edgelite::Connection;
//!
//! let mut conn = Connection::open_in_memory()?;
//! conn.execute_batch("CREATE TABLE t(x)")?;
//! {
//!     let tx = conn.transaction()?;
//!     tx.execute("INSERT INTO t VALUES (1)", [])?;
//!     // dropped without commit: rolled back
//! }
//! let mut tx = conn.transaction()?;
//! tx.execute("INSERT INTO t VALUES (2)", [])?;
//! {
//!     let sp = tx.savepoint()?;
//!     sp.execute("INSERT INTO t VALUES (3)", [])?;
//!     // savepoint rolled back, the transaction goes on
//! }
//! tx.commit()?;
//! let all: Vec<i64> = conn.prepare("SELECT x FROM t")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
//! assert_eq!(all, [2]);
//! # Ok::<(), edgelite::Error>(())
//! ```

use std::ops::Deref;

use crate::{Connection, Result};

/// How a transaction takes its locks (`BEGIN DEFERRED | IMMEDIATE | EXCLUSIVE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionBehavior {
    /// Locks are taken when first needed (SQLite's default).
    #[default]
    Deferred,
    /// A write lock is taken at once.
    Immediate,
    /// An exclusive lock is taken at once.
    Exclusive,
}

/// What a [`Transaction`] or [`Savepoint`] does when dropped while still open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropBehavior {
    /// Roll back (the default).
    #[default]
    Rollback,
    /// Commit (and roll back if the commit fails).
    Commit,
    /// Leave it open: the caller ends it with SQL.
    Ignore,
    /// Panic (unless already panicking), to catch forgotten commits in tests.
    Panic,
}

/// An open transaction; it dereferences to the [`Connection`].
///
/// Made by [`Connection::transaction`] (which borrows the connection mutably, so no other
/// transaction can start meanwhile) or [`Connection::unchecked_transaction`].
#[derive(Debug)]
pub struct Transaction<'conn> {
    conn: &'conn Connection,
    drop_behavior: DropBehavior,
}

impl Transaction<'_> {
    /// Begins a transaction.
    ///
    /// # Errors
    ///
    /// The SQLite failure, e.g. `BEGIN` inside a transaction, or `DatabaseBusy`.
    pub fn new(conn: &mut Connection, behavior: TransactionBehavior) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(conn, behavior)
    }

    /// Begins a transaction on a shared connection; nesting is then detected by SQLite at run
    /// time instead of by the borrow checker.
    ///
    /// # Errors
    ///
    /// As for [`Transaction::new`].
    pub fn new_unchecked(conn: &Connection, behavior: TransactionBehavior) -> Result<Transaction<'_>> {
        conn.execute_batch(match behavior {
            TransactionBehavior::Deferred => "BEGIN DEFERRED",
            TransactionBehavior::Immediate => "BEGIN IMMEDIATE",
            TransactionBehavior::Exclusive => "BEGIN EXCLUSIVE",
        })?;
        Ok(Transaction { conn, drop_behavior: DropBehavior::Rollback })
    }

    /// Starts a savepoint inside this transaction.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, 1, None)
    }

    /// Starts a savepoint with a given name inside this transaction.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, 1, Some(name.into()))
    }

    /// What happens if this transaction is dropped while open.
    #[must_use]
    pub fn drop_behavior(&self) -> DropBehavior {
        self.drop_behavior
    }

    /// Sets what happens if this transaction is dropped while open.
    pub fn set_drop_behavior(&mut self, drop_behavior: DropBehavior) {
        self.drop_behavior = drop_behavior;
    }

    /// Commits.
    ///
    /// # Errors
    ///
    /// The SQLite failure (e.g. a deferred foreign key violation); the transaction is then
    /// rolled back on drop (per its drop behaviour).
    pub fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.drop_behavior = DropBehavior::Ignore;
        Ok(())
    }

    /// Rolls back.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn rollback(mut self) -> Result<()> {
        self.conn.execute_batch("ROLLBACK")?;
        self.drop_behavior = DropBehavior::Ignore;
        Ok(())
    }

    /// Ends the transaction as its drop behaviour says, reporting failure.
    ///
    /// # Errors
    ///
    /// The SQLite failure of the commit or rollback.
    pub fn finish(mut self) -> Result<()> {
        let behavior = self.drop_behavior;
        self.drop_behavior = DropBehavior::Ignore;
        finish_transaction(self.conn, behavior)
    }
}

fn finish_transaction(conn: &Connection, behavior: DropBehavior) -> Result<()> {
    if conn.is_autocommit() {
        return Ok(()); // already ended, e.g. by an error that rolled it back
    }
    match behavior {
        DropBehavior::Rollback => conn.execute_batch("ROLLBACK"),
        DropBehavior::Commit => conn.execute_batch("COMMIT").or_else(|e| {
            conn.execute_batch("ROLLBACK")?;
            Err(e)
        }),
        DropBehavior::Ignore => Ok(()),
        DropBehavior::Panic => {
            if !std::thread::panicking() {
                panic!("transaction dropped while still open (DropBehavior::Panic)");
            }
            Ok(())
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `finish` exists for callers that care.
        let _ = finish_transaction(self.conn, self.drop_behavior);
    }
}

/// An open savepoint (a nestable transaction); it dereferences to the [`Connection`].
///
/// ```
/// use edgelite::Connection;
///
/// let mut conn = Connection::open_in_memory()?;
/// conn.execute_batch("CREATE TABLE t(x)")?;
/// let mut outer = conn.savepoint_with_name("outer")?;
/// outer.execute("INSERT INTO t VALUES (1)", [])?;
/// {
///     let mut inner = outer.savepoint()?;
///     inner.execute("INSERT INTO t VALUES (2)", [])?;
///     inner.rollback()?; // back to the start of `inner`, which stays open
///     inner.execute("INSERT INTO t VALUES (3)", [])?;
///     inner.commit()?;
/// }
/// outer.commit()?;
/// let sum: i64 = conn.query_row("SELECT sum(x) FROM t", [], |r| r.get(0))?;
/// assert_eq!(sum, 4);
/// # Ok::<(), edgelite::Error>(())
/// ```
#[derive(Debug)]
pub struct Savepoint<'conn> {
    conn: &'conn Connection,
    name: String,
    depth: u32,
    drop_behavior: DropBehavior,
    released: bool,
}

impl Savepoint<'_> {
    fn start(conn: &Connection, depth: u32, name: Option<String>) -> Result<Savepoint<'_>> {
        let name = name.unwrap_or_else(|| format!("_edgelite_sp_{depth}"));
        conn.execute_batch(&format!("SAVEPOINT {}", quote_identifier(&name)))?;
        Ok(Savepoint { conn, name, depth, drop_behavior: DropBehavior::Rollback, released: false })
    }

    /// Starts a savepoint on a connection.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn new(conn: &mut Connection) -> Result<Savepoint<'_>> {
        Savepoint::start(conn, 0, None)
    }

    /// Starts a named savepoint on a connection.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn with_name<T: Into<String>>(conn: &mut Connection, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(conn, 0, Some(name.into()))
    }

    /// Starts a savepoint nested in this one.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, self.depth + 1, None)
    }

    /// Starts a named savepoint nested in this one.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::start(self.conn, self.depth + 1, Some(name.into()))
    }

    /// The savepoint's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What happens if this savepoint is dropped while open.
    #[must_use]
    pub fn drop_behavior(&self) -> DropBehavior {
        self.drop_behavior
    }

    /// Sets what happens if this savepoint is dropped while open.
    pub fn set_drop_behavior(&mut self, drop_behavior: DropBehavior) {
        self.drop_behavior = drop_behavior;
    }

    /// Releases the savepoint, keeping its changes (`RELEASE`); they become durable when the
    /// enclosing transaction (if any) commits.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn commit(mut self) -> Result<()> {
        self.release()
    }

    /// Undoes the changes made since the savepoint started (`ROLLBACK TO`). The savepoint stays
    /// open: it can be used again, then committed or dropped.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn rollback(&mut self) -> Result<()> {
        self.conn.execute_batch(&format!("ROLLBACK TO {}", quote_identifier(&self.name)))
    }

    /// Ends the savepoint as its drop behaviour says, reporting failure.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn finish(mut self) -> Result<()> {
        self.finish_()
    }

    fn release(&mut self) -> Result<()> {
        self.conn.execute_batch(&format!("RELEASE {}", quote_identifier(&self.name)))?;
        self.released = true;
        Ok(())
    }

    fn finish_(&mut self) -> Result<()> {
        if self.released || self.conn.is_autocommit() {
            self.released = true;
            return Ok(());
        }
        match self.drop_behavior {
            DropBehavior::Commit => self.release().or_else(|e| {
                self.rollback()?;
                self.release()?;
                Err(e)
            }),
            DropBehavior::Rollback => {
                self.rollback()?;
                self.release()
            }
            DropBehavior::Ignore => {
                self.released = true;
                Ok(())
            }
            DropBehavior::Panic => {
                self.released = true;
                if !std::thread::panicking() {
                    panic!("savepoint {:?} dropped while still open (DropBehavior::Panic)", self.name);
                }
                Ok(())
            }
        }
    }
}

impl Deref for Savepoint<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `finish` exists for callers that care.
        let _ = self.finish_();
    }
}

/// Quotes an SQL identifier ("name", with embedded quotes doubled).
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Connection {
    /// Begins a deferred transaction; see [`Transaction`].
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        Transaction::new(self, TransactionBehavior::Deferred)
    }

    /// Begins a transaction with the given locking behaviour.
    ///
    /// # Errors
    ///
    /// The SQLite failure, e.g. `DatabaseBusy` for an immediate transaction while another
    /// connection writes.
    pub fn transaction_with_behavior(&mut self, behavior: TransactionBehavior) -> Result<Transaction<'_>> {
        Transaction::new(self, behavior)
    }

    /// Begins a deferred transaction through a shared reference (e.g. from inside an `Rc`).
    /// Starting a second one before the first ends fails at run time.
    ///
    /// # Errors
    ///
    /// The SQLite failure, e.g. "cannot start a transaction within a transaction".
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        Transaction::new_unchecked(self, TransactionBehavior::Deferred)
    }

    /// Starts a savepoint; see [`Savepoint`].
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint(&mut self) -> Result<Savepoint<'_>> {
        Savepoint::new(self)
    }

    /// Starts a named savepoint.
    ///
    /// # Errors
    ///
    /// The SQLite failure.
    pub fn savepoint_with_name<T: Into<String>>(&mut self, name: T) -> Result<Savepoint<'_>> {
        Savepoint::with_name(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }
}
