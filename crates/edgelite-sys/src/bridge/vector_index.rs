//! The vector index method table (`edgelite_vector_methods` in `sqlite3-src/ext/edgelite.h`):
//! libSQL's shadow tables and metadata, kept by SQL on the calling statement's connection, and
//! the DiskANN graph of `edgelite-diskann` over them.
//!
//! Objects, for index `i` in schema `s` (libSQL's format 3, byte for byte):
//! - `s.libsql_vector_meta_shadow(name TEXT PRIMARY KEY, metadata BLOB) WITHOUT ROWID`, one
//!   row per index: its option records;
//! - `s.i_shadow(index_key INTEGER PRIMARY KEY, data BLOB)`: one node block per indexed row,
//!   keyed by the base table's rowid (or, for a WITHOUT ROWID table, its one INTEGER key
//!   column), and the index `s.i_shadow_idx` on `index_key`;
//! - or, for a WITHOUT ROWID table with another one-column key, libSQL's second shape, where
//!   the node id is the shadow row's rowid and `index_key` holds the table's key (`keys.rs`).
//!
//! The storage names nodes by the shadow table's `rowid`, which is `index_key` in the first
//! shape (its INTEGER PRIMARY KEY) and the node id column in the second.

use core::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use edgelite_diskann::options::{Metadata, tag};
use edgelite_vector::sql::Arg;
use edgelite_vector::{Metric, VectorRef, VectorType, parse_text};

use super::build::ChargedReads;
use super::cache::{with_cache, with_state};
use super::keys::Key;
use super::sql::{DataVersion, Db, SqlError, SqlResult, ident};
use super::values::{Context, arg, int_value};
use crate::bindings::*;

/// A method called like an SQL function from a statement's VDBE program.
type XMethod = unsafe extern "C" fn(*mut sqlite3_context, c_int, *mut *mut sqlite3_value);

/// `struct edgelite_vector_methods` of `sqlite3-src/ext/edgelite.h`, field for field (version 3).
#[repr(C)]
pub struct edgelite_vector_methods {
    iVersion: c_int,
    xValidate: Option<unsafe extern "C" fn(*const c_char, c_int, *const *const c_char, *mut *mut c_char) -> c_int>,
    xCreate: Option<XMethod>,
    xInsert: Option<XMethod>,
    xDelete: Option<XMethod>,
    xDrop: Option<XMethod>,
    xClear: Option<XMethod>,
    xBuild: Option<XMethod>,
    xCheck: Option<XMethod>,
    xFlush: Option<XMethod>,
}

/// The table handed to the core; see edgelite.h for each method's contract.
static METHODS: edgelite_vector_methods = edgelite_vector_methods {
    iVersion: 3,
    xValidate: Some(x_validate),
    xCreate: Some(x_create),
    xInsert: Some(x_insert),
    xDelete: Some(x_delete),
    xDrop: Some(x_drop),
    xClear: Some(x_clear),
    xBuild: Some(x_build),
    xCheck: Some(x_check),
    xFlush: Some(x_flush),
};

/// Entry point named in edgelite.h: the method table.
#[unsafe(no_mangle)]
pub extern "C" fn edgelite_vector_index_methods() -> *const edgelite_vector_methods {
    &METHODS
}

const META_TABLE: &str = "libsql_vector_meta_shadow";

/// An index's name and schema, and the SQL names derived from them.
pub(crate) struct IndexName {
    pub schema: String,
    pub name: String,
}

impl IndexName {
    pub(crate) fn meta(&self) -> String {
        format!("{}.{META_TABLE}", ident(&self.schema))
    }
    pub(crate) fn shadow_name(&self) -> String {
        format!("{}_shadow", self.name)
    }
    pub(crate) fn shadow(&self) -> String {
        format!("{}.{}", ident(&self.schema), ident(&self.shadow_name()))
    }
}

unsafe extern "C" fn x_validate(
    col_type: *const c_char,
    n_opt: c_int,
    az_opt: *const *const c_char,
    pz_err: *mut *mut c_char,
) -> c_int {
    let checked = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the core passes a NUL-terminated declared type (possibly empty).
        let col_type = unsafe { cstr(col_type) };
        let n = usize::try_from(n_opt).unwrap_or(0);
        let pointers: &[*const c_char] = if n == 0 || az_opt.is_null() {
            &[]
        } else {
            // SAFETY: `az_opt` holds `n_opt` pointers (the core's contract).
            unsafe { core::slice::from_raw_parts(az_opt, n) }
        };
        // SAFETY: each is a NUL-terminated string (the core's contract).
        let options: Vec<String> = pointers.iter().map(|&p| unsafe { cstr(p) }).collect();
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        Metadata::create_edgelite(&col_type, &options).map(|_| ()).map_err(|e| e.to_string())
    }));
    let message = match checked {
        Ok(Ok(())) => return SQLITE_OK,
        Ok(Err(message)) => message,
        Err(_) => "vector index: internal error while checking options".to_owned(),
    };
    if !pz_err.is_null() {
        let len = c_int::try_from(message.len()).unwrap_or(c_int::MAX);
        // SAFETY: "%.*s" reads exactly `len` bytes of `message`.
        let copy = unsafe { sqlite3_mprintf(c"%.*s".as_ptr(), len, message.as_ptr().cast::<c_char>()) };
        // SAFETY: `pz_err` is the core's non-null out-pointer for the message.
        unsafe { *pz_err = copy };
    }
    SQLITE_ERROR
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null and NUL-terminated (caller).
    unsafe { core::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// A method's own arguments (after the schema and index names).
pub(crate) struct Args<'a> {
    values: Vec<Arg<'a>>,
    ints: Vec<Option<i64>>,
    /// The values themselves, live for the method's call (which `'a` is).
    raw: &'a [*mut sqlite3_value],
}

impl<'a> Args<'a> {
    fn text(&self, i: usize) -> String {
        match self.values.get(i) {
            Some(Arg::Text(t)) => String::from_utf8_lossy(t).into_owned(),
            _ => String::new(),
        }
    }
    fn int(&self, i: usize) -> SqlResult<i64> {
        self.ints
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| SqlError::from("vector index: the row key must be an integer"))
    }
    fn value(&self, i: usize) -> Arg<'a> {
        self.values.get(i).copied().unwrap_or(Arg::Null)
    }
    /// Argument `i` as a row key of a keyed index, copied.
    fn key(&self, i: usize) -> Key {
        match self.raw.get(i) {
            // SAFETY: a live argument of the running call (`raw`'s lifetime is the call's).
            Some(&v) => unsafe { super::values::key_value(v) },
            None => Key::Null,
        }
    }
    fn len(&self) -> usize {
        self.values.len()
    }
}

