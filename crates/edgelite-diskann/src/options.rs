//! Index options and the metadata blob, exactly as libSQL (docs/libsql-vector.md 3.1, 3.2, 3.4).
//!
//! `CREATE INDEX i ON t(libsql_vector_idx(v, 'metric=l2', ...))` goes through two steps, in
//! libSQL's order so that errors come out in the same order:
//! [`Metadata::parse`] (declared column type, then each `'key=value'` string) and
//! [`Metadata::finish_create`] (defaults, the 1-bit rule, the block size). The bridge checks the
//! table key between the two, as libSQL does. [`Metadata::create`] does both.
//!
//! The resulting bytes ([`Metadata::as_bytes`]) go to `libsql_vector_meta_shadow.metadata`;
//! opening an index reads them back with [`Metadata::from_bytes`] and [`Metadata::config`].
//!
//! # Metadata blob
//! A sequence of 9-byte records: one tag byte, then an 8-byte little-endian value (a u64, or the
//! bit pattern of an f64 for `alpha`). A reader takes the *last* record with a given tag; an absent
//! tag reads as 0. libSQL's buffer holds 128 bytes, so at most 14 records: libSQL refuses longer
//! blobs when opening, and edgelite must never write one.
//!
//! # edgelite tags
//! Tags [`tag::EDGELITE_FIRST`]`..=0xFF` are reserved for edgelite-only state
//! ([`Metadata::set_extension`]). libSQL reads only the tags it knows, so such records are
//! invisible to it and the file stays openable by libSQL, as long as the whole blob keeps within
//! the 128-byte (14-record) limit, which [`Metadata::set_extension`] enforces. Each edgelite tag
//! is listed in [`tag`] with the meaning of its value.

use edgelite_vector::{MAX_DIMS, Metric, VectorType, parse_column_type, parse_sqlite_float};

/// Record tags of the metadata blob (libSQL's `VECTOR_*_PARAM_ID`).
pub mod tag {
    /// Format version of the node blocks (1, 2 or 3).
    pub const FORMAT: u8 = 1;
    /// Index type; 1 = DiskANN, the only one.
    pub const INDEX_TYPE: u8 = 2;
    /// Column vector type id (1..=6).
    pub const VECTOR_TYPE: u8 = 3;
    /// Column dimensions.
    pub const DIMS: u8 = 4;
    /// Metric: 1 = cosine, 2 = L2.
    pub const METRIC: u8 = 5;
    /// Node block size in bytes; values `<= 128` are legacy units of 512 bytes.
    pub const BLOCK_SIZE: u8 = 6;
    /// Pruning factor alpha (f64 bit pattern).
    pub const ALPHA: u8 = 7;
    /// Candidate list size for inserts.
    pub const INSERT_L: u8 = 8;
    /// Candidate list size for searches.
    pub const SEARCH_L: u8 = 9;
    /// `max_neighbors` as given at creation (stored, ignored when opening).
    pub const MAX_NEIGHBORS: u8 = 10;
    /// Type id of the neighbour copies (`compress_neighbors`); absent = column type.
    pub const COMPRESS_NEIGHBORS: u8 = 11;
    /// First tag of the range reserved for edgelite-only records (see the module docs).
    pub const EDGELITE_FIRST: u8 = 0x80;
    /// edgelite: the index's write counter. Every insert or delete by edgelite adds one, in the
    /// writing statement, so a rollback takes it back: a connection's node cache keeps blocks
    /// only for the counter value they were read or written at (absent = 0).
    pub const EDGELITE_EPOCH: u8 = 0x80;
    /// edgelite: 1 if `search_l` was not given at creation, so the stored one is edgelite's
    /// default, which grows with the index ([`crate::IndexConfig::scaled_search_l`]). libSQL
    /// reads the stored value as it is.
    pub const EDGELITE_SCALED_SEARCH_L: u8 = 0x81;
}

/// Bytes of one metadata record.
pub const RECORD_SIZE: usize = 9;
/// libSQL's metadata buffer size: at most 14 records.
pub const METADATA_CAPACITY: usize = 128;
/// The node block format libSQL writes today.
pub const FORMAT_CURRENT: u8 = 3;
/// Largest node block libSQL accepts (128 MiB).
pub const MAX_BLOCK_SIZE: u64 = 128 * 1024 * 1024;
/// libSQL's default pruning factor: used for an index whose metadata has no alpha record (one
/// libSQL wrote); a new edgelite index gets [`EDGELITE_ALPHA`] unless `alpha` is given.
pub const DEFAULT_ALPHA: f64 = 1.2;
/// Default candidate list size for inserts (libSQL's and edgelite's).
pub const DEFAULT_INSERT_L: u64 = 70;
/// libSQL's default candidate list size for searches: used for an index whose metadata has no
/// search_l record; a new edgelite index gets [`EDGELITE_SEARCH_L`] unless `search_l` is given.
pub const DEFAULT_SEARCH_L: u64 = 200;

/// edgelite's pruning factor for a new index where `alpha` is not given: hnswlib's neighbour
/// heuristic. With the small degree of edgelite's default it keeps the near edges that recall
/// needs (minilm-20k, 18 neighbours: recall@10 0.980 at search_l 80 against 0.966 with 1.2;
/// `cargo run --release -p edgelite-benches --bin ann -- --no-libsql --alt alpha=1.2`).
///
/// Not for one-dimensional data ([`IndexConfig::one_dimensional`]), which gets libSQL's
/// [`DEFAULT_ALPHA`]: on a line (or a circle: two dimensions under cosine) a node's farther
/// neighbours on each side are all occluded by its nearest one at 1.0, the graph becomes a
/// chain, and every insert's search walks along it (inserts grow with the square of the rows).
/// Random 2-d rows under cosine, one INSERT each: 20,000 took 10.1 s at 1.0 and 3.7 s at 1.2,
/// 40,000 31.6 s and 9.0 s, with recall@10 0.98 and 0.86 at 1.0 against 1.00 at 1.2; 20,000
/// 1-d rows under l2 13.1 s and 3.4 s, recall 0.96 and 1.00. Three or more dimensions (two under
/// l2) gave recall 1.00 either way (`ORDER BY vector_distance_*(...) LIMIT 10` against `NOT
/// INDEXED`, 50 queries). `cargo run --release -p edgelite-benches --bin duplicates -- --only
/// 2-d [--alpha 1.0]` measures the 2-d case (40,000 rows: 8.3 s and recall 1.000 at the
/// default, 29.0 s and 0.786 at 1.0).
pub const EDGELITE_ALPHA: f64 = 1.0;
/// edgelite's candidate list size for searches of a new index where `search_l` is not given,
/// up to [`SCALED_SEARCH_L_FROM`] nodes; it grows past them ([`IndexConfig::scaled_search_l`]).
pub const EDGELITE_SEARCH_L: u64 = 100;
/// The fewest dimensions for which a new F32 index keeps f8 neighbour copies by default. An f8
/// copy stores its codes, padded to 4 bytes, and 8 bytes of scale and shift; below 16
/// dimensions it does not halve an edge's bytes (copy plus 16 bytes of metadata), and it is
/// not smaller than the f32 copy at all for 2 or 3. Its scale is the vector's own range over
/// 255, so at few dimensions it hides large differences: a 2-d copy of `[3.001, 1.001]` reads
/// back as `[3, 1]`, and a search among a few hundred rows within 0.001 of each other then
/// cannot tell which of them equal the query (the copies rank the candidates it visits). Such
/// an index keeps exact f32 copies, as libSQL does by default.
pub const F8_COPIES_FROM_DIMS: u32 = 16;

