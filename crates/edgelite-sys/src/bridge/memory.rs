//! Per-group bounds on SQLite's heap: a wrapper around the core's allocator that charges each
//! allocation to the [`MemoryBudget`] of the thread's scope ([`with_memory_budget`]).
//!
//! A server runs many tenants' statements in one process, and SQLite's memory has one limit
//! for all of them (`sqlite3_hard_heap_limit64`, which fails whoever allocates next, a victim as
//! well as the tenant that took the memory). A statement preempted at a yield point keeps what
//! it holds, so one tenant's requests in flight each kept theirs: six FTS5 trigram inserts of
//! 30 MB held 1.48 GB at once. Under a budget, an allocation that would take the group past its
//! limit fails, so the tenant's own statement fails with `SQLITE_NOMEM`, and only its.
//!
//! Every allocation carries a 16-byte header: the budget it was charged to (or none) and the
//! bytes charged, so that whoever frees it (any thread, any scope) gives them back to that
//! budget. Budgets are never freed (`&'static`): an allocation may outlive any scope.
//!
//! The wrapper must be installed before SQLite initializes ([`install_memory_budgets`]);
//! without it, scopes charge nothing of SQLite's heap. A scope's budget also answers for the
//! memory that vector indexes keep in Rust's heap ([`HeldBytes`]), wrapper or not.

use core::ffi::{c_int, c_void};
use std::cell::Cell;
use std::sync::OnceLock;

use super::tally::ByteBudget;
use crate::bindings::*;

/// Bytes of SQLite's heap that a group of connections' statements may hold together: made
/// with [`ByteBudget::leak`], as what is charged to it may outlive any owner.
pub type MemoryBudget = ByteBudget;

thread_local! {
    /// The budget that this thread's SQLite allocations are charged to (null: none).
    static CURRENT: Cell<*const MemoryBudget> = const { Cell::new(core::ptr::null()) };
}

/// Runs `f` with SQLite's allocations on this thread charged to `budget`; the previous scope
/// is restored after, even if `f` panics.
pub fn with_memory_budget<T>(budget: Option<&'static MemoryBudget>, f: impl FnOnce() -> T) -> T {
    struct Restore(*const MemoryBudget);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let now = budget.map_or(core::ptr::null(), core::ptr::from_ref);
    let _restore = Restore(CURRENT.with(|c| c.replace(now)));
    f()
}

/// Bytes outside SQLite's heap that the scope's budget answers for too: a vector index build's
/// blocks and rows (`build.rs`), the rows held back for an index (`txn.rs`), and the blocks an
/// index change or check reads (`build.rs`'s `ChargedReads`). Charged to the budget of the thread's
/// scope when this is made (none: nothing is charged), and given back to that budget, on any
/// thread, as they shrink or when this drops. Without it one tenant's parallel builds held
/// gigabytes that its budget never saw (a review: 14 builds of 4096-dimension rows on TEMP
/// tables, 5.4 GB, and an abort under an address-space limit).
#[derive(Debug)]
pub(crate) struct HeldBytes {
    budget: Option<&'static MemoryBudget>,
    held: u64,
}

impl HeldBytes {
    /// Nothing held yet, against the budget of the thread's scope.
    pub(crate) fn new() -> HeldBytes {
        let budget = CURRENT.try_with(Cell::get).unwrap_or(core::ptr::null());
        // SAFETY: budgets are 'static (`with_memory_budget` takes only `&'static` ones).
        HeldBytes { budget: unsafe { budget.as_ref() }, held: 0 }
    }

    /// Holds `n` bytes in all: takes what it lacks, or gives back what it has over. `false`,
    /// holding what it held, when the budget refuses the rest. Without a budget it only counts.
    pub(crate) fn hold(&mut self, n: u64) -> bool {
        if let Some(budget) = self.budget {
            if n > self.held {
                if !budget.reserve(n - self.held) {
                    return false;
                }
            } else {
                budget.give_back(self.held - n);
            }
        }
        self.held = n;
        true
    }

