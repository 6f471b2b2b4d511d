//! The Vamana / DiskANN graph over a [`Storage`]: search, insert, a delete that repairs, and an
//! integrity check.
//!
//! Where edgelite departs from libSQL (docs/libsql-vector.md 3.6, 4.2), on purpose:
//! - **Entry point**: the lowest rowid ([`Storage::first_id`]), not a random row found by an
//!   O(n) count-and-skip: results are reproducible and the lookup is O(log n). A search that
//!   has settled goes on once from the nearest of the index's [`Seeds`] (rows spread over its
//!   rowid range) that its list would keep: from the entry point alone it settled in the wrong
//!   cluster for queries far from tight clusters. Inserts and deletes start from the entry
//!   point alone.
//! - **k is not capped by L**: the candidate list is widened to `max(L, k)`; `L` can be set per
//!   query ([`DiskAnn::search_with`]).
//! - **Exact distances**: a search orders its list by the neighbour copies and reads the exact
//!   vectors only of nodes that are among the list's first `2k` (at least `k + 10`) when
//!   visited, which include every node that can rank (all visited nodes with 1-bit copies,
//!   whose order is too rough); libSQL reads every visited node's vector.
//! - **Pruning** is Vamana's robust prune over the candidate set (alpha from the index), and a
//!   node with free capacity simply gains the back edge, as in the paper. Once the graph is larger
//!   than one search sees, a full node is pruned to 3/4 of its capacity (DiskANN's slack,
//!   turned around: the block size is fixed by the format), so most back edges are appends. The occlusion test is strict
//!   (`alpha·d(a, c) < d(p, c)`), so exact duplicates of `p` are never occluded.
//! - **Exact duplicates** (equal neighbour copies, or copies at distance at most 1e-6: under
//!   cosine, vectors of one direction such as `[1,2]` and `[2,4]`): a node keeps edges to at
//!   most two of its duplicates (they are never occluded and would fill its list), and a beam breaks distance
//!   ties in a fixed scrambled order rather than by rowid, so that new duplicates are linked
//!   from all over their group, not from the same few lowest rowids until those are full. Any
//!   number of duplicates stay reachable, where libSQL loses all but one (issues #2104, #2197).
//!   A new duplicate is spliced into its group (`splice_at`): one member gives it one of its
//!   duplicate edges and it links to that edge's target, so a member's way in stays inside the
//!   group and a search that reaches one member reaches the others at the same distance, before
//!   any farther row (a `LIMIT 100` among 80 copies returned 65 of them before). A search
//!   keeps at most `max(k, L/8)` nodes at one distance from the query in its list
//!   (`group_cap`), so a group larger than the list cannot fill it and hide the rows that
//!   lie beyond the group's farther neighbours.
//! - **Delete repairs**: the deleted node's in-neighbours are found by a search for its vector
//!   (all nodes when the index has at most `delete_l` nodes, else those near it, which is where
//!   α-pruned in-edges come from), their edge to it is removed and they are reconnected to its
//!   out-neighbours with robust prune (FreshDiskANN). libSQL removes no back edge at all.
//!   Edges to nodes that are found missing (left by libSQL, or by a search that missed a far
//!   in-neighbour) are skipped by searches and dropped whenever their block is rewritten.
//!   In a group of duplicates larger than the search's list, the member that linked to the
//!   deleted node may be one the search missed: the duplicates that the deleted node linked to
//!   then get an edge from a member it met (`rejoin_group`), so a group's members keep their
//!   ways in from inside it.
//! - **Every node stays reachable** from the entry point (issue 14): an insert or a delete
//!   verifies every node whose way in it may have cut (the targets of the edges it removed, a
//!   new node, the old entry point, a deleted node's out-neighbours) over the edges it read,
//!   and links any it cannot prove reachable from the nearest reached node, preferring one with
//!   room (`DiskAnn::secure`). A node-by-node proof, not an in-degree count, so cycles cut off
//!   together are caught too. A full node gives way an edge that the proof's tree of reached
//!   nodes does not use, or one whose target has another way in, where it can: then nothing is
//!   cut off and nothing needs proving again (`cargo run --release -p edgelite-benches --bin
//!   duplicates`: 20,000 rows of 150 directions left 5,969 unreachable nodes in 115 s before,
//!   none in 20 s, with the prune's ties below).
//! - **Ties in a prune** (candidates at one distance from the node: the members of a group of
//!   duplicates, seen from outside) are broken in an order of the node's own, not by rowid:
//!   they occlude each other, and in rowid order every node near a group kept an edge to the
//!   same member, leaving the others no way in but the group's few duplicate edges.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use edgelite_vector::kernels::{KernelSet, PreparedQuery, active, fast_distance, prefetch};
use edgelite_vector::{Vector, VectorRef, VectorType};

use crate::block::{BlockError, Layout};
use crate::options::IndexConfig;
use crate::storage::Storage;

/// An edge-type copy of a vector (a data part), shared rather than copied: a build hands the
/// same copies from searches to prunes to the reachability check, a few hundred per row.
type Part = Shared<u8>;

/// A window into a buffer that many share: the copies of the nodes a search visited, or their
/// edges, one after another, each handed out as its own window. A build keeps several hundred
/// of each per row until its batch ends: one allocation per window (and as many frees, many
/// of them in a batch's serial steps) cost more than the windows' bytes.
#[derive(Clone)]
struct Shared<T> {
    buf: Arc<[T]>,
    at: usize,
    len: usize,
}

impl<T> Shared<T> {
    /// `buf[at..at + len]`.
    fn window(buf: &Arc<[T]>, at: usize, len: usize) -> Shared<T> {
        Shared { buf: Arc::clone(buf), at, len }
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.buf[self.at..][..self.len]
    }
}

impl<T> From<Vec<T>> for Shared<T> {
    fn from(v: Vec<T>) -> Shared<T> {
        let len = v.len();
        Shared { buf: v.into(), at: 0, len }
    }
}

impl<T: Clone> From<&[T]> for Shared<T> {
    fn from(v: &[T]) -> Shared<T> {
        Shared { buf: v.into(), at: 0, len: v.len() }
    }
}

thread_local! {
    /// An empty part, for the visits of a search, which keep none: cloned, not allocated.
    static NO_COPY: Part = Part::from(Vec::new());
    /// An empty edge list, for the same visits.
    static NO_EDGES: Shared<(i64, bool)> = Shared::from(Vec::new());
}

mod batch;
pub use batch::batch_size;
mod stream;
pub use stream::SearchStream;

/// The operation an error happened in (it names libSQL's message prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`DiskAnn::insert`].
    Insert,
    /// [`DiskAnn::delete`].
    Delete,
    /// [`DiskAnn::search`].
    Search,
    /// [`DiskAnn::check`].
    Check,
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Insert => "insert",
            Op::Delete => "delete",
            Op::Search => "search",
            Op::Check => "check",
        })
    }
}

/// A failed index operation. Storage failures come back unchanged; the others carry libSQL's
/// message where libSQL has one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError<E> {
    /// The storage failed.
    #[error("{0}")]
    Storage(#[source] E),
    /// A node block does not decode (corruption).
    #[error("vector index({op}): corrupt node block {id}: {source}")]
    Corrupt {
        /// Operation.
        op: Op,
        /// Rowid the block was read for.
        id: i64,
        /// What is wrong.
        #[source]
        source: BlockError,
    },
    /// A node block whose stored rowid is not the one it was read for (corruption).
    #[error("vector index({op}): node block {id} holds node {found}")]
    WrongNode {
        /// Operation.
        op: Op,
        /// Rowid the block was read for.
        id: i64,
        /// Rowid stored in it.
        found: i64,
    },
    /// A vector of another dimension than the index's.
    #[error("vector index({op}): dimensions are different: {got} != {want}")]
    Dimensions {
        /// Operation.
        op: Op,
        /// Given.
        got: u32,
        /// Index.
        want: u32,
    },
    /// A vector of another type than the column's (numeric type ids).
    #[error("vector index({op}): vector type differs from column type: {got} != {want}")]
    VectorType {
        /// Operation.
        op: Op,
        /// Given type id.
        got: u8,
        /// Column type id.
        want: u8,
    },
    /// A distance could not be computed (e.g. L2 on 1-bit vectors of a libSQL-made index).
    #[error("vector index({op}): {source}")]
    Vector {
        /// Operation.
        op: Op,
        /// The vector error.
        #[source]
        source: edgelite_vector::Error,
    },
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Rowid.
    pub id: i64,
    /// Distance to the query in the index metric, computed by the SIMD kernels from the node's
    /// exact vector (may differ from `vector_distance_*` in the last bits; NaN where that is NULL).
    pub distance: f32,
}

/// What [`DiskAnn::check`] found. Corrupt blocks are errors, not findings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityReport {
    /// Nodes.
    pub nodes: usize,
    /// Edges.
    pub edges: usize,
    /// Largest edge count of a node.
    pub max_degree: usize,
    /// Edges `(from, to)` to missing nodes.
    pub dangling: Vec<(i64, i64)>,
    /// Nodes with an edge to themselves.
    pub self_edges: Vec<i64>,
    /// Edges `(from, to)` stored more than once.
    pub duplicate_edges: Vec<(i64, i64)>,
    /// Nodes no search can reach from the entry point.
    pub unreachable: Vec<i64>,
}

impl IntegrityReport {
    /// True if nothing was found.
    pub fn is_ok(&self) -> bool {
        self.dangling.is_empty()
            && self.self_edges.is_empty()
            && self.duplicate_edges.is_empty()
            && self.unreachable.is_empty()
    }
}

/// The hasher of the maps and sets keyed by rowids (and the bridge's cache, keyed by index
/// names): foldhash, seeded at random per process and per map. Rowids are the user's to
/// choose, and a fixed hash lets them be chosen to collide: with the multiply-xorshift this
/// replaced, 10,000 rows whose rowids all hashed to the same bucket took 31 s to insert into an
/// indexed table against 2.7 s for random rowids (every set and map of the graph code probed
/// the one cluster), and the gap grows with the row count. A random seed leaves no such choice,
/// at the same speed for the i64 keys. foldhash's quality variant, not its fast one: the fast
/// one spread rowids that are multiples of 2^40 over 927 to 3,970 of 4,096 buckets depending on
/// the process's seed, the quality one (a final multiply more) over 2,508 to 2,664 (12
/// processes of 2,000 maps), as random keys do (about 2,590). Iteration order differs from one
/// map to the next, so nothing that shapes the graph iterates one of these (the blocks built do
/// not depend on it).
pub type RowidBuildHasher = foldhash::quality::RandomState;

type IdSet = HashSet<i64, RowidBuildHasher>;
type IdMap<V> = HashMap<i64, V, RowidBuildHasher>;

/// Parent links [`other_way_in`] follows up the tree of reached nodes before it gives up.
const ANCESTRY: usize = 64;

/// Whether `w -> x` is free to give way in [`DiskAnn::secure`]: the tree of reached nodes
/// (`parent`) does not use it, and that call did not add it (`pinned`).
fn free_edge(w: i64, x: i64, tree: &Tree, pinned: &HashSet<(i64, i64), RowidBuildHasher>) -> bool {
    tree.parent(x) != Some(w) && !pinned.contains(&(w, x))
}

/// A reached node other than `w` with a known edge to `x` and a way in that does not go through
/// `x` (its path up the tree of reached nodes, `parent`, ends at the entry point within
/// [`ANCESTRY`] links without meeting `x`): once `w -> x` gives way, `x` is reached through it.
fn other_way_in(x: i64, w: i64, radj: &IdMap<Vec<i64>>, tree: &Tree) -> Option<i64> {
    'from: for &z in radj.get(&x).map_or(&[][..], Vec::as_slice) {
        if z == w || z == x || !tree.contains(z) {
            continue;
        }
        let mut a = z;
        for _ in 0..ANCESTRY {
            match tree.parent(a) {
                Some(p) if p == x => continue 'from,
                Some(p) => a = p,
                None => return Some(z),
            }
        }
    }
    None
}

/// Sort key of a distance: NaN (cosine of a zero vector) last, -0 as 0, so the order is total,
/// and -inf as the least finite value. Searches mark a node visited, and an entry point whose
/// list distance is not known yet, with -inf ([`VISITED`]), so no key may be -inf: a cosine
/// distance is -inf where the product of two squared lengths underflows (libSQL's formula
/// gives `1 - dot / 0`; a row `[-7e-13,-3.5e-13]` against the query `[-1.36e-11,5.5e-12]`),
/// and the incremental search took such a node for a visited one and never returned it
/// (`vector_scan` and the planner's rewrite gave 2 of 3 rows; a differential fuzzer's find).
fn key(d: f32) -> f32 {
    if d.is_nan() {
        f32::INFINITY
    } else if d == f32::NEG_INFINITY {
        f32::MIN
    } else {
        d + 0.0
    }
}