/// The node count past which edgelite's default search width grows.
pub const SCALED_SEARCH_L_FROM: usize = 20_000;

/// Block-size values up to this are legacy units of `1 << LEGACY_BLOCK_SHIFT` bytes.
const LEGACY_BLOCK_LIMIT: u64 = 128;
const LEGACY_BLOCK_SHIFT: u32 = 9;
/// Node and edge metadata bytes in format 3 (libSQL's `nodeOverhead` / `nodeEdgeOverhead`).
const META_OVERHEAD: u64 = 16;

/// Why one `'key=value'` option was refused; the text is libSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// No `=` in the option.
    #[error("unexpected parameter format")]
    UnexpectedFormat,
    /// Unknown key, or a value that matches none of the key's values.
    #[error("invalid parameter")]
    Invalid,
    /// An integer option that `atoi` reads as 0 (not a number, `0`, leading space, overflow).
    #[error("invalid representation of integer vector index parameter")]
    InvalidInteger,
    /// A negative integer option.
    #[error("integer vector index parameter must be positive")]
    NotPositive,
    /// A float option that is not a SQLite number.
    #[error("invalid representation of floating point vector index parameter")]
    InvalidFloat,
    /// The 128-byte buffer is full (integer option).
    #[error("unable to serialize integer vector index parameter")]
    SerializeInteger,
    /// The 128-byte buffer is full (float option).
    #[error("unable to serialize floating point vector index parameter")]
    SerializeFloat,
    /// The 128-byte buffer is full (enumerated option).
    #[error("unable to serialize vector index parameter")]
    Serialize,
}

/// A `CREATE INDEX` that libSQL would refuse; `Display` is libSQL's message (docs/libsql-vector.md 3.1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// The declared column type is not a vector type (`vector index: unexpected vector column
    /// type: TEXT`, ...).
    #[error(transparent)]
    ColumnType(edgelite_vector::Error),
    /// An option argument that is not a string literal (checked by the bridge, which sees the
    /// expression; the text lives here).
    #[error("vector index: all arguments after first must be strings")]
    NonStringArgument,
    /// One option refused.
    #[error("vector index: invalid vector index parameter '{param}': {reason}")]
    InvalidParameter {
        /// The option exactly as given.
        param: String,
        /// Why.
        reason: ParamError,
    },
    /// `compress_neighbors=float1bit` (or, in edgelite, a FLOAT1BIT column) with `metric=l2`.
    #[error("vector index: unable to initialize diskann: 1-bit compression available only for cosine metric")]
    Bit1RequiresCosine,
    /// The block would exceed 128 MiB, or the defaults no longer fit in the 128-byte buffer.
    #[error("vector index: unable to initialize diskann")]
    InitFailed,
}

/// Stored metadata that cannot be opened (edgelite texts; libSQL only says
/// `failed to parse vector index parameters` / `failed to open diskann index`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// More than 128 bytes (libSQL refuses these too).
    #[error("vector index: metadata of {0} bytes exceeds 128")]
    TooLong(usize),
    /// A required record is absent or 0.
    #[error("vector index: metadata lacks the {0}")]
    Missing(&'static str),
    /// A record holds a value this version does not know.
    #[error("vector index: metadata has an invalid {what}: {value}")]
    Invalid {
        /// Which record.
        what: &'static str,
        /// Its value.
        value: u64,
    },
    /// The block cannot hold the node and one edge, or exceeds 128 MiB.
    #[error(
        "vector index: metadata block size {block_size} does not fit a node ({node} bytes) and an edge ({edge} bytes)"
    )]
    BlockSize {
        /// Block size in bytes.
        block_size: u64,
        /// Node overhead (vector + metadata).
        node: u64,
        /// Edge overhead (vector copy + metadata).
        edge: u64,
    },
    /// [`Metadata::set_extension`] with a tag below [`tag::EDGELITE_FIRST`].
    #[error("vector index: tag {0} is not in edgelite's range")]
    NotExtensionTag(u8),
    /// Another record would exceed libSQL's 128-byte buffer.
    #[error("vector index: metadata is full (at most 14 records)")]
    Full,
}

/// The parameters of an opened index, decoded from its [`Metadata`] with libSQL's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexConfig {
    /// Node block format: 1, 2 or 3 (a stored 0 reads as 1, whose layout libSQL then uses).
    pub format: u8,
    /// Element type of the column (and of the node vectors).
    pub vector_type: VectorType,
    /// Dimensions.
    pub dims: u32,
    /// [`Metric::Cosine`] or [`Metric::L2`]. FLOAT1BIT vectors use Hamming under "cosine".
    pub metric: Metric,
    /// Element type of the neighbour copies (`compress_neighbors`, else the column type).
    pub edge_type: VectorType,
    /// Bytes of every node block.
    pub block_size: usize,
    /// Pruning factor (not range-checked, like libSQL).
    pub alpha: f64,
    /// Candidate list size for inserts.
    pub insert_l: usize,
    /// Default candidate list size for searches.
    pub search_l: usize,
    /// `max_neighbors` if it was given (0 otherwise); only informative, the block size rules.
    pub max_neighbors: u64,
}

impl IndexConfig {
    /// Bytes of a node's fixed part in format 3: vector data part + 16 (libSQL's `nodeOverhead`).
    pub fn node_overhead(vector_type: VectorType, dims: u32) -> u64 {
        vector_type.data_size(dims) as u64 + META_OVERHEAD
    }

