//! Building a graph from many rows at once, on several threads (CREATE INDEX on a filled table,
//! REINDEX).
//!
//! Rows go in as batches of growing size (prefix doubling, as ParlayANN builds Vamana graphs
//! in parallel: Dobson et al., "Scaling Graph-Based ANNS Algorithms to Billion-Size Datasets",
//! 2023), each a two-hundredth of the graph so far (one row at a time while it is small), at
//! most 2,048 rows. Within a batch:
//!
//! 1. every new row searches the graph as it was before the batch and prunes its candidates
//!    into its out-edges: in parallel, each row on its own, the graph read-only;
//! 2. the new blocks are made in parallel and added in row order;
//! 3. the back edges are grouped by their target, and each target takes its new in-edges
//!    (appended while there is room, else pruned with its old edges): in parallel over the
//!    targets, each of which only its own task writes;
//! 4. every new row, and every node that a pruned target dropped, is made reachable again from
//!    the entry point, as after a row-by-row insert ([`DiskAnn::secure`]), in row order. What
//!    it knows of the graph is what the searches read (no block but the new ones and the
//!    targets changed since), so nothing is read again.
//!
//! Step 4 runs on one thread; the rest of a batch's serial work is kept small (blocks are moved,
//! not copied; edge lists are made in parallel), and the searches' buffers are freed
//! on another of the pool's threads while step 4 runs; what step 4 knew is freed after it, all
//! before the next batch's searches start (on 100,000 rows of 384 dimensions, step 4 took about
//! 3 s of a 44 s one-thread build).
//!
//! Rows of one batch do not see each other in step 1 (they are linked through step 3), which
//! the small first batches make up for. A batch of one row is an ordinary insert, so a graph of
//! fewer than 2,530 rows is the one row-by-row inserts build, block for block. Every step's result is collected in row or target
//! order, so the graph does not depend on the number of threads: a build on one thread writes
//! the same blocks as a build on eight. The blocks are ordinary node blocks; libSQL reads and
//! maintains them as it does those of a row-by-row build.
//!
//! A graph larger than memory is built through a [`crate::BuildCache`]
//! ([`DiskAnn::insert_batch_cached`]): step 1's searches run in parallel over the blocks in
//! memory, and one that meets a block that is not ([`MemError::NotLoaded`]) is done again on
//! the caller's thread, through the backing store; steps 2-4 and every call to the store run
//! there too (steps 2 and 3 compute on the pool's threads). Every block a step-3
//! target needs was visited in step 1, so it is in memory then. Reads are exact either way, so
//! the graph does not depend on what the cache holds.

use rayon::prelude::*;

use edgelite_vector::VectorRef;

use super::{Beam, DiskAnn, GraphError, IdMap, IdSet, Keep, Known, Link, Op, key};
use crate::storage::{Cached, MemError, MemStorage, Storage};

/// Members of its group of duplicates whose edges out of the group a new row takes as
/// candidates ([`DiskAnn::inherit_outside_edges`]).
const INHERIT_FROM: usize = 4;

/// A new row that took such edges keeps `capacity / ROOM_SHARE` of its edge slots free (4 of
/// 16) for the edges that link its group, which the reachability step and later members add.
/// Refilled to the capacity, the members had no room for them (the fuzzer's seed 1499: 151
/// rows of one vector, most with 14 edges out of the group; from a member the others reached
/// 28 to 38 of them, and `LIMIT 100` at that vector returned 36 of them).
const ROOM_SHARE: usize = 4;

/// The largest batch is this fraction of the rows (ParlayANN uses 2%; on small graphs of low
/// degree that costs recall here, 0.5% does not).
const MAX_BATCH_DIVISOR: usize = 200;

/// Batches never grow past this many rows, however many rows there are: a batch's rows do not
/// see each other, and the searches of one batch are held in memory together.
const MAX_BATCH: usize = 2048;

/// A read-only view of the blocks in memory that many threads search at once. With `complete`
/// a block missing there is missing; otherwise it may be in the backing store of a
/// [`BuildCache`] ([`MemError::NotLoaded`]: the search is done again through the store).
#[derive(Clone, Copy)]
struct View<'a> {
    blocks: &'a MemStorage,
    entry: Option<i64>,
    complete: bool,
}