/// Runs one method: reads `argv` (schema, index, then the method's own arguments) and sets the
/// integer result; errors and panics become the statement's error.
///
/// # Safety
/// SQLite's xFunc arguments, passed through by the core's dispatch function.
unsafe fn method(
    ctx: *mut sqlite3_context,
    argc: c_int,
    argv: *mut *mut sqlite3_value,
    body: impl FnOnce(Db, IndexName, &Args<'_>) -> SqlResult<i64>,
) {
    // SAFETY: `ctx` is the running call's context.
    let context = unsafe { Context::new(ctx) };
    // SAFETY: `ctx` is the running call's context.
    let handle = unsafe { sqlite3_context_db_handle(ctx) };
    // SAFETY: the calling statement's connection outlives this call.
    let db = unsafe { Db::new(handle) };
    let values: &[*mut sqlite3_value] = match usize::try_from(argc) {
        // SAFETY: `argc` live arguments.
        Ok(n) if n >= 2 && !argv.is_null() => unsafe { core::slice::from_raw_parts(argv, n) },
        _ => {
            context.error("vector index: bad call");
            return;
        }
    };
    let all = Args {
        // SAFETY: live arguments of this call; the borrows end with it.
        values: values.iter().map(|&v| unsafe { arg(v) }).collect(),
        // SAFETY: as above.
        ints: values.iter().map(|&v| unsafe { int_value(v) }).collect(),
        raw: values,
    };
    let name = IndexName { schema: all.text(0), name: all.text(1) };
    let own = Args { values: all.values[2..].to_vec(), ints: all.ints[2..].to_vec(), raw: &values[2..] };
    match catch_unwind(AssertUnwindSafe(|| body(db, name, &own))) {
        Ok(Ok(v)) => context.int(v),
        Ok(Err(error)) => context.fail(&error),
        Err(_) => context.error("vector index: internal error"),
    }
}

unsafe extern "C" fn x_create(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |db: Db, index: IndexName, args: &Args<'_>| -> SqlResult<i64> {
        // args: table, column, column type, options...
        let column_type = args.text(2);
        let options: Vec<String> = (3..args.len()).map(|i| args.text(i)).collect();
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let (mut metadata, _config) = Metadata::create_edgelite(&column_type, &options).map_err(|e| e.to_string())?;
        // a new index's write counter starts at a fresh value, never at one a dropped index of the
        // same name could have had: after `DROP INDEX; CREATE INDEX; ROLLBACK` the cache would
        // otherwise hold the new index's blocks under the old one's tag (see cache.rs). An index
        // whose metadata has no room for it goes without (its blocks are cached only outside
        // write transactions).
        let _ = metadata.set_extension(tag::EDGELITE_EPOCH, fresh_epoch());
        super::build::forget(db, &index);
        db.exec(&format!(
            "CREATE TABLE IF NOT EXISTS {} ( name TEXT PRIMARY KEY, metadata BLOB ) WITHOUT ROWID",
            index.meta()
        ))?;
        let mut exists = db.prepare(&format!("SELECT 1 FROM {} WHERE name = ?1", index.meta()))?;
        exists.bind_text(1, &index.name)?;
        let has_meta = exists.step()?;
        drop(exists);
        let has_shadow = table_exists(db, &index.schema, &index.shadow_name())?;
        if has_meta && has_shadow {
            // A dump being loaded brought the metadata and the nodes: nothing to fill.
            return Ok(0);
        }
        // records an index of the same name left behind (libSQL's DROP INDEX leaves them)
        super::zeros::clear(db, &index)?;
        if !has_meta {
            let mut insert = db.prepare(&format!("INSERT INTO {} (name, metadata) VALUES (?1, ?2)", index.meta()))?;
            insert.bind_text(1, &index.name)?;
            insert.bind_blob(2, metadata.as_bytes())?;
            while insert.step()? {}
        }
        match super::keys::key_column_type(db, &index.schema, &args.text(0))? {
            Some(key_type) => super::keys::create_shadow(db, &index, &key_type)?,
            None => {
                db.exec(&format!(
                    "CREATE TABLE IF NOT EXISTS {} (index_key  INTEGER , data BLOB, PRIMARY KEY (index_key))",
                    index.shadow()
                ))?;
                db.exec(&format!(
                    "CREATE INDEX IF NOT EXISTS {}.{} ON {} (index_key)",
                    ident(&index.schema),
                    ident(&format!("{}_idx", index.shadow_name())),
                    ident(&index.shadow_name())
                ))?;
            }
        }
        Ok(1)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

/// A write counter no other index of this process or of another is likely to have had: a
/// randomly keyed hash of a process-wide counter and the time.
fn fresh_epoch() -> u64 {
    use std::hash::BuildHasher;
    use std::sync::atomic::{AtomicU64, Ordering};
    static CREATED: AtomicU64 = AtomicU64::new(0);
    let n = CREATED.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    std::collections::hash_map::RandomState::new().hash_one((n, now))
}

fn table_exists(db: Db, schema: &str, table: &str) -> SqlResult<bool> {
    let mut q =
        db.prepare(&format!("SELECT 1 FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1", ident(schema)))?;
    q.bind_text(1, table)?;
    q.step()
}

unsafe extern "C" fn x_drop(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    // The core drops the shadow table and the metadata row itself, in the dropping statement's
    // own program (a nested DROP TABLE would find that statement active). Nothing is cached
    // across calls but a build that failed half-way.
    let body = |db: Db, index: IndexName, _: &Args<'_>| -> SqlResult<i64> {
        super::build::forget(db, &index);
        super::txn::discard(db, &index);
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

unsafe extern "C" fn x_clear(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |db: Db, index: IndexName, _: &Args<'_>| -> SqlResult<i64> {
        super::build::forget(db, &index);
        super::txn::discard(db, &index);
        db.exec(&format!("DELETE FROM {}", index.shadow()))?;
        super::zeros::clear(db, &index)?;
        rewritten(db, &index)?;
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

/// After the shadow table was changed other than through the cache (emptied, or filled by a
/// build): drops the cached blocks and advances the write counter, so that neither this
/// connection's cache nor a rollback can bring back blocks of before.
pub(crate) fn rewritten(db: Db, index: &IndexName) -> SqlResult<()> {
    match open_index(db, index, "clear") {
        Ok((_, metadata)) => end_write(db, index, &metadata, epoch(&metadata).is_some()),
        Err(_) => {
            with_state(db, |c| c.forget(&(index.schema.clone(), index.name.clone())));
            Ok(())
        }
    }
}

/// The row keys of the nodes a keyed index's storage may insert, by node id (a build fills it
/// as rows come and its storages read it when they write the blocks out).
pub(crate) type KeyMap = std::rc::Rc<std::cell::RefCell<std::collections::HashMap<i64, Key>>>;

/// How the core names a row to an index: by an integer (the node id), or by a key that a keyed
/// index maps to a node (`keys.rs`).
pub(crate) enum RowKey {
    Id(i64),
    Key(Key),
}

/// A failure of the shadow table: SQLite's own error, code and message.
pub(crate) type ShadowError = SqlError;

/// A failed graph operation as the statement's error. Storage failures keep SQLite's code
/// (busy, locked, full, interrupted, I/O); a block that does not decode is `SQLITE_CORRUPT`, as
/// a page that does not decode is; the rest (bad arguments) are `SQLITE_ERROR`.
pub(crate) fn graph_error<E>(e: edgelite_diskann::GraphError<E>) -> SqlError
where
    E: std::error::Error,
    SqlError: From<E>,
{
    use edgelite_diskann::GraphError;
    match e {
        GraphError::Storage(e) => SqlError::from(e),
        e @ (GraphError::Corrupt { .. } | GraphError::WrongNode { .. }) => SqlError::new(SQLITE_CORRUPT, e.to_string()),
        e => SqlError::new(SQLITE_ERROR, e.to_string()),
    }
}

/// The graph's storage: node blocks in `<index>_shadow`, through statements prepared on first
/// use and finalized when this value is dropped (at the end of the call from SQLite, so no
/// statement outlives it and `sqlite3_close()` never finds one of ours open).
pub(crate) struct ShadowStorage {
    db: Db,
    table: String,
    /// Schema and bare name of the shadow table, for `sqlite3_blob_open`.
    names: (String, String),
    /// For partial writes ([`edgelite_diskann::Storage::update`]): a handle moved from row to row.
    blob: Option<super::sql::Blob>,
    /// For partial reads ([`edgelite_diskann::Storage::read_head`]): a read-only handle moved
    /// from row to row, and the bytes read.
    head: Option<(super::sql::Blob, Vec<u8>)>,
    /// The cache key, once the cache is synced (see `cache.rs`); with `write_through`, writes
    /// change the cached blocks too.
    cached: Option<(String, String)>,
    /// Where the cache holds the blocks of `cached`, once found ([`ShadowStorage::cached_block`]).
    at: Option<super::cache::BlocksAt>,
    write_through: bool,
    /// For a keyed index (`keys.rs`), the row keys of the nodes this storage may insert.
    keys: Option<KeyMap>,
    /// For searches: a statement left on its row, holding one read transaction (one snapshot)
    /// for the whole search. Declared before the others so that it is finalized first.
    pin: Option<super::sql::Stmt>,
    read: Option<super::sql::Stmt>,
    write: Option<super::sql::Stmt>,
    insert: Option<super::sql::Stmt>,
    delete: Option<super::sql::Stmt>,
    first: Option<super::sql::Stmt>,
    next: Option<super::sql::Stmt>,
    /// For [`edgelite_diskann::Storage::next_ids`].
    ids: Option<super::sql::Stmt>,
    last: Option<super::sql::Stmt>,
    /// The index's search seeds once drawn or found in the connection's cache (`cache.rs`), for
    /// the statement's later searches.
    seeds: Option<Arc<edgelite_diskann::Seeds>>,
    /// Whether the index is keyed (`keys.rs`), once looked up: a storage lives within one
    /// schema, so the answer holds as long as it does.
    keyed: Option<bool>,
    /// The data version a search outside write transactions reads at, with a node cache: the
    /// node count ([`Self::known_count`]) and a small index's rowids
    /// ([`edgelite_diskann::Storage::next_ids`]) are remembered in the cache at it.
    remembered_at: Option<DataVersion>,
}

impl ShadowStorage {
    pub(crate) fn new(db: Db, index: &IndexName) -> ShadowStorage {
        ShadowStorage {
            db,
            table: index.shadow(),
            names: (index.schema.clone(), index.shadow_name()),
            blob: None,
            head: None,
            cached: None,
            at: None,
            write_through: false,
            keys: None,
            pin: None,
            read: None,
            write: None,
            insert: None,
            delete: None,
            first: None,
            next: None,
            ids: None,
            last: None,
            seeds: None,
            keyed: None,
            remembered_at: None,
        }
    }
}

impl ShadowStorage {
    /// The row keys of the nodes this storage inserts (a keyed index).
    pub(crate) fn with_keys(mut self, keys: KeyMap) -> ShadowStorage {
        self.keys = Some(keys);
        self
    }

    /// The key map given by [`Self::with_keys`] (an empty one if none was).
    pub(crate) fn keys_mut(&mut self) -> std::cell::RefMut<'_, std::collections::HashMap<i64, Key>> {
        self.keys.get_or_insert_with(KeyMap::default).borrow_mut()
    }

    /// The row keys of nodes `ids`, if the index is keyed (`keys.rs`); `None` if nodes are
    /// named by the rows' own integer keys.
    pub(crate) fn keys_of(&mut self, ids: impl Iterator<Item = i64>) -> SqlResult<Option<Vec<Key>>> {
        let keyed = match self.keyed {
            Some(keyed) => keyed,
            None => *self.keyed.insert(super::keys::is_keyed(self.db, &self.names.0, &self.names.1)?),
        };
        if !keyed {
            return Ok(None);
        }
        super::keys::keys_of(self.db, &self.table, ids).map(Some)
    }

    /// Storage for a search, holding one snapshot: the calling statement's read transaction
    /// if the schema has one open (as any `SELECT ... FROM vector_top_k(...)` on main does;
    /// nothing else runs on this connection until the search returns), else its own, opened by
    /// leaving a statement on its row. `state` is the schema's `sqlite3_txn_state`. Call
    /// [`Self::use_cache`] once the metadata is known.
    pub(crate) fn for_search(db: Db, index: &IndexName, state: i32) -> SqlResult<ShadowStorage> {
        let mut storage = ShadowStorage::new(db, index);
        if state == SQLITE_TXN_NONE {
            let mut pin = match db.prepare(&format!("SELECT (SELECT 1 FROM {} LIMIT 1)", storage.table)) {
                Ok(pin) => pin,
                // no shadow table: libSQL's error for an index that does not exist, if that is it
                Err(e) => return Err(open_index(db, index, "search").err().unwrap_or(e)),
            };
            pin.step()?;
            storage.pin = Some(pin);
        }
        Ok(storage)
    }

    /// What this storage of a search reads as of, for a later batch of the same scan to take
    /// it over ([`Self::release`]) instead of opening the index again (a few microseconds: the
    /// name, the metadata, the cache's tag, the statement that pins a snapshot): `None` unless
    /// the schema's transaction is a read one, held by the calling statement. In one, nothing
    /// of the index can change but by a commit (which moves the data version; a rollback
    /// leaves the file as it was) or by a write of this connection's hooks, which retags the
    /// cached blocks or drops them (`cache.rs`); a storage is current while both are the same
    /// as when it was opened. Outside one, the data version is the pager's as of its last lock
    /// and says nothing; inside a write transaction the metadata is read afresh every time.
    pub(crate) fn stamp(&self) -> Option<SearchStamp> {
        if self.pin.is_some() || self.db.txn_state(&self.names.0) != SQLITE_TXN_READ {
            return None;
        }
        let version = self.db.data_version(&self.names.0)?;
        let tag = self.cached.as_ref().and_then(|key| with_cache(self.db, |c| c.tag(key)).flatten());
        Some(SearchStamp { version, tag })
    }

    /// Ends this storage's batch of reads: its statements are reset and its blob handle
    /// closed, so that none of them is left open between two steps of the calling statement.
    pub(crate) fn release(&mut self) {
        self.head = None;
        self.blob = None;
        for s in [&mut self.read, &mut self.write, &mut self.insert, &mut self.delete, &mut self.first]
            .into_iter()
            .chain([&mut self.next, &mut self.ids, &mut self.last])
            .flatten()
        {
            s.reset();
        }
    }

    /// Reads through the connection's node cache: always outside write transactions
    /// (`!writing`), inside them only if the index has a write counter (`epoch`; see
    /// `cache.rs` for why this is coherent). `block_size` is the index's (its metadata's).
    pub(crate) fn use_cache(&mut self, index: &IndexName, epoch: Option<u64>, block_size: usize, writing: bool) {
        if !writing || epoch.is_some() {
            self.cached = synced(self.db, index, epoch, block_size);
        }
    }

    /// Storage for an index hook that writes: through the node cache if the index has a write
    /// counter (`epoch`), which [`end_write`] then advances. `block_size` is the index's.
    pub(crate) fn for_write(db: Db, index: &IndexName, epoch: Option<u64>, block_size: usize) -> ShadowStorage {
        let mut storage = ShadowStorage::new(db, index);
        if epoch.is_some() {
            storage.cached = synced(db, index, epoch, block_size);
            storage.write_through = storage.cached.is_some();
        }
        storage
    }

    /// Writes the `runs` of `new` into row `id` in place through a blob handle; false if the
    /// handle cannot be had or a write fails (the caller then rewrites the whole row, so a
    /// partial failure leaves nothing half-written).
    fn write_runs(&mut self, id: i64, new: &[u8], runs: &[(usize, usize)]) -> SqlResult<bool> {
        // A handle that cannot be used here (no such row, a handle expired by another write) is
        // no failure: the caller rewrites the whole block. Anything else (busy, interrupted, a
        // transaction rolled back under us, a full disk) is the statement's error.
        let fall_back = |e: SqlError| if matches!(e.code, SQLITE_ERROR | SQLITE_ABORT) { Ok(false) } else { Err(e) };
        if let Some(Err(e)) = self.blob.as_mut().map(|b| b.reopen(self.db, id)) {
            self.blob = None;
            fall_back(e)?;
        }
        if self.blob.is_none() {
            match super::sql::Blob::open(self.db, &self.names.0, &self.names.1, "data", id, true) {
                Ok(b) => self.blob = Some(b),
                Err(e) => return fall_back(e),
            }
        }
        let Some(blob) = self.blob.as_mut() else { return Ok(false) };
        for &(a, b) in runs {
            if let Err(e) = blob.write(self.db, a, &new[a..b]) {
                self.blob = None;
                return fall_back(e);
            }
        }
        Ok(true)
    }

    /// Write-through to the cache, if this storage writes through.
    fn through(&self, f: impl FnOnce(&mut super::cache::NodeCache, &(String, String))) {
        if self.write_through
            && let Some(key) = &self.cached
        {
            with_cache(self.db, |c| f(c, key));
        }
    }
}

/// A search storage's view of its index ([`ShadowStorage::stamp`]): the data version and the
/// tag of the index's cached blocks (`None`: not read through the cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SearchStamp {
    version: DataVersion,
    tag: Option<(DataVersion, Option<u64>)>,
}

/// The cache key of `index`, its entries synced to the current data version and `epoch` (and
/// holding blocks of `block_size` bytes only); `None` if there is no cache or no data version.
fn synced(db: Db, index: &IndexName, epoch: Option<u64>, block_size: usize) -> Option<(String, String)> {
    let version = db.data_version(&index.schema)?;
    let key = (index.schema.clone(), index.name.clone());
    with_cache(db, |c| c.sync(&key, version, epoch, block_size))?;
    Some(key)
}

/// The index's write counter (metadata record `EDGELITE_EPOCH`, absent = 0), or `None` if the
/// metadata has no room for it.
pub(crate) fn epoch(metadata: &Metadata) -> Option<u64> {
    let current = metadata.extension(tag::EDGELITE_EPOCH).unwrap_or(0);
    metadata.clone().set_extension(tag::EDGELITE_EPOCH, current).ok().map(|()| current)
}

/// Ends a write by an index hook: on success advances the write counter in the metadata row
/// (inside the writing statement, so a rollback takes it back) and retags the cached blocks,
/// which the hook kept in step; on failure drops them (the statement is being rolled back).
pub(crate) fn end_write(db: Db, index: &IndexName, metadata: &Metadata, succeeded: bool) -> SqlResult<()> {
    let key = (index.schema.clone(), index.name.clone());
    let Some(current) = epoch(metadata).filter(|_| succeeded) else {
        with_state(db, |c| c.forget(&key));
        return Ok(());
    };
    let next = current.wrapping_add(1);
    let mut advanced = metadata.clone();
    advanced.set_extension(tag::EDGELITE_EPOCH, next).map_err(|e| e.to_string())?;
    let mut update = db.prepare(&format!("UPDATE {} SET metadata = ?2 WHERE name = ?1", index.meta()))?;
    update.bind_text(1, &index.name)?;
    update.bind_blob(2, advanced.as_bytes())?;
    if let Err(e) = update.step() {
        with_state(db, |c| c.forget(&key));
        return Err(e);
    }
    with_cache(db, |c| c.retag(&key, next));
    Ok(())
}

/// The cached statement in `slot`, prepared from `sql` on first use and reset for reuse.
fn stmt(db: Db, slot: &mut Option<super::sql::Stmt>, sql: impl FnOnce() -> String) -> SqlResult<&mut super::sql::Stmt> {
    if slot.is_none() {
        *slot = Some(db.prepare(&sql())?);
    }
    let stmt = slot.as_mut().expect("invariant: prepared just above");
    stmt.reset();
    Ok(stmt)
}

impl edgelite_diskann::Storage for ShadowStorage {
    type Error = ShadowError;

    fn read(&mut self, id: i64, buf: &mut Vec<u8>) -> Result<bool, ShadowError> {
        let found = self.read_with(id, |block| {
            buf.clear();
            buf.extend_from_slice(block);
        })?;
        Ok(found.is_some())
    }

    fn read_with<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, ShadowError> {
        let mut f = Some(f);
        let mut call = |block: &[u8]| f.take().map(|f| f(block));
        if let Some(Some(r)) = self.cached_block(id, &mut call) {
            return Ok(Some(r));
        }
        let table = &self.table;
        let s = stmt(self.db, &mut self.read, || format!("SELECT data FROM {table} WHERE rowid = ?1"))?;
        s.bind_int(1, id)?;
        if !s.step()? {
            return Ok(None);
        }
        let block = s.blob(0);
        if let Some(key) = &self.cached {
            with_cache(self.db, |c| c.put(key, id, block));
        }
        Ok(call(block))
    }

    /// From the cache if it holds the block; else only the first `len` bytes, through a blob
    /// handle: a block of 384 f32 dimensions with f8 copies is about 8.9 KB, two overflow pages
    /// that a node's rowid and vector never reach. Not cached (a part of a block), so the
    /// blocks a search reads whole keep their room.
    fn read_head<R>(&mut self, id: i64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>, ShadowError> {
        let mut f = Some(f);
        let mut call = |block: &[u8]| f.take().map(|f| f(block));
        if let Some(Some(r)) = self.cached_block(id, &mut call) {
            return Ok(Some(r));
        }
        // no such row (SQLITE_ERROR), or a handle expired by a write (SQLITE_ABORT): the row is
        // read whole instead, which tells a missing row apart; anything else is the statement's
        let fall_back = |e: SqlError| if matches!(e.code, SQLITE_ERROR | SQLITE_ABORT) { Ok(()) } else { Err(e) };
        let reopened = match self.head.as_mut() {
            Some((blob, _)) => blob.reopen(self.db, id),
            None => super::sql::Blob::open(self.db, &self.names.0, &self.names.1, "data", id, false)
                .map(|blob| self.head = Some((blob, Vec::new()))),
        };
        let read = reopened.and_then(|()| match self.head.as_mut() {
            Some((blob, buf)) => blob.read_start(self.db, len, buf),
            None => Ok(()),
        });
        match (read, self.head.as_ref()) {
            (Ok(()), Some((_, buf))) => Ok(call(buf)),
            (result, _) => {
                self.head = None;
                result.or_else(fall_back)?;
                Ok(self.read_with(id, |block| call(block))?.flatten())
            }
        }
    }

    fn peek(&mut self, id: i64, f: &mut dyn FnMut(&[u8])) {
        self.cached_block(id, f);
    }

    fn write(&mut self, id: i64, block: &[u8]) -> Result<(), ShadowError> {
        let table = &self.table;
        let s = stmt(self.db, &mut self.write, || format!("UPDATE {table} SET data = ?2 WHERE rowid = ?1"))?;
        s.bind_int(1, id)?;
        s.bind_blob(2, block)?;
        while s.step()? {}
        self.through(|c, key| c.store(key, id, block));
        Ok(())
    }

    fn update(&mut self, id: i64, old: &[u8], new: &[u8]) -> Result<(), ShadowError> {
        // the runs of changed 64-byte chunks; adding an edge changes the count, one edge copy
        // and its metadata
        const CHUNK: usize = 64;
        let mut runs: Vec<(usize, usize)> = Vec::new();
        if old.len() == new.len() {
            // compared a chunk at a time (slice equality is a memcmp); runs are whole chunks
            for (i, (a, b)) in old.chunks(CHUNK).zip(new.chunks(CHUNK)).enumerate() {
                if a != b {
                    let (start, end) = (i * CHUNK, i * CHUNK + b.len());
                    match runs.last_mut() {
                        Some(last) if last.1 == start => last.1 = end,
                        _ => runs.push((start, end)),
                    }
                }
            }
        }
        let changed: usize = runs.iter().map(|(a, b)| b - a).sum();
        if runs.is_empty() && old.len() == new.len() {
            return Ok(());
        }
        if old.len() != new.len() || changed * 2 > new.len() || !self.write_runs(id, new, &runs)? {
            return self.write(id, new);
        }
        self.through(|c, key| c.store(key, id, new));
        Ok(())
    }

    fn insert(&mut self, id: i64, block: &[u8]) -> Result<(), ShadowError> {
        if self.insert.is_none() && self.keys.is_none() && super::keys::is_keyed(self.db, &self.names.0, &self.names.1)?
        {
            // a node of a keyed index needs its row's key: a caller that gave none is wrong
            return Err(SqlError::new(SQLITE_INTERNAL, "vector index: a new node without its row key"));
        }
        let table = &self.table;
        let keyed = self.keys.is_some();
        let s = stmt(self.db, &mut self.insert, || {
            if keyed {
                format!("INSERT INTO {table} (rowid, data, index_key) VALUES (?1, ?2, ?3)")
            } else {
                format!("INSERT INTO {table} (rowid, data) VALUES (?1, ?2)")
            }
        })?;
        s.bind_int(1, id)?;
        s.bind_blob(2, block)?;
        if let Some(keys) = &self.keys {
            let keys = keys.borrow();
            let key = keys
                .get(&id)
                .ok_or_else(|| SqlError::new(SQLITE_INTERNAL, format!("vector index: no row key for node {id}")))?;
            key.bind(s, 3)?;
        }
        while s.step()? {}
        self.through(|c, key| c.store(key, id, block));
        Ok(())
    }

    fn delete(&mut self, id: i64) -> Result<bool, ShadowError> {
        let table = &self.table;
        let s = stmt(self.db, &mut self.delete, || format!("DELETE FROM {table} WHERE rowid = ?1 RETURNING 1"))?;
        s.bind_int(1, id)?;
        let deleted = s.step()?;
        while s.step()? {}
        self.through(|c, key| c.remove(key, id));
        Ok(deleted)
    }

    fn first_id(&mut self) -> Result<Option<i64>, ShadowError> {
        self.end_id(false)
    }

    fn next_id(&mut self, after: i64) -> Result<Option<i64>, ShadowError> {
        let table = &self.table;
        let s = stmt(self.db, &mut self.next, || {
            format!("SELECT rowid FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT 1")
        })?;
        s.bind_int(1, after)?;
        Ok(if s.step()? { Some(s.int(0)) } else { None })
    }

    fn next_ids(&mut self, after: i64, n: usize, out: &mut Vec<i64>) -> Result<(), ShadowError> {
        if let Some(ids) = self.listed()? {
            let from = ids.partition_point(|&id| id <= after);
            out.extend(ids[from..].iter().take(n));
            return Ok(());
        }
        let table = &self.table;
        let s = stmt(self.db, &mut self.ids, || {
            format!("SELECT rowid FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2")
        })?;
        s.bind_int(1, after)?;
        s.bind_int(2, i64::try_from(n).unwrap_or(i64::MAX))?;
        while s.step()? {
            out.push(s.int(0));
        }
        Ok(())
    }

    fn last_id(&mut self) -> Result<Option<i64>, ShadowError> {
        self.end_id(true)
    }

    fn seeds(&mut self) -> Option<Arc<edgelite_diskann::Seeds>> {
        if self.seeds.is_none() {
            self.seeds = with_cache(self.db, |c| c.seeds(&self.names)).flatten();
        }
        self.seeds.clone()
    }

    fn keep_seeds(&mut self, seeds: &Arc<edgelite_diskann::Seeds>) {
        self.seeds = Some(Arc::clone(seeds));
        with_cache(self.db, |c| c.set_seeds(&self.names, Arc::clone(seeds)));
    }
}

impl ShadowStorage {
    /// Every node's rowid in order, from the cache's memory of them, listed once per data
    /// version for an index of at most [`super::cache::MAX_LISTED`] nodes (as its count says);
    /// `None` for a larger one, inside a write transaction, or without a node cache.
    fn listed(&self) -> Result<Option<Arc<[i64]>>, ShadowError> {
        let (Some(key), Some(version)) = (&self.cached, self.remembered_at) else { return Ok(None) };
        if let Some(ids) = with_cache(self.db, |c| c.ids(key, version)).flatten() {
            return Ok(Some(ids));
        }
        if self.known_count()?.is_none_or(|n| n > super::cache::MAX_LISTED) {
            return Ok(None);
        }
        let mut list = self.db.prepare(&format!("SELECT rowid FROM {} ORDER BY rowid", self.table))?;
        let mut ids = Vec::new();
        while list.step()? {
            ids.push(list.int(0));
        }
        let ids: Arc<[i64]> = ids.into();
        with_cache(self.db, |c| c.set_ids(key, version, Arc::clone(&ids)));
        Ok(Some(ids))
    }

    /// The index's node count at the data version this search reads, counted once per data
    /// version and remembered in the connection's node cache; `None` inside a write
    /// transaction, or without a node cache (`edgelite_vector_cache_limit(0)`), where each call
    /// would count them again (a `count(*)` of the shadow table's rowids: about 50
    /// microseconds for 20,000 nodes, thousands of pages for a million).
    pub(crate) fn known_count(&self) -> SqlResult<Option<usize>> {
        let (Some(key), Some(version)) = (&self.cached, self.remembered_at) else { return Ok(None) };
        if let Some(n) = with_cache(self.db, |c| c.count(key, version)).flatten() {
            return Ok(Some(n));
        }
        let n = count_rows(self.db, &self.table)?;
        with_cache(self.db, |c| c.set_count(key, version, n));
        Ok(Some(n))
    }

    /// `f` of block `id` if the connection's cache holds it (the index's entry found by its
    /// place, [`super::cache::BlocksAt`], and by name when that is stale); `None` if it does
    /// not, or this storage does not read through the cache.
    #[inline]
    fn cached_block<R>(&mut self, id: i64, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let key = self.cached.as_ref()?;
        let at = &mut self.at;
        with_cache(self.db, |c| {
            let block = match at.map(|a| c.get_at(a, id)) {
                Some(Ok(block)) => block,
                _ => {
                    *at = c.blocks_at(key);
                    at.and_then(|a| c.get_at(a, id).ok().flatten())
                }
            };
            block.map(f)
        })
        .flatten()
    }

    /// The lowest rowid (the entry point), or with `last` the highest (where the search seeds
    /// end): from the connection's cache where it knows it, else read and remembered there.
    fn end_id(&mut self, last: bool) -> Result<Option<i64>, ShadowError> {
        if let Some(key) = &self.cached
            && let Some(Some(id)) = with_cache(self.db, |c| if last { c.last(key) } else { c.first(key) })
        {
            return Ok(id);
        }
        let table = &self.table;
        let (slot, order) = if last { (&mut self.last, " DESC") } else { (&mut self.first, "") };
        let s = stmt(self.db, slot, || format!("SELECT rowid FROM {table} ORDER BY rowid{order} LIMIT 1"))?;
        let id = if s.step()? { Some(s.int(0)) } else { None };
        if let Some(key) = &self.cached {
            with_cache(self.db, |c| if last { c.set_last(key, id) } else { c.set_first(key, id) });
        }
        Ok(id)
    }
}

/// The index's configuration, from its metadata row.
fn open_config(db: Db, index: &IndexName, context: &str) -> SqlResult<edgelite_diskann::IndexConfig> {
    open_index(db, index, context).map(|(config, _)| config)
}

/// The index's configuration and metadata, from its metadata row.
pub(crate) fn open_index(
    db: Db,
    index: &IndexName,
    context: &str,
) -> SqlResult<(edgelite_diskann::IndexConfig, Metadata)> {
    let unknown = || SqlError::from(format!("vector index({context}): failed to parse vector index parameters"));
    // A schema without the metadata table fails to prepare: the index does not exist either.
    // A busy or locked schema keeps its code (the caller may retry).
    let mut q = db
        .prepare(&format!("SELECT metadata FROM {} WHERE name = ?1", index.meta()))
        .map_err(|e| if e.code & 0xff == SQLITE_ERROR { unknown() } else { e })?;
    q.bind_text(1, &index.name)?;
    if !q.step()? {
        return Err(unknown());
    }
    let bytes = q.bytes(0);
    let metadata = Metadata::from_bytes(&bytes).map_err(|_| unknown())?;
    let config = metadata.config().map_err(|_| unknown())?;
    Ok((config, metadata))
}

/// Decodes a vector argument for the index: TEXT is f32 (as libSQL), a BLOB as it is. The graph
/// checks its type and dimension against the index's, with libSQL's messages.
pub(crate) fn decode_vector(value: Arg<'_>) -> SqlResult<edgelite_vector::Vector> {
    let decoded = match value {
        Arg::Text(t) => parse_text(t, VectorType::F32),
        Arg::Blob(b) => VectorRef::from_blob(b).map(|v| v.to_vector()),
        Arg::Null => Err(edgelite_vector::Error::UnexpectedValueType("NULL")),
        Arg::Integer => Err(edgelite_vector::Error::UnexpectedValueType("INTEGER")),
        Arg::Float => Err(edgelite_vector::Error::UnexpectedValueType("FLOAT")),
    };
    decoded.map_err(|e| SqlError::from(e.to_string()))
}

/// The graph for an index whose configuration was read from its metadata.
pub(crate) fn graph(config: edgelite_diskann::IndexConfig) -> SqlResult<edgelite_diskann::DiskAnn> {
    edgelite_diskann::DiskAnn::new(config)
        .map_err(|e| SqlError::from(format!("vector index: unable to initialize diskann: {e}")))
}

unsafe extern "C" fn x_insert(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |db: Db, index: IndexName, args: &Args<'_>| -> SqlResult<i64> {
        // args: vector, rowid (or the row's key, for a keyed index). A NULL vector has no node
        // (as libSQL).
        if matches!(args.value(0), Arg::Null) {
            return Ok(0);
        }
        let row_key = |keyed: bool| if keyed { Ok(RowKey::Key(args.key(1))) } else { args.int(1).map(RowKey::Id) };
        let is_keyed = || super::keys::is_keyed(db, &index.schema, &index.shadow_name());
        let vector = decode_vector(args.value(0))?;
        // a vector whose distance is always NULL (zeros.rs): vector_scan returns its row first.
        // Recorded once the row is in (or held back for) the index: a row refused for its
        // dimensions must leave no record, and a one-row INSERT has no statement journal
        let (null_cos, null_l2) = super::zeros::always_null_under(vector.as_ref());
        let record = || -> SqlResult<()> {
            // (no metadata read for a vector that is NULL under neither metric)
            if null_cos || null_l2 {
                let null = match open_config(db, &index, "insert")?.metric {
                    Metric::L2 => null_l2,
                    _ => null_cos,
                };
                if null && !is_keyed()? {
                    super::zeros::mark(db, &index, args.int(1)?)?;
                }
            }
            Ok(())
        };
        if args.len() >= 3 && args.int(2) == Ok(1) {
            let key = row_key(is_keyed()?)?;
            if super::build::add(db, &index, key, vector.as_ref(), || graph(open_config(db, &index, "insert")?))? {
                // SAFETY: this call's context, of a statement of `db`.
                unsafe { super::build::watch(ctx, db, &index) };
            }
            record()?;
            return Ok(0);
        }
        // held back until the transaction needs it (txn.rs), if it can be
        let vector = match super::txn::hold(db, &index, vector, row_key, is_keyed, || {
            graph(open_config(db, &index, "insert")?)
        })? {
            super::txn::Held::Kept => {
                record()?;
                return Ok(0);
            }
            super::txn::Held::Insert(vector) => vector,
        };
        let key = row_key(is_keyed()?)?;
        let (config, metadata) = open_index(db, &index, "insert")?;
        let graph = graph(config)?;
        let mut storage = ShadowStorage::for_write(db, &index, epoch(&metadata), graph.config().block_size);
        let rowid = match key {
            RowKey::Id(id) => id,
            RowKey::Key(key) => {
                let id = super::keys::next_id(db, &index)?;
                storage = storage.with_keys(KeyMap::default());
                storage.keys_mut().insert(id, key);
                id
            }
        };
        let inserted = ChargedReads::insert(&mut storage, graph.layout().block_size())
            .and_then(|mut charged| graph.insert(&mut charged, rowid, vector.as_ref()).map_err(graph_error));
        drop(storage);
        end_write(db, &index, &metadata, inserted.is_ok())?;
        inserted?;
        record()?;
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

unsafe extern "C" fn x_delete(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |db: Db, index: IndexName, args: &Args<'_>| -> SqlResult<i64> {
        // the row may be among those held back (txn.rs): they go in first
        super::txn::before_use(db, &index)?;
        let keyed = super::keys::is_keyed(db, &index.schema, &index.shadow_name())?;
        let rowid = if keyed {
            match super::keys::id_of(db, &index, &args.key(0))? {
                Some(id) => id,
                None => return Ok(0), // a row without a vector has no node
            }
        } else {
            args.int(0)?
        };
        let (config, metadata) = open_index(db, &index, "delete")?;
        let graph = graph(config)?;
        let mut storage = ShadowStorage::for_write(db, &index, epoch(&metadata), graph.config().block_size);
        let deleted = graph.delete(&mut ChargedReads::buffers(&mut storage), rowid).map_err(graph_error);
        drop(storage);
        end_write(db, &index, &metadata, deleted.is_ok())?;
        deleted?;
        // its record goes once the node has (as it is written once the node is in: x_insert)
        if !keyed {
            super::zeros::unmark(db, &index, rowid)?;
        }
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

unsafe extern "C" fn x_flush(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    // a statement about to read the shadow table: it must find the rows held back (txn.rs).
    // Most such statements are the index's own block reads, run often and with nothing held
    // back: answered before the arguments are read (reading them cost a deep filtered walk a
    // fifth of its speed)
    // SAFETY: `ctx` is the running call's context.
    let handle = unsafe { sqlite3_context_db_handle(ctx) };
    // SAFETY: the calling statement's connection outlives this call.
    if super::txn::nothing_held(unsafe { Db::new(handle) }) {
        // SAFETY: `ctx` is the running call's context.
        unsafe { Context::new(ctx) }.int(0);
        return;
    }
    let body = |db: Db, index: IndexName, _: &Args<'_>| -> SqlResult<i64> {
        super::txn::before_use(db, &index)?;
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

unsafe extern "C" fn x_build(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let body = |db: Db, index: IndexName, _: &Args<'_>| -> SqlResult<i64> {
        super::build::finish(db, &index)?;
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) }
}

/// `PRAGMA integrity_check` of one index: NULL if sound, else what is wrong, as one line.
fn check(db: Db, index: &IndexName) -> SqlResult<Option<String>> {
    let name = &index.name;
    // What is wrong with the index is the report; a check that could not run (busy, locked,
    // interrupted, out of memory, I/O) fails with its code instead, as integrity_check does.
    let could_not_run = |e: &SqlError| !matches!(e.code & 0xff, SQLITE_ERROR | SQLITE_CORRUPT);
    let config = match open_config(db, index, "check") {
        Ok(config) => config,
        Err(e) if could_not_run(&e) => return Err(e),
        Err(_) => return Ok(Some(format!("vector index {name}: missing or unreadable metadata"))),
    };
    let metric = config.metric;
    let mut storage = ShadowStorage::new(db, index);
    let graph = graph(config)?;
    // the check keeps every node's edge list (8 bytes an edge, in a map) until it ends: charged
    // at the most a block holds, to the budget of the scope. Blocks written into the shadow
    // table with every slot filled made a tenant's check of 1,200 nodes hold 2.2 GB that its
    // budget never saw (a review, session 45)
    let kept = u64::try_from(graph.layout().capacity()).unwrap_or(u64::MAX).saturating_mul(8).saturating_add(64);
    let report = match graph.check(&mut ChargedReads::each(&mut storage, kept)).map_err(graph_error) {
        Ok(report) => report,
        Err(e) if could_not_run(&e) => return Err(e),
        Err(e) => return Ok(Some(format!("vector index {name}: {e}"))),
    };
    let mut problems = Vec::new();
    let mut list = |what: &str, ids: Vec<String>| {
        if let Some(first) = ids.first() {
            problems.push(format!("{} {what} (first: {first})", ids.len()));
        }
    };
    // Edges to missing nodes, self and repeated edges are not reported: libSQL leaves the
    // first behind on every delete, and searches skip all three. A node no search can reach
    // is a row the index has lost.
    list("unreachable nodes", report.unreachable.iter().map(i64::to_string).collect());
    drop(storage);
    // every node must stand for a row of the table
    let mut table = db.prepare(&format!(
        "SELECT tbl_name FROM {}.sqlite_schema WHERE type = 'index' AND name = ?1",
        ident(&index.schema)
    ))?;
    table.bind_text(1, name)?;
    if table.step()? {
        let table_name = String::from_utf8_lossy(&table.bytes(0)).into_owned();
        let key = table_key(db, &index.schema, &table_name)?;
        let mut orphans = db.prepare(&format!(
            "SELECT count(*), min(index_key) FROM {} WHERE index_key NOT IN (SELECT {key} FROM {}.{})",
            index.shadow(),
            ident(&index.schema),
            ident(&table_name)
        ))?;
        if orphans.step()? && orphans.int(0) > 0 {
            // (the first key as text: a keyed index's keys need not be integers)
            let first = String::from_utf8_lossy(&orphans.text_bytes(1)).into_owned();
            problems.push(format!("{} nodes without a row (first: {first})", orphans.int(0)));
        }
        drop(orphans);
        // and every row with a vector must have a node (one of a partial index's rows)
        let mut sql = db.prepare(&format!(
            "SELECT sql FROM {}.sqlite_schema WHERE type = 'index' AND name = ?1",
            ident(&index.schema)
        ))?;
        sql.bind_text(1, name)?;
        let indexed = if sql.step()? { index_column(&String::from_utf8_lossy(&sql.bytes(0))) } else { None };
        drop(sql);
        if let Some((column, filter)) = indexed {
            let filter = filter.map_or(String::new(), |w| format!(" AND ({w})"));
            let mut missing = db.prepare(&format!(
                "SELECT count(*), min({key}) FROM {}.{} WHERE {column} IS NOT NULL{filter} \
                 AND {key} NOT IN (SELECT index_key FROM {})",
                ident(&index.schema),
                ident(&table_name),
                index.shadow()
            ))?;
            if missing.step()? && missing.int(0) > 0 {
                let first = String::from_utf8_lossy(&missing.text_bytes(1)).into_owned();
                problems.push(format!("{} rows without a node (first: {first})", missing.int(0)));
            }
            drop(missing);
            // and the rows whose vector's distance is always NULL must be the ones recorded
            // (zeros.rs): a file libSQL wrote such rows into, or changed recorded ones in, needs
            // a REINDEX for the planner to rank them first
            if !super::keys::is_keyed(db, &index.schema, &index.shadow_name())? {
                let recorded = super::zeros::recorded(db, index)?;
                // the rows whose distance to themselves is NULL include every such one
                let function = match metric {
                    Metric::L2 => "vector_distance_l2",
                    _ => "vector_distance_cos",
                };
                let mut zero_rows = db.prepare(&format!(
                    "SELECT {key}, {column} FROM {}.{} WHERE {column} IS NOT NULL{filter} \
                     AND {function}({column}, {column}) IS NULL ORDER BY 1",
                    ident(&index.schema),
                    ident(&table_name),
                ))?;
                let mut zeros = Vec::new();
                while zero_rows.step()? {
                    let text = zero_rows.column_type(1) == SQLITE_TEXT;
                    let raw = if text { zero_rows.text_bytes(1) } else { zero_rows.bytes(1) };
                    let value = if text { Arg::Text(&raw) } else { Arg::Blob(&raw) };
                    if decode_vector(value).is_ok_and(|v| super::zeros::always_null(v.as_ref(), metric)) {
                        zeros.push(zero_rows.int(0));
                    }
                }
                drop(zero_rows);
                let unrecorded: Vec<i64> =
                    zeros.iter().copied().filter(|id| recorded.binary_search(id).is_err()).collect();
                if let Some(first) = unrecorded.first() {
                    problems.push(format!("{} zero or NaN vectors not recorded (first: {first})", unrecorded.len()));
                }
                let stale: Vec<i64> = recorded.iter().copied().filter(|id| zeros.binary_search(id).is_err()).collect();
                if let Some(first) = stale.first() {
                    problems.push(format!(
                        "{} records of rows that are not zero or NaN vectors (first: {first})",
                        stale.len()
                    ));
                }
            }
        }
    }
    Ok((!problems.is_empty()).then(|| format!("vector index {name}: {}", problems.join(", "))))
}

/// The indexed column of a vector index, as its `CREATE INDEX` text writes it (an SQL
/// identifier, quoted or not), and a partial index's WHERE clause; `None` if the text is not of
/// the `libsql_vector_idx(column, ...)` form.
fn index_column(sql: &str) -> Option<(String, Option<String>)> {
    let bytes = sql.as_bytes();
    let lower = sql.to_ascii_lowercase();
    let call = lower.find("libsql_vector_idx")? + "libsql_vector_idx".len();
    let skip_space = |mut i: usize| {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let open = skip_space(call);
    if bytes.get(open) != Some(&b'(') {
        return None;
    }
    let start = skip_space(open + 1);
    let end = match *bytes.get(start)? {
        q @ (b'"' | b'`' | b'[') => {
            let close = if q == b'[' { b']' } else { q };
            // a doubled quote stands for itself
            let mut i = start + 1;
            loop {
                match *bytes.get(i)? {
                    c if c == close && bytes.get(i + 1) == Some(&close) && q != b'[' => i += 2,
                    c if c == close => break i + 1,
                    _ => i += 1,
                }
            }
        }
        _ => {
            let mut i = start;
            while bytes.get(i).is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80) {
                i += 1;
            }
            i
        }
    };
    if end == start {
        return None;
    }
    let column = sql[start..end].to_owned();
    // the call's closing parenthesis, then the column list's; quotes and strings skipped
    let (mut depth, mut i, mut quote) = (1i32, open + 1, None::<u8>);
    while depth > -1 {
        let c = *bytes.get(i)?;
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                b'\'' | b'"' | b'`' => quote = Some(c),
                b'[' => quote = Some(b']'),
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    let rest = sql[i..].trim_start();
    let filter = (rest.get(..5).is_some_and(|w| w.eq_ignore_ascii_case("where"))
        && rest.as_bytes().get(5).is_some_and(|c| !c.is_ascii_alphanumeric() && *c != b'_'))
    .then(|| rest[5..].trim().to_owned());
    Some((column, filter))
}

/// The SQL for the node ids of `schema.table`'s rows: `rowid`, or the one INTEGER key
/// column of a WITHOUT ROWID table (the only kind CREATE INDEX accepts).
fn table_key(db: Db, schema: &str, table: &str) -> SqlResult<String> {
    let mut key = db.prepare(&format!(
        "SELECT i.name FROM pragma_table_info(?2, ?1) AS i WHERE i.pk = 1 AND {}",
        super::keys::WITHOUT_ROWID
    ))?;
    key.bind_text(1, schema)?;
    key.bind_text(2, table)?;
    Ok(if key.step()? { ident(&String::from_utf8_lossy(&key.bytes(0))) } else { "rowid".to_owned() })
}

unsafe extern "C" fn x_check(ctx: *mut sqlite3_context, argc: c_int, argv: *mut *mut sqlite3_value) {
    let mut found = None;
    let body = |db: Db, index: IndexName, _: &Args<'_>| -> SqlResult<i64> {
        super::txn::before_use(db, &index)?;
        found = Some(check(db, &index)?);
        Ok(0)
    };
    // SAFETY: SQLite's xFunc arguments, passed through.
    unsafe { method(ctx, argc, argv, body) };
    // `found` is set only if the method succeeded: then its integer result becomes the report
    // SAFETY: `ctx` is the running call's context.
    let context = unsafe { Context::new(ctx) };
    match found {
        Some(Some(message)) => context.text(&message),
        Some(None) => context.null(), // nothing to report
        None => {}
    }
}

/// The index a search names: `schema.index` or `index` (in main). A schema's name may hold a
/// dot too (`ATTACH ... AS "a.b"`): the first prefix before a dot that names a schema is the
/// schema. The schema may also be quoted as an SQL identifier, `"a.b".index` (`""` for a quote
/// in it), which is how the planner's rewrite names the index: unquoted, `main.x.i` is both
/// index `x.i` of main and index `i` of an attached `main.x`, and the first reading took the
/// wrong table's index.
fn search_name(db: Db, name: &str) -> SqlResult<IndexName> {
    if let Some((schema, index)) = quoted_schema(name) {
        if db.has_schema(&schema) {
            return Ok(IndexName { schema, name: index.to_owned() });
        }
        return Err(format!("vector index(search): unknown schema '{schema}'").into());
    }
    for (at, _) in name.match_indices('.') {
        if db.has_schema(&name[..at]) {
            return Ok(IndexName { schema: name[..at].to_owned(), name: name[at + 1..].to_owned() });
        }
    }
    match name.split_once('.') {
        Some((schema, _)) => Err(format!("vector index(search): unknown schema '{schema}'").into()),
        None => Ok(IndexName { schema: "main".to_owned(), name: name.to_owned() }),
    }
}

/// `"schema".index` split into the schema (unquoted) and the index; `None` if `name` is not of
/// that form.
fn quoted_schema(name: &str) -> Option<(String, &str)> {
    let rest = name.strip_prefix('"')?;
    let mut schema = String::new();
    let mut chars = rest.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '"' {
            schema.push(c);
            continue;
        }
        if rest[at + 1..].starts_with('"') {
            schema.push('"');
            chars.next();
            continue;
        }
        return rest[at + 1..].strip_prefix('.').map(|index| (schema, index));
    }
    None
}

/// The number of nodes of index `name` (as [`open_search`] names it).
///
/// # Safety
/// `db` is a live connection.
pub(crate) unsafe fn node_count(db: *mut sqlite3, name: &str) -> SqlResult<usize> {
    // SAFETY: valid for this call (caller).
    let db = unsafe { Db::new(db) };
    let index = search_name(db, name)?;
    super::txn::before_use(db, &index)?;
    let version = (db.txn_state(&index.schema) != SQLITE_TXN_WRITE).then(|| db.data_version(&index.schema)).flatten();
    remembered_count(db, &index, version)
}

/// The nodes of index `name` (as [`open_search`] names it) whose vectors' distance is always
/// NULL, which a rowid-keyed index keeps aside (`zeros.rs`); empty for a keyed one.
///
/// # Safety
/// `db` is a live connection.
pub(crate) unsafe fn directionless(db: *mut sqlite3, name: &str) -> SqlResult<Vec<i64>> {
    // SAFETY: valid for this call (caller).
    let db = unsafe { Db::new(db) };
    let index = search_name(db, name)?;
    // remembered as the metadata is, outside write transactions (a statement each per search,
    // where most indexes have none)
    let key = (index.schema.clone(), index.name.clone());
    let writing = db.txn_state(&index.schema) == SQLITE_TXN_WRITE;
    let version = (!writing).then(|| db.data_version(&index.schema)).flatten();
    if let Some(ids) = version.and_then(|v| with_cache(db, |c| c.directionless(&key, v).map(<[i64]>::to_vec)).flatten())
    {
        return Ok(ids);
    }
    let ids = if super::keys::is_keyed(db, &index.schema, &index.shadow_name())? {
        Vec::new()
    } else {
        super::zeros::marked(db, &index)?
    };
    if version.is_some() {
        with_cache(db, |c| c.set_directionless(&key, &ids));
    }
    Ok(ids)
}

pub(crate) fn count_nodes(db: Db, index: &IndexName) -> SqlResult<usize> {
    count_rows(db, &index.shadow())
}

/// The rows of `table` (a quoted shadow table name).
fn count_rows(db: Db, table: &str) -> SqlResult<usize> {
    let mut count = db.prepare(&format!("SELECT count(*) FROM {table}"))?;
    count.step()?;
    Ok(usize::try_from(count.int(0)).unwrap_or(0))
}

/// A search's view of index `name` (`schema.index` or `index`): its storage, holding one
/// snapshot (see [`ShadowStorage::for_search`]), and its graph.
///
/// # Safety
/// `db` is a live connection, valid for the life of the returned storage.
pub(crate) unsafe fn open_search(
    db: *mut sqlite3,
    name: &str,
) -> SqlResult<(ShadowStorage, edgelite_diskann::DiskAnn)> {
    // SAFETY: valid for this call (caller).
    let db = unsafe { Db::new(db) };
    let index = search_name(db, name)?;
    // rows this transaction holds back go in first (txn.rs)
    super::txn::before_use(db, &index)?;
    // The snapshot first: the data version is current only inside a transaction.
    let state = db.txn_state(&index.schema);
    let writing = state == SQLITE_TXN_WRITE;
    let mut storage = ShadowStorage::for_search(db, &index, state)?;
    // Outside write transactions the metadata read by the last search stands while the data
    // version does (changing it takes a commit); inside them it is read every time.
    let key = (index.schema.clone(), index.name.clone());
    let version = (!writing).then(|| db.data_version(&index.schema)).flatten();
    let remembered = version
        .and_then(|v| with_cache(db, |c| c.metadata(&key, v).map(<[u8]>::to_vec)).flatten())
        .and_then(|bytes| Metadata::from_bytes(&bytes).ok());
    let fresh = remembered.is_none();
    let (config, metadata) = match remembered.map(|m| m.config().map(|c| (c, m))) {
        Some(Ok(opened)) => opened,
        _ => open_index(db, &index, "search")?,
    };
    storage.use_cache(&index, epoch(&metadata), config.block_size, writing);
    let remember = version.is_some() && storage.cached.is_some();
    storage.remembered_at = version.filter(|_| remember);
    if fresh && remember {
        with_cache(db, |c| c.set_metadata(&key, metadata.as_bytes()));
    }
    let base = config.search_l;
    let mut graph = graph(config)?;
    // edgelite's default search width grows with the index (a search_l given at creation does
    // not)
    if metadata.extension(tag::EDGELITE_SCALED_SEARCH_L) == Some(1) {
        let nodes = remembered_count(db, &index, version.filter(|_| remember))?;
        graph.set_search_l(edgelite_diskann::IndexConfig::scaled_search_l(base, nodes));
    }
    Ok((storage, graph))
}

/// The node count of `index`, remembered as its metadata is, outside write transactions:
/// `version` is the data version it is remembered at, `None` to count afresh and not remember
/// (a write transaction, or a connection without a node cache).
fn remembered_count(db: Db, index: &IndexName, version: Option<DataVersion>) -> SqlResult<usize> {
    let key = (index.schema.clone(), index.name.clone());
    if let Some(n) = version.and_then(|v| with_cache(db, |c| c.count(&key, v)).flatten()) {
        return Ok(n);
    }
    let n = count_nodes(db, index)?;
    if let Some(v) = version {
        with_cache(db, |c| c.set_count(&key, v, n));
    }
    Ok(n)
}

/// What a search found: (node id, distance) nearest first, and for a keyed index (`keys.rs`)
/// the row key of each.
pub(crate) type Found = (Vec<(i64, f64)>, Option<Vec<Key>>);

/// `vector_top_k(name, query, k)`: the `k` nearest rows as (rowid, distance).
///
/// # Safety
/// `db` is a live connection.
pub(crate) unsafe fn search(db: *mut sqlite3, name: &str, query: Arg<'_>, k: usize) -> SqlResult<Found> {
    // SAFETY: `db` is live (caller).
    let (mut storage, graph) = unsafe { open_search(db, name) }?;
    let vector = decode_vector(query)?;
    let found = graph.search(&mut storage, vector.as_ref(), k).map_err(graph_error)?;
    let keys = storage.keys_of(found.iter().map(|n| n.id))?;
    Ok((found.into_iter().map(|n| (n.id, f64::from(n.distance))).collect(), keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn edgelite_vector_methods_layout(out: *mut c_int, n: c_int) -> c_int;
    }

    /// The Rust mirror of `struct edgelite_vector_methods` has the C compiler's layout: its
    /// size and every field's offset, as `sqlite3-src/ext/edgelite.c` reports them.
    #[test]
    fn the_method_table_mirror_has_the_c_layout() {
        use core::mem::{offset_of, size_of};
        type M = edgelite_vector_methods;
        let rust = [
            size_of::<M>(),
            offset_of!(M, iVersion),
            offset_of!(M, xValidate),
            offset_of!(M, xCreate),
            offset_of!(M, xInsert),
            offset_of!(M, xDelete),
            offset_of!(M, xDrop),
            offset_of!(M, xClear),
            offset_of!(M, xBuild),
            offset_of!(M, xCheck),
            offset_of!(M, xFlush),
            // the header's version: the table's own must be it
            METHODS.iVersion as usize,
        ];
        let mut c = [0 as c_int; 16];
        // SAFETY: the function writes at most `n` ints into the buffer and returns how many
        // values it has.
        let n = unsafe { edgelite_vector_methods_layout(c.as_mut_ptr(), c.len() as c_int) };
        let c: Vec<usize> = c[..n as usize].iter().map(|&v| v as usize).collect();
        assert_eq!(c, rust, "edgelite.h and the Rust mirror disagree (a field added to one only, or a new version?)");
    }
}
