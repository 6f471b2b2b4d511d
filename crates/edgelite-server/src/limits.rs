//! Counted resources with a cap per namespace and a cap for the whole server, so that one
//! tenant can take at most its share of anything (see `SECURITY.md`, "Limits").

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Which cap refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The namespace has its share.
    Namespace,
    /// The server is full.
    Server,
}

/// How many of one resource each namespace holds, with both caps.
#[derive(Debug)]
pub struct Gauge {
    per_namespace: usize,
    total: usize,
    held: Mutex<(usize, HashMap<String, usize>)>,
    /// Woken whenever a unit is given back, for [`Gauge::take_within`].
    freed: tokio::sync::Notify,
}

/// One unit of a [`Gauge`], given back when dropped.
#[derive(Debug)]
pub struct Slot {
    gauge: Arc<Gauge>,
    key: String,
}

impl Gauge {
    /// A gauge with a cap per namespace and a cap in all.
    #[must_use]
    pub fn new(per_namespace: usize, total: usize) -> Arc<Gauge> {
        Arc::new(Gauge {
            per_namespace,
            total,
            held: Mutex::new((0, HashMap::new())),
            freed: tokio::sync::Notify::new(),
        })
    }

    /// As [`Gauge::take`], waiting up to `patience` for a unit to be given back when a cap is
    /// reached (woken by each release, not polling).
    ///
    /// # Errors
    ///
    /// Which cap was still reached when `patience` ran out.
    pub async fn take_within(self: &Arc<Self>, key: &str, patience: Duration) -> Result<Slot, Full> {
        let give_up = tokio::time::Instant::now() + patience;
        loop {
            // Registered before trying, so that a release between the try and the wait is seen.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match self.take(key) {
                Ok(slot) => return Ok(slot),
                Err(_) => {
                    if tokio::time::timeout_at(give_up, freed).await.is_err() {
                        return self.take(key);
                    }
                }
            }
        }
    }

    /// Takes one unit for namespace `key`.
    ///
    /// # Errors
    ///
    /// Which cap is reached.
    pub fn take(self: &Arc<Self>, key: &str) -> Result<Slot, Full> {
        // A poisoned lock only means a panic elsewhere while counting: the counts are still
        // consistent (each update is one statement).
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, map) = &mut *held;
        if *total >= self.total {
            return Err(Full::Server);
        }
        let n = map.entry(key.to_owned()).or_insert(0);
        if *n >= self.per_namespace {
            return Err(Full::Namespace);
        }
        *n += 1;
        *total += 1;
        Ok(Slot { gauge: Arc::clone(self), key: key.to_owned() })
    }

    /// Units held by namespace `key` and in all.
    #[must_use]
    pub fn held(&self, key: &str) -> (usize, usize) {
        let held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (held.1.get(key).copied().unwrap_or(0), held.0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.gauge.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (total, map) = &mut *held;
        *total = total.saturating_sub(1);
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
        drop(held);
        self.gauge.freed.notify_waiters();
    }
}

/// An `io::Write` that only counts: the size of a response as it will be sent, without
/// building it twice.
#[derive(Debug, Default)]
pub struct CountingWriter(pub usize);

impl io::Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes of `v` serialized as JSON (what the response carries).
#[must_use]
pub fn json_size<T: serde::Serialize + ?Sized>(v: &T) -> usize {
    let mut w = CountingWriter::default();
    // Serializing to a counter cannot fail for lack of space; a value that cannot be
    // serialized at all is not sent either, so it counts as nothing.
    let _ = serde_json::to_writer(&mut w, v);
    w.0
}

/// A request rate per namespace, enforced by delay rather than refusal (a token bucket with
/// reservations): each namespace may start `rate` requests (HTTP requests and WebSocket
/// messages) per second, in bursts of up to `rate`; a request beyond that waits for its place
/// in time before anything of it is read or run. A client sending as fast as it can is so
/// slowed to the rate at the cost of a parked task, where a refusal would cost as much as the
/// request (it comes straight back), and the work outside SQL that each request brings
/// (parsing, streams, answers) is bounded per namespace. The pace only applies while another
/// namespace has sent a request within the last [`PACER_WINDOW`]: a namespace alone on the
/// server has all of it. See `SECURITY.md`, "Fair scheduling".
#[derive(Debug)]
pub struct Pacer {
    rate: f64,
    state: Mutex<Paces>,
}