/// Order by distance, ties by ascending rowid.
#[inline]
fn by_key(a: (f32, i64), b: (f32, i64)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// A fixed scramble of a rowid, to break distance ties without favouring low or high rowids.
fn scramble(id: i64) -> u64 {
    let x = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// The order of a beam's list: by distance, ties in [`scramble`] order. Among exact duplicates
/// a list ordered by rowid would visit the same lowest rowids whatever it looks for, and every
/// new duplicate would be linked from those few nodes until they are full; scrambled, the beam
/// wanders through the group and finds nodes with room at every depth.
fn by_list_key(a: (f32, i64), b: (f32, i64)) -> Ordering {
    a.0.total_cmp(&b.0).then(scramble(a.1).cmp(&scramble(b.1))).then(a.1.cmp(&b.1))
}

struct Candidate {
    dist: f32,
    id: i64,
    visited: bool,
    /// Where [`Frontier::parts`] holds the copy of the node that its referrer stores, if it
    /// keeps them ([`NO_PART`] if not).
    part: u32,
}

const NO_PART: u32 = u32::MAX;

/// How many seeds an index has: nodes spread over its vectors, where a search goes on from once
/// it has settled (see [`Seeds`]). On the fuzzer's R3 (10 clusters), 64 gave recall@10 0.997,
/// 32 0.994.
pub const SEEDS: usize = 64;
/// The most bytes of copies an index's seeds hold: fewer seeds for wide vectors (64 at 384
/// dimensions with f8 copies, 26 KB; 15 at 4,096). Each connection keeps its own, so a tenant
/// with many indexes of huge vectors would otherwise hold megabytes per index and connection.
pub const SEED_BYTES: usize = 64 << 10;
/// How many of the nearest seeds a settled search takes: one did as well as four or eight on R3.
const SEEDS_TAKEN: usize = 2;
/// How many candidates [`DiskAnn::pick_seeds`] reads for each seed it keeps: four for vectors
/// of up to [`SEED_POOL_DIMS`] dimensions, two for wider ones. Choosing among them costs a
/// distance for each pair of candidates, and reading them a seek and a read each: on minilm-20k
/// (384 dimensions, float8 copies), 256 candidates took a fresh connection's first search from
/// 1.9 ms (session 32's seeds) to 3.8-4.3 ms (`ann`), and 128 to 2.1. Data of few dimensions,
/// where tight clusters far apart are common (and the reviews' families were drawn), keeps
/// four: two gave lower recall on every clustered family there.
const SEED_POOL: usize = 4;
/// See [`SEED_POOL`].
const SEED_POOL_DIMS: u32 = 32;
/// At most this many bytes of node vectors are read for seed candidates (but at least one
/// candidate a seed): at 4,096 f32 dimensions a node's vector is 16 KB, most of its block, and
/// 128 candidates took a fresh connection's first search from 5.7 to 15 ms (a review's probe).
const SEED_HEAD_BYTES: usize = 512 << 10;

/// An index's seeds: nodes spread over its vectors (drawn at evenly spaced rowids, then chosen
/// to lie near as many others as they can: [`DiskAnn::pick_seeds`]), with their copies in the
/// edge type. A search (`vector_top_k`, the planner's walk) that has settled goes on from the
/// nearest of them that its list would have kept, once, and then settles again.
///
/// Why: a search from the entry point crosses from cluster to cluster only along the few edges
/// between them, and only while each step brings it nearer to the query. With tight clusters
/// and a query far from all of them (the fuzzer's R3: 3,000 rows of 8 dimensions in 10
/// clusters, uniform random queries under cosine) it settled in a cluster whose linked clusters
/// were all farther: `LIMIT 1` returned a row at 0.779 where the nearest is at 0.448, and
/// recall@10 over 200 queries was 0.829 (hnswlib, whose upper layers pick the cluster,
/// 0.935-0.995 at M 8 and 16, ef 32 to 200). With the seeds: 0.997 (`cargo run --release -p
/// edgelite-benches --bin clusters` measures such data). Seeds put in the list from the start
/// did as well there, but trapped other searches near a seed: on the scaling benchmark's
/// 100,000 rows one query of 200 found none of its 10 neighbours (recall 0.980 became 0.977);
/// going on from them only after settling keeps every row the search had found. Queries near
/// the data rarely meet a seed nearer than their list's last (minilm-20k: same recall and
/// queries/s). Inserts and deletes never use them: the graph, and so the file, is as before.
///
/// They are hints: a seed deleted since is a missing node, skipped as a dangling edge is; one
/// whose vector changed since only puts the search elsewhere. Every result still comes from the
/// blocks read. So a store may keep them while the index changes ([`Storage::keep_seeds`]);
/// they are drawn again when the entry point or the last rowid moves by more than an eighth
/// of their span (an index that grows by appends: each time it grows by an eighth). Drawn
/// again whenever the entry point changed, a queue (delete the oldest row, append one,
/// search) drew them before every search (a review: 3.4-4.3 ms a search became 4.8-7.1 at
/// 768 dimensions).
#[derive(Debug)]
pub struct Seeds {
    ids: Vec<i64>,
    copies: Vec<u8>,
    /// The copies' type and size: seeds are kept by the index's name, and an index dropped and
    /// created again under it (or another file attached under the schema's name) may keep its
    /// copies otherwise. A review found that copies of another size failed every search
    /// of the connection (a slice out of range).
    edge_type: VectorType,
    size: usize,
    /// The entry point and the last rowid when they were drawn.
    entry: i64,
    last: i64,
}

impl Seeds {
    /// Bytes held: the ids and the copies (a store's accounting).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.ids.len() * size_of::<i64>() + self.copies.len()
    }

    /// Whether they still serve an index from `entry` to `last` whose copies are of `layout`
    /// (see above).
    fn fit(&self, layout: &Layout, entry: i64, last: i64) -> bool {
        let slack = ((i128::from(self.last) - i128::from(self.entry)) / 8).max(SEEDS as i128);
        self.edge_type == layout.edge_type()
            && self.size == layout.edge_vector_size()
            && (i128::from(entry) - i128::from(self.entry)).abs() <= slack
            && (i128::from(last) - i128::from(self.last)).abs() <= slack
    }
}

/// An `f32` ordered by [`f32::total_cmp`]: a heap key ([`DiskAnn::pick_seeds`]; edgelite-sys's
/// filtered scan keeps the K nearest distances that passed in a heap of them).
#[derive(Debug, Clone, Copy)]
pub struct OrdF32(pub f32);

impl PartialEq for OrdF32 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Greedy facility location for [`DiskAnn::pick_seeds`]: up to `take` of `n` candidates, in the
/// order taken, each the one that most shortens the candidates' lengths to their nearest taken
/// one, summed. `between` holds the `n * n` pairwise lengths, `near` each candidate's length to
/// what covers it already (the entry point). Stops early once nothing shortens any length (the
/// rest equal what is taken). Lazily evaluated: a candidate's gain only falls as others are
/// taken, so its last gain bounds it, and most steps recompute one or two gains of `n` each.
fn cover(between: &[f32], mut near: Vec<f32>, take: usize) -> Vec<usize> {
    let n = near.len();
    let row = |c: usize| between.get(c * n..(c + 1) * n).unwrap_or_default();
    let gain = |c: usize, near: &[f32]| -> f32 { near.iter().zip(row(c)).map(|(&a, &b)| (a - b).max(0.0)).sum() };
    let mut bound: BinaryHeap<(OrdF32, Reverse<usize>)> =
        (0..n).map(|c| (OrdF32(gain(c, &near)), Reverse(c))).collect();
    let mut taken = Vec::new();
    while taken.len() < take {
        let Some((_, Reverse(c))) = bound.pop() else { break };
        let now = gain(c, &near);
        if bound.peek().is_some_and(|(OrdF32(next), _)| now < *next) {
            bound.push((OrdF32(now), Reverse(c)));
            continue;
        }
        if now <= 0.0 {
            break;
        }
        taken.push(c);
        for (a, &b) in near.iter_mut().zip(row(c)) {
            *a = a.min(b);
        }
    }
    taken
}

/// What a [`DiskAnn::beam`] keeps of each visited node.
#[derive(Debug, Clone, Copy)]
enum Keep {
    /// Its edges and edge-type copy (insert and delete; they read again the few blocks they
    /// rewrite, rather than copying every visited block).
    Edges,
    /// Its exact distance, if it was among the list's first `ranked` at its visit. The list
    /// only grows in front of a visited node, so these include the `ranked` nearest by list
    /// distance in the end: a search needs no more to rank its `k` results with `ranked` a
    /// little above `k`, and skips reading the node vectors of the other visits. At most `ties`
    /// nodes at one list distance ([`tie_class`]) enter the list ([`group_cap`]; see
    /// [`Frontier::ties`]).
    Exact { ranked: usize, ties: usize },
}

/// The class of list distances that count as one for [`Frontier::ties`]: the distance's bits
/// without their 4 lowest (a relative resolution of about 2e-6), so that copies of one vector
/// jittered in their last digits (`[0,-2.999]` and `[1e-6,-2.999]`) are one group.
fn tie_class(d: f32) -> u32 {
    d.to_bits() >> 4
}

/// How many nodes of one [`tie_class`] a search that returns `k` rows keeps in a list of
/// `width`: `k` (any `k` of a group rank as well as the others), but at least an eighth of
/// the list, so that it still visits many members of each group, whose edges out of it
/// differ. With `k` alone, a search at k = 1 among 5 groups of 160 exact duplicates (3-d)
/// visited one member of each group it met and never reached the query's own.
fn group_cap(k: usize, width: usize) -> usize {
    k.max(width / GROUP_SHARE).max(1)
}

/// See [`group_cap`].
const GROUP_SHARE: usize = 8;

struct Visit {
    id: i64,
    /// Exact distance (node vector) to the query, raw (may be NaN), if [`Keep::Exact`] asked.
    exact: Option<f32>,
    /// Its edges, with whether the neighbour's copy equals the node's own (an exact
    /// duplicate), if [`Keep::Edges`] asked.
    edges: Shared<(i64, bool)>,
    /// The node's vector as an edge-type copy, if [`Keep::Edges`] asked (made once per
    /// operation: it feeds many distances).
    part: Part,
}

/// A visited node's exact distance past `order + MOVED_SLACK + MOVED_SHARE·|order|` (its list
/// distance `order`) says that the copy it was queued by may be out of date
/// ([`DiskAnn::expand`]). Far past what an f8 copy's rounding moves a distance (under 1% on
/// minilm-20k), so an unchanged copy is almost never made again.
const MOVED_SLACK: f32 = 0.05;
/// See [`MOVED_SLACK`].
const MOVED_SHARE: f32 = 0.25;

/// The list distance a search records for a node once it is visited (or returned, or found
/// missing): below every distance, so no edge queues it again.
const VISITED: f32 = f32::NEG_INFINITY;

/// How many candidates of `list` (ordered by list distance) around position `at` are of the
/// [`tie_class`] of `d`: a run that is almost always empty.
fn tied(list: &[Candidate], at: usize, d: f32) -> usize {
    let class = tie_class(d);
    let before = list[..at].iter().rev().take_while(|c| tie_class(c.dist) == class).count();
    before + list[at..].iter().take_while(|c| tie_class(c.dist) == class).count()
}

/// The candidate list of a [`DiskAnn::beam`] and what it has seen.
struct Frontier {
    /// Its size.
    l: usize,
    /// Ordered by list distance, ties by rowid.
    list: Vec<Candidate>,
    /// Every candidate before this position is visited: the next visit is found by scanning
    /// from here, not from the front (inserts before it move it back).
    first: usize,
    /// Ids in the list, with the list distance they are queued at ([`VISITED`] once visited,
    /// or for the entry point, which is visited first).
    queued: IdMap<f32>,
    /// No candidate was ever dropped for lack of room.
    complete: bool,
    /// How many candidates of one [`tie_class`] the list takes ([`group_cap`] for a search; no
    /// bound for inserts and deletes). A group of duplicates larger than the list, at one
    /// distance from the query, filled it: every member's edges out of the group lead farther,
    /// so a row nearer than the group but reached only through farther ones was never visited
    /// (the fuzzer's seed 3459: 665 rows within 0.001 of `[0,-3]` and 170 at
    /// `[-2.246,-0.029]`; a search for `[0,0]` with `LIMIT 5` returned rows at 2.999 where 170
    /// are at 2.246).
    ties: usize,
    /// A search's candidates that it turned away for lack of room (id, list distance): a node
    /// found missing (a row deleted since an edge to it was written) frees its place, and the
    /// nearest of these takes it ([`Frontier::readmit`]).
    turned_away: Vec<(i64, f32)>,
    /// A candidate was turned away because [`Self::ties`] of its distance were in the list.
    capped: bool,
    /// Reused by [`DiskAnn::expand`]: the edges of the node it visits that are not queued yet
    /// (edge index, distance).
    scratch: Vec<(usize, f32)>,
    /// With [`Keep::Edges`], the neighbour copies of the candidates, one after another, as
    /// their referrers store them: a visited node's own copy is then a copy of these bytes,
    /// not a conversion of its vector (which is then never read). edgelite writes a copy as
    /// the conversion of the vector, so the two are the same bytes; in an index that libSQL
    /// wrote, copies are its bytes, which is what pruning and the duplicate test compare
    /// anyway. Never larger than the blocks an insert used to keep.
    parts: Option<Vec<u8>>,
    /// With [`Keep::Edges`], the edges of the visited nodes, one after another.
    edges: Vec<(i64, bool)>,
    /// With [`Keep::Edges`], for each visit in order: where its copy starts in `parts`, and
    /// where its edges start in `edges` and how many there are. The beam hands them out as
    /// windows of two buffers once it is over.
    spans: Vec<(usize, usize, usize)>,
    /// Visited nodes reached through a stale copy (see [`DiskAnn::expand`]): their copy in
    /// `parts` was made again from their vector.
    moved: IdSet,
}

impl Frontier {
    /// After a missing node left the list (so it has room): the nearest candidate turned away
    /// for lack of room that is not queued since comes back, if its group has room
    /// ([`Self::ties`]; only a search turns candidates away, and its list keeps no copies).
    /// Without it, a list that deleted rows' stale edges had filled lost the rows they had
    /// kept out whenever the nodes that link to them had been visited already.
    fn readmit(&mut self) {
        self.turned_away.retain(|(id, _)| !self.queued.contains_key(id));
        let place = |list: &[Candidate], (id, d): (i64, f32)| {
            list.partition_point(|x| by_list_key((x.dist, x.id), (d, id)).is_lt())
        };
        let best = (0..self.turned_away.len())
            .filter(|&i| {
                let (id, d) = self.turned_away[i];
                self.ties >= self.l || tied(&self.list, place(&self.list, (id, d)), d) < self.ties
            })
            .min_by(|&a, &b| {
                let ((ia, da), (ib, db)) = (self.turned_away[a], self.turned_away[b]);
                by_list_key((da, ia), (db, ib))
            });
        let Some(i) = best else { return };
        let (id, d) = self.turned_away.swap_remove(i);
        let at = place(&self.list, (id, d));
        self.insert(at, Candidate { dist: d, id, visited: false, part: NO_PART }, true);
    }

    /// Whether a full list would turn away a candidate at list distance `d`: it ranks no
    /// nearer than the list's last.
    fn too_far(&self, d: f32, id: i64) -> bool {
        self.list.len() >= self.l && self.list.last().is_some_and(|w| !by_list_key((d, id), (w.dist, w.id)).is_lt())
    }

    /// Puts `c` at `at` in the list, queued at its list distance, and evicts the last candidate
    /// if the list is then over its size; a search keeps one it evicts unvisited
    /// ([`Self::turned_away`]).
    fn insert(&mut self, at: usize, c: Candidate, searching: bool) {
        let (id, d) = (c.id, c.dist);
        self.list.insert(at, c);
        self.first = self.first.min(at);
        self.queued.insert(id, d);
        if self.list.len() > self.l
            && let Some(evicted) = self.list.pop()
            && !evicted.visited
        {
            // may be queued again if a later node links to it and it then fits
            self.queued.remove(&evicted.id);
            self.complete = false;
            if searching {
                self.turned_away.push((evicted.id, evicted.dist));
            }
        }
    }
}

struct Beam {
    /// The entry point it started from (`None`: an empty index).
    entry: Option<i64>,
    visits: Vec<Visit>,
    /// No candidate was ever dropped for lack of room: every reachable node was visited.
    complete: bool,
    /// Ids met as edges whose node does not exist.
    missing: IdSet,
    /// The list turned a candidate away for its group ([`Frontier::capped`]).
    capped: bool,
    /// Visited nodes reached through a stale copy, whose copy in `visits` is their vector's
    /// ([`Frontier::moved`]).
    moved: IdSet,
}

/// A prospective edge: neighbour rowid, its copy in the edge type, distance from the node.
#[derive(Clone)]
struct Link {
    id: i64,
    part: Part,
    dist: f32,
}

/// A block an operation changed: (node, old block, new block).
type Rewrite = (i64, Vec<u8>, Vec<u8>);

/// Exact duplicates of a node (equal edge-type copies) that its edge list keeps at most. They
/// are never occluded (their distance to it is 0), so without a bound a node in a large group
/// of duplicates would link to nothing else; the rest of the group is reached through them or
/// through the edges [`DiskAnn::secure`] adds.
const DUP_EDGES: usize = 2;

/// Edge-type copies this close count as duplicates too ([`duplicates`]): under cosine, vectors
/// of one direction (`[1,2]` and `[2,4]`) are at distance 0 without being equal, and a group of
/// them filled each other's lists as equal copies did (12,000 2-d rows of 150 directions left
/// 292 nodes unreachable, and each batch cascaded through SECURE_ROUNDS replacements).
const DUP_DIST: f32 = 1e-6;

/// Where a new node joins its group of exact duplicates (`dups`, those its search met): the
/// first of them among its out-edges `out`, else the first met. That node takes an edge to the
/// new one even when it has its [`DUP_EDGES`] already, giving up one of them to the new node
/// ([`DiskAnn::offer_edge`]). So the edges inside a group keep every member reachable from any
/// other: a search that reaches one reaches all of them through nodes at the same distance, not
/// only through farther nodes it may not read before it returns rows (2,500 rows on a 5x5 grid,
/// `LIMIT 100` of a point with 99 copies: 69 of them returned before).
fn splice_at(out: &[Link], dups: &[i64]) -> Option<i64> {
    out.iter().map(|l| l.id).find(|id| dups.contains(id)).or_else(|| dups.first().copied())
}

/// Whether two nodes count as exact duplicates: equal edge-type copies, or copies whose
/// distance `dist` (a [`key`]) is at most [`DUP_DIST`].
fn duplicates(a: &[u8], b: &[u8], dist: f32) -> bool {
    a == b || dist <= DUP_DIST
}

/// Edges an operation adds to keep nodes reachable before it gives up. A delete in a large group
/// of equal vectors needs many: its repair knows only the nodes its search met, so it gives a
/// way in to many nodes that other paths reach before it gets to those that need one. Deleting
/// the entry point of 400 equal vectors took 329 edges, of 2,000 or 20,000 about 1,400; at the
/// former cap of 256, 97 of the 400 were left unreachable. Each edge costs at most a distance
/// per node the operation knows.
const SECURE_ROUNDS: usize = 4096;

/// When no node an operation knows can take a node to secure without cutting the tree of
/// reached nodes, [`DiskAnn::secure`] reads up to this many more reached nodes, up to
/// [`SECURE_GROW`] times.
const SECURE_READS: usize = 32;
const SECURE_GROW: usize = 4;

/// The reached nodes of [`DiskAnn::secure`], each with the node whose edge reached it (a root,
/// the entry point, with none): the tree of reached nodes.
///
/// Over the range of the known nodes' ids, when they are dense in it (a build's rowids
/// usually are), it is a bitmap and an array; other ids go to a hash map. A batch of a build
/// counts again every node its searches reached, on one thread: on 100,000 rows of 384
/// dimensions that count took 3.3 s of a 33 s two-thread build with a hash set and map alone (a
/// timer around it, by hand), and CREATE INDEX (`ann -- --synthetic 100000 --build-threads 2`,
/// two runs each, alternating) took 32.4-32.9 s with the tree against 34.2-34.7 s.
struct Tree {
    /// The first id of the dense range.
    base: i64,
    /// Whether each id of the range is reached.
    bits: Vec<u64>,
    /// The parent of each reached id of the range (its own id for a root).
    up: Vec<i64>,
    /// The reached ids outside the range, with their parents (own id for a root).
    far: IdMap<i64>,
}

impl Tree {
    /// An empty tree, dense over the range of `known`'s ids if they fill at least a sixteenth
    /// of it.
    fn new(known: &Known) -> Tree {
        let (lo, hi) = known.adj.keys().fold((i64::MAX, i64::MIN), |(lo, hi), &id| (lo.min(id), hi.max(id)));
        let span = u64::try_from(i128::from(hi) - i128::from(lo) + 1).unwrap_or(0);
        let dense = lo <= hi && span <= (known.adj.len() as u64).saturating_mul(16).max(4096);
        let len = if dense { usize::try_from(span).unwrap_or(0) } else { 0 };
        Tree {
            base: if dense { lo } else { 0 },
            bits: vec![0; len.div_ceil(64)],
            up: vec![0; len],
            far: IdMap::default(),
        }
    }

    /// `id`'s place in the dense range.
    fn slot(&self, id: i64) -> Option<usize> {
        let at = usize::try_from(id.checked_sub(self.base)?).ok()?;
        (at < self.up.len()).then_some(at)
    }

    fn contains(&self, id: i64) -> bool {
        match self.slot(id) {
            Some(at) => self.bits[at / 64] & (1 << (at % 64)) != 0,
            None => self.far.contains_key(&id),
        }
    }

    /// The node whose edge reached `id`: `None` for a root or a node not reached.
    fn parent(&self, id: i64) -> Option<i64> {
        let p = match self.slot(id) {
            Some(at) if self.bits[at / 64] & (1 << (at % 64)) != 0 => self.up[at],
            Some(_) => return None,
            None => *self.far.get(&id)?,
        };
        (p != id).then_some(p)
    }

    /// Marks `id` reached through `parent`'s edge (whether it was reached or not).
    fn set_parent(&mut self, id: i64, parent: i64) {
        match self.slot(id) {
            Some(at) => {
                self.bits[at / 64] |= 1 << (at % 64);
                self.up[at] = parent;
            }
            None => {
                self.far.insert(id, parent);
            }
        }
    }

    /// Marks `id` reached through `parent`'s edge if it was not reached; whether it was not.
    fn reach(&mut self, id: i64, parent: i64) -> bool {
        match self.slot(id) {
            Some(at) => {
                let bit = 1 << (at % 64);
                if self.bits[at / 64] & bit != 0 {
                    return false;
                }
                self.bits[at / 64] |= bit;
                self.up[at] = parent;
                true
            }
            None => match self.far.entry(id) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(parent);
                    true
                }
            },
        }
    }

    /// Marks `id` reached as a root if it was not reached; whether it was not.
    fn root(&mut self, id: i64) -> bool {
        self.reach(id, id)
    }

    /// Forgets every reached node.
    fn clear(&mut self) {
        self.bits.fill(0);
        self.far.clear();
    }

    /// The reached nodes, in no particular order.
    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let base = self.base;
        let dense = self.bits.iter().enumerate().flat_map(move |(w, &bits)| {
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| base + (w * 64 + b) as i64)
        });
        dense.chain(self.far.keys().copied())
    }
}

