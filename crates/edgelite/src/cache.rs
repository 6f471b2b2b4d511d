//! The per-connection cache behind [`Connection::prepare_cached`]: a small LRU list keyed by
//! SQL text. Lookups are linear, which beats hashing at the default size of 16.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::raw_statement::RawStatement;
use crate::statement::Statement;
use crate::{Connection, Result};

const DEFAULT_CAPACITY: usize = 16;

pub(crate) struct StatementCache {
    inner: RefCell<Lru>,
}

struct Lru {
    capacity: usize,
    /// Most recently returned first.
    entries: VecDeque<(Box<str>, RawStatement)>,
}

impl StatementCache {
    pub(crate) fn new() -> StatementCache {
        StatementCache { inner: RefCell::new(Lru { capacity: DEFAULT_CAPACITY, entries: VecDeque::new() }) }
    }

    pub(crate) fn get<'conn>(&'conn self, conn: &'conn Connection, sql: &str) -> Result<CachedStatement<'conn>> {
        let hit = {
            let mut lru = self.inner.borrow_mut();
            let pos = lru.entries.iter().position(|(k, _)| &**k == sql);
            pos.and_then(|i| lru.entries.remove(i))
        };
        let (key, raw) = match hit {
            Some(entry) => entry,
            None => (sql.into(), conn.prepare_raw(sql, true)?),
        };
        Ok(CachedStatement { stmt: Some(Statement::new(conn, raw)), key: Some(key), cache: self })
    }

    fn put(&self, key: Box<str>, raw: RawStatement) {
        // Reset so the statement holds no lock and no borrowed state while idle.
        raw.reset();
        raw.clear_bindings();
        let evicted = {
            let mut lru = self.inner.borrow_mut();
            if lru.capacity == 0 {
                return; // drops (finalizes) `raw`
            }
            lru.entries.push_front((key, raw));
            let keep = lru.capacity.min(lru.entries.len());
            lru.entries.split_off(keep)
        };
        drop(evicted);
    }

    pub(crate) fn set_capacity(&self, capacity: usize) {
        let evicted = {
            let mut lru = self.inner.borrow_mut();
            lru.capacity = capacity;
            let keep = capacity.min(lru.entries.len());
            lru.entries.split_off(keep)
        };
        drop(evicted);
    }

    pub(crate) fn flush(&self) {
        let all = std::mem::take(&mut self.inner.borrow_mut().entries);
        drop(all);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.borrow().entries.len()
    }
}

/// A statement from [`Connection::prepare_cached`]; it dereferences to [`Statement`] and goes
/// back to the cache when dropped.
pub struct CachedStatement<'conn> {
    stmt: Option<Statement<'conn>>,
    key: Option<Box<str>>,
    cache: &'conn StatementCache,
}

impl CachedStatement<'_> {
    /// Finalizes the statement instead of returning it to the cache.
    pub fn discard(mut self) {
        self.stmt = None;
    }
}

impl<'conn> Deref for CachedStatement<'conn> {
    type Target = Statement<'conn>;
    fn deref(&self) -> &Statement<'conn> {
        self.stmt.as_ref().expect("invariant: a CachedStatement holds its statement until dropped")
    }
}

impl DerefMut for CachedStatement<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.stmt.as_mut().expect("invariant: a CachedStatement holds its statement until dropped")
    }
}

impl Drop for CachedStatement<'_> {
    fn drop(&mut self) {
        if let (Some(stmt), Some(key)) = (self.stmt.take(), self.key.take()) {
            self.cache.put(key, stmt.into_raw());
        }
    }
}

impl fmt::Debug for CachedStatement<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CachedStatement").field(&self.stmt).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_reused_and_evicted_lru() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.set_prepared_statement_cache_capacity(2);
        for sql in ["SELECT 1", "SELECT 2", "SELECT 1", "SELECT 3"] {
            let mut s = conn.prepare_cached(sql)?;
            s.query_row([], |r| r.get::<_, i64>(0))?;
        }
        // "SELECT 2" was least recently used when "SELECT 3" came in.
        let keys: Vec<String> = conn.cache.inner.borrow().entries.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["SELECT 3", "SELECT 1"]);
        conn.prepare_cached("SELECT 1")?.discard();
        assert_eq!(conn.cache.len(), 1);
        conn.flush_prepared_statement_cache();
        assert_eq!(conn.cache.len(), 0);
        Ok(())
    }

    #[test]
    fn a_reused_statement_starts_clean() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        {
            let mut s = conn.prepare_cached("VALUES (1), (2)")?;
            let mut rows = s.query([])?;
            rows.next()?; // leave it mid-iteration
        }
        let mut s = conn.prepare_cached("VALUES (1), (2)")?;
        let all: Vec<i64> = s.query_map([], |r| r.get(0))?.collect::<Result<_>>()?;
        assert_eq!(all, [1, 2]);
        Ok(())
    }

    #[test]
    fn zero_capacity_disables_caching() -> Result<()> {
        let conn = Connection::open_in_memory()?;
        conn.set_prepared_statement_cache_capacity(0);
        conn.prepare_cached("SELECT 1")?;
        assert_eq!(conn.cache.len(), 0);
        Ok(())
    }
}