    /// The bytes held (counted, without a budget).
    pub(crate) fn held(&self) -> u64 {
        self.held
    }

    /// The bytes its budget has room for now (all, without a budget).
    pub(crate) fn room(&self) -> u64 {
        self.budget.map_or(u64::MAX, |b| b.limit().saturating_sub(b.used()))
    }
}

impl Drop for HeldBytes {
    fn drop(&mut self) {
        self.hold(0);
    }
}

/// The allocator the wrapper forwards to (the core's own, read before installing).
struct Inner {
    malloc: unsafe extern "C" fn(c_int) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    realloc: unsafe extern "C" fn(*mut c_void, c_int) -> *mut c_void,
    size: unsafe extern "C" fn(*mut c_void) -> c_int,
}

static INNER: OnceLock<Inner> = OnceLock::new();

/// Whether the wrapper is installed.
#[must_use]
pub fn memory_budgets_installed() -> bool {
    INNER.get().is_some()
}

/// Installs the wrapper. It must come before SQLite initializes (before any connection is
/// opened in the process): afterwards SQLite refuses it with `SQLITE_MISUSE` and scopes charge
/// nothing. Returns SQLite's result code; `SQLITE_OK` again once installed.
pub fn install_memory_budgets() -> c_int {
    static RC: OnceLock<c_int> = OnceLock::new();
    *RC.get_or_init(|| {
        let mut inner = sqlite3_mem_methods {
            xMalloc: None,
            xFree: None,
            xRealloc: None,
            xSize: None,
            xRoundup: None,
            xInit: None,
            xShutdown: None,
            pAppData: core::ptr::null_mut(),
        };
        // SAFETY: GETMALLOC fills the struct it is given; SQLite checks the option's timing.
        let rc = unsafe { sqlite3_config(SQLITE_CONFIG_GETMALLOC, &raw mut inner) };
        if rc != SQLITE_OK {
            return rc;
        }
        let ours = sqlite3_mem_methods {
            xMalloc: Some(x_malloc),
            xFree: Some(x_free),
            xRealloc: Some(x_realloc),
            xSize: Some(x_size),
            xRoundup: inner.xRoundup,
            xInit: inner.xInit,
            xShutdown: inner.xShutdown,
            pAppData: inner.pAppData,
        };
        let (Some(malloc), Some(free), Some(realloc), Some(size)) =
            (inner.xMalloc, inner.xFree, inner.xRealloc, inner.xSize)
        else {
            return SQLITE_MISUSE;
        };
        if INNER.set(Inner { malloc, free, realloc, size }).is_err() {
            return SQLITE_MISUSE;
        }
        // SAFETY: SQLite copies the struct; the functions are ours and live for the process.
        unsafe { sqlite3_config(SQLITE_CONFIG_MALLOC, &raw const ours) }
    })
}

/// What precedes every allocation: the budget charged and the bytes charged.
#[repr(C)]
struct Header {
    budget: *const MemoryBudget,
    charged: u64,
}

const HEADER: usize = 16;
/// [`HEADER`] as SQLite's sizes are typed.
#[expect(clippy::cast_possible_truncation, clippy::cast_possible_wrap, reason = "16 fits any int")]
const HEADER_C: c_int = HEADER as c_int;
const _: () = assert!(size_of::<Header>() <= HEADER);

fn inner() -> &'static Inner {
    // invariant: the wrapper's functions are only installed after INNER is set
    INNER.get().expect("invariant: installed with the inner allocator")
}

/// Charges `n` bytes to the thread's budget; the budget (null if none), or `None` if it is full.
fn charge(n: u64) -> Option<*const MemoryBudget> {
    // called from C: `try_with` never panics (an allocation during the thread's teardown is
    // charged to nobody)
    let budget = CURRENT.try_with(Cell::get).unwrap_or(core::ptr::null());
    // SAFETY: budgets are 'static (`MemoryBudget::leak`).
    if let Some(b) = unsafe { budget.as_ref() }
        && !b.reserve(n)
    {
        return None;
    }
    Some(budget)
}