#[derive(Debug, Default)]
struct Paces {
    buckets: HashMap<String, Bucket>,
    /// The two namespaces seen last (distinct) and when: the most recent namespace other than
    /// any given one is one of them.
    recent: [Option<(String, Instant)>; 2],
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests that may start now; negative when reservations run ahead of the rate.
    tokens: f64,
    at: Instant,
}

/// Buckets kept before full (idle) ones are dropped: a full bucket is the same as none.
const PACER_PRUNE_AT: usize = 4096;

/// How recently another namespace must have sent a request for the pace to apply.
pub const PACER_WINDOW: Duration = Duration::from_secs(1);

impl Pacer {
    /// A pacer allowing `rate` requests per second per namespace (0: no pace).
    #[must_use]
    pub fn new(rate: u32) -> Arc<Pacer> {
        Arc::new(Pacer { rate: f64::from(rate), state: Mutex::new(Paces::default()) })
    }

    /// How long `key`'s next request must wait for its place (zero within the rate), the place
    /// being taken now. Waits are reserved in order, so `n` requests arriving at once wait
    /// `0, 1/rate, 2/rate, ...` past the burst. Uncontended (no other namespace seen within
    /// [`PACER_WINDOW`]), a request never waits and runs up no debt (the bucket stays at or
    /// above empty), so a namespace that had the server to itself is paced from its next
    /// request once another one arrives, not punished for its past.
    pub fn reserve(&self, key: &str) -> Duration {
        self.reserve_at(key, Instant::now())
    }

