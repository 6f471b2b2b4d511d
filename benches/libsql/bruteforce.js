// libSQL's own engine (npm `libsql`, pinned in tests/libsql/package.json) running the same
// brute-force workload as src/bin/bruteforce.rs: load the items table in one transaction, then
// time the exact top-k queries, with and without a relational filter. Prints one JSON object.
//
// usage: node bruteforce.js <dataset dir> <db path> <queries> <repeats> <k>
'use strict';
const fs = require('fs');
const path = require('path');
const MODULE = path.join(__dirname, '..', '..', 'tests', 'libsql', 'node_modules', 'libsql');
const Database = require(MODULE);
const PACKAGE_VERSION = require(path.join(MODULE, 'package.json')).version;

const [dir, dbPath, nq, repeats, k] = process.argv.slice(2);
const NQ = Number(nq);
const REPEATS = Number(repeats);
const K = Number(k);
const DIMS = 384;
const ROW = DIMS * 4;

const base = fs.readFileSync(path.join(dir, 'base.f32'));
const queries = fs.readFileSync(path.join(dir, 'queries.f32'));
const records = fs
  .readFileSync(path.join(dir, 'base.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l));

const db = new Database(dbPath);
const version = db.prepare('SELECT sqlite_version()').raw().get()[0];

let t0 = process.hrtime.bigint();
db.exec(`CREATE TABLE items(id INTEGER PRIMARY KEY, text TEXT, src TEXT, emb F32_BLOB(${DIMS}))`);
const insert = db.prepare('INSERT INTO items(id, text, src, emb) VALUES (?, ?, ?, ?)');
db.exec('BEGIN');
for (const r of records) {
  // an f32 vector blob is the raw little-endian floats, exactly the file's bytes
  insert.run(r.id, r.text, r.src, base.subarray(r.id * ROW, (r.id + 1) * ROW));
}
db.exec('COMMIT');
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

function run(sql) {
  const stmt = db.prepare(sql).raw();
  const repeatMs = [];
  let ids = [];
  for (let rep = 0; rep < REPEATS; rep++) {
    const out = [];
    const t = process.hrtime.bigint();
    for (let q = 0; q < NQ; q++) {
      // parameters as an array: a lone Buffer argument is taken for named parameters and
      // panics inside libsql-js 0.5.29
      const rows = stmt.all([queries.subarray(q * ROW, (q + 1) * ROW)]);
      out.push(rows.map((row) => Number(row[0])));
    }
    repeatMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    ids = out;
  }
  return { repeat_ms: repeatMs, ids };
}

const plain = run(`SELECT id FROM items ORDER BY vector_distance_cos(emb, ?) LIMIT ${K}`);
const filtered = run(
  `SELECT id FROM items WHERE src LIKE 'debian:%' ORDER BY vector_distance_cos(emb, ?) LIMIT ${K}`,
);
db.close();
console.log(JSON.stringify({ engine: `libSQL ${version} (npm libsql ${PACKAGE_VERSION})`, load_ms: loadMs, plain, filtered }));
