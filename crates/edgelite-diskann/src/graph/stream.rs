//! An incremental search: every node of the index, nearest first, for as long as the caller
//! asks (pgvector's iterative scans, in DiskANN's graph).
//!
//! A filtered query (`WHERE year >= 2025 ORDER BY vector_distance_cos(...) LIMIT 5`) cannot know
//! beforehand how many candidates it needs: with a selective filter, most nearest nodes fail
//! it. A [`SearchStream`] keeps its state between batches, so asking for more resumes the walk
//! where it stopped instead of starting over with a larger list, and it ends only when it has
//! returned every node of the index, reachable or not: the caller gets as many rows as it
//! asks for whatever the graph looks like.
//!
//! The walk is best-first by list distance (the neighbour copies, as in [`DiskAnn::search`]),
//! with no bound on the candidate list; a node met again through an edge whose copy puts it
//! clearly nearer is queued again there (an UPDATE can leave stale copies). Visited nodes get
//! their exact distance and wait in a window of `window` nodes; the nearest of the window is
//! returned once the window is full and no node left to visit looks nearer than it, or as near
//! (up to `window` visits for such ties in all), or nothing is left to visit. With
//! [`SearchStream::expect_rows`], a group of nodes at one distance counts only so many times in
//! that window. So the first results are those a beam search of width `window` would rank,
//! and later ones come in nearly ascending order: a caller that needs the exact order re-sorts
//! what it keeps (the planner's rewrite does, with the exact distances of SQL).
//! When the walk is over (nothing left to visit, or the caller's visit limit reached), every
//! node not returned yet follows in exact order, read once each by brute force: the nodes the
//! walk never reached (an index that libSQL wrote, or a damaged one) included.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::collections::hash_map::Entry;

use edgelite_vector::kernels::PreparedQuery;
use edgelite_vector::{Vector, VectorRef};

use super::{DiskAnn, GraphError, IdMap, Neighbor, Op, RowidBuildHasher, VISITED, by_key, group_cap, key, tie_class};
use crate::storage::Storage;

/// A heap entry: smallest (distance, id) first in a max-heap.
#[derive(Debug, Clone, Copy)]
struct Item {
    /// The sort key ([`key`]).
    order: f32,
    /// The raw distance returned to the caller (may be NaN).
    dist: f32,
    id: i64,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        by_key((other.order, other.id), (self.order, self.id))
    }
}

/// The nodes a walk has met: a map from rowid to list distance, behind a filter of 65,536 bits
/// (8 KB, which stays in the CPU's first-level cache) that says "never met" for most rowids
/// without probing the map. A visit looks up each of its node's edges, and more than half of
/// them were never met: on minilm-20k a walk at 10% selectivity looks up about 4,000 edges
/// and meets about 2,000 new nodes, each lookup a hash and a probe of a map of 32 KB or more.
/// A bit is set for every rowid inserted and never cleared (nothing leaves the map), so a clear
/// bit is a sure miss; rowids whose bits collide (a table built to collide) only probe the map
/// as before.
#[derive(Debug)]
struct Met {
    map: IdMap<f32>,
    bits: Vec<u64>,
}

/// Bits of [`Met`]'s filter: a power of two.
const MET_BITS: usize = 1 << 16;

impl Met {
    fn with_capacity(n: usize) -> Met {
        Met { map: IdMap::with_capacity_and_hasher(n, Default::default()), bits: vec![0; MET_BITS / 64] }
    }

    /// The word and bit of `id`: the top bits of a multiplicative hash (Fibonacci hashing), so
    /// consecutive rowids fall in distinct bits.
    #[inline]
    fn bit(id: i64) -> (usize, u64) {
        let h = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - MET_BITS.trailing_zeros());
        ((h >> 6) as usize, 1 << (h & 63))
    }

    #[inline]
    fn get(&self, id: &i64) -> Option<&f32> {
        let (w, b) = Met::bit(*id);
        if self.bits[w] & b == 0 { None } else { self.map.get(id) }
    }

    fn contains_key(&self, id: &i64) -> bool {
        self.get(id).is_some()
    }

    #[inline]
    fn insert(&mut self, id: i64, d: f32) -> Option<f32> {
        let (w, b) = Met::bit(id);
        self.bits[w] |= b;
        self.map.insert(id, d)
    }

    #[inline]
    fn entry(&mut self, id: i64) -> Entry<'_, i64, f32> {
        let (w, b) = Met::bit(id);
        self.bits[w] |= b;
        self.map.entry(id)
    }
}