impl View<'_> {
    fn miss<T>(&self, id: i64, absent: T) -> Result<T, MemError> {
        if self.complete { Ok(absent) } else { Err(MemError::NotLoaded(id)) }
    }
}

impl Storage for View<'_> {
    type Error = MemError;

    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, MemError> {
        buf.clear();
        match self.blocks.get(id) {
            Some(b) => {
                buf.extend_from_slice(b);
                Ok(true)
            }
            None => self.miss(id, false),
        }
    }

    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, MemError> {
        match self.blocks.get(id) {
            Some(b) => Ok(Some(f(b))),
            None => self.miss(id, None),
        }
    }

    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        if let Some(b) = self.blocks.get(id) {
            f(b);
        }
    }

    fn write(&mut self, id: i64, _: &[u8]) -> Result<(), MemError> {
        Err(MemError::ReadOnly(id))
    }

    fn insert(&mut self, id: i64, _: &[u8]) -> Result<(), MemError> {
        Err(MemError::ReadOnly(id))
    }

    fn delete(&mut self, id: i64) -> Result<bool, MemError> {
        Err(MemError::ReadOnly(id))
    }

    fn first_id(&mut self) -> Result<Option<i64>, MemError> {
        Ok(self.entry)
    }

    fn next_id(&mut self, after: i64) -> Result<Option<i64>, MemError> {
        let next = self.blocks.after(after);
        if self.complete { Ok(next) } else { Err(MemError::NotLoaded(next.unwrap_or(after))) }
    }
}

/// A store a batch goes into: its blocks in memory, which the batch's searches read in
/// parallel, over the rest (if not all of them are in memory).
trait Blocks: Storage {
    /// Every block is in memory: one missing there is missing.
    const COMPLETE: bool;
    fn memory(&self) -> &MemStorage;
    /// [`Storage::insert`] of a block the caller gives away (not copied again).
    fn insert_owned(&mut self, id: i64, block: Vec<u8>) -> Result<(), Self::Error>;
    /// [`Storage::write`] of a block the caller gives away (not copied again); returns the
    /// old one, if it was in memory.
    fn write_owned(&mut self, id: i64, block: Vec<u8>) -> Result<Option<Vec<u8>>, Self::Error>;
}

impl Blocks for MemStorage {
    const COMPLETE: bool = true;
    fn memory(&self) -> &MemStorage {
        self
    }
    fn insert_owned(&mut self, id: i64, block: Vec<u8>) -> Result<(), MemError> {
        self.insert_vec(id, block)
    }
    fn write_owned(&mut self, id: i64, block: Vec<u8>) -> Result<Option<Vec<u8>>, MemError> {
        self.write_vec(id, block).map(Some)
    }
}

impl<B: Storage> Blocks for Cached<'_, B> {
    const COMPLETE: bool = false;
    fn memory(&self) -> &MemStorage {
        self.blocks()
    }
    fn insert_owned(&mut self, id: i64, block: Vec<u8>) -> Result<(), B::Error> {
        self.insert_vec(id, block);
        Ok(())
    }
    fn write_owned(&mut self, id: i64, block: Vec<u8>) -> Result<Option<Vec<u8>>, B::Error> {
        Ok(self.write_vec(id, block))
    }
}

