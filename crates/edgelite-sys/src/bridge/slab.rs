//! Fixed-size slots for the node cache's blocks (`cache.rs`), carved from large anonymous
//! mappings that the kernel may back with 2 MiB pages.
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
//! Chunks grow from 64 KiB, doubling up to 4 MiB, so a small index (a tenant's) maps little,
//! and the kernel commits only the pages a block was written to (anonymous memory is zero until
//! touched): with huge pages, a 2 MiB page at a time, so an index's cache may hold up to one
//! partly used huge page more than its blocks (only once it has passed about 2 MiB of them:
//! the chunks before are smaller). A freed slot stays committed and is reused by the next
//! block; the mappings go with the slab (the cache drops an index's blocks whenever the data
//! version moves). A huge chunk maps up to 2 MiB more address space than it uses, to align
//! it; untouched, that costs no memory. Off Unix the chunks are plain zeroed allocations.

/// Bytes of the first chunk (at least one slot).
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
                    let next = self.chunks.last().map_or(FIRST_CHUNK, |c| (c.len() * 2).min(MAX_CHUNK));
                    let chunk = Chunk::map(next.max(self.slot).div_ceil(self.slot) * self.slot)?;
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

/// One anonymous private mapping, zero-filled by the kernel, unmapped on drop.
#[cfg(unix)]
struct Chunk {
    ptr: core::ptr::NonNull<u8>,
    len: usize,
    /// What `mmap` returned (the chunk may start past it, aligned), and its length.
    mapped: (*mut libc::c_void, usize),
}

#[cfg(unix)]
impl Chunk {
    /// `len` bytes; from 2 MiB up aligned to 2 MiB and (on Linux) advised `MADV_HUGEPAGE`.
    fn map(len: usize) -> Option<Chunk> {
        let huge = len >= HUGE_PAGE;
        // room to move the start up to the next 2 MiB boundary
        let want = if huge { len.checked_add(HUGE_PAGE)? } else { len };
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
        let skip = if huge { (HUGE_PAGE - (base as usize) % HUGE_PAGE) % HUGE_PAGE } else { 0 };
        // `skip` < HUGE_PAGE <= want - len: the chunk lies inside the mapping
        let chunk =
            Chunk { ptr: core::ptr::NonNull::new(base.cast::<u8>().wrapping_add(skip))?, len, mapped: (base, want) };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if huge {
            // SAFETY: the range lies inside the mapping just made (above) and is page-aligned.
            // Advice only: a kernel without THP (or with it off) fails it, and the chunk then
            // keeps small pages, as before.
            let _ = unsafe { libc::madvise(chunk.ptr.as_ptr().cast(), len, libc::MADV_HUGEPAGE) };
        }
        Some(chunk)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes from `ptr` lie in a live read-write mapping of this chunk's own
        // (unmapped only by Drop), zero-filled by the kernel, so initialised; `&self` rules out
        // a `&mut` to them for the slice's lifetime.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(unix)]
impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping `map` made, unmapped once; no slice of it outlives the
        // chunk (they borrow it).
        unsafe { libc::munmap(self.mapped.0, self.mapped.1) };
    }
}

/// Off Unix: a zeroed allocation (no huge-page advice to give).
#[cfg(not(unix))]
struct Chunk(Box<[u8]>);

#[cfg(not(unix))]
impl Chunk {
    fn map(len: usize) -> Option<Chunk> {
        Some(Chunk(vec![0u8; len].into_boxed_slice()))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_blocks_across_chunks_and_reuse() {
        // 9,000-byte blocks: the first chunk (64 KiB, rounded up to 72,000 bytes) holds 8; the
        // chunks grow past 2 MiB
        let mut slab = Slab::new(9000);
        let block = |i: u32| -> Vec<u8> { (0..9000u32).map(|j| (i.wrapping_mul(31) ^ j) as u8).collect() };
        let slots: Vec<Slot> = (0..1000).map(|i| slab.insert(&block(i)).expect("mapped")).collect();
        assert!(slab.chunks.len() > 5, "{} chunks", slab.chunks.len());
        #[cfg(unix)]
        assert!(
            slab.chunks.iter().any(|c| c.len() >= HUGE_PAGE && (c.bytes().as_ptr() as usize).is_multiple_of(HUGE_PAGE))
        );
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
}
