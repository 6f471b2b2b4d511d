//! A count of bytes against a limit, shared between threads: what the node caches' budgets
//! (`cache.rs`) and the temporary files' (`temp_quota.rs`) are made of.

use core::sync::atomic::{AtomicU64, Ordering};

/// Bytes taken and the limit past which no more are given.
#[derive(Debug)]
pub(crate) struct Tally {
    used: AtomicU64,
    limit: AtomicU64,
}

impl Tally {
    pub(crate) const fn new(limit: u64) -> Tally {
        Tally { used: AtomicU64::new(0), limit: AtomicU64::new(limit) }
    }

    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets the limit and returns the previous one.
    pub(crate) fn set_limit(&self, limit: u64) -> u64 {
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