    /// The search width of an index whose `search_l` is edgelite's default
    /// ([`tag::EDGELITE_SCALED_SEARCH_L`]), for `nodes` nodes: `base` up to
    /// [`SCALED_SEARCH_L_FROM`] nodes, then `base` times the cube root of how many times larger
    /// the index is (171 at 100,000 nodes, 369 at a million, for a base of 100). A greedy
    /// search needs a wider list to keep its recall as the graph grows. On 384-d text
    /// embeddings and the scaling benchmark's rows drawn between real neighbours (`ann
    /// --synthetic N --generator between`), recall@10 reached 0.98 at about L = 165 on 100,000
    /// rows (0.9795 at 159, 0.9835 at 190) and between L = 242 (0.957) and 400 (0.990) on a
    /// million: the cube root passes both, where the earlier quarter of `base` per doubling
    /// (159 and 242) fell short at a million.
    pub fn scaled_search_l(base: usize, nodes: usize) -> usize {
        if nodes <= SCALED_SEARCH_L_FROM {
            return base;
        }
        (base as f64 * (nodes as f64 / SCALED_SEARCH_L_FROM as f64).cbrt()).ceil() as usize
    }

    /// Whether vectors of `dims` dimensions under `metric` lie on a line or a circle: one
    /// dimension, or two under cosine (which sees only their direction). A new edgelite index
    /// of such vectors prunes with libSQL's alpha, not edgelite's ([`EDGELITE_ALPHA`]).
    pub fn one_dimensional(metric: Metric, dims: u32) -> bool {
        dims <= 1 || (dims == 2 && metric == Metric::Cosine)
    }

    /// Bytes per edge: neighbour copy + 16 bytes of edge metadata (`nodeEdgeOverhead`).
    pub fn edge_overhead(edge_type: VectorType, dims: u32) -> u64 {
        edge_type.data_size(dims) as u64 + META_OVERHEAD
    }

    /// edgelite's `max_neighbors` for a new index where it is not given: as many edges as keep
    /// the block within six times the node's own vector, between 16 and 32 (18 for 384 f32
    /// dimensions with f8 copies: 8,896-byte blocks, against libSQL's 84,016 for 60).
    pub fn edgelite_max_neighbors(vector_type: VectorType, edge_type: VectorType, dims: u32) -> u64 {
        let budget = 6 * vector_type.data_size(dims) as u64;
        (budget.saturating_sub(Self::node_overhead(vector_type, dims)) / Self::edge_overhead(edge_type, dims))
            .clamp(16, 32)
    }

    /// libSQL's default `max_neighbors`: `min(3·(⌊√D⌋+1), ⌊50·node/edge⌋+1)`.
    pub fn default_max_neighbors(vector_type: VectorType, edge_type: VectorType, dims: u32) -> u64 {
        let sqrt = f64::from(dims).sqrt() as u64;
        let by_dims = 3 * (sqrt + 1);
        let by_size = 50 * Self::node_overhead(vector_type, dims) / Self::edge_overhead(edge_type, dims) + 1;
        by_dims.min(by_size)
    }
}

/// The metadata blob: libSQL's `VectorIdxParams` (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    buf: Vec<u8>,
}

/// One option key: libSQL's `VECTOR_PARAM_NAMES` table, in its order (the order matters for
/// the prefix-matching quirk: `compress_neighbors=float` is float1bit).
enum Kind {
    Enum(&'static str, u64),
    Int,
    Float,
}

const PARAMS: [(&str, u8, Kind); 12] = [
    ("type", tag::INDEX_TYPE, Kind::Enum("diskann", 1)),
    ("metric", tag::METRIC, Kind::Enum("cosine", 1)),
    ("metric", tag::METRIC, Kind::Enum("l2", 2)),
    ("compress_neighbors", tag::COMPRESS_NEIGHBORS, Kind::Enum("float1bit", 3)),
    ("compress_neighbors", tag::COMPRESS_NEIGHBORS, Kind::Enum("float8", 4)),
    ("compress_neighbors", tag::COMPRESS_NEIGHBORS, Kind::Enum("float16", 5)),
    ("compress_neighbors", tag::COMPRESS_NEIGHBORS, Kind::Enum("floatb16", 6)),
    ("compress_neighbors", tag::COMPRESS_NEIGHBORS, Kind::Enum("float32", 1)),
    ("alpha", tag::ALPHA, Kind::Float),
    ("search_l", tag::SEARCH_L, Kind::Int),
    ("insert_l", tag::INSERT_L, Kind::Int),
    ("max_neighbors", tag::MAX_NEIGHBORS, Kind::Int),
];

/// The buffer already holds 14 records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Full;

impl Metadata {
    /// An empty blob.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// Wraps stored bytes. A trailing partial record is kept but never read (as libSQL).
    ///
    /// # Errors
    /// [`MetadataError::TooLong`] above 128 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metadata, MetadataError> {
        if bytes.len() > METADATA_CAPACITY {
            return Err(MetadataError::TooLong(bytes.len()));
        }
        Ok(Metadata { buf: bytes.to_vec() })
    }

