//! Fixed-size slots for the node cache's blocks (`cache.rs`), carved from large chunks of
//! memory that the kernel may back with 2 MiB pages.
//!
//! A search visits a node and reads the copies of its neighbours, each in a block of its own
//! (8.9 KB on minilm's 384 dimensions: 178 MB for 20,000 rows). Allocated one by one, the
//! blocks lay on 4 KiB pages all over the heap, and nearly every block a search touched cost a
//! few TLB misses on top of its cache misses. Where transparent huge pages are in `madvise`
//! mode (the default of Debian and Ubuntu), only memory advised `MADV_HUGEPAGE` gets them, which
//! no general-purpose allocator does: a chunk of 2 MiB or more is mapped 2 MiB-aligned and
//! advised so. By hand on minilm-20k (Python's `sqlite3` on the release library), the same
//! effect through glibc's own switch (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which advises its
//! whole heap) took a filtered query (10% selectivity) from 767-780 to 718-721 µs, and an
//! unfiltered one from 286-296 to 268 µs.
//!
//! Chunks grow from 64 KiB, doubling up to 4 MiB, and each is an anonymous mapping: the kernel
//! commits only the pages blocks are written to, so a small index (a tenant's) costs about what
//! its blocks do, and it merges neighbouring mappings of the same kind (2,000 connections with a
//! small index each added 1 mapping, where a process may hold only `vm.max_map_count`, 65,530
//! by default; taken from the allocator, which zeroes them, such chunks took 35 KB more memory
//! per connection). From 2 MiB up a chunk is whole 2 MiB pages, 2 MiB-aligned (the slack taken to
//! align it is unmapped again) and (on Linux) advised `MADV_HUGEPAGE`; the kernel commits them
//! a 2 MiB page at a time as blocks are written, so an index's cache may hold up to one partly
//! used huge page more than its blocks. A freed slot stays committed and is reused by the next
//! block; the chunks go with the slab (the cache drops an index's blocks whenever the data
//! version moves). Off Unix the chunks are zeroed allocations.

/// Bytes of the first chunk (at least one slot); each next one is twice as large, up to
/// [`MAX_CHUNK`] (= FIRST_CHUNK << 6). Not smaller: each chunk's last page is partly used
/// (16 KiB chunks took 2,000 connections with a five-row index each 17.7 MB more memory than
/// single allocations did, 64 KiB ones 1.7 MB).
const FIRST_CHUNK: usize = 64 << 10;
/// Chunks stop doubling at this size (at least one slot).
const MAX_CHUNK: usize = 4 << 20;
/// The size of a transparent huge page on x86-64 and (with 4 KiB base pages) aarch64.
const HUGE_PAGE: usize = 2 << 20;

/// Where a block lives in a [`Slab`]: chunk and slot in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    chunk: u32,
    index: u32,
}

impl Slot {
    /// No slot (a [`SlotMap`] table's empty entry): no slab has 2^32 chunks.
    const NONE: Slot = Slot { chunk: u32::MAX, index: u32::MAX };
}

/// Where the blocks of a [`Slab`] lie, by rowid: rowids from 0 up to about twice the number of
/// blocks in a table indexed by rowid, any other in a map. Most tables' rowids run densely from
/// 1, and a search looks up a block for each node it visits and each it prefetches: the map's
/// 16-byte entries (320 KB for minilm-20k's 20,000 nodes) missed the CPU's cache at most
/// lookups (62% of the lookup's time, `perf annotate`, a filtered query on minilm-20k), where
/// the table's 8-byte entries are read where the rowid says.
#[derive(Default)]
pub(crate) struct SlotMap {
    /// `dense[id]`: the slot of rowid `id`, [`Slot::NONE`] for none.
    dense: Vec<Slot>,
    sparse: std::collections::HashMap<i64, Slot, edgelite_diskann::RowidBuildHasher>,
    len: usize,
}

/// Rowids below this go to the table whatever the number of blocks (a small index's rowids
/// need not start at 1).
const DENSE_FLOOR: usize = 4096;