    fn reserve_at(&self, key: &str, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let mut st = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let contended = st.recent.iter().flatten().any(|(k, at)| k != key && now.duration_since(*at) < PACER_WINDOW);
        match &mut st.recent {
            [Some((k, at)), _] if k == key => *at = now,
            recent => {
                recent[1] = recent[0].take();
                recent[0] = Some((key.to_owned(), now));
            }
        }
        let rate = self.rate;
        if st.buckets.len() >= PACER_PRUNE_AT {
            st.buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < rate);
        }
        let b = st.buckets.entry(key.to_owned()).or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate) - 1.0;
        b.at = now;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else if contended {
            Duration::from_secs_f64(-b.tokens / rate)
        } else {
            b.tokens = 0.0;
            Duration::ZERO
        }
    }

    /// Waits for `key`'s next place.
    pub async fn pace(&self, key: &str) {
        let wait = self.reserve(key);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Turns to run SQL: at most `slots` requests execute at once, server-wide, and when more
/// want to, the next turn goes to the namespace that holds the fewest turns (among those, the
/// one served longest ago), never simply to whoever asked first. So one namespace's many
/// streams cannot queue ahead of another's few, and a namespace gets an equal share of the
/// slots whatever it sends. A turn held for longer than `slice` is given up at the next yield
/// point (between the requests of a pipeline, and every hundred SQLite instructions or
/// SELECTs prepared, through the progress handler) whenever another request waits; a turn
/// stalled in one long instruction has its slot lent (`lend_stalled`); a request waiting on
/// another connection's lock gives its turn up while it waits. See `SECURITY.md`, "Fair
/// scheduling".
#[derive(Debug)]
pub struct Scheduler {
    slots: usize,
    slice: Duration,
    state: Mutex<Turns>,
    /// Whether a request waits for a turn (`Turns::waiting > 0`), readable without the lock:
    /// the yield points run every few SQLite instructions, and almost always nobody waits.
    contended: AtomicBool,
}

#[derive(Debug, Default)]
struct Turns {
    running: usize,
    waiting: usize,
    /// Counts grants, to tell which namespace was served longest ago.
    grants: u64,
    by_ns: HashMap<String, NsTurns>,
    /// The turns handed out and not yet given back, by id (see `lend_stalled`).
    live: HashMap<u64, LiveTurn>,
    next_id: u64,
    /// Live turns whose slot was lent: counted in `running`, holding no slot.
    lent: usize,
}

#[derive(Debug)]
struct LiveTurn {
    key: String,
    since: Instant,
    /// Its slot was lent to another namespace while it stalled.
    lent: bool,
    /// The stalled turn whose slot this one holds, lent (see `lend_stalled`): when this one
    /// ends, the slot goes back to that turn, or on to another namespace's waiter, never to a
    /// waiter of the stalled turn's namespace.
    borrowed_from: Option<u64>,
}

#[derive(Debug, Default)]
struct NsTurns {
    running: usize,
    last_grant: u64,
    waiters: VecDeque<oneshot::Sender<Turn>>,
}

/// The right to run SQL for one request, given back (to the next waiter) when dropped.
#[derive(Debug)]
pub struct Turn {
    sched: Arc<Scheduler>,
    key: String,
    id: u64,
    since: Instant,
    /// False for a turn that was never handed out (a waiter that went away): dropping it
    /// passes its slot on rather than freeing it twice.
    live: bool,
}

thread_local! {
    /// The turn of the request running on this thread (set by [`Turn::run`]), for the yield
    /// points inside SQLite's callbacks.
    static CURRENT: RefCell<Option<Turn>> = const { RefCell::new(None) };
}

impl Scheduler {
    /// A scheduler with `slots` turns (at least 1) and a time slice.
    #[must_use]
    pub fn new(slots: usize, slice: Duration) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            slots: slots.max(1),
            slice,
            state: Mutex::new(Turns::default()),
            contended: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Turns> {
        // The counts are updated in single statements under the lock: still consistent after a
        // panic elsewhere.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A turn for namespace `key`, now or once it is this namespace's turn.
    pub async fn turn(self: &Arc<Self>, key: &str) -> Turn {
        match self.try_or_queue(key) {
            Ok(t) => t,
            // The sender is only dropped after handing its turn on (see `pass_on`): a closed
            // channel cannot happen while the scheduler lives, and it lives in `self`.
            Err(rx) => rx.await.unwrap_or_else(|_| self.fresh_locked(key)),
        }
    }

    /// As [`Scheduler::turn`], blocking the thread (from a blocking thread, never an async one).
    #[must_use]
    pub fn turn_blocking(self: &Arc<Self>, key: &str) -> Turn {
        match self.try_or_queue(key) {
            Ok(t) => t,
            Err(rx) => rx.blocking_recv().unwrap_or_else(|_| self.fresh_locked(key)),
        }
    }

    /// Requests running and waiting for a turn.
    #[must_use]
    pub fn load(&self) -> (usize, usize) {
        let t = self.lock();
        (t.running, t.waiting)
    }

    /// A turn handed out now to `key` (whose counts the caller has taken), registered as live.
    fn fresh(self: &Arc<Self>, t: &mut Turns, key: &str) -> Turn {
        t.next_id += 1;
        let id = t.next_id;
        let since = Instant::now();
        t.live.insert(id, LiveTurn { key: key.to_owned(), since, lent: false, borrowed_from: None });
        Turn { sched: Arc::clone(self), key: key.to_owned(), id, since, live: true }
    }

    /// A turn handed to `key` now, counted (in all and for its namespace).
    fn grant(self: &Arc<Self>, t: &mut Turns, key: &str) -> Turn {
        t.running += 1;
        t.grants += 1;
        let g = t.grants;
        let ns = t.by_ns.entry(key.to_owned()).or_default();
        ns.running += 1;
        ns.last_grant = g;
        self.fresh(t, key)
    }

    /// A turn at once, past the slots if need be, counted as any other (for a channel closed
    /// under a waiter, which cannot happen while the scheduler lives: see `turn`).
    fn fresh_locked(self: &Arc<Self>, key: &str) -> Turn {
        let mut t = self.lock();
        self.grant(&mut t, key)
    }

    fn try_or_queue(self: &Arc<Self>, key: &str) -> Result<Turn, oneshot::Receiver<Turn>> {
        let mut guard = self.lock();
        let t = &mut *guard;
        if t.running - t.lent < self.slots && t.waiting == 0 {
            return Ok(self.grant(t, key));
        }
        let (tx, rx) = oneshot::channel();
        t.waiting += 1;
        self.contended.store(true, Ordering::Relaxed);
        t.by_ns.entry(key.to_owned()).or_default().waiters.push_back(tx);
        Err(rx)
    }

    /// Gives up the slot of turn `id`, held by `key`: to the next waiter, or back to the pool.
    fn pass_on(self: &Arc<Self>, key: &str, id: u64) {
        let mut guard = self.lock();
        let t = &mut *guard;
        let (was_lent, borrowed_from) = t.live.remove(&id).map_or((false, None), |l| (l.lent, l.borrowed_from));
        if let Some(ns) = t.by_ns.get_mut(key) {
            ns.running = ns.running.saturating_sub(1);
            if ns.running == 0 && ns.waiters.is_empty() {
                t.by_ns.remove(key);
            }
        }
        if was_lent {
            // its slot is another turn's now, for good
            t.lent -= 1;
            t.running -= 1;
            for l in t.live.values_mut() {
                if l.borrowed_from == Some(id) {
                    l.borrowed_from = None;
                }
            }
            return;
        }
        // who holds a stalled turn matters only to a waiter (turns end per request; the
        // common case, nobody waiting, walks nothing)
        let stalled = if t.waiting > 0 { self.stalled_namespaces(t) } else { HashSet::new() };
        if let Some(lender) = borrowed_from
            && t.live.get(&lender).is_some_and(|l| l.lent)
        {
            // A lent slot goes back to the stalled turn it came from, or on to another
            // namespace's waiter, never to the stalled namespace's own: handing it to the next
            // waiter gave a tenant with a third request queued behind two stalled ones a third
            // stalled statement, and nothing left to lend (a reviewer's finding: a victim's
            // `SELECT 1` waited 15 s behind four requests of a quadratic geopoly function).
            if let Some(next) = self.hand_on(t, &stalled) {
                if let Some(l) = t.live.get_mut(&next) {
                    l.borrowed_from = Some(lender);
                }
                return;
            }
            if let Some(l) = t.live.get_mut(&lender) {
                l.lent = false;
            }
            t.lent -= 1;
            t.running -= 1;
            return;
        }
        if t.running - t.lent > self.slots {
            // A turn taken past the slots (`fresh_locked`) ends: nothing to hand on.
            t.running -= 1;
            return;
        }
        // namespaces with a stalled turn wait while any other does
        if self.hand_on(t, &stalled).is_none() && self.hand_on(t, &HashSet::new()).is_none() {
            t.running = t.running.saturating_sub(1);
        }
    }

    /// The namespaces holding a turn stalled in one long step (held for two time slices).
    fn stalled_namespaces(&self, t: &Turns) -> HashSet<String> {
        let stall = self.slice.saturating_mul(2);
        t.live.values().filter(|l| l.since.elapsed() >= stall).map(|l| l.key.clone()).collect()
    }

    /// Hands a turn to the waiting namespace with the fewest turns, then the one served
    /// longest ago, leaving out those in `skip`; the caller counts the slot. The new turn's id,
    /// or `None` if no waiter took it.
    fn hand_on(self: &Arc<Self>, t: &mut Turns, skip: &HashSet<String>) -> Option<u64> {
        loop {
            let next = t
                .by_ns
                .iter()
                .filter(|(k, ns)| !ns.waiters.is_empty() && !skip.contains(*k))
                .min_by_key(|(_, ns)| (ns.running, ns.last_grant))
                .map(|(k, _)| k.clone());
            let next = next?;
            t.waiting = t.waiting.saturating_sub(1);
            self.contended.store(t.waiting > 0, Ordering::Relaxed);
            t.grants += 1;
            let g = t.grants;
            let Some(ns) = t.by_ns.get_mut(&next) else { continue };
            let Some(tx) = ns.waiters.pop_front() else { continue };
            ns.running += 1;
            ns.last_grant = g;
            let turn = self.fresh(t, &next);
            let id = turn.id;
            match tx.send(turn) {
                Ok(()) => return Some(id),
                Err(mut gone) => {
                    // The waiter went away (its request was dropped): the slot goes to the next.
                    gone.live = false;
                    t.live.remove(&gone.id);
                    if let Some(ns) = t.by_ns.get_mut(&next) {
                        ns.running = ns.running.saturating_sub(1);
                        if ns.running == 0 && ns.waiters.is_empty() {
                            t.by_ns.remove(&next);
                        }
                    }
                }
            }
        }
    }

    /// Lends the slot of every turn stalled inside one long step of SQLite to a waiting
    /// namespace, past the slots. Yield points come between SQLite's instructions; one
    /// instruction can take long (`randomblob(50000000)` takes 0.1 s; a geopoly function or an
    /// FTS5 insert took seconds until core patch 0007 gave them yield points of their own), and
    /// a statement whose every row does one held its turn through hundreds of them while others
    /// waited (15 s in a server review). A turn held for two time slices while a request waits
    /// has missed its yield point; its slot goes to the next waiter of a namespace that holds no
    /// stalled turn itself (so a tenant whose steps stall gains no slot from it), for at most
    /// one turn per namespace at a time. The stalled
    /// statement runs on beside it, sharing the cores through the kernel. When the borrower
    /// ends, the slot goes to another such namespace's waiter, or back to the stalled turn
    /// (`pass_on`), which may lend it again; if the stalled turn ends first, the slot is the
    /// borrower's. Called by a task every time slice (`spawn_lender`).
    pub fn lend_stalled(self: &Arc<Self>) {
        // every time slice, on an idle server too: nobody waiting costs an atomic read
        if !self.contended() {
            return;
        }
        let mut guard = self.lock();
        let t = &mut *guard;
        if t.waiting == 0 {
            return;
        }
        let stall = self.slice.saturating_mul(2);
        let all_stalled: Vec<(u64, &LiveTurn)> =
            t.live.iter().filter(|(_, l)| l.since.elapsed() >= stall).map(|(id, l)| (*id, l)).collect();
        // namespaces with a stalled turn, lent already or not, get no lent slot
        let skip: HashSet<String> = all_stalled.iter().map(|(_, l)| l.key.clone()).collect();
        let stalled: Vec<(u64, String)> =
            all_stalled.iter().filter(|(_, l)| !l.lent).map(|(id, l)| (*id, l.key.clone())).collect();
        if stalled.is_empty() {
            return;
        }
        // at most one lent turn per namespace: each adds at most one running statement to
        // the slots (a tenant whose statements all stall cannot pile up threads that way)
        let mut lent: HashSet<String> = t.live.values().filter(|l| l.lent).map(|l| l.key.clone()).collect();
        for (id, key) in stalled {
            if !lent.insert(key) {
                continue;
            }
            // the stalled turn gives its slot up and the waiter takes it: `running - lent`,
            // the slots held, stays the same
            t.running += 1;
            let Some(borrower) = self.hand_on(t, &skip) else {
                t.running -= 1;
                return;
            };
            if let Some(b) = t.live.get_mut(&borrower) {
                b.borrowed_from = Some(id);
            }
            if let Some(l) = t.live.get_mut(&id) {
                l.lent = true;
                t.lent += 1;
            }
        }
    }

    /// Whether anyone waits for a turn (a hint read without the lock: a yield point that
    /// misses a waiter that has just arrived sees it at the next one).
    fn contended(&self) -> bool {
        self.contended.load(Ordering::Relaxed)
    }
}

impl Turn {
    /// Runs `f` (blocking work: SQL) with this turn as the thread's current one, so that the
    /// yield points inside it can give the turn up and take a new one; the turn is given back
    /// when `f` returns.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> T {
        /// Puts the thread's previous turn back and gives this one up, even if `f` panics.
        struct Restore(Option<Turn>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let mine = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), self.0.take()));
                drop(mine);
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(self)));
        f()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.live {
            self.live = false;
            self.sched.pass_on(&self.key, self.id);
        }
    }
}

