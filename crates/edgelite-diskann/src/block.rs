//! The node block: what one `<idx>_shadow.data` blob holds (docs/libsql-vector.md 3.5), byte for byte.
//!
//! Format 3 (formats 1 and 2 differ only where noted):
//!
//! | Offset | Size | Content |
//! |---|---|---|
//! | 0 | 8 | u64 LE: the node's shadow rowid (an i64 rowid, two's complement) |
//! | 8 | 2 | u16 LE: number of edges E |
//! | 10 | 6 | zero (format 3 only; formats 1-2 have a 10-byte header) |
//! | H | S_n | node vector, data part in the column type |
//! | H+S_n | cap·S_e | edge vectors (neighbour copies in the edge type); slots ≥ E unused |
//! | H+S_n+cap·S_e | cap·16 | edge metadata: u32 0, f32 LE distance node→neighbour, u64 LE neighbour rowid (format 1: u64 rowid, u64 rowid, no distance) |
//! | rest | | zero |
//!
//! `cap = ⌊(block − H − S_n) / (S_e + 16)⌋`; the usable capacity is also limited to 65535 by
//! the u16 count. Decoding validates the length and `E ≤ cap` and never panics on any input.

use edgelite_vector::{Vector, VectorRef, VectorType};

use crate::options::IndexConfig;

/// Bytes of edge metadata per slot (all formats).
pub const EDGE_META_SIZE: usize = 16;

/// A block that cannot be decoded or a change that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The blob length differs from the index's block size.
    #[error("node block is {actual} bytes, expected {expected}")]
    Length {
        /// Bytes present.
        actual: usize,
        /// The block size.
        expected: usize,
    },
    /// The edge count exceeds the capacity.
    #[error("node block has {count} edges, capacity is {capacity}")]
    TooManyEdges {
        /// Stored edge count.
        count: usize,
        /// Capacity of the layout.
        capacity: usize,
    },
    /// The block size cannot hold the node vector and one edge.
    #[error("block size {block_size} cannot hold a node and one edge ({needed} bytes)")]
    BlockTooSmall {
        /// Block size.
        block_size: usize,
        /// Bytes a node with one edge needs.
        needed: usize,
    },
    /// A format version other than 1, 2 or 3.
    #[error("unsupported node block format {0}")]
    Format(u8),
    /// A vector of the wrong type or dimension given to the codec.
    #[error("vector of type {got_type} with {got_dims} dimensions, expected {want_type} with {want_dims}")]
    Vector {
        /// Given type.
        got_type: VectorType,
        /// Given dimensions.
        got_dims: u32,
        /// Expected type.
        want_type: VectorType,
        /// Expected dimensions.
        want_dims: u32,
    },
    /// A vector data part of the wrong length.
    #[error("vector data part of {actual} bytes, expected {expected}")]
    DataPart {
        /// Bytes given.
        actual: usize,
        /// Bytes expected.
        expected: usize,
    },
}

/// Where everything lives in a block of a given index. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    format: u8,
    node_type: VectorType,
    edge_type: VectorType,
    dims: u32,
    block_size: usize,
    header: usize,
    node_vec: usize,
    edge_vec: usize,
    /// Slots the layout reserves (libSQL's `nodeEdgesMaxCount`), which fixes the offsets.
    slots: usize,
}

impl Layout {
    /// The layout of blocks of `block_size` bytes in `format` (1, 2 or 3).
    ///
    /// # Errors
    /// [`BlockError::Format`], [`BlockError::BlockTooSmall`].
    pub fn new(
        format: u8,
        node_type: VectorType,
        edge_type: VectorType,
        dims: u32,
        block_size: usize,
    ) -> Result<Layout, BlockError> {
        let header = match format {
            1 | 2 => 10,
            3 => 16,
            f => return Err(BlockError::Format(f)),
        };
        let node_vec = node_type.data_size(dims);
        let edge_vec = edge_type.data_size(dims);
        let needed = header + node_vec + edge_vec + EDGE_META_SIZE;
        if block_size < needed {
            return Err(BlockError::BlockTooSmall { block_size, needed });
        }
        let slots = (block_size - header - node_vec) / (edge_vec + EDGE_META_SIZE);
        Ok(Layout { format, node_type, edge_type, dims, block_size, header, node_vec, edge_vec, slots })
    }

