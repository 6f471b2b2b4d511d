// Writes the compatibility fixtures in tests/fixtures/: databases whose vector indexes were
// built by libSQL's own engine (npm libsql, pinned in package.json), which edgelite must read,
// search and modify. Deterministic: rerunning gives the same rows (file bytes may differ).
//
//   npm ci --prefix tests/libsql && node tests/libsql/make_fixtures.js [FILE...]
//
// With FILE names, only those fixtures are written.
'use strict';
const fs = require('fs');
const path = require('path');
const Database = require(path.join(__dirname, 'node_modules', 'libsql'));

// A 32-bit LCG, so the vectors are the same on every machine.
let state = 20261124;
function rand() {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 4294967296 * 2 - 1;
}
function vector(dims) {
  return '[' + Array.from({ length: dims }, () => rand().toFixed(6)).join(',') + ']';
}

const fixtures = [
  { file: 'libsql-f32-cosine.db', column: 'F32_BLOB(8)', options: [] },
  { file: 'libsql-f32-l2-float8.db', column: 'F32_BLOB(8)', options: ["'metric=l2'", "'compress_neighbors=float8'"] },
  { file: 'libsql-f16-1bit.db', column: 'F16_BLOB(16)', options: ["'compress_neighbors=float1bit'", "'max_neighbors=12'"] },
  // a WITHOUT ROWID table keyed by one INTEGER column: libSQL's first shadow table shape
  { file: 'libsql-f32-without-rowid.db', column: 'F32_BLOB(8)', options: [], withoutRowid: true },
  // a WITHOUT ROWID table keyed by TEXT ('doc-1', ...): libSQL's second shape (a rowid of the
  // shadow table's own, the key in index_key)
  { file: 'libsql-f32-text-key.db', column: 'F32_BLOB(8)', options: [], withoutRowid: true, textKey: true },
];
const only = process.argv.slice(2);
const dir = path.join(__dirname, '..', 'fixtures');
fs.mkdirSync(dir, { recursive: true });
for (const f of fixtures) {
  const dims = Number(f.column.match(/\((\d+)\)/)[1]);
  if (only.length > 0 && !only.includes(f.file)) {
    // the same vectors as a full run: the generator moves on as if this fixture were written
    for (let id = 1; id <= 150; id++) vector(dims);
    continue;
  }
  const file = path.join(dir, f.file);
  fs.rmSync(file, { force: true });
  const db = new Database(file);
  const conv = f.column.startsWith('F16') ? 'vector16' : 'vector';
  db.exec(`CREATE TABLE docs (id ${f.textKey ? 'TEXT' : 'INTEGER'} PRIMARY KEY, title TEXT, emb ${f.column})${f.withoutRowid ? ' WITHOUT ROWID' : ''}`);
  db.exec(`CREATE INDEX docs_idx ON docs (libsql_vector_idx(${['emb', ...f.options].join(', ')}))`);
  const insert = db.prepare(`INSERT INTO docs VALUES (?, ?, ${conv}(?))`);
  db.exec('BEGIN');
  for (let id = 1; id <= 150; id++) insert.run([f.textKey ? `doc-${id}` : id, `doc ${id}`, vector(dims)]);
  db.exec('COMMIT');
  db.exec(f.textKey ? 'DELETE FROM docs WHERE CAST(substr(id, 5) AS INT) % 10 = 0' : 'DELETE FROM docs WHERE id % 10 = 0');
  db.close();
  console.log(`wrote ${file}`);
}