impl SlotMap {
    /// The table's index for `id`, if `id` may go there.
    #[inline]
    fn dense_at(&self, id: i64) -> Option<usize> {
        usize::try_from(id).ok().filter(|&i| i < self.dense.len())
    }

    /// The slot of `id`, if any.
    #[inline]
    pub(crate) fn get(&self, id: i64) -> Option<Slot> {
        match self.dense_at(id) {
            Some(i) => Some(self.dense[i]).filter(|s| *s != Slot::NONE),
            None => self.sparse.get(&id).copied(),
        }
    }

    /// Sets the slot of `id`, returning the one it replaces, if any (the cache evicts a block
    /// before it stores another for the same rowid, but a count that took a replaced slot as a
    /// new one would give its budget back twice when the index's blocks are dropped).
    pub(crate) fn insert(&mut self, id: i64, slot: Slot) -> Option<Slot> {
        let replaced = self.remove(id);
        let room = DENSE_FLOOR.max(self.len.saturating_mul(2));
        match usize::try_from(id) {
            Ok(i) if i < self.dense.len() => self.dense[i] = slot,
            Ok(i) if i < room => {
                // grown by doubling (within `room`), and the map's rowids that the table now
                // covers move into it, so that each rowid has one place to look
                let grown = (i + 1).max(self.dense.len().saturating_mul(2)).min(room);
                self.dense.resize(grown, Slot::NONE);
                let dense = &mut self.dense;
                self.sparse.retain(|&id, &mut at| match usize::try_from(id) {
                    Ok(j) if j < grown => {
                        dense[j] = at;
                        false
                    }
                    _ => true,
                });
                self.dense[i] = slot;
            }
            _ => {
                self.sparse.insert(id, slot);
            }
        }
        self.len += 1;
        replaced
    }

    /// Takes the slot of `id`, if any.
    pub(crate) fn remove(&mut self, id: i64) -> Option<Slot> {
        let taken = match self.dense_at(id) {
            Some(i) => Some(core::mem::replace(&mut self.dense[i], Slot::NONE)).filter(|s| *s != Slot::NONE),
            None => self.sparse.remove(&id),
        };
        if taken.is_some() {
            self.len -= 1;
        }
        taken
    }

    /// Blocks with a slot.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Slots of `slot` bytes each. See the module docs.
pub(crate) struct Slab {
    slot: usize,
    chunks: Vec<Chunk>,
    /// Slots handed out and freed since.
    free: Vec<Slot>,
    /// Slots of the last chunk handed out so far.
    used_in_last: usize,
}

impl Slab {
    /// An empty slab of `slot`-byte slots (0 is taken as 1); it maps nothing until the first
    /// block.
    pub(crate) fn new(slot: usize) -> Slab {
        Slab { slot: slot.max(1), chunks: Vec::new(), free: Vec::new(), used_in_last: 0 }
    }

    /// Bytes of a slot.
    pub(crate) fn slot_size(&self) -> usize {
        self.slot
    }

    /// A slot holding `block` (exactly [`Slab::slot_size`] bytes), or `None` when the block has
    /// another size or the kernel refuses memory.
    pub(crate) fn insert(&mut self, block: &[u8]) -> Option<Slot> {
        if block.len() != self.slot {
            return None;
        }
        let at = match self.free.pop() {
            Some(at) => at,
            None => {
                let room = self.chunks.last().map_or(0, |c| c.len() / self.slot);
                if self.used_in_last == room {
                    // 64 KiB, 128 KiB, ... 4 MiB: whole 2 MiB pages from 2 MiB up, filled with
                    // as many slots as fit (at least one), so that no huge page holds a sliver
                    let size = (FIRST_CHUNK << self.chunks.len().min(6)).min(MAX_CHUNK);
                    let slots = (size / self.slot).max(1);
                    let chunk = Chunk::new(slots.checked_mul(self.slot)?, size >= HUGE_PAGE)?;
                    self.chunks.push(chunk);
                    self.used_in_last = 0;
                }
                let chunk = u32::try_from(self.chunks.len() - 1).ok()?;
                let index = u32::try_from(self.used_in_last).ok()?;
                self.used_in_last += 1;
                Slot { chunk, index }
            }
        };
        self.get_mut(at).copy_from_slice(block);
        Some(at)
    }