/// Runs `f` on `pool`'s threads, or on the current rayon pool's.
fn par<T: Send>(pool: Option<&rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

/// Runs `f` on this thread while `garbage` (the buffers of a batch's searches) is freed on another
/// of `pool`'s threads (or of the current rayon pool's), and returns once both are done. A
/// batch's serial steps leave the other threads idle, and freeing took about a twentieth of a
/// build on the thread that runs them; but frees left running into the next batch's searches
/// made those searches wait on glibc's allocator locks (on 100,000 rows of 384 dimensions,
/// timers around the steps, one run each: two threads spent 19.1 s in the searches instead of
/// 12.3 s). Outside a pool, frees it here.
fn overlapped<R, G: Send>(pool: Option<&rayon::ThreadPool>, garbage: G, f: impl FnOnce() -> R) -> R {
    match pool {
        Some(p) => p.in_place_scope(|s| {
            s.spawn(move |_| drop(garbage));
            f()
        }),
        None if rayon::current_thread_index().is_some() => rayon::in_place_scope(|s| {
            s.spawn(move |_| drop(garbage));
            f()
        }),
        None => {
            drop(garbage);
            f()
        }
    }
}

/// A parallel search's failure as the batch's, or the store error of a search that read a
/// block not in memory.
fn recast<E>(e: GraphError<MemError>) -> Result<GraphError<E>, MemError> {
    Ok(match e {
        GraphError::Storage(e) => return Err(e),
        GraphError::Corrupt { op, id, source } => GraphError::Corrupt { op, id, source },
        GraphError::WrongNode { op, id, found } => GraphError::WrongNode { op, id, found },
        GraphError::Dimensions { op, got, want } => GraphError::Dimensions { op, got, want },
        GraphError::VectorType { op, got, want } => GraphError::VectorType { op, got, want },
        GraphError::Vector { op, source } => GraphError::Vector { op, source },
    })
}

/// A target of step 3 that changed.
struct Rewritten {
    id: i64,
    /// Its new block.
    block: Vec<u8>,
    /// The links it lost.
    lost: Vec<Link>,
    /// Its edges now.
    edges: Vec<i64>,
    /// New rows spliced in at it, each with the duplicate it handed over to them
    /// ([`super::splice_at`]).
    handed: Vec<(i64, Link)>,
}

/// What step 1 finds for one new row (and what [`DiskAnn::insert`] starts from).
pub(super) struct Planned {
    /// The row's edge-type copy, as a link to it.
    pub(super) new: Link,
    /// Its out-edges.
    pub(super) out: Vec<Link>,
    /// Visited nodes that are its exact duplicates (they take a back edge too).
    pub(super) dups: Vec<i64>,
    /// Its search.
    pub(super) beam: Beam,
}

/// How many rows the next batch takes when the graph has `nodes` nodes: a two-hundredth of the
/// graph from 16,000 nodes on (`FULL_BATCHES_FROM`), at most 2,048 rows (`MAX_BATCH`); below,
/// a smaller share that grows with the graph (`nodes² / (200 · 16,000)`: one row at a time up
/// to 2,529 nodes, 5 at 4,000, 20 at 8,000). A caller that streams rows in
/// ([`DiskAnn::insert_batch`]) follows it to build what [`DiskAnn::build`] builds.
///
/// Why smaller batches on a small graph: its rows are few hops apart, and a batch's rows,
/// which do not see each other, then shape much of it at once. On 4,000 rows in 20 tight
/// clusters (12 dimensions, the filtered-search test's table), batches of a two-hundredth left
/// some clusters that greedy searches from the entry point could not leave: 46 of 4,800
/// queries over 16 seeds found fewer than 5 of their 10 nearest, these batches 1, row-by-row
/// inserts none (`cargo run --release -p edgelite-diskann --example clusters -- 4000 20 SEED`).
/// The weakness is not gone on larger graphs: on 16,000 such rows, 19 to 42 of 900 queries
/// (6 seeds, the example run with 150 queries each, two builds of the graph code) against
/// none row by row.
#[must_use]
pub fn batch_size(nodes: usize) -> usize {
    let share = if nodes >= FULL_BATCHES_FROM {
        nodes / MAX_BATCH_DIVISOR
    } else {
        nodes * nodes / (MAX_BATCH_DIVISOR * FULL_BATCHES_FROM)
    };
    share.clamp(1, MAX_BATCH)
}

/// From this many nodes on, a batch is a two-hundredth of the graph (see [`batch_size`]).
const FULL_BATCHES_FROM: usize = 16_000;

impl DiskAnn {
    /// Adds `rows` (rowid, vector of the column type) to the graph in `storage` in batches of
    /// growing size (see the module docs), on the threads of the current rayon pool (call it
    /// inside `pool.install` to choose their number). The graph it makes does not depend on the
    /// number of threads; every node stays reachable from the entry point.
    ///
    /// # Errors
    /// As [`Self::insert_batch`]; the batches before a failing one stay in `storage`.
    pub fn build(&self, storage: &mut MemStorage, rows: &[(i64, VectorRef<'_>)]) -> Result<(), GraphError<MemError>> {
        for &(_, v) in rows {
            self.check_vector(Op::Insert, v)?;
        }
        let mut rest = rows;
        while !rest.is_empty() {
            let (batch, after) = rest.split_at(batch_size(storage.len()).min(rest.len()));
            self.insert_batch(storage, batch)?;
            rest = after;
        }
        Ok(())
    }

    /// Adds `rows` to the graph in `storage` as one batch: each row's search sees the graph as
    /// it was before the batch (not the batch's other rows), on the threads of the current
    /// rayon pool. A caller that streams rows in keeps batches small while the graph is, as
    /// [`batch_size`] says.
    ///
    /// # Errors
    /// [`GraphError::Dimensions`] / [`GraphError::VectorType`] for a row that does not match the
    /// index (libSQL's texts; nothing is written then), [`MemError::Exists`] for a rowid already
    /// in `storage` (nothing is written then) or given twice.
    pub fn insert_batch(
        &self,
        storage: &mut MemStorage,
        batch: &[(i64, VectorRef<'_>)],
    ) -> Result<(), GraphError<MemError>> {
        for &(_, v) in batch {
            self.check_vector(Op::Insert, v)?;
        }
        if let Some(&(id, _)) = batch.iter().find(|(id, _)| storage.get(*id).is_some()) {
            return Err(GraphError::Storage(MemError::Exists(id)));
        }
        self.add_batch(storage, batch, None)
    }

    /// [`Self::insert_batch`] for a graph larger than memory: the blocks in `cache`, the rest
    /// in its backing store. The searches run on `pool`'s threads over the blocks in memory; one
    /// that needs a block that is not is done again on the caller's thread, through the store
    /// (whose blocks then stay in memory). Every call to the store runs on the caller's thread
    /// (the blocks and edge lists of steps 2 and 3 are computed on `pool`'s). The graph is the one [`Self::insert_batch`] makes, block for block,
    /// whatever the cache holds; its new and rewritten blocks stay in `cache` until
    /// [`crate::BuildCache::write_back`].
    ///
    /// # Errors
    /// As [`Self::insert_batch`]; the store's failures. A rowid already in the store fails at
    /// the write-back.
    pub fn insert_batch_cached<B: Storage>(
        &self,
        cache: &mut Cached<'_, B>,
        batch: &[(i64, VectorRef<'_>)],
        pool: &rayon::ThreadPool,
    ) -> Result<(), GraphError<B::Error>> {
        for &(_, v) in batch {
            self.check_vector(Op::Insert, v)?;
        }
        self.add_batch(cache, batch, Some(pool))
    }

    fn add_batch<S: Blocks>(
        &self,
        storage: &mut S,
        batch: &[(i64, VectorRef<'_>)],
        pool: Option<&rayon::ThreadPool>,
    ) -> Result<(), GraphError<S::Error>> {
        let op = Op::Insert;
        if let [(id, v)] = batch {
            // a batch of one is an insert: small builds write the blocks row-by-row inserts write
            return self.insert(storage, *id, *v);
        }
        // 1. searches and prunes, each row on its own, against the graph before the batch; a
        // search that needs a block not in memory is done again through the store
        let entry = storage.first_id().map_err(GraphError::Storage)?;
        let view = View { blocks: storage.memory(), entry, complete: S::COMPLETE };
        let tried: Vec<Result<Planned, GraphError<MemError>>> =
            par(pool, || batch.par_iter().map(|&(id, v)| self.plan(&mut { view }, id, v)).collect());
        let mut planned = Vec::with_capacity(batch.len());
        for (tried, &(id, v)) in tried.into_iter().zip(batch) {
            planned.push(match tried.map_err(recast) {
                Ok(p) => p,
                Err(Ok(e)) => return Err(e),
                Err(Err(_)) => self.plan(storage, id, v)?,
            });
        }
        // 2. the new blocks, made in parallel and moved into the store in row order
        let made: Vec<Result<Vec<u8>, GraphError<MemError>>> = par(pool, || {
            planned
                .par_iter()
                .zip(batch)
                .map(|(p, &(id, v))| {
                    let mut block =
                        self.layout.new_block(id, v).map_err(|source| GraphError::Corrupt { op, id, source })?;
                    self.set_links(op, id, &mut block, &p.out)?;
                    Ok(block)
                })
                .collect()
        });
        for (block, &(id, _)) in made.into_iter().zip(batch) {
            let block = block.map_err(|e| recast(e).unwrap_or_else(|e| unreachable!("blocks read no store: {e}")))?;
            storage.insert_owned(id, block).map_err(GraphError::Storage)?;
        }
        // 3. back edges, grouped by target (in ascending target order); every target was
        // visited by a search, so its block is in memory
        let mut offers: std::collections::BTreeMap<i64, Vec<(&Link, bool)>> = std::collections::BTreeMap::new();
        for p in &planned {
            let mut targets: Vec<i64> = p.out.iter().map(|l| l.id).collect();
            targets.extend(p.dups.iter().filter(|d| !p.out.iter().any(|l| l.id == **d)));
            let splice = super::splice_at(&p.out, &p.dups);
            for t in targets {
                offers.entry(t).or_default().push((&p.new, splice == Some(t)));
            }
        }
        let graph: &MemStorage = storage.memory();
        let offers: Vec<(i64, Vec<(&Link, bool)>)> = offers.into_iter().collect();
        let rewritten: Vec<Option<Rewritten>> = par(pool, || {
            offers.par_iter().map(|(t, new)| self.take_back_edges(graph, *t, new)).collect::<Result<_, _>>()
        })
        .map_err(|e| recast(e).unwrap_or_else(|e| unreachable!("back edges read no store: {e}")))?;
        drop(offers);
        // 4. ways in for the new rows and for what the targets dropped
        let mut verify = Vec::new();
        for p in &planned {
            verify.push(p.new.clone());
            if let Some(old) = p.beam.entry.filter(|&e| e > p.new.id)
                && let Some(v) = p.beam.visits.iter().find(|v| v.id == old)
            {
                verify.push(Link { id: old, part: v.part.clone(), dist: 0.0 });
            }
        }
        let mut now: IdMap<Vec<i64>> = IdMap::default();
        let mut replaced = Vec::with_capacity(rewritten.len());
        let mut handed = Vec::new();
        for r in rewritten.into_iter().flatten() {
            replaced.extend(storage.write_owned(r.id, r.block).map_err(GraphError::Storage)?);
            verify.extend(r.lost);
            now.insert(r.id, r.edges);
            handed.extend(r.handed);
        }
        // the new rows spliced into their groups link to what they were handed (their blocks
        // are this batch's, which no step 3 rewrote: a new row is no other's target)
        let parts: IdMap<&super::Part> = if handed.is_empty() {
            IdMap::default()
        } else {
            planned.iter().map(|p| (p.new.id, &p.new.part)).collect()
        };
        for (n, b) in handed {
            let Some(part) = parts.get(&n) else { continue };
            let Some(mut block) = storage.memory().get(n).map(<[u8]>::to_vec) else { continue };
            let (changed, lost) = self.take_handover(op, n, part, &mut block, &b)?;
            if changed {
                let node = self.parse(op, n, &block)?;
                now.insert(n, (0..node.edge_count()).map(|i| node.edge_id(i)).collect());
                replaced.extend(storage.write_owned(n, block).map_err(GraphError::Storage)?);
                verify.extend(lost);
            }
        }
        // what the batch's searches saw, with the edges the nodes have now: those a search read
        // (the new rows' blocks and the rewritten targets aside, no block changed since); each
        // node once, its copy moved out of the search, its edge list made in parallel
        let mut seen = IdSet::default();
        let mut met: Vec<(i64, super::Part, usize, usize)> = Vec::new();
        for (r, p) in planned.iter_mut().enumerate() {
            for (i, v) in p.beam.visits.iter_mut().enumerate() {
                if seen.insert(v.id) {
                    met.push((v.id, v.part.clone(), r, i));
                }
            }
            if seen.insert(p.new.id) {
                met.push((p.new.id, p.new.part.clone(), r, usize::MAX));
            }
        }
        drop(seen);
        let edges: Vec<Vec<i64>> = par(pool, || {
            met.par_iter()
                .map(|&(id, _, r, i)| match (now.get(&id), planned[r].beam.visits.get(i)) {
                    (Some(edges), _) => edges.clone(),
                    (None, Some(v)) => v.edges.iter().map(|e| e.0).collect(),
                    (None, None) => planned[r].out.iter().map(|l| l.id).collect(),
                })
                .collect()
        });
        let hints: IdMap<Vec<i64>> =
            planned.iter().map(|p| (p.new.id, p.beam.visits.iter().map(|v| v.id).collect())).collect();
        // the searches' buffers and the replaced blocks are freed on another
        // thread meanwhile
        let (r, known) = overlapped(pool, (planned, replaced, now), || {
            let mut known = Known { hints, ..Known::default() };
            known.adj.reserve(met.len());
            known.parts.reserve(met.len());
            for ((id, part, _, _), edges) in met.into_iter().zip(edges) {
                known.adj.insert(id, edges);
                known.parts.insert(id, part);
            }
            (self.secure(storage, op, &mut known, verify), known)
        });
        // what the batch knew, freed on this thread before the next batch's searches start.
        // Split over two threads, the frees waited on each other's allocator arenas: on
        // 100,000 rows of 384 dimensions (`ann -- --synthetic 100000 --build-threads 2`, three
        // runs each, alternating) CREATE INDEX took 32.1-33.0 s that way, 31.7-32.7 s this way
        drop(known);
        r
    }

    /// Step 1 for one row, and the start of [`DiskAnn::insert`]: its search with `insert_l`
    /// and its pruned out-edges (the row itself, if the search meets it, is no candidate).
    pub(super) fn plan<S: Storage>(
        &self,
        storage: &mut S,
        id: i64,
        vector: VectorRef<'_>,
    ) -> Result<Planned, GraphError<S::Error>> {
        let op = Op::Insert;
        let new = Link { id, part: self.edge_part(vector).into(), dist: 0.0 };
        let beam = self.beam(storage, op, vector, self.edge_ref(op, &new.part)?, self.config.insert_l, Keep::Edges)?;
        let mut cands = Vec::with_capacity(beam.visits.len());
        let mut dups = Vec::new();
        let nq = self.prepare(self.edge_ref(op, &new.part)?);
        for v in &beam.visits {
            if v.id == id {
                continue;
            }
            if super::duplicates(&v.part, &new.part, key(self.pdist(op, &nq, &v.part)?)) {
                dups.push(v.id);
            }
            cands.push(Link { id: v.id, part: v.part.clone(), dist: 0.0 });
        }
        let mut cap = self.layout.capacity();
        if !dups.is_empty() {
            let before = cands.len();
            self.inherit_outside_edges(storage, &beam, &dups, &mut cands)?;
            if cands.len() > before {
                cap -= cap / ROOM_SHARE;
            }
        }
        let out = self.prune(op, id, &new.part, cands, Some(&|_| true), cap, 0)?;
        Ok(Planned { new, out, dups, beam })
    }

    /// Adds to `cands` the edges of the duplicates a new row's search met that lead out of
    /// their group: those of the [`INHERIT_FROM`] members with the most such edges.
    ///
    /// A group of duplicates (or of vectors within [`super::DUP_DIST`]) larger than `insert_l`
    /// fills the search's list, and then the search meets nothing else, and the prune keeps
    /// [`super::DUP_EDGES`] of the group: the new row linked to its group and to the farther
    /// nodes on the way in, nothing near. Rows inserted like that only lead to each other,
    /// and a query whose list they fill never leaves them (the fuzzer's seed 1910: 100 copies
    /// of `[3.000001, 1]` among 500 rows within 0.0015, where `vector_top_k` at k = 100 then
    /// returned none of the 14 rows equal to the query `[3.001, 1.001]`). A member's vector is
    /// the new row's, so the edges it chose are candidates of the same quality.
    fn inherit_outside_edges<S: Storage>(
        &self,
        storage: &mut S,
        beam: &Beam,
        dups: &[i64],
        cands: &mut Vec<Link>,
    ) -> Result<(), GraphError<S::Error>> {
        let op = Op::Insert;
        let group: IdSet = dups.iter().copied().collect();
        // the members' edges as their search read them (the graph has not changed since)
        let mut members: Vec<(usize, &super::Visit)> = beam
            .visits
            .iter()
            .filter(|v| group.contains(&v.id))
            .map(|v| (v.edges.iter().filter(|&&(e, dup)| !dup && !group.contains(&e)).count(), v))
            .filter(|&(outside, _)| outside > 0)
            .collect();
        members.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
        let mut other = Vec::new();
        let mut taken = IdSet::default();
        for &(_, member) in members.iter().take(INHERIT_FROM) {
            for &(e, _) in member.edges.iter() {
                if group.contains(&e) || beam.missing.contains(&e) || !taken.insert(e) {
                    continue;
                }
                // the copy is made from the target's own block: the member's may be stale or
                // lead nowhere (an edge to a row deleted by a delete that did not meet the
                // member, or to a rowid that an UPDATE of the vector has since reused)
                if self.read_node(storage, op, e, &mut other)? {
                    let target = self.parse(op, e, &other)?;
                    cands.push(Link { id: e, part: self.edge_part(target.vector()).into(), dist: 0.0 });
                }
            }
        }
        Ok(())
    }

    /// Step 3 for one target: its block with the new in-edges offered to it, and the links it
    /// lost; `None` if nothing changed.
    fn take_back_edges(
        &self,
        graph: &MemStorage,
        t: i64,
        new: &[(&Link, bool)],
    ) -> Result<Option<Rewritten>, GraphError<MemError>> {
        let op = Op::Insert;
        let Some(block) = graph.get(t) else { return Ok(None) };
        let node = self.parse(op, t, block)?;
        let t_part = self.edge_part(node.vector());
        let no_missing = IdSet::default();
        let (mut links, _) = self.links_of(op, t, block, i64::MIN, &no_missing)?;
        let old_len = links.len();
        let tv = self.edge_ref(op, &t_part)?;
        // t's duplicates (how many, and where the last is), counted at the first new one that is
        // a duplicate
        let mut dups: Option<(usize, Option<usize>)> = None;
        let mut handed = Vec::new();
        for &(n, splice) in new {
            if links.iter().any(|l| l.id == n.id) {
                continue;
            }
            let d = self.dist(op, tv, self.edge_ref(op, &n.part)?)?;
            if super::duplicates(&n.part, &t_part, key(d)) {
                let (count, last) = match dups {
                    Some(counted) => counted,
                    None => self.duplicate_links(op, &t_part, &links)?,
                };
                if count >= super::DUP_EDGES {
                    dups = Some((count, last));
                    // t is where n joins its group: t → b becomes t → n → b
                    if splice && let Some(i) = last {
                        let link = Link { id: n.id, part: n.part.clone(), dist: d };
                        handed.push((n.id, std::mem::replace(&mut links[i], link)));
                    }
                    // else enough duplicates linked already: n gets its way in elsewhere
                    continue;
                }
                dups = Some((count + 1, Some(links.len())));
            }
            links.push(Link { id: n.id, part: n.part.clone(), dist: d });
        }
        if links.len() == old_len && handed.is_empty() {
            return Ok(None);
        }
        let mut lost = Vec::new();
        let pruned = links.len() > self.layout.capacity();
        if pruned {
            // the old edges first: among equals, pruning keeps the ones given first
            links = self.prune(op, t, &t_part, links, Some(&|_| true), self.layout.capacity(), old_len)?;
        }
        if pruned || !handed.is_empty() {
            // the old edges it dropped (as links_of lists them), from the block
            for i in 0..node.edge_count() {
                let e = node.edge_id(i);
                if e != t && e != i64::MIN && !links.iter().any(|l| l.id == e) {
                    let dist = node.edge_distance(i).unwrap_or(0.0);
                    lost.push(Link { id: e, part: node.edge_data(i).into(), dist });
                }
            }
        }
        let mut out = block.to_vec();
        self.set_links(op, t, &mut out, &links)?;
        Ok(Some(Rewritten { id: t, block: out, lost, edges: links.iter().map(|l| l.id).collect(), handed }))
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_BATCH, batch_size};

    #[test]
    fn batches_grow_with_the_graph_up_to_the_cap() {
        assert_eq!(batch_size(0), 1);
        assert_eq!(batch_size(2_529), 1);
        assert_eq!(batch_size(2_530), 2);
        assert_eq!(batch_size(4_000), 5);
        assert_eq!(batch_size(8_000), 20);
        assert_eq!(batch_size(15_999), 79);
        assert_eq!(batch_size(16_000), 80);
        assert_eq!(batch_size(20_000), 100);
        assert_eq!(batch_size(10_000_000), MAX_BATCH);
    }
}