/// The state of an incremental search; see the module docs. It holds no storage: each
/// [`SearchStream::next_batch`] is lent one, so the bridge can read each batch under the
/// statement's current snapshot.
#[derive(Debug)]
pub struct SearchStream {
    /// The query in the column type (exact distances) and in the edge type (list distances).
    query: Vector,
    query_edge: Vector,
    walk: Walk,
}

/// What a [`SearchStream`] has seen and not returned yet.
#[derive(Debug)]
struct Walk {
    window: usize,
    started: bool,
    /// The entry point, until the walk has looked at the seeds (once it first settles).
    entry: Option<i64>,
    /// Nodes met as edges and not visited yet, by list distance.
    frontier: BinaryHeap<Item>,
    /// Every node met, with the smallest list distance it was queued at; [`VISITED`] once
    /// visited (or found missing: a dangling edge) or returned.
    seen: Met,
    /// Visited nodes not returned yet, by exact distance.
    ready: BinaryHeap<Item>,
    /// The `window` smallest list distances of the nodes visited so far (returned or not),
    /// largest on top: while a node not visited yet looks nearer than the top, a beam search of
    /// width `window` would still visit it ([`Walk::unsettled`]). At most `group` of them of
    /// one [`tie_class`] (see [`SearchStream::expect_rows`]).
    beam: BinaryHeap<Reverse<Item>>,
    /// How many nodes of one [`tie_class`] `beam` takes (`usize::MAX`: no bound).
    group: usize,
    /// How many nodes of each [`tie_class`] `beam` holds, when `group` bounds them.
    groups: std::collections::HashMap<u32, usize, RowidBuildHasher>,
    /// Once the walk is over: the nodes not returned yet, nearest on top.
    tail: Option<BinaryHeap<Item>>,
    visited: usize,
    /// Visits after which the walk gives way to brute force ([`SearchStream::set_walk_limit`]).
    walk_limit: usize,
    /// Visits the walk may still make only because a node not visited yet ties with its
    /// nearest visited one ([`Walk::unsettled`]).
    ties: usize,
    /// A visit's buffers: the edges whose copies it reads (id, slot), then their list
    /// distances ([`Walk::visit`]).
    slots: Vec<(i64, usize)>,
    fresh: Vec<(i64, f32)>,
}

impl DiskAnn {
    /// An incremental search for `query` whose first results are those of a candidate list of
    /// `window` entries (at least 1); see [`SearchStream`].
    ///
    /// # Errors
    /// [`GraphError::Dimensions`] / [`GraphError::VectorType`] for a query that does not match
    /// the column (libSQL's texts).
    pub fn stream<E>(&self, query: VectorRef<'_>, window: usize) -> Result<SearchStream, GraphError<E>> {
        self.check_vector(Op::Search, query)?;
        let query_edge = query.convert(self.layout.edge_type());
        Ok(SearchStream {
            query: query.to_vector(),
            query_edge,
            walk: Walk {
                window: window.max(1),
                started: false,
                entry: None,
                frontier: BinaryHeap::with_capacity(expected_seen(window)),
                seen: Met::with_capacity(expected_seen(window)),
                ready: BinaryHeap::new(),
                beam: BinaryHeap::new(),
                group: usize::MAX,
                groups: Default::default(),
                tail: None,
                visited: 0,
                walk_limit: usize::MAX,
                ties: window.max(1),
                slots: Vec::new(),
                fresh: Vec::new(),
            },
        })
    }
}

/// Rowids [`Walk::rest`] lists at a time ([`Storage::next_ids`]).
const REST_IDS: usize = 512;
/// How many nodes ahead [`Walk::rest`] prefetches a node's vector.
const REST_AHEAD: usize = 4;