/// What an insert or a delete knows of the graph once it has written its blocks: the edges of
/// the nodes it read (the beam's visits, the blocks it rewrote), as they are now, and their
/// edge-type copies. A node reached from the entry point over these edges is reachable.
#[derive(Default)]
struct Known {
    adj: IdMap<Vec<i64>>,
    parts: IdMap<Part>,
    /// For some nodes to verify (a batch's new rows), the known nodes to try first as their way
    /// in: those their own search visited, nearest to them of all (see [`DiskAnn::secure`]).
    hints: IdMap<Vec<i64>>,
}

impl Known {
    fn from_visits(visits: &[Visit], skip: i64) -> Known {
        let mut known = Known::default();
        known.adj.reserve(visits.len() + 8);
        known.parts.reserve(visits.len() + 8);
        for v in visits.iter().filter(|v| v.id != skip) {
            known.adj.insert(v.id, v.edges.iter().map(|e| e.0).collect());
            known.parts.insert(v.id, v.part.clone());
        }
        known
    }

    /// Adds to `tree` the nodes that the known edges reach from `from` (unknown nodes are
    /// reached, not expanded), each with the node whose edge reached it; `from` itself, if it
    /// was not reached, as a root.
    fn reach(&self, from: i64, tree: &mut Tree) {
        self.reach_noting(from, tree, None);
    }

    /// [`Self::reach`], also pushing each node it adds to `tree` onto `added`.
    fn reach_noting(&self, from: i64, tree: &mut Tree, mut added: Option<&mut Vec<i64>>) {
        if tree.root(from)
            && let Some(added) = added.as_mut()
        {
            added.push(from);
        }
        let mut queue = vec![from];
        while let Some(id) = queue.pop() {
            for &e in self.adj.get(&id).map_or(&[][..], Vec::as_slice) {
                if tree.reach(e, id) {
                    queue.push(e);
                    if let Some(added) = added.as_mut() {
                        added.push(e);
                    }
                }
            }
        }
    }
}

/// A DiskANN index: its configuration and the algorithms. Holds no data: every call takes the
/// [`Storage`], so the bridge can lend it a storage over the statement's connection.
#[derive(Debug, Clone)]
pub struct DiskAnn {
    config: IndexConfig,
    layout: Layout,
    kernels: &'static KernelSet,
    alpha: f32,
    delete_l: usize,
    /// Edges a full node keeps when it is pruned for a back edge.
    back_prune: usize,
}

impl DiskAnn {
    /// Opens an index with `config` (from [`crate::Metadata::config`]).
    ///
    /// # Errors
    /// [`BlockError`] if the block size cannot hold a node and one edge.
    pub fn new(config: IndexConfig) -> Result<DiskAnn, BlockError> {
        let layout = Layout::from_config(&config)?;
        // twice the widest list of the index's searches: an in-neighbour that a delete's search
        // misses keeps its edge, and after an UPDATE (a delete, then an insert at the same
        // rowid) that edge leads to the new vector under the old one's copy. The fuzzer's R1
        // (2,000 rows, 1,970 of them UPDATEd to one vector) left the 30 other rows linked mostly
        // to group members: `LIMIT 3/5/10` recall over 200 queries averaged 0.907, worst 0
        // (0.994 and 0.6 at twice the width, 1.0 at every node). On minilm-20k, 2,000 UPDATEs and
        // 2,000 deletes took 17% longer (4.1 and 2.4 s became 4.8 and 2.8 s), and recall@10
        // after them was 0.980 where it was 0.977 (by hand, Python's `sqlite3`; the test
        // `vector_index_reachability::rows_beside_a_group_made_by_updates_are_found`)
        let delete_l = 2 * config.search_l.max(config.insert_l);
        let cap = layout.capacity();
        // a full neighbour offered a back edge is pruned to 3/4 of its capacity, so that the next
        // few back edges are plain appends rather than another prune (the prunes were most of
        // the insert time), for a little recall at equal search_l
        let back_prune = (cap - cap / 4).max(1);
        Ok(DiskAnn { alpha: config.alpha as f32, layout, kernels: active(), delete_l, back_prune, config })
    }

    /// Uses another kernel set (e.g. [`edgelite_vector::kernels::SCALAR`] to compare).
    pub fn with_kernels(mut self, kernels: &'static KernelSet) -> DiskAnn {
        self.kernels = kernels;
        self
    }

    /// Sets the candidate list size of the search that finds a deleted node's in-neighbours
    /// (default `2·max(search_l, insert_l)`; every node is found while the index is no larger).
    pub fn set_delete_l(&mut self, l: usize) {
        self.delete_l = l.max(1);
    }

    /// Sets the default candidate list size of searches ([`Self::search`]; the configuration's
    /// `search_l` until then), e.g. to [`IndexConfig::scaled_search_l`] of the node count.
    pub fn set_search_l(&mut self, l: usize) {
        self.config.search_l = l.max(1);
    }

    /// The configuration.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The block layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Checks a row's vector as [`Self::insert`] would before inserting it (its type and
    /// dimensions, with libSQL's messages), so that a caller that inserts later can fail the
    /// row now.
    ///
    /// # Errors
    /// [`GraphError::Dimensions`] / [`GraphError::VectorType`].
    pub fn check_row<E>(&self, v: VectorRef<'_>) -> Result<(), GraphError<E>> {
        self.check_vector(Op::Insert, v)
    }

    fn check_vector<E>(&self, op: Op, v: VectorRef<'_>) -> Result<(), GraphError<E>> {
        if v.dims() != self.config.dims {
            return Err(GraphError::Dimensions { op, got: v.dims(), want: self.config.dims });
        }
        if v.vector_type() != self.config.vector_type {
            return Err(GraphError::VectorType { op, got: v.vector_type().id(), want: self.config.vector_type.id() });
        }
        Ok(())
    }