    /// The layout of an index.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn from_config(config: &IndexConfig) -> Result<Layout, BlockError> {
        Layout::new(config.format, config.vector_type, config.edge_type, config.dims, config.block_size)
    }

    /// Format version.
    pub fn format(&self) -> u8 {
        self.format
    }
    /// Column (node vector) type.
    pub fn node_type(&self) -> VectorType {
        self.node_type
    }
    /// Neighbour copy type.
    pub fn edge_type(&self) -> VectorType {
        self.edge_type
    }
    /// Dimensions.
    pub fn dims(&self) -> u32 {
        self.dims
    }
    /// Bytes per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }
    /// Bytes of an edge vector data part.
    pub fn edge_vector_size(&self) -> usize {
        self.edge_vec
    }
    /// Most edges a node can hold.
    pub fn capacity(&self) -> usize {
        self.slots.min(usize::from(u16::MAX))
    }

    /// Starts loading into the CPU cache the parts of `block` that a search reads first: the
    /// header, the edge metadata and, with `vector`, the node's vector (a hint; a block too
    /// short for the layout is ignored). It reads nothing of the block itself: reading its edge count
    /// to prefetch only the used slots waited for the very load the hint was meant to start.
    #[inline]
    pub fn prefetch(&self, block: &[u8], vector: bool) {
        if block.len() >= self.edge_meta_off(self.slots) {
            let header = if vector { self.edge_vec_off(0) } else { self.node_vec_off() };
            edgelite_vector::kernels::prefetch(&block[..header]);
            edgelite_vector::kernels::prefetch(&block[self.edge_meta_off(0)..self.edge_meta_off(self.slots)]);
        }
    }

    /// Bytes at the start of a block that hold its rowid and its vector: what [`Self::head`]
    /// reads.
    pub fn head_size(&self) -> usize {
        self.header + self.node_vec
    }

    /// The rowid and the vector of a block from its first [`Self::head_size`] bytes (or more,
    /// up to the whole block), for a caller that needs no edges (`DiskAnn`'s seeds read many
    /// nodes once, and a store may read just these bytes of each).
    ///
    /// # Errors
    /// [`BlockError::Length`] for fewer bytes than [`Self::head_size`] or more than a block.
    pub fn head<'a>(&self, bytes: &'a [u8]) -> Result<(i64, VectorRef<'a>), BlockError> {
        let end = self.head_size();
        if bytes.len() < end || bytes.len() > self.block_size {
            return Err(BlockError::Length { actual: bytes.len(), expected: self.block_size });
        }
        let vector = VectorRef::from_data_part(self.node_type, self.dims, &bytes[self.node_vec_off()..end])
            .expect("invariant: the layout sizes the node vector part from the type and dims");
        Ok((u64_at(bytes, 0) as i64, vector))
    }

    #[inline]
    fn node_vec_off(&self) -> usize {
        self.header
    }
    #[inline]
    fn edge_vec_off(&self, i: usize) -> usize {
        self.header + self.node_vec + i * self.edge_vec
    }
    #[inline]
    fn edge_meta_off(&self, i: usize) -> usize {
        self.header + self.node_vec + self.slots * self.edge_vec + i * EDGE_META_SIZE
    }

    fn check(&self, v: VectorRef<'_>, ty: VectorType) -> Result<(), BlockError> {
        if v.vector_type() != ty || v.dims() != self.dims {
            return Err(BlockError::Vector {
                got_type: v.vector_type(),
                got_dims: v.dims(),
                want_type: ty,
                want_dims: self.dims,
            });
        }
        Ok(())
    }

    /// A zeroed block for node `id` with `vector` (in the column type) and no edges.
    ///
    /// # Errors
    /// [`BlockError::Vector`] if `vector` is not of the column type and dimension.
    pub fn new_block(&self, id: i64, vector: VectorRef<'_>) -> Result<Vec<u8>, BlockError> {
        self.check(vector, self.node_type)?;
        let mut part = Vec::with_capacity(self.node_vec);
        vector.write_data_part(&mut part);
        let mut block = vec![0u8; self.block_size];
        block[..8].copy_from_slice(&id.to_le_bytes());
        block[self.node_vec_off()..self.node_vec_off() + self.node_vec].copy_from_slice(&part);
        Ok(block)
    }

    /// Validates `bytes` and gives read access.
    ///
    /// # Errors
    /// [`BlockError::Length`], [`BlockError::TooManyEdges`].
    #[inline]
    pub fn node<'a>(&self, bytes: &'a [u8]) -> Result<NodeRef<'a>, BlockError> {
        let count = self.validate(bytes)?;
        Ok(NodeRef { layout: *self, bytes, count })
    }

    /// Validates `bytes` and gives read-write access.
    ///
    /// # Errors
    /// As [`Self::node`].
    pub fn node_mut<'a>(&self, bytes: &'a mut [u8]) -> Result<NodeMut<'a>, BlockError> {
        let count = self.validate(bytes)?;
        Ok(NodeMut { layout: *self, bytes, count })
    }

    #[inline]
    fn validate(&self, bytes: &[u8]) -> Result<usize, BlockError> {
        if bytes.len() != self.block_size {
            return Err(BlockError::Length { actual: bytes.len(), expected: self.block_size });
        }
        let count = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        if count > self.capacity() {
            return Err(BlockError::TooManyEdges { count, capacity: self.capacity() });
        }
        Ok(count)
    }

    /// Decodes a block into an owned [`Node`].
    ///
    /// # Errors
    /// As [`Self::node`].
    pub fn decode(&self, bytes: &[u8]) -> Result<Node, BlockError> {
        Ok(self.node(bytes)?.to_node())
    }

    /// Encodes an owned [`Node`]; unused slots are zero.
    ///
    /// # Errors
    /// [`BlockError::Vector`] for vectors of the wrong type or dimension,
    /// [`BlockError::TooManyEdges`] beyond the capacity.
    pub fn encode(&self, node: &Node) -> Result<Vec<u8>, BlockError> {
        let mut block = self.new_block(node.id, node.vector.as_ref())?;
        let mut m = self.node_mut(&mut block)?;
        for e in &node.edges {
            m.push_edge(e.id, e.distance, e.vector.as_ref())?;
        }
        Ok(block)
    }
}