/// Room made up front for the nodes a walk of width `window` meets (each visit meets a dozen
/// or more new ones): grown from empty, the map of met nodes and the frontier were rehashed
/// and copied several times in every query (`filtered -- --no-libsql` on minilm-20k, two
/// runs each, alternating: 3-4% more queries/s without a filter and at 50%, the same at 10%).
/// Room for 32 a visit, not 16: a walk at 10% selectivity visits about twice its width (the
/// window, then a row returned per visit) and met more nodes than 16 a visit left room for, so
/// the map grew once in every query (by hand, Python on minilm-20k, three rounds alternating:
/// 732-740 µs a query became 696-713 µs; without a filter 268-272 µs either way).
/// At most 65,536 entries (about 3 MB for both) for a caller that asks for a very wide walk.
/// A search (`DiskAnn::beam`) sizes its map of queued nodes by it too.
pub(super) fn expected_seen(window: usize) -> usize {
    window.max(1).saturating_mul(32).min(1 << 16)
}

impl SearchStream {
    /// The next (up to) `n` nodes. Fewer than `n` only when every node of the index has been
    /// returned; each node is returned once. `graph` must be the index the stream was made by
    /// and `storage` its storage (a changed index gives what its blocks now say).
    ///
    /// # Errors
    /// Storage failures; corrupt blocks.
    pub fn next_batch<S: Storage>(
        &mut self,
        graph: &DiskAnn,
        storage: &mut S,
        n: usize,
    ) -> Result<Vec<Neighbor>, GraphError<S::Error>> {
        let query = graph.prepare(self.query.as_ref());
        let query_edge = graph.prepare(self.query_edge.as_ref());
        let w = &mut self.walk;
        let mut out = Vec::with_capacity(n.min(4096));
        if !w.started {
            w.started = true;
            if let Some(entry) = storage.first_id().map_err(GraphError::Storage)? {
                // queued before its list distance is known
                w.seen.insert(entry, f32::INFINITY);
                // its list distance is unknown until it is read; it is the only candidate anyway
                w.frontier.push(Item { order: f32::NEG_INFINITY, dist: f32::NEG_INFINITY, id: entry });
                w.entry = Some(entry);
            }
        }
        while out.len() < n {
            if w.tail.is_none() {
                while w.unsettled()
                    && w.visited < w.walk_limit
                    && let Some(next) = w.frontier.pop()
                {
                    // a node queued again nearer (below) was visited at its first pop
                    if w.seen.get(&next.id) == Some(&VISITED) {
                        continue;
                    }
                    // the node after this one is likely the next visited: its memory latency
                    // then overlaps this node's distances (as in a beam search)
                    if let Some(after) = w.frontier.peek() {
                        storage.peek(after.id, &mut |block| graph.layout.prefetch(block, true));
                    }
                    w.visit(graph, storage, next.id, next.order, &query, &query_edge)?;
                    // this visit may have queued a node nearer than the one prefetched above:
                    // the next visit's, whose block then starts loading now. Each of the two
                    // prefetches costs a cache lookup a visit; without the first, paired runs by
                    // hand (session 35) measured the walk alone at 1.018-1.035x the time and a
                    // 10% filtered query at 0.997-0.998x: both stay
                    if let Some(after) = w.frontier.peek() {
                        storage.peek(after.id, &mut |block| graph.layout.prefetch(block, true));
                    }
                }
                // settled: it goes on from the seeds that its window would keep, once, as a
                // search does (`DiskAnn::seeds_for`)
                if let Some(entry) = w.entry.take()
                    && w.visited < w.walk_limit
                {
                    let top = w.window_top();
                    let mut more = false;
                    for (d, id) in graph.seeds_for(storage, Op::Search, entry, &query_edge)? {
                        if d < top && !w.seen.contains_key(&id) {
                            w.seen.insert(id, d);
                            w.frontier.push(Item { order: d, dist: d, id });
                            more = true;
                        }
                    }
                    if more {
                        continue;
                    }
                }
                if w.visited < w.walk_limit
                    && let Some(best) = w.ready.pop()
                {
                    out.push(Neighbor { id: best.id, distance: best.dist });
                    continue;
                }
                w.tail = Some(w.rest(graph, storage, &query)?);
            }
            match w.tail.as_mut().and_then(BinaryHeap::pop) {
                Some(next) => out.push(Neighbor { id: next.id, distance: next.dist }),
                None => break,
            }
        }
        Ok(out)
    }