    /// `v` (column type) as an edge-type data part.
    fn edge_part(&self, v: VectorRef<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.layout.edge_vector_size());
        if v.vector_type() == self.layout.edge_type() {
            v.write_data_part(&mut out);
        } else {
            v.convert(self.layout.edge_type()).write_data_part(&mut out);
        }
        out
    }

    fn edge_ref<'a, E>(&self, op: Op, part: &'a [u8]) -> Result<VectorRef<'a>, GraphError<E>> {
        VectorRef::from_data_part(self.layout.edge_type(), self.config.dims, part)
            .map_err(|source| GraphError::Vector { op, source })
    }

    fn dist<E>(&self, op: Op, a: VectorRef<'_>, b: VectorRef<'_>) -> Result<f32, GraphError<E>> {
        fast_distance(self.kernels, self.config.metric, a, b).map_err(|source| GraphError::Vector { op, source })
    }

    fn prepare<'q>(&self, query: VectorRef<'q>) -> PreparedQuery<'q> {
        PreparedQuery::new(self.kernels, self.config.metric, query)
    }

    /// Whether `node`, queued at list distance `order` and at exact distance `exact` from the
    /// query, was queued by a copy of a vector it no longer has (see the moved nodes in
    /// [`Self::expand`]): then its list distance by a copy of its own vector, past `order`, and
    /// that copy. The exact distance must lie past the list distance by more than a copy's
    /// rounding moves it ([`MOVED_SLACK`], [`MOVED_SHARE`]) before the copy is made.
    fn moved<E>(
        &self,
        op: Op,
        query_edge: &PreparedQuery<'_>,
        node: &crate::block::NodeRef<'_>,
        order: f32,
        exact: f32,
    ) -> Result<Option<(f32, Vec<u8>)>, GraphError<E>> {
        if key(exact) <= order + MOVED_SLACK + MOVED_SHARE * order.abs() {
            return Ok(None);
        }
        let own = self.edge_part(node.vector());
        let d = key(self.pdist(op, query_edge, &own)?);
        Ok((d > order).then_some((d, own)))
    }

    /// The distance from a prepared vector to an edge-type data part.
    #[inline]
    fn pdist<E>(&self, op: Op, from: &PreparedQuery<'_>, part: &[u8]) -> Result<f32, GraphError<E>> {
        from.distance_to_part(part).map_err(|source| GraphError::Vector { op, source })
    }

    fn read_node<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        id: i64,
        buf: &mut Vec<u8>,
    ) -> Result<bool, GraphError<S::Error>> {
        if !storage.read(id, buf).map_err(GraphError::Storage)? {
            return Ok(false);
        }
        self.parse(op, id, buf).map(|_| true)
    }

    /// Validates a block read for `id`.
    fn parse<'b, E>(&self, op: Op, id: i64, block: &'b [u8]) -> Result<crate::block::NodeRef<'b>, GraphError<E>> {
        let node = self.layout.node(block).map_err(|source| GraphError::Corrupt { op, id, source })?;
        if node.id() != id {
            return Err(GraphError::WrongNode { op, id, found: node.id() });
        }
        Ok(node)
    }

    /// Greedy best-first search from the entry point with a candidate list of `l` entries,
    /// ordered by the edge-type distance to `query_edge`; a visited node keeps what `keep` asks
    /// (its exact distance to `query`, or its edges). Missing nodes are dropped from the list
    /// (dangling edges).
    fn beam<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        query: VectorRef<'_>,
        query_edge: VectorRef<'_>,
        l: usize,
        keep: Keep,
    ) -> Result<Beam, GraphError<S::Error>> {
        let (query, query_edge) = (self.prepare(query), self.prepare(query_edge));
        let mut beam = Beam {
            entry: None,
            visits: Vec::new(),
            complete: true,
            missing: IdSet::default(),
            capped: false,
            moved: IdSet::default(),
        };
        let Some(entry) = storage.first_id().map_err(GraphError::Storage)? else {
            return Ok(beam);
        };
        beam.entry = Some(entry);
        let mut frontier = Frontier {
            l: l.max(1),
            // the entry's list distance is unknown until it is read; -inf keeps it first meanwhile
            list: vec![Candidate { dist: f32::NEG_INFINITY, id: entry, visited: false, part: NO_PART }],
            first: 0,
            // a search's room made up front for the nodes it meets, as a stream makes it
            // (`stream::expected_seen`): grown from empty, the map was rehashed and copied
            // several times in every search (an insert's, left as it was, was not measured)
            queued: match keep {
                Keep::Exact { .. } => IdMap::with_capacity_and_hasher(stream::expected_seen(l), Default::default()),
                Keep::Edges => IdMap::default(),
            },
            complete: true,
            ties: match keep {
                Keep::Exact { ties, .. } => ties,
                Keep::Edges => usize::MAX,
            },
            turned_away: Vec::new(),
            capped: false,
            scratch: Vec::new(),
            parts: matches!(keep, Keep::Edges).then(Vec::new),
            edges: Vec::new(),
            spans: Vec::new(),
            moved: IdSet::default(),
        };
        frontier.queued.insert(entry, VISITED);
        // a search that settles goes on from the seeds that it would have kept, once (inserts'
        // and deletes' graphs stay the entry point's alone)
        let mut seeded = !matches!(keep, Keep::Exact { .. });
        loop {
            let Some(off) = frontier.list[frontier.first..].iter().position(|c| !c.visited) else {
                if seeded {
                    break;
                }
                seeded = true;
                for (d, id) in self.seeds_for(storage, op, entry, &query_edge)? {
                    if frontier.queued.contains_key(&id) || frontier.too_far(d, id) {
                        continue;
                    }
                    let at = frontier.list.partition_point(|x| by_list_key((x.dist, x.id), (d, id)).is_lt());
                    frontier.insert(at, Candidate { dist: d, id, visited: false, part: NO_PART }, true);
                }
                continue;
            };
            let pos = frontier.first + off;
            frontier.first = pos;
            let id = frontier.list[pos].id;
            // the block after this one is likely the next visited: its memory latency then
            // overlaps this node's distances. Its vector only if `expand` will read it (a
            // search's first `ranked` places): past them a search reads only edges and copies
            if let Some(off) = frontier.list[pos + 1..].iter().position(|c| !c.visited) {
                let vector = matches!(keep, Keep::Exact { ranked, .. } if pos + 1 + off < ranked);
                storage.peek(frontier.list[pos + 1 + off].id, &mut |block| self.layout.prefetch(block, vector));
            }
            let expand = |block: &[u8]| self.expand(op, id, pos, block, &mut frontier, &query, &query_edge, keep);
            match storage.read_with(id, expand).map_err(GraphError::Storage)? {
                Some(visit) => beam.visits.push(visit?),
                None => {
                    frontier.list.remove(pos);
                    frontier.queued.remove(&id);
                    beam.missing.insert(id);
                    frontier.readmit();
                }
            }
        }
        beam.complete = frontier.complete;
        beam.capped = frontier.capped;
        beam.moved = std::mem::take(&mut frontier.moved);
        if let Some(parts) = frontier.parts {
            // the visited nodes' copies only (the list queued many more), in one buffer
            let size = self.layout.edge_vector_size();
            let mut kept = Vec::with_capacity(frontier.spans.len() * size);
            for &(at, _, _) in &frontier.spans {
                kept.extend_from_slice(&parts[at..][..size]);
            }
            let kept: Arc<[u8]> = kept.into();
            let edges: Arc<[(i64, bool)]> = frontier.edges.into();
            for (i, (v, &(_, at, len))) in beam.visits.iter_mut().zip(&frontier.spans).enumerate() {
                v.part = Shared::window(&kept, i * size, size);
                v.edges = Shared::window(&edges, at, len);
            }
        }
        Ok(beam)
    }

    /// The nearest [`SEEDS_TAKEN`] of the index's [`Seeds`] to a search from `entry` (list
    /// distance, id), nearest first; the storage's if they still fit the index, else drawn
    /// again and handed to it. None for an index whose rowids span fewer than 4 rows a seed, or
    /// whose copies are too wide for two seeds in [`SEED_BYTES`].
    fn seeds_for<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        entry: i64,
        query_edge: &PreparedQuery<'_>,
    ) -> Result<Vec<(f32, i64)>, GraphError<S::Error>> {
        let last = storage.last_id().map_err(GraphError::Storage)?.unwrap_or(entry);
        let seeds = match storage.seeds() {
            Some(seeds) if seeds.fit(&self.layout, entry, last) => seeds,
            _ => {
                let seeds = Arc::new(self.pick_seeds(storage, op, entry, last)?);
                storage.keep_seeds(&seeds);
                seeds
            }
        };
        let size = self.layout.edge_vector_size().max(1);
        let mut best: Vec<(f32, i64)> = Vec::with_capacity(SEEDS_TAKEN + 1);
        // copies of this index's size (`Seeds::fit`), taken so that no other could index out of range
        for (&id, copy) in seeds.ids.iter().zip(seeds.copies.chunks_exact(size)) {
            if id == entry {
                continue;
            }
            let d = key(self.pdist(op, query_edge, copy)?);
            let at = best.partition_point(|&x| by_list_key(x, (d, id)).is_lt());
            if at < SEEDS_TAKEN {
                best.insert(at, (d, id));
                best.truncate(SEEDS_TAKEN);
            }
        }
        Ok(best)
    }

    /// Draws the seeds of [`Self::seeds_for`]: [`SEED_POOL`] times as many candidates as it
    /// keeps (see there; fewer seeds for wide copies: [`SEED_BYTES`]), spread over the rowids
    /// ([`Self::seed_candidates`]) and each read by its rowid and vector only
    /// ([`Storage::read_head`]); then, one by one, the candidate that most shortens the
    /// candidates' lengths to their nearest seed or the entry point, summed (greedy facility
    /// location on the copies, lazily evaluated), with their copies in the edge type. A
    /// candidate equal to a seed shortens nothing: fewer seeds then.
    ///
    /// Why not the evenly spaced nodes themselves: they follow the rows' density, so a large
    /// group (many copies of one vector, a big cluster) took most of the seeds and small
    /// clusters none. A review's trap (4,000 8-d rows, 60% of them copies of 60 vectors in
    /// groups of skewed size, queries far from all) had a query whose nearest cluster had no
    /// seed: `vector_top_k` returned rows at 1.418 where the nearest 28 are at 1.129, for
    /// every k up to 200. Why not the candidates farthest apart (greedy k-center, tried first):
    /// they are the outliers. With 30% of 4,000 32-d rows scattered far around 40 tight
    /// clusters, every seed was an outlier, no cluster had one, and recall@10 of far queries
    /// under l2 fell from 0.94-0.97 to 0.84-0.86; with the sum, a cluster's candidates
    /// together outweigh one outlier: 0.990-0.997 (a second review's probe).
    fn pick_seeds<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        entry: i64,
        last: i64,
    ) -> Result<Seeds, GraphError<S::Error>> {
        let (edge_type, size) = (self.layout.edge_type(), self.layout.edge_vector_size());
        let mut seeds = Seeds { ids: Vec::new(), copies: Vec::new(), edge_type, size, entry, last };
        let span = i128::from(last) - i128::from(entry);
        let count = SEEDS.min(SEED_BYTES / size.max(1));
        if count < 2 || span < 4 * count as i128 {
            return Ok(seeds);
        }
        // the rowid and vector of each: a store may read just those bytes of a block
        let head = self.layout.head_size();
        let copy_of = |storage: &mut S, id: i64| -> Result<Option<Vec<u8>>, GraphError<S::Error>> {
            let copy = storage
                .read_head(id, head, |bytes| match self.layout.head(bytes) {
                    Ok((found, vector)) if found == id => Some(self.edge_part(vector)),
                    _ => None,
                })
                .map_err(GraphError::Storage)?;
            // a block that does not decode is no seed (a hint): the search meets it, or not, as
            // it would have without seeds
            Ok(copy.flatten())
        };
        let pool = if self.config.dims > SEED_POOL_DIMS { SEED_POOL / 2 } else { SEED_POOL };
        let draw = (count * pool).min(SEED_HEAD_BYTES / head.max(1)).max(count);
        let mut found = self.seed_candidates(storage, entry, last, draw)?;
        found.retain(|&id| id != entry);
        let (mut ids, mut copies) = (Vec::with_capacity(found.len()), Vec::new());
        for id in found {
            if let Some(copy) = copy_of(storage, id)? {
                copies.extend_from_slice(&copy);
                ids.push(id);
            }
        }
        // the candidates' distances to each other and to the entry point, as lengths (the
        // square root of the distance: l2's, cosine's 1 - cos), by the kernels directly: a
        // prepared query per pair made these pairs most of a fresh connection's first search
        // at 64 dimensions
        let n = ids.len();
        let length = |a: &[u8], b: &[u8]| -> Result<f32, GraphError<S::Error>> {
            let d = fast_distance(self.kernels, self.config.metric, self.edge_ref(op, a)?, self.edge_ref(op, b)?)
                .map_err(|source| GraphError::Vector { op, source })?;
            Ok(key(d).max(0.0).sqrt())
        };
        let parts: Vec<&[u8]> = copies.chunks_exact(size.max(1)).collect();
        let mut between = vec![0f32; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let d = length(parts[i], parts[j])?;
                between[i * n + j] = d;
                between[j * n + i] = d;
            }
        }
        // each candidate's length to the entry point (with no entry copy to compare with, past
        // every length: the first seed is then the candidate nearest the others)
        let near = match copy_of(storage, entry)? {
            Some(copy) => parts.iter().map(|part| length(&copy, part)).collect::<Result<Vec<f32>, _>>()?,
            None => vec![between.iter().copied().fold(0.0, f32::max) * 2.0 + 1.0; n],
        };
        for c in cover(&between, near, count - 1) {
            seeds.copies.extend_from_slice(parts[c]);
            seeds.ids.push(ids[c]);
        }
        Ok(seeds)
    }

    /// About `draw` node ids for [`Self::pick_seeds`], ascending: the first node at or after
    /// each of `draw` evenly spaced rowids between `entry` and `last`. Where most of those
    /// points fall in gaps of the rowids (rows appended at rowid 2^62 to a table of small
    /// ones: every point between them found the same node, and an index of 30 clusters had 3
    /// candidates, so a far query settled in the wrong cluster), each node found so far starts
    /// a run of rows: its extent is probed by doubling (the rows go on while the first one at
    /// or after `start + 2^k` comes before `start + 2^(k+1)`), and the rest of the draw is
    /// spread evenly over the runs' extents.
    fn seed_candidates<S: Storage>(
        &self,
        storage: &mut S,
        entry: i64,
        last: i64,
        draw: usize,
    ) -> Result<Vec<i64>, GraphError<S::Error>> {
        let (entry, last) = (i128::from(entry), i128::from(last));
        let span = last - entry;
        let mut found = BTreeSet::new();
        // the first node at or after `at`, which is within [entry, last]
        let next = |storage: &mut S, at: i128| -> Result<Option<i128>, GraphError<S::Error>> {
            let found = match i64::try_from(at - 1) {
                Ok(before) => storage.next_id(before),
                // at is i64::MIN, the least rowid
                Err(_) => storage.first_id(),
            };
            Ok(found.map_err(GraphError::Storage)?.map(i128::from))
        };
        for j in 0..draw as i128 {
            match next(storage, entry + span * j / draw as i128)? {
                Some(id) => found.insert(id),
                None => break,
            };
        }
        if found.len() * 2 < draw {
            let starts: Vec<i128> = found.iter().copied().collect();
            let share = (draw - found.len()) / starts.len().max(1) + 1;
            for start in starts {
                let mut extent = 1i128;
                while start + extent <= last && next(storage, start + extent)?.is_some_and(|id| id < start + 2 * extent)
                {
                    extent *= 2;
                }
                let end = (start + extent).min(last);
                for j in 1..=share as i128 {
                    if let Some(id) = next(storage, start + (end - start) * j / share as i128)?
                        && id <= end
                    {
                        found.insert(id);
                    }
                }
            }
        }
        // all within [entry, last], so within i64
        Ok(found.into_iter().map(|id| id as i64).collect())
    }

    /// Visits node `id` (at `pos` in the list) of a [`Self::beam`]: what `keep` asks, and its
    /// edges offered to the list.
    #[expect(clippy::too_many_arguments, reason = "private helper; the state is the beam's")]
    fn expand<E>(
        &self,
        op: Op,
        id: i64,
        pos: usize,
        block: &[u8],
        f: &mut Frontier,
        query: &PreparedQuery<'_>,
        query_edge: &PreparedQuery<'_>,
        keep: Keep,
    ) -> Result<Visit, GraphError<E>> {
        let node = self.parse(op, id, block)?;
        f.list[pos].visited = true;
        let entry = f.list[pos].dist == f32::NEG_INFINITY;
        // the node's own copy: where it is in `f.parts` (an insert's or a delete's beam, which
        // keeps it: the copy its referrer stores, or its vector converted for the entry), or
        // made here (a search's entry)
        let size = self.layout.edge_vector_size();
        let (part, own_at): (Part, Option<usize>) = match (&mut f.parts, f.list[pos].part) {
            (Some(_), at) if at != NO_PART => (NO_COPY.with(Part::clone), Some(at as usize * size)),
            (Some(parts), _) => {
                let at = parts.len();
                parts.extend_from_slice(&self.edge_part(node.vector()));
                (NO_COPY.with(Part::clone), Some(at))
            }
            (None, _) if entry => (self.edge_part(node.vector()).into(), None),
            (None, _) => (NO_COPY.with(Part::clone), None),
        };
        // this node's list distance
        let order = if entry {
            let own = match (&f.parts, own_at) {
                (Some(parts), Some(at)) => &parts[at..][..size],
                _ => &part[..],
            };
            let d = key(self.pdist(op, query_edge, own)?);
            let c = f.list.remove(pos);
            let at = f.list.partition_point(|x| by_list_key((x.dist, x.id), (d, c.id)).is_lt());
            f.list.insert(at, Candidate { dist: d, ..c });
            f.first = f.first.min(at);
            d
        } else {
            f.list[pos].dist
        };
        f.queued.insert(id, VISITED);
        // the neighbours not seen yet: their copies are loaded (most likely from memory, not
        // the CPU cache) while the node's exact distance is computed, and their distances are
        // computed in one go, so that they overlap, before any goes into the list. A neighbour
        // queued already is looked at again only if it was queued farther than this node plus
        // the edge's length (the triangle inequality in chord lengths, a bound for l2 and for
        // cosine): then it may have come through a stale copy (see `stale` below). Searches
        // only: an insert's search that did so linked rows differently after UPDATEs, no better
        // on the differential fuzzer (400 seeds: as many low-recall queries, other ones), and
        // worse for the searches of seed 1149 (553 of its 600 rows, against 600)
        let mut fresh = std::mem::take(&mut f.scratch);
        fresh.clear();
        let near = order.max(0.0).sqrt();
        let searching = matches!(keep, Keep::Exact { .. });
        for i in 0..node.edge_count() {
            let read = f.queued.get(&node.edge_id(i)).is_none_or(|&queued| {
                searching && queued > order && {
                    let length = node.edge_distance(i).map_or(0.0, |d| key(d).max(0.0).sqrt());
                    (near + length) * (near + length) < queued
                }
            });
            if read {
                prefetch(node.edge_data(i));
                fresh.push((i, 0.0));
            }
        }
        // Moved: the copy this node was queued by is out of date. An UPDATE of a vector keeps
        // the rowid, and the edges to the old node that its delete did not meet then lead to
        // the new one with the old copy (see `stale` below for the other way round). Ranked by
        // that copy, a node that now lies far took a place of the list that a near node needed:
        // after UPDATEs moved 9 of 10 rows of a 10,000-row minilm index to one vector,
        // recall@10 of the rows left was 0.874 (0.994 with a DELETE and an INSERT under a new
        // rowid each; `cargo run --release -p edgelite-benches --bin moved`). So a node whose
        // exact distance is well past its list distance (more than quantisation moves it) gets
        // its copy made again from its vector ([`Self::moved`]) and its place by that copy's
        // distance, past the list's end if that is where it ranks: an insert's or a delete's
        // search then ranks, prunes and repairs with where the node is, not where it was
        // (`delete` hands such copies to the lists it repairs). 0.962 then, and 0.951 on
        // 20,000 rows (0.796 before). Writes read every visited node's vector for this (they
        // read copies only before); a search compares the exact distance it computes for its first
        // `ranked` places, after it has started loading the neighbours' copies.
        let wanted = match keep {
            Keep::Exact { ranked, .. } => pos < ranked,
            Keep::Edges => !entry,
        };
        let exact = wanted
            .then(|| query.distance(node.vector()).map_err(|source| GraphError::Vector { op, source }))
            .transpose()?;
        if let Some(e) = exact.filter(|_| !entry)
            && let Some((d, own)) = self.moved(op, query_edge, &node, order, e)?
        {
            if let (Some(parts), Some(at)) = (&mut f.parts, own_at) {
                parts[at..][..size].copy_from_slice(&own);
            }
            f.moved.insert(id);
            let c = f.list.remove(pos);
            let at = f.list.partition_point(|x| by_list_key((x.dist, x.id), (d, c.id)).is_lt());
            if at < f.l {
                f.list.insert(at, Candidate { dist: d, ..c });
            }
        }
        // a write's exact distance served the test above only
        let exact = exact.filter(|_| matches!(keep, Keep::Exact { .. }));
        for (i, d) in &mut fresh {
            *d = key(self.pdist(op, query_edge, node.edge_data(*i))?);
        }
        for &(i, d) in &fresh {
            let eid = node.edge_id(i);
            match f.queued.get(&eid) {
                None => {}
                // Stale: an edge's copy of its target can be out of date. An UPDATE of a vector
                // keeps the rowid, and an edge to the old node that its delete did not meet (it
                // repairs the nodes its search reads) then leads to the new one with the old
                // copy. A row near the query met first through such an edge was queued far
                // back, or not at all, and a beam of a few hundred missed it (the fuzzer's seed
                // 1149: 740 copies of `[-3,-3]`, many of them moved there by UPDATEs; k = 600
                // at `[-3,-3]` found 433 of them). It moves up to this nearer copy.
                Some(&queued) if d < queued => {
                    let at = f.list.partition_point(|x| by_list_key((x.dist, x.id), (queued, eid)).is_lt());
                    if !f.list.get(at).is_some_and(|c| c.id == eid && !c.visited) {
                        continue;
                    }
                    f.list.remove(at);
                }
                // queued already (an edge stored twice is queued by its first copy)
                Some(_) => continue,
            }
            if f.too_far(d, eid) {
                f.complete = false;
                continue;
            }
            let at = f.list.partition_point(|x| by_list_key((x.dist, x.id), (d, eid)).is_lt());
            if f.ties < f.l && tied(&f.list, at, d) >= f.ties {
                // a stale copy's node was taken out of the list above: it may come again
                f.queued.remove(&eid);
                f.complete = false;
                f.turned_away.push((eid, d));
                f.capped = true;
                continue;
            }
            let part = match &mut f.parts {
                Some(parts) => {
                    let at = parts.len() / self.layout.edge_vector_size();
                    parts.extend_from_slice(node.edge_data(i));
                    u32::try_from(at).unwrap_or(NO_PART)
                }
                None => NO_PART,
            };
            f.insert(at, Candidate { dist: d, id: eid, visited: false, part }, searching);
        }
        f.scratch = fresh;
        if let (Keep::Edges, Some(parts), Some(at)) = (keep, &f.parts, own_at) {
            let own = &parts[at..][..size];
            let start = f.edges.len();
            f.edges.extend((0..node.edge_count()).map(|i| {
                let stored = node.edge_distance(i).map_or(f32::INFINITY, key);
                (node.edge_id(i), duplicates(node.edge_data(i), own, stored))
            }));
            f.spans.push((at, start, f.edges.len() - start));
        }
        // with Keep::Edges, the copy and the edges are handed out when the beam is over
        Ok(Visit { id, exact, edges: NO_EDGES.with(Shared::clone), part })
    }

    /// The `k` nearest neighbours of `query` with the index's `search_l`.
    ///
    /// # Errors
    /// As [`Self::search_with`].
    pub fn search<S: Storage>(
        &self,
        storage: &mut S,
        query: VectorRef<'_>,
        k: usize,
    ) -> Result<Vec<Neighbor>, GraphError<S::Error>> {
        self.search_with(storage, query, k, self.config.search_l)
    }

    /// The `k` nearest neighbours of `query`, nearest first (ties by ascending rowid), with a
    /// candidate list of `max(search_l, k)` entries. `k = 0` or an empty index gives no rows.
    ///
    /// # Errors
    /// [`GraphError::Dimensions`] / [`GraphError::VectorType`] for a query that does not match
    /// the column (libSQL's texts); storage failures; corrupt blocks.
    pub fn search_with<S: Storage>(
        &self,
        storage: &mut S,
        query: VectorRef<'_>,
        k: usize,
        search_l: usize,
    ) -> Result<Vec<Neighbor>, GraphError<S::Error>> {
        let op = Op::Search;
        self.check_vector(op, query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let converted: Vector;
        let query_edge = if query.vector_type() == self.layout.edge_type() {
            query
        } else {
            converted = query.convert(self.layout.edge_type());
            converted.as_ref()
        };
        // exact distances only for the nodes that can rank: twice k by list distance (at least
        // k + 10; on minilm-20k with float8 copies recall@10 is the same as with every visited
        // node ranked); 1-bit copies order the list too roughly for that
        let ranked = if self.layout.edge_type() == VectorType::Bit1 { usize::MAX } else { k.saturating_add(k.max(10)) };
        let l = search_l.max(k);
        let keep = Keep::Exact { ranked, ties: group_cap(k, l) };
        let beam = self.beam(storage, op, query, query_edge, l, keep)?;
        let mut hits: Vec<Neighbor> =
            beam.visits.iter().filter_map(|v| Some(Neighbor { id: v.id, distance: v.exact? })).collect();
        if beam.capped || (hits.len() < k && !beam.complete && !beam.missing.is_empty()) {
            // the list took only `ties` members of a group of equal vectors, and the way on to
            // the query's rows may go through the others: with all but 30 of 2,000 rows
            // UPDATEd to one vector, `vector_top_k` at k = 3, 5 and 10 had recall 0.636 and
            // missed the nearest row for 35 of 300 queries, where the planner's walk had 0.999
            // (`cargo run --release -p edgelite-benches --bin clusters`). Or the list turned
            // candidates away when it was full, and then lost entries to edges that lead
            // nowhere (rows deleted since): it holds fewer than k nodes where the index may have
            // more (1,000 rows of 5 distinct vectors, a fifth deleted: 298 of k = 300). The
            // incremental search bounds a group in its window, not in its frontier, and has no
            // bound on its list: its first k rows are those a list of the same width ranks, and
            // there are k of them whenever the index has k nodes. The two answers are merged.
            // A search that meets no group of equal vectors never comes here (minilm-20k: the
            // same recall and queries/s)
            let mut stream = self.stream(query, search_l.max(k))?;
            stream.expect_rows(k);
            let seen: IdSet = hits.iter().map(|h| h.id).collect();
            hits.extend(stream.next_batch(self, storage, k)?.into_iter().filter(|h| !seen.contains(&h.id)));
        }
        hits.sort_by(|a, b| by_key((key(a.distance), a.id), (key(b.distance), b.id)));
        hits.truncate(k);
        Ok(hits)
    }

    /// Robust prune of `cands` for node `p` (edge-type copy `p_part`): sorted by distance, ties
    /// in a scrambled order of p's own; a kept `a` drops every later `c` with `alpha·d(a, c) < d(p, c)`; at most `cap`
    /// (and the block's capacity). Exact duplicates of `p` are first reduced to the first
    /// [`DUP_EDGES`] in the given order (a node's existing edges come first), but a duplicate
    /// among the first `existing` candidates (the node's own edges, when an existing node's
    /// list is pruned again) always stays. Returns the kept links with their distances to `p`.
    ///
    /// A member of a group of duplicates may link to more than [`DUP_EDGES`] others (a splice
    /// hands one over, a delete links an orphan from it), and such an edge is often the
    /// member's only way in from inside the group. Reduced to [`DUP_EDGES`] when a delete
    /// repaired the list or a back edge overflowed it, the others were reached only from
    /// farther nodes: 1,500 rows in 3 groups of 3-d duplicates, a third deleted, left 13
    /// members with no in-edge from their group, and `vector_top_k` with k = a group's size
    /// returned rows of another group in their place.
    ///
    /// With `refill`, slots left free by occlusion are refilled with occluded candidates
    /// (hnswlib's "keep pruned connections"), nearest first but those whose target is not
    /// `spare` (not known to have another in-edge) before the others: used when an existing
    /// node's full list is re-pruned, so that it loses one edge rather than several, and not the
    /// only way to reach a node if it can help it.
    #[expect(clippy::too_many_arguments, reason = "private helper; the candidates and what the caller knows of them")]
    fn prune<E>(
        &self,
        op: Op,
        p_id: i64,
        p_part: &[u8],
        cands: Vec<Link>,
        refill: Option<&dyn Fn(i64) -> bool>,
        cap: usize,
        existing: usize,
    ) -> Result<Vec<Link>, GraphError<E>> {
        let p = self.prepare(self.edge_ref(op, p_part)?);
        let mut seen = IdSet::default();
        let mut c = Vec::with_capacity(cands.len());
        // the node's own duplicates: kept below whatever the cap
        let mut held = IdSet::default();
        for (i, mut x) in cands.into_iter().enumerate() {
            if x.id == p_id || !seen.insert(x.id) {
                continue;
            }
            x.dist = self.pdist(op, &p, &x.part)?;
            if i < existing && duplicates(&x.part, p_part, key(x.dist)) {
                held.insert(x.id);
            }
            c.push(x);
        }
        // the first few duplicates in the given order (a node's existing edges come first), and
        // every one of the node's own
        let mut dups = 0;
        c.retain(|x| {
            let dup = duplicates(&x.part, p_part, key(x.dist));
            let keep = !dup || dups < DUP_EDGES || held.contains(&x.id);
            dups += usize::from(dup);
            keep
        });
        // ties in an order of p's own: candidates at one distance from p (the members of a
        // group of duplicates, seen from outside) occlude each other, and in rowid order every
        // node near the group would keep an edge to the same member, leaving the rest with no
        // way in but the group's own few duplicate edges
        let salt = scramble(p_id);
        c.sort_by(|a, b| {
            key(a.dist)
                .total_cmp(&key(b.dist))
                .then(scramble(a.id ^ salt as i64).cmp(&scramble(b.id ^ salt as i64)))
                .then(a.id.cmp(&b.id))
        });
        let cap = cap.clamp(1, self.layout.capacity());
        let mut alive = vec![true; c.len()];
        let mut keep = Vec::with_capacity(cap.min(c.len()));
        for i in 0..c.len() {
            if !alive[i] {
                continue;
            }
            keep.push(i);
            if keep.len() == cap {
                break;
            }
            let a = self.prepare(self.edge_ref(op, &c[i].part)?);
            for j in i + 1..c.len() {
                if alive[j] && self.alpha * self.pdist(op, &a, &c[j].part)? < c[j].dist {
                    alive[j] = false;
                }
            }
        }
        let mut selected = vec![false; c.len()];
        for &i in &keep {
            selected[i] = true;
        }
        if let Some(spare) = refill {
            // occluded candidates whose target may have no other in-edge go back first
            let mut rest: Vec<usize> = (0..c.len()).filter(|&i| !selected[i]).collect();
            rest.sort_by_key(|&i| (spare(c[i].id), i));
            for i in rest.into_iter().take(cap.saturating_sub(keep.len())) {
                selected[i] = true;
            }
        }
        // the node's own duplicates that the cap left out come back, in place of its farthest
        // other links when the block is full (there are never more of them than it holds)
        let mut count = selected.iter().filter(|&&s| s).count();
        for i in 0..c.len() {
            if selected[i] || !held.contains(&c[i].id) {
                continue;
            }
            if count >= self.layout.capacity() {
                let Some(j) = (0..c.len()).rev().find(|&j| selected[j] && !held.contains(&c[j].id)) else { break };
                selected[j] = false;
                count -= 1;
            }
            selected[i] = true;
            count += 1;
        }
        Ok(c.into_iter().zip(selected).filter_map(|(l, s)| s.then_some(l)).collect())
    }

    /// The edges of a block as links, without edges to `skip`, to itself or to missing nodes.
    /// Returns the links and whether anything was left out.
    fn links_of<E>(
        &self,
        op: Op,
        id: i64,
        block: &[u8],
        skip: i64,
        missing: &IdSet,
    ) -> Result<(Vec<Link>, bool), GraphError<E>> {
        let node = self.parse(op, id, block)?;
        // the copies in one buffer, each link a window of it
        let mut copies = Vec::with_capacity(node.edge_count() * self.layout.edge_vector_size());
        let mut kept = Vec::with_capacity(node.edge_count());
        for i in 0..node.edge_count() {
            let e = node.edge_id(i);
            if e == skip || e == id || missing.contains(&e) {
                continue;
            }
            kept.push((e, copies.len(), node.edge_data(i).len(), node.edge_distance(i).unwrap_or(0.0)));
            copies.extend_from_slice(node.edge_data(i));
        }
        let copies: Arc<[u8]> = copies.into();
        let mut links = Vec::with_capacity(kept.len() + 1);
        links.extend(kept.into_iter().map(|(e, at, len, dist)| Link {
            id: e,
            part: Shared::window(&copies, at, len),
            dist,
        }));
        let dropped = links.len() != node.edge_count();
        Ok((links, dropped))
    }

    /// Replaces the edges of `block` by `links`.
    fn set_links<E>(&self, op: Op, id: i64, block: &mut [u8], links: &[Link]) -> Result<(), GraphError<E>> {
        let corrupt = |source| GraphError::Corrupt { op, id, source };
        let mut m = self.layout.node_mut(block).map_err(corrupt)?;
        m.set_edges(links.iter().map(|l| (l.id, l.dist, &l.part[..]))).map_err(corrupt)
    }

    /// Offers the edge `t → new` to node `t`: appended if `t` has room (and `new` is not its
    /// duplicate), else `t`'s edges plus `new` are pruned. A duplicate that `t` has no room for
    /// is taken anyway if `splice` (`t` is where `new` joins its group, [`splice_at`]): it
    /// replaces one of `t`'s duplicates, returned, to which `new` must then link
    /// ([`Self::take_handover`]). Edges to missing nodes are dropped on the way. Returns (block
    /// changed, `new` kept, the duplicate handed over).
    #[expect(clippy::too_many_arguments, reason = "private helper; the state is the insert's")]
    fn offer_edge<E>(
        &self,
        op: Op,
        t: i64,
        t_part: &[u8],
        block: &mut [u8],
        new: &Link,
        missing: &IdSet,
        deg: &mut IdMap<usize>,
        guard: bool,
        splice: bool,
    ) -> Result<(bool, bool, Option<Link>), GraphError<E>> {
        let node = self.parse(op, t, block)?;
        let before: Vec<i64> = (0..node.edge_count()).map(|i| node.edge_id(i)).collect();
        let (mut links, dropped) = self.links_of(op, t, block, new.id, missing)?;
        let tv = self.edge_ref(op, t_part)?;
        let d_new = self.dist(op, tv, self.edge_ref(op, &new.part)?)?;
        let is_dup = duplicates(t_part, &new.part, key(d_new));
        // t's duplicates, counted only for a new duplicate (distances are computed for it)
        let (dups, last_dup) = if is_dup { self.duplicate_links(op, t_part, &links)? } else { (0, None) };
        let mut handed = None;
        let links = if is_dup && dups >= DUP_EDGES {
            if splice && let Some(i) = last_dup {
                // t → b becomes t → new → b: the group stays connected and new joins it
                handed = Some(std::mem::replace(&mut links[i], Link { dist: d_new, ..new.clone() }));
            }
            // else enough duplicates linked already: the new one gets its way in elsewhere
            links
        } else if links.len() < self.layout.capacity() {
            links.push(Link { dist: d_new, ..new.clone() });
            links
        } else {
            let old = links.clone();
            links.push(new.clone());
            let spare = |e: i64| deg.get(&e).is_some_and(|&d| d >= 2);
            // the slack applies only where in-degrees are not exact anyway (see below): in a
            // graph the search saw whole, pruning deeper would orphan nodes the guard protects
            let target = if guard { self.layout.capacity() } else { self.back_prune };
            let pruned = self.prune(op, t, t_part, links, Some(&spare), target, old.len())?;
            // taking the new node must not cost an old target its only in-edge: the new node can
            // still be linked from elsewhere, the old one could not. Only when the search saw
            // the whole graph (`guard`) are the in-degrees exact; in a larger graph most
            // in-edges come from unvisited nodes and the guard would refuse most back edges
            let orphans = old.iter().any(|o| !spare(o.id) && !pruned.iter().any(|l| l.id == o.id));
            if orphans && guard { old } else { pruned }
        };
        let kept = links.iter().any(|l| l.id == new.id);
        let changed = dropped || links.iter().map(|l| l.id).ne(before.iter().copied());
        if changed {
            for e in &before {
                if let Some(d) = deg.get_mut(e) {
                    *d = d.saturating_sub(1);
                }
            }
            for l in &links {
                *deg.entry(l.id).or_insert(0) += 1;
            }
            self.set_links(op, t, block, &links)?;
        }
        Ok((changed, kept, handed))
    }

    /// Whether the nodes with edge-type copies `a` and `b` are exact duplicates ([`duplicates`]).
    fn is_duplicate<E>(&self, op: Op, a: &[u8], b: &[u8]) -> Result<bool, GraphError<E>> {
        Ok(duplicates(a, b, key(self.dist(op, self.edge_ref(op, a)?, self.edge_ref(op, b)?)?)))
    }

    /// How many of `links` go to exact duplicates of the node with copy `part`, and where the
    /// last of them is: the one a splice hands over.
    fn duplicate_links<E>(&self, op: Op, part: &[u8], links: &[Link]) -> Result<(usize, Option<usize>), GraphError<E>> {
        let (mut count, mut last) = (0, None);
        for (i, l) in links.iter().enumerate() {
            if self.is_duplicate(op, part, &l.part)? {
                count += 1;
                last = Some(i);
            }
        }
        Ok((count, last))
    }

    /// Links node `n` (edge-type copy `n_part`, block `block`) to `b`, the duplicate that the
    /// node where `n` joined its group handed over ([`Self::offer_edge`]): appended if `n` has
    /// room and fewer than [`DUP_EDGES`] duplicates, else in place of its last duplicate, else
    /// of its last edge. The edges it replaces are the new node's own, made by the same
    /// operation, so no path that existed before goes through them. Returns the link replaced,
    /// or `None` if none was; `Ok(false)` as the flag if `n` links to `b` already.
    fn take_handover<E>(
        &self,
        op: Op,
        n: i64,
        n_part: &[u8],
        block: &mut [u8],
        b: &Link,
    ) -> Result<(bool, Option<Link>), GraphError<E>> {
        let (mut links, _) = self.links_of(op, n, block, i64::MIN, &IdSet::default())?;
        if b.id == n || links.iter().any(|l| l.id == b.id) {
            return Ok((false, None));
        }
        let (dups, last_dup) = self.duplicate_links(op, n_part, &links)?;
        let link = Link { dist: self.dist(op, self.edge_ref(op, n_part)?, self.edge_ref(op, &b.part)?)?, ..b.clone() };
        let replaced = match last_dup {
            Some(i) if dups >= DUP_EDGES => Some(std::mem::replace(&mut links[i], link)),
            _ if links.len() >= self.layout.capacity() => {
                let last = links.pop();
                links.push(link);
                last
            }
            _ => {
                links.push(link);
                None
            }
        };
        self.set_links(op, n, block, &links)?;
        Ok((true, replaced))
    }

    /// Makes every node of `verify` reachable from the entry point, where an operation may have
    /// cut its way in. A node is known to be reachable if the known edges reach it from the
    /// entry point, or if one of its out-neighbours that they reach links back to it; any other
    /// gets an edge from a reached known node near it (its out-neighbours, the nodes its search
    /// visited, their neighbours; any known node if none of those will do): the nearest with
    /// room if there is one, else the nearest with an edge that the tree of reached nodes does
    /// not use, else the nearest. A full node gives one edge way: the farthest that the tree
    /// does not use, or whose target has another way in (`other_way_in`), so that nothing is cut
    /// off; only when there is none, the farthest, whose target is then verified in turn and the
    /// reached nodes counted again.
    ///
    /// Why this suffices: before the operation every node was reachable. Take a node's path from
    /// the old entry point and the last edge on it that the operation removed (edges out of a
    /// deleted node included); its target is in `verify`, now reachable, and the rest of the path
    /// is intact. The callers put in `verify` the targets of every edge they removed, a new
    /// node, and the old entry point when the entry point changed.
    fn secure<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        known: &mut Known,
        mut verify: Vec<Link>,
    ) -> Result<(), GraphError<S::Error>> {
        let Some(entry) = storage.first_id().map_err(GraphError::Storage)? else {
            return Ok(());
        };
        let mut block = Vec::new();
        if !known.adj.contains_key(&entry) && self.read_node(storage, op, entry, &mut block)? {
            let node = self.parse(op, entry, &block)?;
            known.adj.insert(entry, (0..node.edge_count()).map(|i| node.edge_id(i)).collect());
            known.parts.insert(entry, self.edge_part(node.vector()).into());
        }
        let cap = self.layout.capacity();
        // how each reached node was reached: an edge of this tree must not give way unless the
        // reached nodes are counted again, any other edge may (everything stays reached)
        let mut tree = Tree::new(known);
        known.reach(entry, &mut tree);
        // the known edges into each node, made at the first full node that must give an edge
        // way, and kept up to date after it
        let mut radj: Option<IdMap<Vec<i64>>> = None;
        let mut added = 0;
        // the edges this call added (from, to): never the one a later round drops, or two nodes
        // that only a full duplicate can take would push each other out of it, round after
        // round (60 equal vectors at max_neighbors=6 left one unreachable); and the full nodes
        // whose every edge is such an edge, which take no more
        let mut pinned: HashSet<(i64, i64), RowidBuildHasher> = HashSet::default();
        let mut exhausted = IdSet::default();
        while added < SECURE_ROUNDS {
            verify.retain(|v| !tree.contains(v.id));
            let Some(v) = verify.pop() else { break };
            // an edge's target may be gone (an index libSQL wrote leaves dangling edges)
            if !self.read_node(storage, op, v.id, &mut block)? {
                continue;
            }
            if let Some(x) = self.linked_back(storage, op, v.id, &block, &tree)? {
                tree.set_parent(v.id, x);
                known.reach(v.id, &mut tree);
                continue;
            }
            let vv = self.edge_ref(op, &v.part)?;
            let vq = self.prepare(vv);
            // ties (duplicates) in scrambled order, as in a beam, so that they spread the load.
            // (class, distance, scramble, id): class 0 has room; 1 is full, with an edge that
            // the tree of reached nodes does not use, which gives way; 2 is full otherwise, and
            // taking v may cut the tree (the reached nodes are then counted again: over what a
            // large batch knows, that recount was most of a build's time at a million rows). The
            // class of a full node is only worked out when its distance could make it the best
            type Cand = (u8, f32, u64, i64);
            let consider = |known: &Known,
                            tree: &Tree,
                            best: &mut Option<Cand>,
                            w: i64,
                            part: &[u8]|
             -> Result<(), GraphError<S::Error>> {
                if w == v.id || !tree.contains(w) || exhausted.contains(&w) {
                    return Ok(());
                }
                let edges = known.adj.get(&w).map_or(&[][..], Vec::as_slice);
                let mut cand = (u8::from(edges.len() >= cap), key(self.pdist(op, &vq, part)?), scramble(w), w);
                if best.is_some_and(|b| cand >= b) {
                    return Ok(());
                }
                if cand.0 == 1 && !edges.iter().any(|&x| free_edge(w, x, tree, &pinned)) {
                    cand.0 = 2;
                    if best.is_some_and(|b| cand >= b) {
                        return Ok(());
                    }
                }
                *best = Some(cand);
                Ok(())
            };
            let mut best: Option<Cand> = None;
            // first the nodes near v: its own out-neighbours (edges are mostly mutual) and, for a
            // new row of a batch, the nodes its search visited, then their neighbours. Only when
            // none of them can take v without cutting the tree do all known nodes compete: on a
            // large graph nearly every node is full, and comparing v with every node the batch
            // knows was most of a build's time (a million rows)
            let outs: Vec<i64> = {
                let node = self.parse(op, v.id, &block)?;
                (0..node.edge_count()).map(|i| node.edge_id(i)).collect()
            };
            for &w in known.hints.get(&v.id).map_or(&[][..], Vec::as_slice).iter().chain(&outs) {
                if let Some(part) = known.parts.get(&w) {
                    consider(known, &tree, &mut best, w, part)?;
                }
            }
            if best.is_none_or(|b| b.0 > 0) {
                // then their neighbours: near v too, and a few thousand at most, where the
                // known nodes of a large batch are hundreds of thousands
                for w in known.hints.get(&v.id).map_or(&[][..], Vec::as_slice).iter().chain(&outs) {
                    for &e in known.adj.get(w).map_or(&[][..], Vec::as_slice) {
                        if let Some(part) = known.parts.get(&e) {
                            consider(known, &tree, &mut best, e, part)?;
                        }
                    }
                }
            }
            if best.is_none_or(|b| b.0 == 2) {
                for (&w, part) in &known.parts {
                    consider(known, &tree, &mut best, w, part)?;
                }
            }
            let mut grown = 0;
            let best = loop {
                if best.is_some_and(|b| b.0 < 2) || grown == SECURE_GROW {
                    break best;
                }
                // no known node can take v without cutting the tree: get to know the reached
                // nodes beyond them
                // the first in scrambled order (a set's own order depends on its capacity)
                let mut fresh: Vec<i64> = tree.iter().filter(|r| !known.adj.contains_key(r)).collect();
                fresh.sort_unstable_by_key(|&r| (scramble(r), r));
                fresh.truncate(SECURE_READS);
                if fresh.is_empty() {
                    break best;
                }
                for &r in &fresh {
                    let edges = if self.read_node(storage, op, r, &mut block)? {
                        let node = self.parse(op, r, &block)?;
                        known.parts.insert(r, self.edge_part(node.vector()).into());
                        (0..node.edge_count()).map(|i| node.edge_id(i)).collect()
                    } else {
                        Vec::new()
                    };
                    if let Some(radj) = radj.as_mut() {
                        for &e in &edges {
                            radj.entry(e).or_default().push(r);
                        }
                    }
                    known.adj.insert(r, edges);
                }
                // the fresh nodes were reached: what their edges reach is too, and only the
                // nodes that became known or reached can beat the best so far (nothing else
                // changed), so the search goes on from there instead of over again
                let mut newly = fresh.clone();
                for &r in &fresh {
                    known.reach_noting(r, &mut tree, Some(&mut newly));
                }
                newly.sort_unstable();
                newly.dedup();
                for w in newly {
                    if let Some(part) = known.parts.get(&w) {
                        consider(known, &tree, &mut best, w, part)?;
                    }
                }
                grown += 1;
            };
            if tree.contains(v.id) {
                // the nodes read on the way reach it
                continue;
            }
            let Some((class, d, _, w)) = best else { break };
            let full = class > 0;
            if !self.read_node(storage, op, w, &mut block)? {
                break;
            }
            added += 1;
            let before = block.clone();
            let node = self.parse(op, w, &before)?;
            let corrupt = |source| GraphError::Corrupt { op, id: w, source };
            let mut m = self.layout.node_mut(&mut block).map_err(corrupt)?;
            // an edge of the tree gave way: what it reached must be counted again
            let mut cut = false;
            if !full {
                m.push_edge_data(v.id, d, &v.part).map_err(corrupt)?;
            } else {
                // the farthest edge that is not in the tree of reached nodes, if any: its target
                // stays reached (it came in some other way); else the farthest whose target has
                // another way in from a reached node that it does not itself reach the first way
                // a free edge (one the tree does not use) beats any other: the tree's edges,
                // and the reverse adjacency that tells which of them has another way in (a
                // map over everything the operation knows), are only looked at without one
                let free = (0..node.edge_count()).any(|i| free_edge(w, node.edge_id(i), &tree, &pinned));
                let radj = (!free).then(|| {
                    &*radj.get_or_insert_with(|| {
                        // in ascending order of referrer: other_way_in takes the first that will do,
                        // and the map's own order is random (RowidBuildHasher)
                        let mut from: Vec<(i64, &Vec<i64>)> = known.adj.iter().map(|(&z, e)| (z, e)).collect();
                        from.sort_unstable_by_key(|&(z, _)| z);
                        let mut radj: IdMap<Vec<i64>> = IdMap::default();
                        for (z, edges) in from {
                            for &e in edges {
                                radj.entry(e).or_default().push(z);
                            }
                        }
                        radj
                    })
                });
                let wv = self.edge_ref(op, &known.parts[&w])?;
                let mut far: Option<(u8, f32, usize, Option<i64>)> = None;
                for i in 0..node.edge_count() {
                    let x = node.edge_id(i);
                    if pinned.contains(&(w, x)) {
                        continue;
                    }
                    let (level, via) = if tree.parent(x) != Some(w) {
                        (2, None)
                    } else if let Some(radj) = radj {
                        match other_way_in(x, w, radj, &tree) {
                            Some(z) => (1, Some(z)),
                            None => (0, None),
                        }
                    } else {
                        continue;
                    };
                    let d = key(self.dist(op, wv, node.edge_vector(i))?);
                    if far.is_none_or(|f| (level, d) >= (f.0, f.1)) {
                        far = Some((level, d, i, via));
                    }
                }
                let Some((level, _, i, via)) = far else {
                    // every edge of w was added by this call: another node takes v
                    exhausted.insert(w);
                    verify.push(v);
                    continue;
                };
                match (level, via) {
                    (1, Some(z)) => {
                        tree.set_parent(node.edge_id(i), z);
                    }
                    (2, _) => {}
                    _ => cut = true,
                }
                verify.insert(0, Link { id: node.edge_id(i), part: node.edge_data(i).into(), dist: 0.0 });
                m.set_edge_data(i, v.id, d, &v.part).map_err(corrupt)?;
            }
            storage.update(w, &before, &block).map_err(GraphError::Storage)?;
            pinned.insert((w, v.id));
            let node = self.parse(op, w, &block)?;
            let edges: Vec<i64> = (0..node.edge_count()).map(|i| node.edge_id(i)).collect();
            if let Some(radj) = radj.as_mut() {
                for e in known.adj.get(&w).map_or(&[][..], Vec::as_slice) {
                    if let Some(from) = radj.get_mut(e)
                        && let Some(at) = from.iter().position(|&z| z == w)
                    {
                        from.swap_remove(at);
                    }
                }
                for &e in &edges {
                    radj.entry(e).or_default().push(w);
                }
            }
            known.adj.insert(w, edges);
            if cut {
                tree.clear();
                known.reach(entry, &mut tree);
            } else {
                tree.set_parent(v.id, w);
                known.reach(v.id, &mut tree);
            }
        }
        Ok(())
    }

    /// A way in for node `v` (block `block`) from a reached node that the operation did not
    /// read: one of its out-neighbours (edges are mostly mutual) that links back to it and is
    /// reached itself.
    fn linked_back<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        v: i64,
        block: &[u8],
        tree: &Tree,
    ) -> Result<Option<i64>, GraphError<S::Error>> {
        let node = self.parse(op, v, block)?;
        for i in 0..node.edge_count() {
            let x = node.edge_id(i);
            if x == v || !tree.contains(x) {
                continue;
            }
            let back = storage.read_with(x, |b| self.layout.node(b).is_ok_and(|n| n.find_edge(v).is_some()));
            if back.map_err(GraphError::Storage)? == Some(true) {
                return Ok(Some(x));
            }
        }
        Ok(None)
    }

    /// In-degrees counted over some blocks (the ones a search visited). Edges between exact
    /// duplicates are not counted: an edge from inside a group of duplicates says nothing about
    /// reaching the group.
    fn in_degrees<'b>(visits: impl Iterator<Item = &'b Visit>) -> IdMap<usize> {
        let mut deg = IdMap::default();
        for v in visits {
            for &(e, duplicate) in v.edges.iter() {
                if !duplicate {
                    *deg.entry(e).or_insert(0) += 1;
                }
            }
        }
        deg
    }

    /// Adds node `id` with `vector` (the column type): a search with `insert_l` from the entry
    /// point, robust prune of the visited nodes for the new node's edges, then the back edges.
    ///
    /// # Errors
    /// [`GraphError::Dimensions`] / [`GraphError::VectorType`] (libSQL's texts); storage
    /// failures (an existing `id` is the storage's insert error); corrupt blocks.
    pub fn insert<S: Storage>(
        &self,
        storage: &mut S,
        id: i64,
        vector: VectorRef<'_>,
    ) -> Result<(), GraphError<S::Error>> {
        let op = Op::Insert;
        self.check_vector(op, vector)?;
        let batch::Planned { new, out, dups, beam } = self.plan(storage, id, vector)?;
        let mut block = self.layout.new_block(id, vector).map_err(|source| GraphError::Corrupt { op, id, source })?;
        self.set_links(op, id, &mut block, &out)?;
        storage.insert(id, &block).map_err(GraphError::Storage)?;
        // back edges go to the new node's out-neighbours, and to its exact duplicates (those
        // with fewer than DUP_EDGES duplicate edges take it)
        let index: IdMap<usize> = beam.visits.iter().enumerate().map(|(i, v)| (v.id, i)).collect();
        let mut targets: Vec<i64> = out.iter().map(|l| l.id).collect();
        targets.extend(dups.iter().filter(|d| !out.iter().any(|l| l.id == **d)));
        let mut deg = Self::in_degrees(beam.visits.iter());
        for l in &out {
            *deg.entry(l.id).or_insert(0) += 1;
        }
        let mut known = Known::from_visits(&beam.visits, id);
        known.adj.insert(id, out.iter().map(|l| l.id).collect());
        known.parts.insert(id, new.part.clone());
        // the new node needs a way in, and so does every node that a pruned list dropped; the
        // old entry point too if the new node takes its place
        let mut verify = vec![new.clone()];
        if let Some(old) = beam.entry.filter(|&e| e > id)
            && let Some(part) = known.parts.get(&old)
        {
            verify.push(Link { id: old, part: part.clone(), dist: 0.0 });
        }
        let (mut block, mut before) = (Vec::new(), Vec::new());
        let splice = splice_at(&out, &dups);
        let mut handed = None;
        for t in targets {
            let Some(&i) = index.get(&t) else { continue };
            if !self.read_node(storage, op, t, &mut block)? {
                continue;
            }
            before.clone_from(&block);
            let v = &beam.visits[i];
            let at = splice == Some(t);
            let (changed, _, handover) =
                self.offer_edge(op, t, &v.part, &mut block, &new, &beam.missing, &mut deg, beam.complete, at)?;
            handed = handed.or(handover);
            if changed {
                storage.update(t, &before, &block).map_err(GraphError::Storage)?;
                let after: Vec<i64> = {
                    let n = self.parse(op, t, &block)?;
                    (0..n.edge_count()).map(|i| n.edge_id(i)).collect()
                };
                // the edges it lost (most changes only add the new node: no copy then)
                let old = self.parse(op, t, &before)?;
                for i in 0..old.edge_count() {
                    let e = old.edge_id(i);
                    if e != t && !after.contains(&e) && !beam.missing.contains(&e) {
                        verify.push(Link { id: e, part: old.edge_data(i).into(), dist: 0.0 });
                    }
                }
                known.adj.insert(t, after);
            }
        }
        if let Some(b) = handed
            && self.read_node(storage, op, id, &mut block)?
        {
            before.clone_from(&block);
            let (changed, replaced) = self.take_handover(op, id, &new.part, &mut block, &b)?;
            if changed {
                storage.update(id, &before, &block).map_err(GraphError::Storage)?;
                let n = self.parse(op, id, &block)?;
                known.adj.insert(id, (0..n.edge_count()).map(|i| n.edge_id(i)).collect());
                verify.extend(replaced);
            }
        }
        self.secure(storage, op, &mut known, verify)
    }

    /// Removes node `id` and repairs the graph around it (see the module docs). `Ok(false)` if
    /// there is no such node (a row whose vector was NULL).
    ///
    /// # Errors
    /// Storage failures; corrupt blocks.
    pub fn delete<S: Storage>(&self, storage: &mut S, id: i64) -> Result<bool, GraphError<S::Error>> {
        let op = Op::Delete;
        let mut buf = Vec::new();
        if !self.read_node(storage, op, id, &mut buf)? {
            return Ok(false);
        }
        let node = self.parse(op, id, &buf)?;
        let vector = node.vector().to_vector();
        let part = self.edge_part(node.vector());
        let (out, _) = self.links_of(op, id, &buf, id, &IdSet::default())?;
        let beam = self.beam(storage, op, vector.as_ref(), self.edge_ref(op, &part)?, self.delete_l, Keep::Edges)?;
        let mut missing = beam.missing;
        missing.insert(id);
        let moved = beam.moved;
        // in-neighbours: visited nodes that link to `id`, and out-neighbours that link back
        let mut referrers: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut visited = IdSet::default();
        let mut deg = Self::in_degrees(beam.visits.iter());
        deg.remove(&id);
        let mut known = Known::from_visits(&beam.visits, id);
        let order: Vec<i64> = beam.visits.iter().map(|v| v.id).collect();
        for v in beam.visits {
            visited.insert(v.id);
            let mut b = Vec::new();
            if v.id != id && v.edges.iter().any(|e| e.0 == id) && self.read_node(storage, op, v.id, &mut b)? {
                referrers.push((v.id, b));
            }
        }
        for x in &out {
            if visited.contains(&x.id) {
                continue;
            }
            let mut b = Vec::new();
            if !self.read_node(storage, op, x.id, &mut b)? {
                missing.insert(x.id);
            } else if self.parse(op, x.id, &b)?.find_edge(id).is_some() {
                referrers.push((x.id, b));
            }
        }
        storage.delete(id).map_err(GraphError::Storage)?;
        let cap = self.layout.capacity();
        // the deleted node's out-neighbours need another way in, and so do the nodes that a
        // repaired list dropped
        let mut verify: Vec<Link> = out.iter().filter(|x| !missing.contains(&x.id)).cloned().collect();
        for (p, block) in &mut referrers {
            let (mut links, _) = self.links_of(op, *p, block, id, &missing)?;
            // a neighbour the search found moved: its copy here is out of date too
            for l in &mut links {
                if moved.contains(&l.id)
                    && let Some(fresh) = known.parts.get(&l.id)
                {
                    l.part = fresh.clone();
                }
            }
            let old: Vec<Link> = links.clone();
            let mut present: IdSet = links.iter().map(|l| l.id).collect();
            for x in &out {
                if x.id != *p && !missing.contains(&x.id) && present.insert(x.id) {
                    links.push(x.clone());
                }
            }
            let p_part = self.edge_part(self.parse(op, *p, block)?.vector());
            let links = if links.len() <= cap {
                let pv = self.edge_ref(op, &p_part)?;
                for l in &mut links {
                    l.dist = self.dist(op, pv, self.edge_ref(op, &l.part)?)?;
                }
                links
            } else {
                // pruned to the slack of a back-edge prune: the reconnections that follow find room
                let spare = |e: i64| deg.get(&e).is_some_and(|&d| d >= 2);
                self.prune(op, *p, &p_part, links, Some(&spare), self.back_prune, old.len())?
            };
            for i in 0..self.parse(op, *p, block)?.edge_count() {
                let e = self.parse(op, *p, block)?.edge_id(i);
                if let Some(d) = deg.get_mut(&e) {
                    *d = d.saturating_sub(1);
                }
            }
            for l in &links {
                *deg.entry(l.id).or_insert(0) += 1;
            }
            verify.extend(old.into_iter().filter(|o| !links.iter().any(|l| l.id == o.id)));
            known.adj.insert(*p, links.iter().map(|l| l.id).collect());
            known.parts.insert(*p, p_part.into());
            self.set_links(op, *p, block, &links)?;
        }
        let rejoined =
            self.rejoin_group(storage, op, id, &part, &out, &order, &missing, &mut referrers, &mut known, &mut verify)?;
        for (p, block) in &referrers {
            storage.write(*p, block).map_err(GraphError::Storage)?;
        }
        for (p, before, block) in &rejoined {
            storage.update(*p, before, block).map_err(GraphError::Storage)?;
        }
        self.secure(storage, op, &mut known, verify)?;
        Ok(true)
    }

    /// After deleting node `id` (edge-type copy `part`, out-edges `out`): each of its exact
    /// duplicates that it linked to, and that no repaired member of their group (among
    /// `referrers`, blocks not written yet) links to now, gets an edge from another member that
    /// the delete's search met (`order`, nearest first): appended if that member has room, else
    /// in place of its farthest edge to a node that is not its duplicate (whose target then
    /// needs another way in: `verify`). The member that linked to the deleted node from inside
    /// the group may be one the search did not meet (a group larger than its list): without
    /// this, the duplicates after it were reached only from farther nodes. Returns the blocks
    /// changed besides the referrers' (id, old block, new block).
    #[expect(clippy::too_many_arguments, reason = "private helper; the state is the delete's")]
    fn rejoin_group<S: Storage>(
        &self,
        storage: &mut S,
        op: Op,
        id: i64,
        part: &[u8],
        out: &[Link],
        order: &[i64],
        missing: &IdSet,
        referrers: &mut [(i64, Vec<u8>)],
        known: &mut Known,
        verify: &mut Vec<Link>,
    ) -> Result<Vec<Rewrite>, GraphError<S::Error>> {
        let mut changed: Vec<Rewrite> = Vec::new();
        // the referrers in the group (an edge from outside it is no way in from inside)
        let mut members = Vec::new();
        for (p, _) in referrers.iter() {
            if let Some(pp) = known.parts.get(p)
                && self.is_duplicate(op, part, pp)?
            {
                members.push(*p);
            }
        }
        let mut orphans = Vec::new();
        for x in out {
            let linked = |p: &i64| known.adj.get(p).is_some_and(|e| e.contains(&x.id));
            if !missing.contains(&x.id) && self.is_duplicate(op, part, &x.part)? && !members.iter().any(linked) {
                orphans.push(x);
            }
        }
        for b in orphans {
            for &p in order {
                let Some(p_part) = known.parts.get(&p).cloned() else { continue };
                if p == id
                    || p == b.id
                    || known.adj.get(&p).is_some_and(|e| e.contains(&b.id))
                    || !self.is_duplicate(op, part, &p_part)?
                {
                    continue;
                }
                let pv = self.edge_ref(op, &p_part)?;
                let link = Link { dist: self.dist(op, pv, self.edge_ref(op, &b.part)?)?, ..b.clone() };
                // p's edges with b: None if p is full of its own duplicates
                let mut relink = |block: &mut Vec<u8>| -> Result<Option<Vec<i64>>, GraphError<S::Error>> {
                    let (mut links, _) = self.links_of(op, p, block, id, missing)?;
                    if links.len() >= self.layout.capacity() {
                        let mut far: Option<(f32, usize)> = None;
                        for (i, l) in links.iter().enumerate() {
                            let d = key(self.dist(op, pv, self.edge_ref(op, &l.part)?)?);
                            if !duplicates(&p_part, &l.part, d) && far.is_none_or(|f| d > f.0) {
                                far = Some((d, i));
                            }
                        }
                        let Some((_, i)) = far else { return Ok(None) };
                        verify.push(links.remove(i));
                    }
                    links.push(link.clone());
                    self.set_links(op, p, block, &links)?;
                    Ok(Some(links.iter().map(|l| l.id).collect()))
                };
                let edges = if let Some((_, block)) = referrers.iter_mut().find(|(r, _)| *r == p) {
                    relink(block)?
                } else if let Some((_, _, block)) = changed.iter_mut().find(|(r, _, _)| *r == p) {
                    relink(block)?
                } else {
                    let mut block = Vec::new();
                    if !self.read_node(storage, op, p, &mut block)? {
                        continue;
                    }
                    let before = block.clone();
                    let edges = relink(&mut block)?;
                    if edges.is_some() {
                        changed.push((p, before, block));
                    }
                    edges
                };
                if let Some(edges) = edges {
                    known.adj.insert(p, edges);
                    break;
                }
            }
        }
        Ok(changed)
    }

    /// Reads every node and reports dangling, self and duplicate edges and nodes unreachable
    /// from the entry point. O(n) reads: for tests, `PRAGMA integrity_check` and tools.
    ///
    /// # Errors
    /// Storage failures; corrupt blocks (including a listed node that cannot be read).
    pub fn check<S: Storage>(&self, storage: &mut S) -> Result<IntegrityReport, GraphError<S::Error>> {
        let op = Op::Check;
        let mut adj: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut buf = Vec::new();
        let mut next = storage.first_id().map_err(GraphError::Storage)?;
        while let Some(id) = next {
            if !self.read_node(storage, op, id, &mut buf)? {
                return Err(GraphError::Corrupt {
                    op,
                    id,
                    source: BlockError::Length { actual: 0, expected: self.layout.block_size() },
                });
            }
            let node = self.parse(op, id, &buf)?;
            adj.insert(id, (0..node.edge_count()).map(|i| node.edge_id(i)).collect());
            next = storage.next_id(id).map_err(GraphError::Storage)?;
        }
        let mut r = IntegrityReport { nodes: adj.len(), ..IntegrityReport::default() };
        for (&id, edges) in &adj {
            r.edges += edges.len();
            r.max_degree = r.max_degree.max(edges.len());
            let mut seen = IdSet::default();
            for &e in edges {
                if e == id {
                    r.self_edges.push(id);
                } else if !adj.contains_key(&e) {
                    r.dangling.push((id, e));
                }
                if !seen.insert(e) {
                    r.duplicate_edges.push((id, e));
                }
            }
        }
        if let Some((&entry, _)) = adj.first_key_value() {
            let mut reached = IdSet::default();
            reached.insert(entry);
            let mut queue = VecDeque::from([entry]);
            while let Some(id) = queue.pop_front() {
                for &e in adj.get(&id).map_or(&[][..], Vec::as_slice) {
                    if adj.contains_key(&e) && reached.insert(e) {
                        queue.push_back(e);
                    }
                }
            }
            r.unreachable = adj.keys().copied().filter(|id| !reached.contains(id)).collect();
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::{IdMap, Known, Tree, cover};

    /// The tree of reached nodes answers as a hash map of parents would, dense or not, for ids
    /// inside and outside its range.
    #[test]
    fn the_tree_of_reached_nodes_is_a_map_of_parents() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // known ids 1000..1999 (dense), and a sparse spread
        for known_ids in [(1000..2000).collect::<Vec<i64>>(), (0..50).map(|i| i * 1_000_003 - 7).collect()] {
            let mut known = Known::default();
            for &id in &known_ids {
                known.adj.insert(id, Vec::new());
            }
            let mut tree = Tree::new(&known);
            let mut model: IdMap<i64> = IdMap::default();
            let pick = |r: u64| -> i64 {
                match r % 4 {
                    0 => known_ids[(r / 4) as usize % known_ids.len()],
                    1 => 900 + (r / 4 % 1300) as i64,
                    2 => -((r / 4) as i64),
                    _ => i64::MAX - (r / 4 % 3) as i64,
                }
            };
            for step in 0..20_000 {
                let (a, b) = (pick(next(1 << 40)), pick(next(1 << 40)));
                match next(10) {
                    0..=5 => {
                        let new = !model.contains_key(&a);
                        if new {
                            model.insert(a, b);
                        }
                        assert_eq!(tree.reach(a, b), new, "step {step}: reach {a}");
                    }
                    6 => {
                        let new = !model.contains_key(&a);
                        if new {
                            model.insert(a, a);
                        }
                        assert_eq!(tree.root(a), new, "step {step}: root {a}");
                    }
                    7 | 8 => {
                        model.insert(a, b);
                        tree.set_parent(a, b);
                    }
                    _ if step % 97 == 0 => {
                        model.clear();
                        tree.clear();
                    }
                    _ => {}
                }
                assert_eq!(tree.contains(a), model.contains_key(&a));
                assert_eq!(tree.parent(a), model.get(&a).copied().filter(|&p| p != a));
            }
            let mut got: Vec<i64> = tree.iter().collect();
            got.sort_unstable();
            let mut want: Vec<i64> = model.keys().copied().collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
    }

    /// Seeds cover clusters before outliers. 3 clusters of 5 points (0.1 apart within one,
    /// 10 between two) and 3 lone points 30 from everything, as scattered points are in many
    /// dimensions; the entry point is 20 from every cluster point. With four to take, one point
    /// of each cluster comes first, then an outlier. (k-center, which takes the farthest first,
    /// took the outliers before the clusters, and seeds drawn that way reached no cluster.)
    #[test]
    fn facility_location_covers_clusters_before_outliers() {
        let n = 18;
        let length = |a: usize, b: usize| match (a == b, a / 5, b / 5) {
            (true, ..) => 0.0,
            (_, 3, _) | (_, _, 3) => 30.0,
            (_, x, y) if x == y => 0.1,
            _ => 10.0,
        };
        let between: Vec<f32> = (0..n * n).map(|i| length(i / n, i % n)).collect();
        let near: Vec<f32> = (0..n).map(|c| if c < 15 { 20.0 } else { 30.0 }).collect();
        let taken = cover(&between, near, 4);
        let mut clusters: Vec<usize> = taken[..3].iter().map(|&c| c / 5).collect();
        clusters.sort_unstable();
        assert_eq!(clusters, vec![0, 1, 2], "took {taken:?}");
        assert!(taken[3] >= 15, "then an outlier: {taken:?}");
        // copies of one point: taken once, then nothing shortens any length
        let same = vec![0.0; 9];
        assert_eq!(cover(&same, vec![1.0; 3], 3).len(), 1);
    }
}