/// One edge of an owned [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Neighbour rowid.
    pub id: i64,
    /// Stored distance node→neighbour (between edge-type copies); 0 in format 1, which stores none.
    pub distance: f32,
    /// The neighbour copy, in the edge type.
    pub vector: Vector,
}

/// A decoded block.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's rowid.
    pub id: i64,
    /// Its vector in the column type.
    pub vector: Vector,
    /// Its edges in stored order.
    pub edges: Vec<Edge>,
}

#[inline]
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Read access to a validated block.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    layout: Layout,
    bytes: &'a [u8],
    count: usize,
}

impl<'a> NodeRef<'a> {
    /// The rowid stored in the block.
    #[inline]
    pub fn id(&self) -> i64 {
        u64_at(self.bytes, 0) as i64
    }

    /// Number of edges.
    #[inline]
    pub fn edge_count(&self) -> usize {
        self.count
    }

    /// The node vector (column type).
    #[inline]
    pub fn vector(&self) -> VectorRef<'a> {
        let at = self.layout.node_vec_off();
        VectorRef::from_data_part(self.layout.node_type, self.layout.dims, &self.bytes[at..at + self.layout.node_vec])
            .expect("invariant: the layout sizes the node vector part from the type and dims")
    }

    /// The node vector's data part bytes.
    #[inline]
    pub fn vector_data(&self) -> &'a [u8] {
        let at = self.layout.node_vec_off();
        &self.bytes[at..at + self.layout.node_vec]
    }

    /// Rowid of edge `i`.
    ///
    /// # Panics
    /// If `i >= edge_count()`.
    #[inline]
    pub fn edge_id(&self, i: usize) -> i64 {
        assert!(i < self.count, "edge {i} of {}", self.count);
        u64_at(self.bytes, self.layout.edge_meta_off(i) + 8) as i64
    }

    /// Stored distance of edge `i`; `None` in format 1.
    ///
    /// # Panics
    /// If `i >= edge_count()`.
    #[inline]
    pub fn edge_distance(&self, i: usize) -> Option<f32> {
        assert!(i < self.count, "edge {i} of {}", self.count);
        if self.layout.format == 1 {
            return None;
        }
        let at = self.layout.edge_meta_off(i) + 4;
        Some(f32::from_le_bytes([self.bytes[at], self.bytes[at + 1], self.bytes[at + 2], self.bytes[at + 3]]))
    }

    /// The data part bytes of edge `i`'s neighbour copy.
    ///
    /// # Panics
    /// If `i >= edge_count()`.
    #[inline]
    pub fn edge_data(&self, i: usize) -> &'a [u8] {
        assert!(i < self.count, "edge {i} of {}", self.count);
        let at = self.layout.edge_vec_off(i);
        &self.bytes[at..at + self.layout.edge_vec]
    }

    /// Edge `i`'s neighbour copy (edge type).
    ///
    /// # Panics
    /// If `i >= edge_count()`.
    pub fn edge_vector(&self, i: usize) -> VectorRef<'a> {
        VectorRef::from_data_part(self.layout.edge_type, self.layout.dims, self.edge_data(i))
            .expect("invariant: the layout sizes edge vector parts from the type and dims")
    }

    /// Index of the first edge to `id`.
    pub fn find_edge(&self, id: i64) -> Option<usize> {
        (0..self.count).find(|&i| self.edge_id(i) == id)
    }

    /// Copies into an owned [`Node`].
    pub fn to_node(&self) -> Node {
        Node {
            id: self.id(),
            vector: self.vector().to_vector(),
            edges: (0..self.count)
                .map(|i| Edge {
                    id: self.edge_id(i),
                    distance: self.edge_distance(i).unwrap_or(0.0),
                    vector: self.edge_vector(i).to_vector(),
                })
                .collect(),
        }
    }
}