/// Starts the task that lends stalled turns' slots (`Scheduler::lend_stalled`) every time
/// slice, for as long as the scheduler lives.
pub fn spawn_lender(sched: &Arc<Scheduler>) {
    let weak = Arc::downgrade(sched);
    let period = sched.slice.max(Duration::from_millis(1));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(sched) = weak.upgrade() else { return };
            sched.lend_stalled();
        }
    });
}

/// A yield point: if this thread's request has held its turn for longer than the time slice
/// and another request waits, the turn goes to the next in line and this thread waits for a
/// new one. Blocking; a no-op on a thread without a turn.
pub fn yield_point() {
    // Nobody waiting is the common case, and the cheapest test (no clock, no lock).
    let due = CURRENT
        .with(|c| c.borrow().as_ref().is_some_and(|t| t.sched.contended() && t.since.elapsed() >= t.sched.slice));
    if due {
        without_turn(|| ());
    }
}

/// Runs `f` without this thread's turn, then queues for a new one. A no-op wrapper on a thread
/// without a turn.
fn without_turn<T>(f: impl FnOnce() -> T) -> T {
    let held = CURRENT.with(|c| c.borrow_mut().take());
    let Some(turn) = held else { return f() };
    let (sched, key) = (Arc::clone(&turn.sched), turn.key.clone());
    drop(turn);
    let out = f();
    let again = sched.turn_blocking(&key);
    CURRENT.with(|c| *c.borrow_mut() = Some(again));
    out
}