fn refund(budget: *const MemoryBudget, n: u64) {
    // SAFETY: as in `charge`.
    if let Some(b) = unsafe { budget.as_ref() } {
        b.give_back(n);
    }
}

/// The bytes an allocation of `n` is charged: its size and its header.
fn wide(n: c_int) -> u64 {
    u64::try_from(n.saturating_add(HEADER_C)).unwrap_or(0)
}

unsafe extern "C" fn x_malloc(n: c_int) -> *mut c_void {
    let Some(size) = n.checked_add(HEADER_C) else { return core::ptr::null_mut() };
    let Some(budget) = charge(wide(n)) else { return core::ptr::null_mut() };
    // SAFETY: the core's own allocator, asked for the header too.
    let p = unsafe { (inner().malloc)(size) };
    if p.is_null() {
        refund(budget, wide(n));
        return p;
    }
    // SAFETY: `p` holds at least HEADER bytes, 8-aligned (SQLite's allocators' promise).
    unsafe { p.cast::<Header>().write(Header { budget, charged: wide(n) }) };
    // SAFETY: within the allocation; HEADER keeps the 8-byte alignment.
    unsafe { p.cast::<u8>().add(HEADER).cast() }
}

/// The start of the allocation of user pointer `p` and its header.
///
/// # Safety
/// `p` came from `x_malloc` or `x_realloc`, not freed.
unsafe fn header(p: *mut c_void) -> (*mut c_void, *mut Header) {
    // SAFETY: the caller's promise: HEADER bytes precede `p` in its allocation.
    let start = unsafe { p.cast::<u8>().sub(HEADER) }.cast::<c_void>();
    (start, start.cast())
}

unsafe extern "C" fn x_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its allocator (this wrapper) gave.
    let (start, h) = unsafe { header(p) };
    // SAFETY: written by x_malloc or x_realloc.
    let Header { budget, charged } = unsafe { h.read() };
    refund(budget, charged);
    // SAFETY: the inner allocator's own allocation.
    unsafe { (inner().free)(start) };
}

unsafe extern "C" fn x_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as malloc.
        return unsafe { x_malloc(n) };
    }
    let Some(size) = n.checked_add(HEADER_C) else { return core::ptr::null_mut() };
    // SAFETY: as in x_free.
    let (start, h) = unsafe { header(p) };
    // SAFETY: as in x_free.
    let Header { budget, charged } = unsafe { h.read() };
    let wanted = wide(n);
    // the growth is charged to the allocation's own budget, whoever's scope this is
    // SAFETY: as in `charge`.
    let own = unsafe { budget.as_ref() };
    if wanted > charged
        && let Some(b) = own
        && !b.reserve(wanted - charged)
    {
        return core::ptr::null_mut();
    }
    // SAFETY: the inner allocator's own allocation, asked for the header too.
    let q = unsafe { (inner().realloc)(start, size) };
    if q.is_null() {
        if wanted > charged {
            refund(budget, wanted - charged);
        }
        return q;
    }
    if wanted < charged {
        refund(budget, charged - wanted);
    }
    // SAFETY: as in x_malloc.
    unsafe { q.cast::<Header>().write(Header { budget, charged: wanted }) };
    // SAFETY: as in x_malloc.
    unsafe { q.cast::<u8>().add(HEADER).cast() }
}

unsafe extern "C" fn x_size(p: *mut c_void) -> c_int {
    if p.is_null() {
        return 0;
    }
    // SAFETY: as in x_free.
    let (start, _) = unsafe { header(p) };
    // SAFETY: the inner allocator's own allocation.
    (unsafe { (inner().size)(start) } - HEADER_C).max(0)
}