    /// The bytes to store in `libsql_vector_meta_shadow.metadata`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The complete records, in stored order.
    pub fn records(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.buf.chunks_exact(RECORD_SIZE).map(|r| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&r[1..]);
            (r[0], u64::from_le_bytes(v))
        })
    }

    /// The value of the last record with `tag`, 0 if there is none.
    pub fn get_u64(&self, tag: u8) -> u64 {
        self.records().filter(|&(t, _)| t == tag).last().map_or(0, |(_, v)| v)
    }

    /// [`Self::get_u64`] read as an f64 bit pattern.
    pub fn get_f64(&self, tag: u8) -> f64 {
        f64::from_bits(self.get_u64(tag))
    }

    fn put(&mut self, tag: u8, value: u64) -> Result<(), Full> {
        if self.buf.len() + RECORD_SIZE > METADATA_CAPACITY {
            return Err(Full);
        }
        self.buf.push(tag);
        self.buf.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// Metadata of a pre-July-2024 index whose parameters live in the legacy
    /// `libsql_vector_index(name, vector_type, block_size, dims, distance_ops)` table: format 1,
    /// f32, cosine, and the table's block size (usually legacy 512-byte units) and dims.
    pub fn legacy(block_size: u64, dims: u64) -> Metadata {
        let mut m = Metadata::new();
        // six records always fit in 128 bytes
        for (t, v) in [
            (tag::FORMAT, 1),
            (tag::INDEX_TYPE, 1),
            (tag::VECTOR_TYPE, u64::from(VectorType::F32.id())),
            (tag::DIMS, dims),
            (tag::METRIC, 1),
            (tag::BLOCK_SIZE, block_size),
        ] {
            m.put(t, v).expect("invariant: six records fit in 128 bytes");
        }
        m
    }

    /// Steps 1-2 of `CREATE INDEX`: parses the declared column type (docs/libsql-vector.md 1.1) and the option
    /// strings (docs/libsql-vector.md 3.2), writing format, type and dims, then one record per option in the
    /// given order (repeated keys append again; the last one wins when read).
    ///
    /// # Errors
    /// [`OptionsError::ColumnType`], then [`OptionsError::InvalidParameter`] for the first bad
    /// option.
    pub fn parse(column_type: &str, options: &[&str]) -> Result<Metadata, OptionsError> {
        let (ty, dims) = parse_column_type(column_type).map_err(OptionsError::ColumnType)?;
        let mut m = Metadata::new();
        for (t, v) in [
            (tag::FORMAT, u64::from(FORMAT_CURRENT)),
            (tag::VECTOR_TYPE, u64::from(ty.id())),
            (tag::DIMS, u64::from(dims)),
        ] {
            m.put(t, v).expect("invariant: three records fit in 128 bytes");
        }
        for option in options {
            m.parse_option(option)
                .map_err(|reason| OptionsError::InvalidParameter { param: (*option).to_owned(), reason })?;
        }
        Ok(m)
    }

    /// libSQL's `parseVectorIdxParam`.
    fn parse_option(&mut self, option: &str) -> Result<(), ParamError> {
        let Some((key, value)) = option.split_once('=') else {
            return Err(ParamError::UnexpectedFormat);
        };
        for (name, t, kind) in &PARAMS {
            if !key.eq_ignore_ascii_case(name) {
                continue;
            }
            match kind {
                Kind::Int => {
                    let v = atoi(value.as_bytes());
                    if v == 0 {
                        return Err(ParamError::InvalidInteger);
                    }
                    if v < 0 {
                        return Err(ParamError::NotPositive);
                    }
                    return self.put(*t, v as u64).map_err(|Full| ParamError::SerializeInteger);
                }
                Kind::Float => {
                    let v = atof(value.as_bytes()).ok_or(ParamError::InvalidFloat)?;
                    return self.put(*t, v.to_bits()).map_err(|Full| ParamError::SerializeFloat);
                }
                Kind::Enum(text, v) => {
                    // sqlite3_strnicmp(listed, given, strlen(given)): the given text must be a
                    // case-insensitive prefix of the listed value (so "" matches the first one)
                    let given = value.as_bytes();
                    if given.len() <= text.len() && text.as_bytes()[..given.len()].eq_ignore_ascii_case(given) {
                        return self.put(*t, *v).map_err(|Full| ParamError::Serialize);
                    }
                }
            }
        }
        Err(ParamError::Invalid)
    }

    /// Step 3 of `CREATE INDEX` (libSQL's `diskAnnCreateIndex`): appends the index type, then
    /// the metric if absent, the block size, and alpha / insert_l / search_l where absent (or 0),
    /// and returns the opened configuration.
    ///
    /// edgelite deviation: a FLOAT1BIT *column* with `metric=l2` is refused with the same
    /// message as `compress_neighbors=float1bit` with l2; libSQL accepts it and then fails on
    /// every insert (L2 is undefined for 1-bit vectors).
    ///
    /// # Errors
    /// [`OptionsError::Bit1RequiresCosine`]; [`OptionsError::InitFailed`] if the block exceeds
    /// 128 MiB or the records no longer fit in 128 bytes.
    pub fn finish_create(&mut self) -> Result<IndexConfig, OptionsError> {
        let init = |Full| OptionsError::InitFailed;
        self.put(tag::INDEX_TYPE, 1).map_err(init)?;
        let ty = VectorType::from_id(self.get_u64(tag::VECTOR_TYPE) as u8)
            .filter(|t| u64::from(t.id()) == self.get_u64(tag::VECTOR_TYPE))
            .ok_or(OptionsError::InitFailed)?;
        let dims = self.get_u64(tag::DIMS);
        if dims == 0 || dims > u64::from(MAX_DIMS) {
            return Err(OptionsError::InitFailed);
        }
        let dims = dims as u32;
        let mut metric = self.get_u64(tag::METRIC);
        if metric == 0 {
            metric = 1;
            self.put(tag::METRIC, metric).map_err(init)?;
        }
        let compress = self.get_u64(tag::COMPRESS_NEIGHBORS);
        let bit1 = u64::from(VectorType::Bit1.id());
        if metric != 1 && (compress == bit1 || (compress == 0 && ty == VectorType::Bit1)) {
            return Err(OptionsError::Bit1RequiresCosine);
        }
        let edge_type = match compress {
            0 => ty,
            id => VectorType::from_id(id as u8).ok_or(OptionsError::InitFailed)?,
        };
        let mut max_neighbors = self.get_u64(tag::MAX_NEIGHBORS);
        if max_neighbors == 0 {
            max_neighbors = IndexConfig::default_max_neighbors(ty, edge_type, dims);
        }
        let block = IndexConfig::node_overhead(ty, dims)
            .saturating_add(max_neighbors.saturating_mul(IndexConfig::edge_overhead(edge_type, dims)));
        if block > MAX_BLOCK_SIZE {
            return Err(OptionsError::InitFailed);
        }
        self.put(tag::BLOCK_SIZE, block.max(256)).map_err(init)?;
        if self.get_f64(tag::ALPHA) == 0.0 {
            self.put(tag::ALPHA, DEFAULT_ALPHA.to_bits()).map_err(init)?;
        }
        if self.get_u64(tag::INSERT_L) == 0 {
            self.put(tag::INSERT_L, DEFAULT_INSERT_L).map_err(init)?;
        }
        if self.get_u64(tag::SEARCH_L) == 0 {
            self.put(tag::SEARCH_L, DEFAULT_SEARCH_L).map_err(init)?;
        }
        self.config().map_err(|_| OptionsError::InitFailed)
    }

    /// Sets edgelite's defaults for the options not given, as records, before
    /// [`Self::finish_create`] fills in libSQL's for the rest. Every value is written down, so
    /// libSQL opens the index with the same parameters. For an F32 column: f8 neighbour copies
    /// from [`F8_COPIES_FROM_DIMS`] dimensions on (f32 below), as many as
    /// [`IndexConfig::edgelite_max_neighbors`] says, [`EDGELITE_ALPHA`] and
    /// [`EDGELITE_SEARCH_L`]; other columns keep libSQL's defaults but alpha and search_l.
    ///
    /// On minilm-20k (384 dimensions) this makes the file 7x the raw vectors instead of 55x,
    /// at recall@10 0.98 for 18 neighbours where libSQL keeps 60 (docs/libsql-vector.md 3.2, 9).
    ///
    /// # Errors
    /// [`OptionsError::InitFailed`] if the records no longer fit in 128 bytes.
    pub fn edgelite_defaults(&mut self) -> Result<(), OptionsError> {
        let init = |Full| OptionsError::InitFailed;
        let ty = VectorType::from_id(self.get_u64(tag::VECTOR_TYPE) as u8).ok_or(OptionsError::InitFailed)?;
        let dims = u32::try_from(self.get_u64(tag::DIMS)).map_err(|_| OptionsError::InitFailed)?;
        if ty == VectorType::F32 && dims >= F8_COPIES_FROM_DIMS && self.get_u64(tag::COMPRESS_NEIGHBORS) == 0 {
            self.put(tag::COMPRESS_NEIGHBORS, u64::from(VectorType::F8.id())).map_err(init)?;
        }
        if ty == VectorType::F32 && self.get_u64(tag::MAX_NEIGHBORS) == 0 {
            let edge_type = VectorType::from_id(self.get_u64(tag::COMPRESS_NEIGHBORS) as u8).unwrap_or(ty);
            self.put(tag::MAX_NEIGHBORS, IndexConfig::edgelite_max_neighbors(ty, edge_type, dims)).map_err(init)?;
        }
        if self.get_f64(tag::ALPHA) == 0.0 {
            // an absent metric is cosine (finish_create)
            let metric = if self.get_u64(tag::METRIC) == 2 { Metric::L2 } else { Metric::Cosine };
            let alpha = if IndexConfig::one_dimensional(metric, dims) { DEFAULT_ALPHA } else { EDGELITE_ALPHA };
            self.put(tag::ALPHA, alpha.to_bits()).map_err(init)?;
        }
        if self.get_u64(tag::SEARCH_L) == 0 {
            self.put(tag::SEARCH_L, EDGELITE_SEARCH_L).map_err(init)?;
            self.set_extension(tag::EDGELITE_SCALED_SEARCH_L, 1).map_err(|_| OptionsError::InitFailed)?;
        }
        Ok(())
    }

    /// [`Self::parse`], [`Self::edgelite_defaults`], then [`Self::finish_create`]: what
    /// `CREATE INDEX` on edgelite writes.
    ///
    /// # Errors
    /// As the three steps.
    pub fn create_edgelite(column_type: &str, options: &[&str]) -> Result<(Metadata, IndexConfig), OptionsError> {
        let mut m = Metadata::parse(column_type, options)?;
        m.edgelite_defaults()?;
        let config = m.finish_create()?;
        Ok((m, config))
    }

    /// [`Self::parse`] then [`Self::finish_create`]: libSQL's metadata, byte for byte.
    ///
    /// ```
    /// use edgelite_diskann::Metadata;
    /// let (meta, config) = Metadata::create("F32_BLOB(3)", &[]).unwrap();
    /// assert_eq!(meta.as_bytes().len(), 81);
    /// assert_eq!((config.block_size, config.search_l), (256, 200));
    /// let e = Metadata::create("F32_BLOB(3)", &["metric=hamming"]).unwrap_err();
    /// assert_eq!(e.to_string(), "vector index: invalid vector index parameter 'metric=hamming': invalid parameter");
    /// ```
    ///
    /// # Errors
    /// As the two steps.
    pub fn create(column_type: &str, options: &[&str]) -> Result<(Metadata, IndexConfig), OptionsError> {
        let mut m = Metadata::parse(column_type, options)?;
        let config = m.finish_create()?;
        Ok((m, config))
    }

    /// Decodes the configuration as libSQL's `diskAnnOpenIndex` does: legacy block-size units,
    /// defaults for absent alpha / insert_l / search_l, neighbour type = column type unless
    /// compressed. Stricter than libSQL where libSQL would misbehave later: unknown type ids,
    /// metrics or formats, and blocks too small for one edge are errors.
    ///
    /// # Errors
    /// [`MetadataError`] naming the bad record.
    pub fn config(&self) -> Result<IndexConfig, MetadataError> {
        let format = match self.get_u64(tag::FORMAT) {
            // libSQL reads an absent format with the 10-byte node header of formats 1-2
            0 | 1 => 1,
            2 => 2,
            3 => 3,
            v => return Err(MetadataError::Invalid { what: "format version", value: v }),
        };
        let type_of = |t: u8, what: &'static str| match self.get_u64(t) {
            0 => Err(MetadataError::Missing(what)),
            v => u8::try_from(v).ok().and_then(VectorType::from_id).ok_or(MetadataError::Invalid { what, value: v }),
        };
        let vector_type = type_of(tag::VECTOR_TYPE, "vector type")?;
        let dims = match self.get_u64(tag::DIMS) {
            0 => return Err(MetadataError::Missing("dimensions")),
            d if d > u64::from(MAX_DIMS) => return Err(MetadataError::Invalid { what: "dimensions", value: d }),
            d => d as u32,
        };
        let metric = match self.get_u64(tag::METRIC) {
            0 => return Err(MetadataError::Missing("metric")),
            1 => Metric::Cosine,
            2 => Metric::L2,
            v => return Err(MetadataError::Invalid { what: "metric", value: v }),
        };
        let edge_type = match self.get_u64(tag::COMPRESS_NEIGHBORS) {
            0 => vector_type,
            _ => type_of(tag::COMPRESS_NEIGHBORS, "neighbour type")?,
        };
        let mut block = self.get_u64(tag::BLOCK_SIZE);
        if block <= LEGACY_BLOCK_LIMIT {
            block <<= LEGACY_BLOCK_SHIFT;
        }
        if block == 0 {
            return Err(MetadataError::Missing("block size"));
        }
        // formats 1-2 have a 10-byte node header, format 3 a 16-byte one
        let node = vector_type.data_size(dims) as u64 + if format == 3 { 16 } else { 10 };
        let edge = IndexConfig::edge_overhead(edge_type, dims);
        if block > MAX_BLOCK_SIZE || block < node + edge {
            return Err(MetadataError::BlockSize { block_size: block, node, edge });
        }
        // libSQL treats 0 (and so -0) as absent
        let alpha = self.get_f64(tag::ALPHA);
        let alpha = if alpha == 0.0 { DEFAULT_ALPHA } else { alpha };
        let list = |t: u8, default: u64| match self.get_u64(t) {
            0 => default,
            v => v,
        };
        // the candidate lists are allocated lazily, so a huge stored L costs nothing up front
        let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(IndexConfig {
            format,
            vector_type,
            dims,
            metric,
            edge_type,
            block_size: block as usize,
            alpha,
            insert_l: to_usize(list(tag::INSERT_L, DEFAULT_INSERT_L)),
            search_l: to_usize(list(tag::SEARCH_L, DEFAULT_SEARCH_L)),
            max_neighbors: self.get_u64(tag::MAX_NEIGHBORS),
        })
    }

    /// Appends (or, by the last-wins rule, overrides) an edgelite-only record.
    ///
    /// # Errors
    /// [`MetadataError::NotExtensionTag`] below [`tag::EDGELITE_FIRST`]; [`MetadataError::Full`]
    /// if the blob would exceed 128 bytes (which would make the index unreadable by libSQL).
    /// An existing record with the same tag is rewritten in place, so overriding never grows
    /// the blob.
    pub fn set_extension(&mut self, t: u8, value: u64) -> Result<(), MetadataError> {
        if t < tag::EDGELITE_FIRST {
            return Err(MetadataError::NotExtensionTag(t));
        }
        let existing = self.buf.chunks_exact_mut(RECORD_SIZE).filter(|r| r[0] == t).last();
        if let Some(record) = existing {
            record[1..].copy_from_slice(&value.to_le_bytes());
            return Ok(());
        }
        self.put(t, value).map_err(|Full| MetadataError::Full)
    }

    /// The value of an edgelite-only record, if present.
    pub fn extension(&self, t: u8) -> Option<u64> {
        self.records().filter(|&(r, _)| r == t).last().map(|(_, v)| v)
    }
}