/// The busy handler of client connections: SQLite's default back-off (as `busy_timeout` does,
/// 5 s in all), but without the thread's turn while it sleeps, so that requests waiting on a
/// lock never hold turns that the lock's owner, or another namespace, needs.
#[must_use]
pub fn busy_wait(count: i32) -> bool {
    const DELAYS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
    const TOTAL_MS: u64 = 5_000;
    let i = usize::try_from(count).unwrap_or(0);
    let before: u64 = DELAYS_MS.iter().take(i).sum::<u64>()
        + 100 * u64::try_from(i.saturating_sub(DELAYS_MS.len())).unwrap_or(u64::MAX / 200);
    if before >= TOTAL_MS {
        return false;
    }
    let delay = DELAYS_MS.get(i).copied().unwrap_or(100).min(TOTAL_MS - before);
    // Then back in the queue, as any request: a turn taken at once, past the slots, let a
    // tenant whose requests gave up on a lock (or got it) run one long step each beside the
    // slots (a reviewer's finding: n pipelines of `BEGIN IMMEDIATE` behind an idle write
    // transaction, then a long step each, starved every other tenant).
    without_turn(|| std::thread::sleep(Duration::from_millis(delay)));
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// While another namespace is active a namespace past its burst waits 1/rate more per
    /// request; alone it never waits and runs up no debt, so it is paced from the moment
    /// another one arrives, not for its past; the other namespace has a bucket of its own; the
    /// pace ends a window after the other namespace's last request; 0 turns it off.
    #[test]
    fn the_pacer_delays_past_the_rate_only_while_another_namespace_is_active() {
        let t0 = Instant::now();
        let pacer = Pacer::new(100);
        for _ in 0..1000 {
            assert_eq!(pacer.reserve_at("hog", t0), Duration::ZERO);
        }
        assert_eq!(pacer.reserve_at("victim", t0), Duration::ZERO);
        let waits: Vec<f64> = (0..3).map(|_| pacer.reserve_at("hog", t0).as_secs_f64()).collect();
        for (w, expected) in waits.iter().zip([0.01, 0.02, 0.03]) {
            assert!((w - expected).abs() < 1e-6, "{waits:?}");
        }
        assert_eq!(pacer.reserve_at("victim", t0), Duration::ZERO);
        // A window after the victim's last request the hog is alone again.
        let later = t0 + PACER_WINDOW + Duration::from_millis(1);
        assert_eq!(pacer.reserve_at("hog", later), Duration::ZERO);
        let off = Pacer::new(0);
        assert_eq!(off.reserve_at("victim", t0), Duration::ZERO);
        for _ in 0..1000 {
            assert_eq!(off.reserve_at("hog", t0), Duration::ZERO);
        }
    }

    /// A waiting take gets the unit given back while it waits, and gives up with the cap
    /// that was reached when its patience runs out; other namespaces are not held up.
    #[tokio::test]
    async fn take_within_waits_for_a_release() {
        let gauge = Gauge::new(1, 10);
        let held = gauge.take("a").unwrap();
        assert_eq!(gauge.take_within("a", Duration::from_millis(30)).await.unwrap_err(), Full::Namespace);
        assert!(gauge.take_within("b", Duration::from_secs(5)).await.is_ok());
        let waiter = {
            let gauge = Arc::clone(&gauge);
            tokio::spawn(async move { gauge.take_within("a", Duration::from_secs(30)).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
        assert_eq!(gauge.held("a"), (0, 0));
    }

    /// The next turn goes to the namespace holding the fewest, whoever asked first: here the
    /// one that asked last.
    #[tokio::test]
    async fn turns_go_to_the_namespace_holding_the_fewest() {
        let sched = Scheduler::new(1, Duration::from_millis(10));
        let first = sched.turn("hog").await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (i, key) in ["hog", "hog", "hog", "victim"].into_iter().enumerate() {
            let (mine, tx) = (Arc::clone(&sched), tx.clone());
            tokio::spawn(async move {
                let turn = mine.turn(key).await;
                tx.send((i, key)).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(turn);
            });
            // Queued in this order.
            while sched.load().1 < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        let order: Vec<&str> = [rx.recv().await, rx.recv().await].into_iter().map(|r| r.unwrap().1).collect();
        // FIFO would have served the three hog requests first.
        assert_eq!(order, ["victim", "hog"]);
    }

    /// A long statement gives its turn up at its time slice when another request waits:
    /// the waiter runs while the statement is still running (with one slot, and no yield
    /// point, it would wait for the end of the statement).
    #[test]
    fn a_long_statement_yields_its_turn() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let sched = Scheduler::new(1, Duration::from_millis(10));
        let done = Arc::new(AtomicBool::new(false));
        let (s2, d2) = (Arc::clone(&sched), Arc::clone(&done));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let long = std::thread::spawn(move || {
            let conn = edgelite::Connection::open_in_memory().unwrap();
            crate::exec::harden(&conn).unwrap();
            let turn = s2.turn_blocking("hog");
            started_tx.send(()).unwrap();
            let n: i64 = turn.run(|| {
                conn.query_row(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000) \
                     SELECT count(*) FROM c",
                    [],
                    |r| r.get(0),
                )
                .unwrap()
            });
            d2.store(true, Ordering::SeqCst);
            n
        });
        started_rx.recv().unwrap();
        let turn = sched.turn_blocking("victim");
        assert!(!done.load(Ordering::SeqCst), "the victim got a turn only after the long statement ended");
        drop(turn);
        assert_eq!(long.join().unwrap(), 2_000_000);
        assert_eq!(sched.load(), (0, 0));
    }

    /// A turn stalled in one long step (no yield point for two time slices) lends its slot to
    /// a waiting request of another namespace (the victim runs while the step goes on); the
    /// slot comes back to the stalled turn, never to its namespace's next request, and is lent
    /// again to the victim's next; the counts come back to zero when everything ends.
    #[test]
    fn a_stalled_turn_lends_its_slot_to_another_namespace() {
        use std::sync::mpsc;
        let sched = Scheduler::new(1, Duration::from_millis(10));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel();
        let s2 = Arc::clone(&sched);
        // one step that never reaches a yield point until it is released
        let hog = std::thread::spawn(move || {
            let turn = s2.turn_blocking("hog");
            started_tx.send(()).unwrap();
            turn.run(|| release_rx.recv().unwrap());
        });
        started_rx.recv().unwrap();
        // the hog's own second request, then a victim's, both queued behind the hog
        let waiter = |key: &'static str| {
            let (s, (tx, rx)) = (Arc::clone(&sched), mpsc::channel());
            let t = std::thread::spawn(move || {
                let turn = s.turn_blocking(key);
                tx.send(()).unwrap();
                drop(turn);
            });
            (t, rx)
        };
        let (hog2, hog2_rx) = waiter("hog");
        while sched.load().1 < 1 {
            std::thread::yield_now();
        }
        let (victim, victim_rx) = waiter("victim");
        while sched.load().1 < 2 {
            std::thread::yield_now();
        }
        // two time slices without a yield point: stalled
        std::thread::sleep(Duration::from_millis(25));
        sched.lend_stalled();
        victim_rx.recv_timeout(Duration::from_secs(20)).expect("the victim ran while the hog's step went on");
        victim.join().unwrap();
        // The victim's slot went back to the stalled turn, not on to the hog's second request
        // (which a reviewer's hog used to gain a second stalled statement, and then a third,
        // while the victim waited behind them).
        assert!(hog2_rx.recv_timeout(Duration::from_millis(100)).is_err(), "the hog's second request ran");
        assert_eq!(sched.load(), (1, 1), "the stalled turn holds its slot again; its second request waits");
        // A victim's next request gets the slot lent again.
        let (victim, victim_rx) = waiter("victim");
        while sched.load().1 < 2 {
            std::thread::yield_now();
        }
        sched.lend_stalled();
        victim_rx.recv_timeout(Duration::from_secs(20)).expect("the victim ran again while the hog's step went on");
        victim.join().unwrap();
        assert!(hog2_rx.recv_timeout(Duration::from_millis(100)).is_err(), "the hog's second request ran");
        release_tx.send(()).unwrap();
        hog.join().unwrap();
        hog2_rx.recv_timeout(Duration::from_secs(20)).expect("the hog's second request, once its first ended");
        hog2.join().unwrap();
        assert_eq!(sched.load(), (0, 0));
        // and the slot is whole again: a new turn at once
        drop(sched.turn_blocking("victim"));
        assert_eq!(sched.load(), (0, 0));
    }

    /// A request that slept on a lock queues for its turn again: requests of one namespace
    /// that wait on a lock together never run beside the slots once they wake (a reviewer's
    /// finding: they took turns at once, past the slots, and then ran a long step each).
    #[test]
    fn a_busy_wait_queues_for_its_turn_again() {
        let sched = Scheduler::new(1, Duration::from_millis(10));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hogs: Vec<_> = (0..3)
            .map(|_| {
                let (s, most) = (Arc::clone(&sched), Arc::clone(&most));
                std::thread::spawn(move || {
                    let turn = s.turn_blocking("hog");
                    turn.run(|| {
                        for count in [58, 59] {
                            // 100 ms asleep without the turn, then a turn again (58), or a
                            // give-up (59: SQLITE_BUSY) that keeps the turn for what follows
                            let _ = busy_wait(count);
                            most.fetch_max(s.load().0, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(30));
                        }
                    });
                })
            })
            .collect();
        for h in hogs {
            h.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "turns running at once, with one slot");
        assert_eq!(sched.load(), (0, 0));
    }

    /// A request waiting on a lock holds no turn meanwhile.
    #[test]
    fn a_busy_wait_gives_the_turn_up() {
        let sched = Scheduler::new(1, Duration::from_millis(10));
        let turn = sched.turn_blocking("a");
        let (s2, (tx, rx)) = (Arc::clone(&sched), std::sync::mpsc::channel());
        let t = std::thread::spawn(move || {
            let got = s2.turn_blocking("b");
            tx.send(()).unwrap();
            drop(got);
        });
        while sched.load().1 == 0 {
            std::thread::yield_now();
        }
        turn.run(|| {
            // SQLite calls the busy handler; the other namespace gets the turn meanwhile.
            assert!(busy_wait(0));
            rx.recv_timeout(Duration::from_secs(5)).expect("b ran while a waited on a lock");
            assert!(busy_wait(1));
        });
        t.join().unwrap();
        assert!(!busy_wait(400), "gives up after 5 s in all");
        assert_eq!(sched.load(), (0, 0));
    }

    #[test]
    fn caps_per_namespace_and_in_all_and_slots_come_back() {
        let g = Gauge::new(2, 3);
        let a1 = g.take("a").expect("a1");
        let _a2 = g.take("a").expect("a2");
        assert_eq!(g.take("a").expect_err("a is full"), Full::Namespace);
        let _b1 = g.take("b").expect("b1");
        assert_eq!(g.take("c").expect_err("the server is full"), Full::Server);
        drop(a1);
        assert_eq!(g.held("a"), (1, 2));
        let _c1 = g.take("c").expect("c1 after a slot came back");
        assert_eq!(json_size(&serde_json::json!({"a": [1, "xy"]})), r#"{"a":[1,"xy"]}"#.len());
    }
}