    /// The caller means to take about `rows` rows: at most that many nodes at one distance
    /// from the query (a group of duplicates), or an eighth of the window if that is more,
    /// count in the window that says when the walk has gone far enough (see the module docs).
    /// A group larger than the window, at one distance, filled it, and every member's edges
    /// out of the group lead farther: rows nearer than the group but reached only through
    /// farther ones were never visited before the first rows were returned (the fuzzer's seed
    /// 3459: 665 rows within 0.001 of `[0,-3]` and 170 at `[-2.246,-0.029]`; `WHERE ...
    /// ORDER BY vector_distance_l2(v, '[0,0]') LIMIT 5` returned rows at 2.999). Call it
    /// before the first batch; without it the window takes any number of such nodes.
    ///
    /// Every row is returned once the whole window waits behind it. After the rows the caller
    /// expects, a quarter of the window (at least 16 nodes) was tried for issue 13: it saves
    /// visits once, not per row (past the window each row returned costs a visit either way),
    /// and the rows then come in a less exact order, so a filtered query needs more of them to
    /// rank its k well, each a seek of the filter's row. On minilm-20k at 10% selectivity,
    /// by hand, the whole window with the planner's slack of k + 1 candidates gave recall@10
    /// 0.982 at 1.3x the queries/s of the quarter with k + 10 (0.982); on the scaling
    /// benchmark's 100,000 rows 0.982 at 1.17x (0.977).
    pub fn expect_rows(&mut self, rows: usize) {
        self.walk.group = group_cap(rows, self.walk.window);
    }

    /// Nodes visited so far by the walk (not counting the rest read by brute force).
    pub fn visited(&self) -> usize {
        self.walk.visited
    }

    /// The window (see the module docs): a walk returns its first row after about this many
    /// visits, and each row after that costs about one more.
    pub fn window(&self) -> usize {
        self.walk.window
    }

    /// After `visits` visits the walk stops and every node not returned yet is read once, its
    /// exact distance computed, and returned in exact order. A walk costs a distance per edge
    /// (tens per node) where brute force costs one per node, so a caller that knows the index
    /// size (a filter that almost nothing passes reads far) sets this to a fraction of it.
    pub fn set_walk_limit(&mut self, visits: usize) {
        self.walk.walk_limit = visits;
    }
}

impl Walk {
    /// Whether the walk must go on before it returns its nearest visited node: the window is
    /// not full, or a node not visited yet looks nearer (by its list distance) than that one or
    /// than the `window`-th nearest node visited so far (by list distance: a beam search of
    /// width `window` would still visit it). A full window alone is not enough: where the
    /// graph's paths are long (vectors on a line or a circle, whose graph is nearly a chain),
    /// the first `window` visits can all lie on the way to the query, and their nearest is far
    /// from it. 2,000 random 2-d rows under cosine: 35 of 100 `LIMIT 1` queries returned
    /// another row than the scan, 58 with a filter, the worst at distance 0.70 where one at 0
    /// exists; none now.
    ///
    /// A node not visited yet that ties with the nearest visited one (a group of duplicates
    /// at one distance from the query) is visited too, up to `window` such visits in all: rows
    /// nearer than the group may be reached only through its members. 341 rows of 9 distinct
    /// vectors, a group of 150 equal rows at 1.414 from the query: `LIMIT 10` returned 6 of the
    /// 37 rows at distance 0, and 10 of them now. Not at distance 0, which nothing is nearer
    /// than, and not past the budget, so that a table of one vector repeated does not walk the
    /// whole table for its first row.
    ///
    /// Without the beam's test the walk stopped at the first local minimum past `window`
    /// visits: on the scaling benchmark's 300,000 rows (`ann -- --synthetic 300000`) the
    /// planner's rewrite, which takes the first rows of the walk, had recall@10 0.917 where
    /// `vector_top_k` at the same width had 0.929 (0.842 against 0.904 at a million rows); now
    /// 0.9295, at 0.80x the queries/s: it visits what the beam visits.
    /// The largest list distance in a full window (infinity while it is not full): a node not
    /// visited yet that looks nearer would still be visited by a beam search of its width.
    fn window_top(&self) -> f32 {
        match self.beam.peek() {
            Some(Reverse(top)) if self.beam.len() >= self.window => top.order,
            _ => f32::INFINITY,
        }
    }

    fn unsettled(&mut self) -> bool {
        if self.ready.len() <= self.window {
            return true;
        }
        let beam = self.window_top();
        match (self.frontier.peek(), self.ready.peek()) {
            (Some(next), Some(best)) if next.order < best.order || next.order < beam => true,
            (Some(next), Some(best)) if next.order == best.order && best.order > 0.0 && self.ties > 0 => {
                self.ties -= 1;
                true
            }
            _ => false,
        }
    }

