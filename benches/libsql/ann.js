// libSQL's own engine (npm `libsql`, pinned in tests/libsql/package.json) running the ANN
// workload of src/bin/ann.rs on a prefix of minilm-20k: fill the items table in one
// transaction, CREATE INDEX ... libsql_vector_idx, then time vector_top_k at the index's own
// search_l and at each search_l of the curve (rewritten in libsql_vector_meta_shadow, no
// rebuild), and the exact SQL scan. With <inserts> = 1 it also builds the index the other way,
// in a second file (<db path>-b): CREATE INDEX on the empty table, then the rows inserted in one
// transaction (as slow as the first way in libSQL, whose CREATE INDEX inserts row by row).
// Prints one JSON object.
//
// usage: node ann.js <dataset dir> <db path> <rows> <queries> <repeats> <k> <search_l,...> <inserts 0|1>
//          [index option...]
'use strict';
const fs = require('fs');
const path = require('path');
const MODULE = path.join(__dirname, '..', '..', 'tests', 'libsql', 'node_modules', 'libsql');
const Database = require(MODULE);
const PACKAGE_VERSION = require(path.join(MODULE, 'package.json')).version;

const [dir, dbPath, rows, nq, repeats, k, curve, inserts, ...options] = process.argv.slice(2);
const ROWS = Number(rows);
const NQ = Number(nq);
const REPEATS = Number(repeats);
const K = Number(k);
const CURVE = curve === '' ? [] : curve.split(',').map(Number);
const DIMS = 384;
const ROW = DIMS * 4;

const base = fs.readFileSync(path.join(dir, 'base.f32'));
const queries = fs.readFileSync(path.join(dir, 'queries.f32'));
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
const quote = (s) => `'${s.replace(/'/g, "''")}'`;

let db = new Database(dbPath);
const version = db.prepare('SELECT sqlite_version()').raw().get()[0];

let t = process.hrtime.bigint();
db.exec(`CREATE TABLE items(id INTEGER PRIMARY KEY, emb F32_BLOB(${DIMS}))`);
const insert = db.prepare('INSERT INTO items(id, emb) VALUES (?, ?)');
function fill(stmt) {
  db.exec('BEGIN');
  for (let id = 0; id < ROWS; id++) {
    // an f32 vector blob is the raw little-endian floats, exactly the file's bytes
    stmt.run([id, base.subarray(id * ROW, (id + 1) * ROW)]);
  }
  db.exec('COMMIT');
}
fill(insert);
const insertMs = ms(t);
const tableBytes = fs.statSync(dbPath).size;

const optionSql = ["'metric=cosine'", ...options.map(quote)].join(', ');
const CREATE_INDEX = `CREATE INDEX items_idx ON items (libsql_vector_idx(emb, ${optionSql}))`;
t = process.hrtime.bigint();
db.exec(CREATE_INDEX);
const indexMs = ms(t);
db.close();
const fileBytes = fs.statSync(dbPath).size;
db = new Database(dbPath);

const META_SQL = "SELECT metadata FROM libsql_vector_meta_shadow WHERE name = 'items_idx'";
const metadata = db.prepare(META_SQL).raw().get()[0];

function run(sql) {
  const stmt = db.prepare(sql).raw();
  // parameters as an array: a lone Buffer argument is taken for named parameters and panics
  // inside libsql-js 0.5.29
  const query = (q) => stmt.all([queries.subarray(q * ROW, (q + 1) * ROW)]);
  for (let q = 0; q < NQ; q++) query(q); // untimed warm-up pass, as in ann.rs
  const repeatMs = [];
  let ids = [];
  for (let rep = 0; rep < REPEATS; rep++) {
    const out = [];
    const t0 = process.hrtime.bigint();
    for (let q = 0; q < NQ; q++) {
      const found = query(q);
      out.push(found.map((row) => Number(row[0])));
    }
    repeatMs.push(ms(t0));
    ids = out;
  }
  return { repeat_ms: repeatMs, ids };
}

const TOP_K = `SELECT id FROM vector_top_k('items_idx', ?, ${K})`;
const atDefault = run(TOP_K);
const setMeta = db.prepare("UPDATE libsql_vector_meta_shadow SET metadata = ? WHERE name = 'items_idx'");
const points = CURVE.map((searchL) => {
  // one more 9-byte record, tag 9 (search_l): the reader takes the last record of a tag
  const record = Buffer.alloc(9);
  record[0] = 9;
  record.writeBigUInt64LE(BigInt(searchL), 1);
  setMeta.run([Buffer.concat([metadata, record])]);
  return { search_l: searchL, ...run(TOP_K) };
});
setMeta.run([metadata]);
const exact = run(`SELECT id FROM items ORDER BY vector_distance_cos(emb, ?) LIMIT ${K}`);
db.close();

// the other way: inserts into the indexed table, one transaction
let indexed = null;
if (inserts === '1') {
  const bPath = `${dbPath}-b`;
  db = new Database(bPath);
  db.exec(`CREATE TABLE items(id INTEGER PRIMARY KEY, emb F32_BLOB(${DIMS}))`);
  t = process.hrtime.bigint();
  db.exec(CREATE_INDEX);
  const emptyIndexMs = ms(t);
  t = process.hrtime.bigint();
  fill(db.prepare('INSERT INTO items(id, emb) VALUES (?, ?)'));
  indexed = { insert_ms: ms(t), index_ms: emptyIndexMs };
  db.close();
  indexed.file_bytes = fs.statSync(bPath).size;
}

console.log(
  JSON.stringify({
    engine: `libSQL ${version} (npm libsql ${PACKAGE_VERSION})`,
    insert_ms: insertMs,
    index_ms: indexMs,
    table_bytes: tableBytes,
    file_bytes: fileBytes,
    metadata: metadata.toString('hex'),
    default: atDefault,
    curve: points,
    exact,
    indexed,
  }),
);