/// SQLite's `sqlite3Atoi` (via `sqlite3GetInt32`): optional sign, or `0x` hex without sign;
/// leading zeros; at most 10 digits and within i32, else 0; trailing text ignored.
fn atoi(s: &[u8]) -> i32 {
    let mut i = 0;
    let mut neg = false;
    match s.first() {
        Some(b'-') => {
            neg = true;
            i = 1;
        }
        Some(b'+') => i = 1,
        Some(b'0') if matches!(s.get(1), Some(b'x' | b'X')) && s.get(2).is_some_and(u8::is_ascii_hexdigit) => {
            let mut j = 2;
            while s.get(j) == Some(&b'0') {
                j += 1;
            }
            let mut u: u32 = 0;
            let mut n = 0;
            while n < 8 && s.get(j + n).is_some_and(u8::is_ascii_hexdigit) {
                u = u * 16 + (s[j + n] as char).to_digit(16).unwrap_or(0);
                n += 1;
            }
            if u & 0x8000_0000 == 0 && !s.get(j + n).is_some_and(u8::is_ascii_hexdigit) {
                return u as i32;
            }
            return 0;
        }
        _ => {}
    }
    if !s.get(i).is_some_and(u8::is_ascii_digit) {
        return 0;
    }
    while s.get(i) == Some(&b'0') {
        i += 1;
    }
    let mut v: i64 = 0;
    let mut n = 0;
    while n < 11 && s.get(i + n).is_some_and(u8::is_ascii_digit) {
        v = v * 10 + i64::from(s[i + n] - b'0');
        n += 1;
    }
    if n > 10 || v - i64::from(neg) > i64::from(i32::MAX) {
        return 0;
    }
    (if neg { -v } else { v }) as i32
}

