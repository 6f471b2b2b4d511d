//! A count of bytes against a limit, shared between threads: what the node caches' budgets
//! (`cache.rs`), the temporary files' (`temp_quota.rs`) and SQLite memory's (`memory.rs`) are
//! made of.

use core::sync::atomic::{AtomicU64, Ordering};

/// Bytes that a group (the connections of one tenant, say) holds of something, against a limit
/// past which it is given no more. [`TempFileBudget`](crate::TempFileBudget) and
/// [`MemoryBudget`](crate::MemoryBudget) are this type.
#[derive(Debug)]
pub struct ByteBudget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl ByteBudget {
    /// A budget of `limit` bytes.
    #[must_use]
    pub const fn new(limit: u64) -> ByteBudget {
        ByteBudget { used: AtomicU64::new(0), limit: AtomicU64::new(limit) }
    }

    /// A budget of `limit` bytes for the life of the process: what is charged to a
    /// [`MemoryBudget`](crate::MemoryBudget) may outlive any owner, so it is never freed.
    #[must_use]
    pub fn leak(limit: u64) -> &'static ByteBudget {
        Box::leak(Box::new(ByteBudget::new(limit)))
    }

    /// Bytes held under it now.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit in bytes.
    #[must_use]
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets the limit and returns the previous one. What is held past a lowered limit stays,
    /// and gets no more.
    pub fn set_limit(&self, limit: u64) -> u64 {
        self.limit.swap(limit, Ordering::Relaxed)
    }

    /// Takes `n` bytes if they fit under the limit.
    pub(crate) fn reserve(&self, n: u64) -> bool {
        let before = self.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.limit() {
            self.used.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub(crate) fn give_back(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}