    /// Reads node `id`: its exact distance goes to the window, its edges to the frontier.
    ///
    /// A node met before and not visited yet is queued again when this edge's copy puts it
    /// nearer: an edge's copy of its target can be stale. An UPDATE of a vector keeps the
    /// rowid, and an edge to the old node that its delete did not meet (it repairs the nodes
    /// its search reads) then leads to the new one with the old copy. Met first through such
    /// an edge, a row equal to the query waited behind every row nearer than its old vector:
    /// the fuzzer's seed 1149 (740 copies of `[-3,-3]`, many of them moved there by UPDATEs),
    /// `LIMIT 300` at `[-3,-3]` returned 191 of them and then rows at 3.6.
    fn visit<S: Storage>(
        &mut self,
        graph: &DiskAnn,
        storage: &mut S,
        id: i64,
        order: f32,
        query: &PreparedQuery<'_>,
        query_edge: &PreparedQuery<'_>,
    ) -> Result<(), GraphError<S::Error>> {
        let op = Op::Search;
        let seen = &self.seen;
        // the buffers of the last visit, reused: two allocations a visit were a few percent of
        // a filtered query's walk
        let (mut slots, mut fresh) = (core::mem::take(&mut self.slots), core::mem::take(&mut self.fresh));
        slots.clear();
        fresh.clear();
        let visit = |block: &[u8]| -> Result<(f32, f32), GraphError<S::Error>> {
            let node = graph.parse(op, id, block)?;
            // a node met before is looked at again only if it was queued farther than this
            // node plus the edge's length (the triangle inequality in chord lengths, a bound
            // for l2 and for cosine): then it may have come through a stale copy. One queued
            // no farther than this node (a visited one is at VISITED) is visited first anyway.
            // (√o + √l)² < q is tested as 4·o·l < (q - o - l)² with q - o - l > 0: no square
            // root per edge met again (about half of a visit's edges)
            let near = order.max(0.0);
            // the copies to read are loaded while the exact distance is computed
            for i in 0..node.edge_count() {
                let e = node.edge_id(i);
                let read = seen.get(&e).is_none_or(|&queued| {
                    queued > order && {
                        let length = node.edge_distance(i).map_or(0.0, |d| key(d).max(0.0));
                        let room = queued - near - length;
                        room > 0.0 && 4.0 * near * length < room * room
                    }
                });
                if read {
                    edgelite_vector::kernels::prefetch(node.edge_data(i));
                    slots.push((e, i));
                }
            }
            let exact = query.distance(node.vector()).map_err(|source| GraphError::Vector { op, source })?;
            for &(e, i) in &slots {
                fresh.push((e, key(graph.pdist(op, query_edge, node.edge_data(i))?)));
            }
            // queued by a copy that is out of date (a vector moved by an UPDATE): the window
            // counts the node where it is, not where it was (as `DiskAnn::expand` ranks it)
            let listed = match order {
                f32::NEG_INFINITY => order,
                _ => graph.moved(op, query_edge, &node, order, exact)?.map_or(order, |(d, _)| d),
            };
            Ok((exact, listed))
        };
        // a missing node is a dangling edge: skipped, as searches do
        if let Some(found) = storage.read_with(id, visit).map_err(GraphError::Storage)? {
            let (exact, order) = found?;
            self.visited += 1;
            self.seen.insert(id, VISITED);
            self.ready.push(Item { order: key(exact), dist: exact, id });
            // the entry was queued before its list distance was known: its exact one stands in
            let listed =
                Reverse(Item { order: if order == f32::NEG_INFINITY { key(exact) } else { order }, dist: exact, id });
            let class = tie_class(listed.0.order);
            let bounded = self.group < self.window;
            if bounded && self.groups.get(&class).is_some_and(|&n| n >= self.group) {
                // the group counts enough times already
            } else if self.beam.len() < self.window {
                self.beam.push(listed);
                if bounded {
                    *self.groups.entry(class).or_default() += 1;
                }
            } else if self.beam.peek().is_some_and(|top| listed.0.order < top.0.order) {
                if let Some(Reverse(out)) = self.beam.pop()
                    && bounded
                    && let Entry::Occupied(mut n) = self.groups.entry(tie_class(out.order))
                {
                    *n.get_mut() -= 1;
                    if *n.get() == 0 {
                        n.remove();
                    }
                }
                self.beam.push(listed);
                if bounded {
                    *self.groups.entry(class).or_default() += 1;
                }
            }
            for (e, d) in fresh.drain(..) {
                let queue = match self.seen.entry(e) {
                    Entry::Vacant(v) => {
                        v.insert(d);
                        true
                    }
                    Entry::Occupied(mut o) if d < *o.get() => {
                        o.insert(d);
                        true
                    }
                    Entry::Occupied(_) => false,
                };
                if queue {
                    self.frontier.push(Item { order: d, dist: d, id: e });
                }
            }
        } else {
            self.seen.insert(id, VISITED);
        }
        (self.slots, self.fresh) = (slots, fresh);
        Ok(())
    }