    /// The block in `at`.
    pub(crate) fn get(&self, at: Slot) -> &[u8] {
        let start = at.index as usize * self.slot;
        &self.chunks[at.chunk as usize].bytes()[start..start + self.slot]
    }

    /// The block in `at`, to overwrite in place.
    pub(crate) fn get_mut(&mut self, at: Slot) -> &mut [u8] {
        let start = at.index as usize * self.slot;
        &mut self.chunks[at.chunk as usize].bytes_mut()[start..start + self.slot]
    }

    /// Gives slot `at` back for the next block.
    pub(crate) fn remove(&mut self, at: Slot) {
        self.free.push(at);
    }
}

/// A chunk's memory: an anonymous mapping on Unix (see the module docs), a zeroed allocation
/// elsewhere.
enum Chunk {
    #[cfg(not(unix))]
    Heap(Box<[u8]>),
    #[cfg(unix)]
    Mapped(Mapping),
}

impl Chunk {
    /// `len` zeroed bytes, in whole 2 MiB pages advised for huge pages if `huge`; `None` if the
    /// kernel refuses the mapping.
    fn new(len: usize, huge: bool) -> Option<Chunk> {
        #[cfg(unix)]
        return Mapping::new(len, huge).map(Chunk::Mapped);
        #[cfg(not(unix))]
        {
            let _ = huge;
            Some(Chunk::Heap(vec![0u8; len].into_boxed_slice()))
        }
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn bytes(&self) -> &[u8] {
        match self {
            #[cfg(not(unix))]
            Chunk::Heap(b) => b,
            #[cfg(unix)]
            Chunk::Mapped(m) => m.bytes(),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            #[cfg(not(unix))]
            Chunk::Heap(b) => b,
            #[cfg(unix)]
            Chunk::Mapped(m) => m.bytes_mut(),
        }
    }
}

/// An anonymous private mapping, zero-filled by the kernel, of which the first `len` bytes are
/// used (a huge one: whole 2 MiB pages at a 2 MiB boundary); unmapped on drop.
#[cfg(unix)]
struct Mapping {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
    /// Bytes mapped from `ptr`: `len`, rounded up to 2 MiB for a huge one.
    mapped: usize,
}

#[cfg(unix)]
impl Mapping {
    fn new(len: usize, huge: bool) -> Option<Mapping> {
        let mapped = if huge { len.checked_next_multiple_of(HUGE_PAGE)? } else { len };
        // room to move a huge one's start up to the next 2 MiB boundary; the rest is unmapped
        // below
        let want = if huge { mapped.checked_add(HUGE_PAGE)? } else { mapped };
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing: no
        // file, no existing memory touched. MAP_FAILED is checked below.
        let base = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                want,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        // (a successful mapping at a null hint never starts at address 0)
        if base == libc::MAP_FAILED || base.is_null() {
            return None;
        }
        if !huge {
            return Some(Mapping { ptr: core::ptr::NonNull::new(base.cast())?, len, mapped });
        }
        // `base` is page-aligned, so `skip` (< 2 MiB) and the tail (2 MiB - skip) are whole
        // pages, and [start, start + mapped) lies inside [base, base + want)
        let skip = (HUGE_PAGE - (base as usize) % HUGE_PAGE) % HUGE_PAGE;
        let start = base.cast::<u8>().wrapping_add(skip);
        let tail = HUGE_PAGE - skip;
        if skip > 0 {
            // SAFETY: the head and the tail are whole pages of the mapping just made, outside
            // the part kept, and nothing points into them. A failure leaves them mapped and
            // untouched (address space only).
            let _ = unsafe { libc::munmap(base, skip) };
        }
        // SAFETY: as above.
        let _ = unsafe { libc::munmap(start.wrapping_add(mapped).cast(), tail) };
        let mapping = Mapping { ptr: core::ptr::NonNull::new(start)?, len, mapped };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            // SAFETY: the kept part of the mapping just made, 2 MiB-aligned. Advice only: a
            // kernel without THP (or with it off) fails it, and the chunk keeps small pages.
            let _ = unsafe { libc::madvise(mapping.ptr.as_ptr().cast(), mapped, libc::MADV_HUGEPAGE) };
        }
        Some(mapping)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` <= `mapped` bytes from `ptr` lie in a live read-write mapping of this
        // value's own (unmapped only by Drop), zero-filled by the kernel, so initialised;
        // `&self` rules out a `&mut` to them for the slice's lifetime.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(unix)]
impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the part of the mapping that `new` kept, unmapped once; no slice of it
        // outlives the value (they borrow it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.mapped) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_blocks_across_chunks_and_reuse() {
        // 9,000-byte blocks: chunks of 7, 14, 29, 58, 116 slots (64 KiB to 1 MiB), then 233 in
        // 2 MiB and 466 in each 4 MiB one
        let mut slab = Slab::new(9000);
        let block = |i: u32| -> Vec<u8> { (0..9000u32).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect() };
        let slots: Vec<Slot> = (0..2000).map(|i| slab.insert(&block(i)).expect("mapped")).collect();
        let sizes: Vec<usize> = slab.chunks.iter().map(|c| c.len() / 9000).collect();
        assert_eq!(sizes, [7, 14, 29, 58, 116, 233, 466, 466, 466, 466], "slots per chunk");
        #[cfg(unix)]
        for (i, c) in slab.chunks.iter().enumerate() {
            // the huge ones are whole 2 MiB pages at a 2 MiB boundary
            let Chunk::Mapped(m) = c;
            let huge = m.mapped.is_multiple_of(HUGE_PAGE) && (c.bytes().as_ptr() as usize).is_multiple_of(HUGE_PAGE);
            assert_eq!(huge, i >= 5, "chunk {i}");
        }
        for (i, &s) in slots.iter().enumerate() {
            assert_eq!(slab.get(s), &block(i as u32)[..]);
        }
        // a wrong size is refused; a freed slot takes the next block
        assert_eq!(slab.insert(&[0; 10]), None);
        slab.remove(slots[3]);
        let again = slab.insert(&block(5000)).expect("reused");
        assert_eq!(again, slots[3]);
        assert_eq!(slab.get(again), &block(5000)[..]);
        slab.get_mut(again)[0] ^= 1;
        assert_ne!(slab.get(again), &block(5000)[..]);
        assert_eq!(slab.get(slots[4]), &block(4)[..]);
    }

    /// A [`SlotMap`] answers as a map would through inserts and removals of dense, sparse,
    /// negative and huge rowids, including rowids first kept in the map that the table grows
    /// over later.
    #[test]
    fn slot_map_answers_as_a_map() {
        let mut map = SlotMap::default();
        let mut model = std::collections::HashMap::new();
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 33
        };
        for step in 0..60_000u32 {
            let r = next();
            let id = match r % 8 {
                0 => -((r >> 3) as i64 % 50),
                1 => i64::MAX - (r >> 3) as i64 % 3,
                2 => ((r >> 3) % 100_000) as i64,
                _ => ((r >> 3) % 12_000) as i64,
            };
            let slot = Slot { chunk: step, index: step ^ 5 };
            if next() % 3 == 0 {
                assert_eq!(map.remove(id), model.remove(&id), "remove {id}");
            } else {
                // over a slot it has, too: the count stays the map's
                assert_eq!(map.insert(id, slot), model.insert(id, slot), "insert {id}");
            }
            assert_eq!(map.len(), model.len());
            let probe = id.wrapping_add((next() % 5) as i64 - 2);
            assert_eq!(map.get(probe), model.get(&probe).copied(), "get {probe}");
        }
        for (&id, &slot) in &model {
            assert_eq!(map.get(id), Some(slot), "{id}");
        }
        assert!(!map.dense.is_empty() && !map.sparse.is_empty(), "both parts were used");
    }
}