/// Read-write access to a validated block.
#[derive(Debug)]
pub struct NodeMut<'a> {
    layout: Layout,
    bytes: &'a mut [u8],
    count: usize,
}

impl NodeMut<'_> {
    /// Read access.
    pub fn as_ref(&self) -> NodeRef<'_> {
        NodeRef { layout: self.layout, bytes: self.bytes, count: self.count }
    }

    fn set_count(&mut self, count: usize) {
        self.count = count;
        // capacity() <= u16::MAX, so the count always fits
        self.bytes[8..10].copy_from_slice(&(count as u16).to_le_bytes());
    }

    fn write_slot(&mut self, i: usize, id: i64, distance: f32, part: &[u8]) {
        let l = self.layout;
        let at = l.edge_vec_off(i);
        self.bytes[at..at + l.edge_vec].copy_from_slice(part);
        let m = l.edge_meta_off(i);
        if l.format == 1 {
            // format 1 stored the rowid twice (a legacy id, then the rowid that readers use)
            self.bytes[m..m + 8].copy_from_slice(&id.to_le_bytes());
        } else {
            self.bytes[m..m + 4].fill(0);
            self.bytes[m + 4..m + 8].copy_from_slice(&distance.to_le_bytes());
        }
        self.bytes[m + 8..m + 16].copy_from_slice(&id.to_le_bytes());
    }

    fn clear_slot(&mut self, i: usize) {
        let l = self.layout;
        let at = l.edge_vec_off(i);
        self.bytes[at..at + l.edge_vec].fill(0);
        let m = l.edge_meta_off(i);
        self.bytes[m..m + EDGE_META_SIZE].fill(0);
    }

    /// Appends an edge whose neighbour copy is given as an edge-type data part.
    ///
    /// # Errors
    /// [`BlockError::DataPart`] for a part of the wrong size; [`BlockError::TooManyEdges`] when full.
    pub fn push_edge_data(&mut self, id: i64, distance: f32, part: &[u8]) -> Result<(), BlockError> {
        if part.len() != self.layout.edge_vec {
            return Err(BlockError::DataPart { actual: part.len(), expected: self.layout.edge_vec });
        }
        if self.count >= self.layout.capacity() {
            return Err(BlockError::TooManyEdges { count: self.count + 1, capacity: self.layout.capacity() });
        }
        self.write_slot(self.count, id, distance, part);
        self.set_count(self.count + 1);
        Ok(())
    }

    /// Appends an edge.
    ///
    /// # Errors
    /// [`BlockError::Vector`] if `vector` is not of the edge type and dimension; as
    /// [`Self::push_edge_data`].
    pub fn push_edge(&mut self, id: i64, distance: f32, vector: VectorRef<'_>) -> Result<(), BlockError> {
        self.layout.check(vector, self.layout.edge_type)?;
        let mut part = Vec::with_capacity(self.layout.edge_vec);
        vector.write_data_part(&mut part);
        self.push_edge_data(id, distance, &part)
    }

    /// Overwrites edge `i`.
    ///
    /// # Errors
    /// [`BlockError::DataPart`]; [`BlockError::TooManyEdges`] if `i >= edge_count()`.
    pub fn set_edge_data(&mut self, i: usize, id: i64, distance: f32, part: &[u8]) -> Result<(), BlockError> {
        if part.len() != self.layout.edge_vec {
            return Err(BlockError::DataPart { actual: part.len(), expected: self.layout.edge_vec });
        }
        if i >= self.count {
            return Err(BlockError::TooManyEdges { count: i + 1, capacity: self.count });
        }
        self.write_slot(i, id, distance, part);
        Ok(())
    }

    /// Removes edge `i` by moving the last edge into its slot (as libSQL), zeroing the freed slot.
    ///
    /// # Panics
    /// If `i >= edge_count()`.
    pub fn remove_edge(&mut self, i: usize) {
        assert!(i < self.count, "edge {i} of {}", self.count);
        let last = self.count - 1;
        if i != last {
            let l = self.layout;
            let (from, to) = (l.edge_vec_off(last), l.edge_vec_off(i));
            self.bytes.copy_within(from..from + l.edge_vec, to);
            let (from, to) = (l.edge_meta_off(last), l.edge_meta_off(i));
            self.bytes.copy_within(from..from + EDGE_META_SIZE, to);
        }
        self.clear_slot(last);
        self.set_count(last);
    }

    /// Replaces all edges by `edges` (rowid, distance, edge-type data part), zeroing unused slots.
    ///
    /// # Errors
    /// [`BlockError::TooManyEdges`] beyond the capacity, [`BlockError::DataPart`]; the block is
    /// unchanged then.
    pub fn set_edges<'p>(&mut self, edges: impl IntoIterator<Item = (i64, f32, &'p [u8])>) -> Result<(), BlockError> {
        let edges: Vec<_> = edges.into_iter().collect();
        if edges.len() > self.layout.capacity() {
            return Err(BlockError::TooManyEdges { count: edges.len(), capacity: self.layout.capacity() });
        }
        if let Some((_, _, p)) = edges.iter().find(|(_, _, p)| p.len() != self.layout.edge_vec) {
            return Err(BlockError::DataPart { actual: p.len(), expected: self.layout.edge_vec });
        }
        for (i, (id, d, part)) in edges.iter().enumerate() {
            self.write_slot(i, *id, *d, part);
        }
        for i in edges.len()..self.count {
            self.clear_slot(i);
        }
        self.set_count(edges.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Metadata;
    use edgelite_vector::{Metric, distance};

    fn v(x: &[f32]) -> Vector {
        Vector::from_f32(x).unwrap()
    }

    fn f32_3() -> Layout {
        Layout::from_config(&Metadata::create("F32_BLOB(3)", &[]).unwrap().1).unwrap()
    }

    /// Spec 3.5's verified example: F32(3), rows 1=[1,2,3] and 2=[3,2,1].
    #[test]
    fn spec_example_row_1() {
        let l = f32_3();
        assert_eq!((l.capacity(), l.block_size()), (8, 256));
        let d = distance(Metric::Cosine, v(&[1., 2., 3.]).as_ref(), v(&[3., 2., 1.]).as_ref()).unwrap() as f32;
        let mut b = l.new_block(1, v(&[1., 2., 3.]).as_ref()).unwrap();
        l.node_mut(&mut b).unwrap().push_edge(2, d, v(&[3., 2., 1.]).as_ref()).unwrap();
        assert_eq!(&b[0..8], &1u64.to_le_bytes());
        assert_eq!(&b[8..10], &1u16.to_le_bytes());
        assert_eq!(&b[10..16], &[0; 6]);
        assert_eq!(&b[16..28], v(&[1., 2., 3.]).to_blob().as_slice());
        assert_eq!(&b[28..40], v(&[3., 2., 1.]).to_blob().as_slice());
        assert!(b[40..124].iter().all(|&x| x == 0), "unused edge slots are zero");
        assert_eq!(&b[124..128], &[0; 4]);
        assert_eq!(&b[128..132], &[0x25, 0x49, 0x92, 0x3E], "0.2857143");
        assert_eq!(&b[132..140], &2u64.to_le_bytes());
        assert!(b[140..].iter().all(|&x| x == 0));
        let n = l.decode(&b).unwrap();
        assert_eq!(n.id, 1);
        assert_eq!(n.edges.len(), 1);
        assert_eq!((n.edges[0].id, n.edges[0].distance), (2, 0.285_714_3));
        assert_eq!(n.edges[0].vector, v(&[3., 2., 1.]));
        assert_eq!(l.encode(&n).unwrap(), b);
    }

    #[test]
    fn formats_1_and_2() {
        for format in [1u8, 2] {
            let l = Layout::new(format, VectorType::F32, VectorType::F32, 3, 256).unwrap();
            // 10-byte header: cap = (256 - 10 - 12) / 28 = 8, meta at 10 + 12 + 96
            assert_eq!(l.capacity(), 8);
            let mut b = l.new_block(-7, v(&[1., 2., 3.]).as_ref()).unwrap();
            l.node_mut(&mut b).unwrap().push_edge(9, 0.5, v(&[3., 2., 1.]).as_ref()).unwrap();
            assert_eq!(&b[10..22], v(&[1., 2., 3.]).to_blob().as_slice());
            assert_eq!(&b[22..34], v(&[3., 2., 1.]).to_blob().as_slice());
            let n = l.node(&b).unwrap();
            assert_eq!((n.id(), n.edge_id(0)), (-7, 9));
            // edge meta at 10 + 12 + 8 * 12 = 118: format 1 = rowid twice, format 2 = 0u32, f32, rowid
            assert_eq!(&b[126..134], &9u64.to_le_bytes());
            let head: [u8; 8] = if format == 1 { 9u64.to_le_bytes() } else { [0, 0, 0, 0, 0, 0, 0, 0x3F] };
            assert_eq!(&b[118..126], &head);
            assert_eq!(n.edge_distance(0), if format == 1 { None } else { Some(0.5) });
        }
        assert_eq!(Layout::new(4, VectorType::F32, VectorType::F32, 3, 256), Err(BlockError::Format(4)));
    }

    #[test]
    fn corrupt_blocks_are_errors() {
        let l = f32_3();
        let b = l.new_block(1, v(&[1., 2., 3.]).as_ref()).unwrap();
        assert_eq!(l.node(&b[..255]).unwrap_err(), BlockError::Length { actual: 255, expected: 256 });
        assert!(l.node(&[]).is_err());
        let mut long = b.clone();
        long.push(0);
        assert!(l.node(&long).is_err());
        let mut bad = b.clone();
        bad[8] = 9;
        assert_eq!(l.node(&bad).unwrap_err(), BlockError::TooManyEdges { count: 9, capacity: 8 });
        bad[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(l.node(&bad).is_err());
        assert!(Layout::new(3, VectorType::F32, VectorType::F32, 3, 50).is_err());
    }

    #[test]
    fn mutation() {
        let l = f32_3();
        let mut b = l.new_block(1, v(&[1., 0., 0.]).as_ref()).unwrap();
        let mut m = l.node_mut(&mut b).unwrap();
        for i in 0..8 {
            m.push_edge(10 + i, i as f32, v(&[i as f32, 1., 1.]).as_ref()).unwrap();
        }
        assert!(matches!(m.push_edge(99, 0., v(&[0., 0., 0.]).as_ref()), Err(BlockError::TooManyEdges { .. })));
        assert!(matches!(m.push_edge(99, 0., v(&[0., 0.]).as_ref()), Err(BlockError::Vector { .. })));
        m.remove_edge(2);
        let r = m.as_ref();
        assert_eq!((r.edge_count(), r.edge_id(2), r.edge_distance(2)), (7, 17, Some(7.0)));
        assert_eq!(r.find_edge(12), None);
        m.set_edges([(5, 1.0, v(&[5., 5., 5.]).data())]).unwrap();
        assert_eq!(m.as_ref().edge_count(), 1);
        // slots beyond the count are zeroed so equal graphs give equal bytes
        let fresh = {
            let mut f = l.new_block(1, v(&[1., 0., 0.]).as_ref()).unwrap();
            l.node_mut(&mut f).unwrap().push_edge(5, 1.0, v(&[5., 5., 5.]).as_ref()).unwrap();
            f
        };
        assert_eq!(b, fresh);
    }

    #[test]
    fn compressed_edges() {
        for (opt, ty) in [("float8", VectorType::F8), ("float1bit", VectorType::Bit1), ("float16", VectorType::F16)] {
            let c = Metadata::create("F32_BLOB(5)", &[&format!("compress_neighbors={opt}")]).unwrap().1;
            let l = Layout::from_config(&c).unwrap();
            let node = v(&[1., -2., 3., 0.5, -1.]);
            let edge = v(&[-1., 2., 0.25, 4., 1.]).convert(ty);
            let mut b = l.new_block(3, node.as_ref()).unwrap();
            l.node_mut(&mut b).unwrap().push_edge(4, 0.25, edge.as_ref()).unwrap();
            let n = l.decode(&b).unwrap();
            assert_eq!(n.vector, node);
            assert_eq!(n.edges[0].vector, edge, "{opt}");
            assert_eq!(l.encode(&n).unwrap(), b);
        }
    }
}