    /// Every node not returned yet, as a heap (nearest on top): the window,
    /// then the nodes never visited (queued, or never reached: an index that libSQL wrote, or a
    /// damaged one), each read once for its exact distance.
    fn rest<S: Storage>(
        &mut self,
        graph: &DiskAnn,
        storage: &mut S,
        query: &PreparedQuery<'_>,
    ) -> Result<BinaryHeap<Item>, GraphError<S::Error>> {
        let op = Op::Search;
        let mut rest: Vec<Item> = self.ready.drain().collect();
        self.frontier.clear();
        // the rowids a few hundred at a time: one pass of the shadow table's b-tree for each
        // batch, where a seek for each rowid took most of a node's time here
        let mut ids: Vec<i64> = storage.first_id().map_err(GraphError::Storage)?.into_iter().collect();
        let head = graph.layout.head_size();
        while let Some(&last) = ids.last() {
            for (i, &id) in ids.iter().enumerate() {
                // the vector a few nodes on starts loading while this one's distance is computed
                if let Some(&ahead) = ids.get(i + REST_AHEAD) {
                    storage
                        .peek(ahead, &mut |block| edgelite_vector::kernels::prefetch(&block[..head.min(block.len())]));
                }
                // each rowid comes once, and nothing reads the met nodes after this: only the
                // visited (returned, or drained above) are skipped, and none is added
                if self.seen.get(&id) == Some(&VISITED) {
                    continue;
                }
                let distance = |block: &[u8]| -> Result<f32, GraphError<S::Error>> {
                    let node = graph.parse(op, id, block)?;
                    query.distance(node.vector()).map_err(|source| GraphError::Vector { op, source })
                };
                if let Some(d) = storage.read_with(id, distance).map_err(GraphError::Storage)? {
                    let d = d?;
                    rest.push(Item { order: key(d), dist: d, id });
                }
            }
            ids.clear();
            storage.next_ids(last, REST_IDS, &mut ids).map_err(GraphError::Storage)?;
            // only rowids past the last: a store that answered otherwise would list it forever
            ids.retain(|&id| id > last);
        }
        // a heap, not a sorted list: the caller takes the nearest few of thousands more often
        // than all of them
        Ok(BinaryHeap::from(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter never hides a met rowid: every lookup answers as the map does, for dense
    /// rowids, rowids whose bits collide (multiples of a large power of two share the
    /// multiplicative hash's low factors) and the extremes.
    #[test]
    fn met_answers_as_its_map() {
        let mut met = Met::with_capacity(16);
        let mut map: IdMap<f32> = IdMap::default();
        let ids = (0..5_000i64)
            .map(|i| i * 3)
            .chain((0..2_000i64).map(|i| i << 48))
            .chain([i64::MIN, i64::MAX, -1, 0])
            .collect::<Vec<_>>();
        for (n, &id) in ids.iter().enumerate() {
            let d = n as f32;
            assert_eq!(met.insert(id, d), map.insert(id, d), "insert {id}");
            if n % 3 == 0 {
                // entry() marks the bit too
                let _ = met.entry(id ^ 1).or_insert(-d);
                let _ = map.entry(id ^ 1).or_insert(-d);
            }
        }
        for probe in ids.iter().flat_map(|&id| [id, id.wrapping_add(1), id ^ 1, id.wrapping_sub(7)]) {
            assert_eq!(met.get(&probe), map.get(&probe), "get {probe}");
            assert_eq!(met.contains_key(&probe), map.contains_key(&probe), "contains {probe}");
        }
    }
}