/// `sqlite3AtoF(...) > 0`: surrounding whitespace allowed, then a complete SQLite number.
fn atof(s: &[u8]) -> Option<f64> {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = s.iter().position(|c| !is_space(c))?;
    let end = s.iter().rposition(|c| !is_space(c)).map_or(start, |e| e + 1);
    parse_sqlite_float(&s[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_F32_3: &str = "01030000000000000003010000000000000004030000000000000002010000000000000005010000000000000006000100000000000007333333333333F33F08460000000000000009C800000000000000";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02X}")).collect()
    }

    fn err(column: &str, options: &[&str]) -> String {
        Metadata::create(column, options).unwrap_err().to_string()
    }

    #[test]
    fn default_blob_is_libsqls_81_bytes() {
        let (m, c) = Metadata::create("F32_BLOB(3)", &[]).unwrap();
        assert_eq!(m.as_bytes().len(), 81);
        assert_eq!(hex(m.as_bytes()), DEFAULT_F32_3);
        assert_eq!(
            c,
            IndexConfig {
                format: 3,
                vector_type: VectorType::F32,
                dims: 3,
                metric: Metric::Cosine,
                edge_type: VectorType::F32,
                block_size: 256,
                alpha: 1.2,
                insert_l: 70,
                search_l: 200,
                max_neighbors: 0,
            }
        );
        // reading the stored bytes back gives the same configuration
        assert_eq!(Metadata::from_bytes(m.as_bytes()).unwrap().config().unwrap(), c);
    }

    #[test]
    fn write_order_user_options_then_defaults() {
        let (m, c) = Metadata::create("FLOAT32(3)", &["search_l=5", "METRIC=L2", "alpha=1.5"]).unwrap();
        let tags: Vec<u8> = m.records().map(|(t, _)| t).collect();
        // format, type, dims, user options in order, index type, block, insert_l (metric,
        // alpha and search_l were given)
        assert_eq!(tags, [1, 3, 4, 9, 5, 7, 2, 6, 8]);
        assert_eq!((c.metric, c.alpha, c.search_l, c.insert_l), (Metric::L2, 1.5, 5, 70));
    }

    #[test]
    fn block_sizes_match_the_spec_table() {
        let block = |col: &str, opts: &[&str]| Metadata::create(col, opts).unwrap().1.block_size;
        assert_eq!(block("F32_BLOB(3)", &[]), 256);
        assert_eq!(block("F32_BLOB(128)", &[]), 19_536);
        assert_eq!(block("F32_BLOB(768)", &[]), 160_576);
        assert_eq!(block("F32_BLOB(1536)", &[]), 320_320);
        assert_eq!(block("F32_BLOB(1536)", &["compress_neighbors=float1bit"]), 31_120);
        assert_eq!(block("F32_BLOB(1536)", &["compress_neighbors=float8", "max_neighbors=20"]), 37_360);
        assert_eq!(block("F32_BLOB(65536)", &[]), 13_632_320);
        assert_eq!(IndexConfig::default_max_neighbors(VectorType::F32, VectorType::F32, 128), 36);
        assert_eq!(IndexConfig::default_max_neighbors(VectorType::F32, VectorType::F32, 768), 51);
        assert_eq!(IndexConfig::default_max_neighbors(VectorType::F32, VectorType::Bit1, 1536), 120);
    }

    #[test]
    fn option_quirks() {
        let get = |opts: &[&str], t: u8| Metadata::create("F32_BLOB(4)", opts).unwrap().0.get_u64(t);
        // prefix matching of enum values with the given length
        assert_eq!(get(&["metric=cos"], tag::METRIC), 1);
        assert_eq!(get(&["metric="], tag::METRIC), 1);
        assert_eq!(get(&["metric=L"], tag::METRIC), 2);
        assert_eq!(get(&["compress_neighbors=float"], tag::COMPRESS_NEIGHBORS), 3);
        assert_eq!(get(&["compress_neighbors=FLOAT16"], tag::COMPRESS_NEIGHBORS), 5);
        assert_eq!(get(&["compress_neighbors=floatb"], tag::COMPRESS_NEIGHBORS), 6);
        assert_eq!(get(&["compress_neighbors=float32"], tag::COMPRESS_NEIGHBORS), 1);
        assert_eq!(get(&["type=DISK"], tag::INDEX_TYPE), 1);
        // keys are case-insensitive; ints are atoi
        assert_eq!(get(&["Search_L=1.5"], tag::SEARCH_L), 1);
        assert_eq!(get(&["search_l=12abc"], tag::SEARCH_L), 12);
        assert_eq!(get(&["search_l=+7"], tag::SEARCH_L), 7);
        assert_eq!(get(&["search_l=0x10"], tag::SEARCH_L), 16);
        assert_eq!(get(&["search_l=007"], tag::SEARCH_L), 7);
        assert_eq!(get(&["search_l=2147483647"], tag::SEARCH_L), 2_147_483_647);
        // repeated keys: last wins
        assert_eq!(get(&["insert_l=5", "insert_l=9"], tag::INSERT_L), 9);
        assert_eq!(get(&["metric=l2", "metric=cosine"], tag::METRIC), 1);
        // alpha: SQLite float syntax with surrounding spaces; 0 falls back to the default
        let alpha = |a: &str| Metadata::create("F32_BLOB(4)", &[a]).unwrap().1.alpha;
        assert_eq!(alpha("alpha= 1.5 "), 1.5);
        assert_eq!(alpha("alpha=2"), 2.0);
        assert_eq!(alpha("alpha=.5e1"), 5.0);
        assert_eq!(alpha("alpha=0"), 1.2);
        assert_eq!(alpha("alpha=-1"), -1.0);
    }

    #[test]
    fn option_errors_have_libsqls_text() {
        let p = |opt: &str, why: &str| format!("vector index: invalid vector index parameter '{opt}': {why}");
        for (opt, why) in [
            ("metric", "unexpected parameter format"),
            ("", "unexpected parameter format"),
            ("metric=hamming", "invalid parameter"),
            ("metric=cosine2", "invalid parameter"),
            ("metrics=cosine", "invalid parameter"),
            ("=cosine", "invalid parameter"),
            ("type=ivf", "invalid parameter"),
            ("compress_neighbors=float64", "invalid parameter"),
            ("search_l=0", "invalid representation of integer vector index parameter"),
            ("search_l=abc", "invalid representation of integer vector index parameter"),
            ("search_l= 5", "invalid representation of integer vector index parameter"),
            ("search_l=", "invalid representation of integer vector index parameter"),
            ("insert_l=2147483648", "invalid representation of integer vector index parameter"),
            ("max_neighbors=99999999999", "invalid representation of integer vector index parameter"),
            ("search_l=0x80000000", "invalid representation of integer vector index parameter"),
            ("search_l=-5", "integer vector index parameter must be positive"),
            ("max_neighbors=-2147483647", "integer vector index parameter must be positive"),
            ("alpha=abc", "invalid representation of floating point vector index parameter"),
            ("alpha=", "invalid representation of floating point vector index parameter"),
            ("alpha=1e", "invalid representation of floating point vector index parameter"),
            ("alpha=1.2x", "invalid representation of floating point vector index parameter"),
        ] {
            assert_eq!(err("F32_BLOB(3)", &[opt]), p(opt, why), "{opt}");
        }
        // too many options: 3 fixed records + 11 options fill the 128-byte buffer
        let eleven = ["metric=cosine"; 11];
        assert!(Metadata::parse("F32_BLOB(3)", &eleven).is_ok());
        let mut twelve = eleven.to_vec();
        twelve.push("metric=l2");
        assert_eq!(err("F32_BLOB(3)", &twelve), p("metric=l2", "unable to serialize vector index parameter"));
        twelve[11] = "search_l=3";
        assert_eq!(err("F32_BLOB(3)", &twelve), p("search_l=3", "unable to serialize integer vector index parameter"));
        twelve[11] = "alpha=3";
        assert_eq!(
            err("F32_BLOB(3)", &twelve),
            p("alpha=3", "unable to serialize floating point vector index parameter")
        );
        // 11 options parse, but the defaults then no longer fit
        assert_eq!(err("F32_BLOB(3)", &eleven), "vector index: unable to initialize diskann");
        // column type errors come first and keep edgelite-vector's texts
        assert_eq!(err("TEXT", &["bad"]), "vector index: unexpected vector column type: TEXT");
        assert_eq!(
            err("FLOAT32(0)", &[]),
            "vector index: vector column must have non-zero dimension for index: FLOAT32(0)"
        );
        assert_eq!(err("FLOAT32(+3)", &[]), "vector index: non digit symbol in vector column parameter: FLOAT32(+3)");
        assert_eq!(err("FLOAT32(65537)", &[]), "vector index: max vector dimension exceeded: FLOAT32(65537)");
        assert_eq!(
            OptionsError::NonStringArgument.to_string(),
            "vector index: all arguments after first must be strings"
        );
    }

    #[test]
    fn one_bit_requires_cosine() {
        let msg = "vector index: unable to initialize diskann: 1-bit compression available only for cosine metric";
        assert_eq!(err("F32_BLOB(8)", &["compress_neighbors=float1bit", "metric=l2"]), msg);
        assert_eq!(err("F32_BLOB(8)", &["metric=l2", "compress_neighbors=float1bit"]), msg);
        // edgelite: a 1-bit column with l2 too
        assert_eq!(err("F1BIT_BLOB(8)", &["metric=l2"]), msg);
        assert!(Metadata::create("F32_BLOB(8)", &["compress_neighbors=float1bit"]).is_ok());
        assert!(Metadata::create("F1BIT_BLOB(8)", &[]).is_ok());
        // the last metric wins
        assert_eq!(err("F32_BLOB(8)", &["metric=cosine", "compress_neighbors=float1bit", "metric=l2"]), msg);
    }

    #[test]
    fn block_too_large() {
        assert_eq!(err("F32_BLOB(65536)", &["max_neighbors=1000"]), "vector index: unable to initialize diskann");
        assert!(Metadata::create("F32_BLOB(65536)", &["max_neighbors=100"]).is_ok());
    }

    #[test]
    fn reading_takes_the_last_record_and_legacy_units() {
        let mut m = Metadata::create("F32_BLOB(3)", &[]).unwrap().0;
        m.put(tag::SEARCH_L, 7).unwrap();
        assert_eq!(m.config().unwrap().search_l, 7);
        // legacy block size: values <= 128 are 512-byte units
        let legacy = Metadata::legacy(1, 3);
        let c = legacy.config().unwrap();
        assert_eq!(
            (c.format, c.block_size, c.metric, c.alpha, c.insert_l, c.search_l),
            (1, 512, Metric::Cosine, 1.2, 70, 200)
        );
        assert_eq!(Metadata::legacy(128, 3).config().unwrap().block_size, 65_536);
        assert_eq!(Metadata::legacy(129, 3).config().unwrap().block_size, 129);
        // trailing partial record ignored
        let mut bytes = Metadata::create("F32_BLOB(3)", &[]).unwrap().0.as_bytes().to_vec();
        bytes.extend_from_slice(&[9, 1, 2]);
        assert_eq!(Metadata::from_bytes(&bytes).unwrap().config().unwrap().search_l, 200);
        assert_eq!(Metadata::from_bytes(&[0; 129]).unwrap_err(), MetadataError::TooLong(129));
    }

    #[test]
    fn formats_and_bad_metadata() {
        let with = |t: u8, v: u64| {
            let mut m = Metadata::create("F32_BLOB(3)", &[]).unwrap().0;
            m.put(t, v).unwrap();
            m.config()
        };
        assert_eq!(with(tag::FORMAT, 2).unwrap().format, 2);
        assert_eq!(with(tag::FORMAT, 1).unwrap().format, 1);
        assert_eq!(with(tag::FORMAT, 0).unwrap().format, 1);
        assert!(matches!(with(tag::FORMAT, 4), Err(MetadataError::Invalid { .. })));
        assert!(matches!(with(tag::METRIC, 3), Err(MetadataError::Invalid { .. })));
        assert!(matches!(with(tag::METRIC, 0), Err(MetadataError::Missing("metric"))));
        assert!(matches!(with(tag::VECTOR_TYPE, 7), Err(MetadataError::Invalid { .. })));
        assert!(matches!(with(tag::DIMS, 65537), Err(MetadataError::Invalid { .. })));
        assert!(matches!(with(tag::COMPRESS_NEIGHBORS, 9), Err(MetadataError::Invalid { .. })));
        assert_eq!(with(tag::BLOCK_SIZE, 129).unwrap().block_size, 129);
        let mut m = Metadata::create("F32_BLOB(64)", &[]).unwrap().0;
        m.put(tag::BLOCK_SIZE, 543).unwrap();
        assert_eq!(m.config(), Err(MetadataError::BlockSize { block_size: 543, node: 272, edge: 272 }));
        assert!(matches!(with(tag::BLOCK_SIZE, MAX_BLOCK_SIZE + 1), Err(MetadataError::BlockSize { .. })));
        assert_eq!(with(tag::COMPRESS_NEIGHBORS, 4).unwrap().edge_type, VectorType::F8);
        assert!(matches!(Metadata::new().config(), Err(MetadataError::Missing(_))));
    }

    #[test]
    fn extension_records() {
        let mut m = Metadata::create("F32_BLOB(3)", &[]).unwrap().0;
        assert_eq!(m.set_extension(5, 1), Err(MetadataError::NotExtensionTag(5)));
        m.set_extension(0x80, 42).unwrap();
        assert_eq!(m.extension(0x80), Some(42));
        // overriding rewrites in place
        m.set_extension(0x80, 43).unwrap();
        assert_eq!((m.extension(0x80), m.as_bytes().len()), (Some(43), 90));
        // libSQL's view is unchanged
        assert_eq!(m.config().unwrap(), Metadata::create("F32_BLOB(3)", &[]).unwrap().1);
        for t in 0x81..0x85 {
            m.set_extension(t, 1).unwrap();
        }
        assert_eq!(m.as_bytes().len(), 126);
        assert_eq!(m.set_extension(0x90, 1), Err(MetadataError::Full));
    }

    #[test]
    fn atoi_matches_sqlite() {
        for (s, v) in [
            ("5", 5),
            ("-5", -5),
            ("+5", 5),
            ("0005", 5),
            ("5x", 5),
            (" 5", 0),
            ("", 0),
            ("-", 0),
            ("0x1F", 31),
            ("0X7fffffff", i32::MAX),
            ("0x", 0),
            ("-0x5", 0),
            ("2147483647", i32::MAX),
            ("-2147483648", i32::MIN),
            ("2147483648", 0),
            ("00000000002147483647", i32::MAX),
            ("12345678901", 0),
        ] {
            assert_eq!(atoi(s.as_bytes()), v, "{s:?}");
        }
    }

    #[test]
    fn the_default_search_width_grows_with_the_index() {
        assert_eq!(IndexConfig::scaled_search_l(100, 0), 100);
        assert_eq!(IndexConfig::scaled_search_l(100, 20_000), 100);
        assert_eq!(IndexConfig::scaled_search_l(100, 40_000), 126);
        assert_eq!(IndexConfig::scaled_search_l(100, 100_000), 171);
        assert_eq!(IndexConfig::scaled_search_l(100, 1_000_000), 369);
    }

    #[test]
    fn edgelite_defaults_are_written_down_and_yield_to_options() {
        let (m, c) = Metadata::create_edgelite("F32_BLOB(384)", &[]).unwrap();
        assert_eq!((c.edge_type, c.max_neighbors, c.block_size), (VectorType::F8, 18, 8896));
        assert_eq!((c.alpha, c.search_l, c.insert_l), (1.0, 100, 70));
        assert_eq!(m.extension(tag::EDGELITE_SCALED_SEARCH_L), Some(1), "the default search width grows");
        assert!(m.as_bytes().len() <= METADATA_CAPACITY);
        // libSQL reads the same parameters back from the records alone
        assert_eq!(Metadata::from_bytes(m.as_bytes()).unwrap().config().unwrap(), c);
        // given options win; float32 copies are libSQL's layout
        let (_, c) = Metadata::create_edgelite(
            "F32_BLOB(384)",
            &["compress_neighbors=float32", "alpha=1.2", "search_l=200", "max_neighbors=60"],
        )
        .unwrap();
        assert_eq!((c.edge_type, c.block_size, c.alpha, c.search_l), (VectorType::F32, 1552 + 60 * 1552, 1.2, 200));
        let (m, _) = Metadata::create_edgelite("F32_BLOB(384)", &["search_l=100"]).unwrap();
        assert_eq!(m.extension(tag::EDGELITE_SCALED_SEARCH_L), None, "a given search_l stays as given");
        // the 16..32 clamp, and other column types keep libSQL's neighbour layout
        assert_eq!(Metadata::create_edgelite("F32_BLOB(3)", &[]).unwrap().1.max_neighbors, 16);
        assert_eq!(Metadata::create_edgelite("F32_BLOB(4096)", &[]).unwrap().1.max_neighbors, 19);
        let (_, c) = Metadata::create_edgelite("F16_BLOB(64)", &[]).unwrap();
        assert_eq!((c.edge_type, c.search_l), (VectorType::F16, 100));
        // libSQL's own errors still come first
        let e = Metadata::create_edgelite("F32_BLOB(8)", &["metric=l2", "compress_neighbors=float1bit"]).unwrap_err();
        assert_eq!(e, OptionsError::Bit1RequiresCosine);
    }
}
