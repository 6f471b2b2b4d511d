// libSQL's view of a database written or modified by edgelite: prints, as one JSON line, the
// top-k ids of vector_top_k(index, query, k), the row count, and the result of inserting one
// row through the index (libSQL must be able to maintain it too), and integrity_check.
//
//   node tests/libsql/check.js DB INDEX TABLE COLUMN-CONVERSION QUERY K
'use strict';
const path = require('path');
const Database = require(path.join(__dirname, 'node_modules', 'libsql'));
const [file, index, table, conv, query, k] = process.argv.slice(2);
const db = new Database(file);
const ids = () => db.prepare(`SELECT id FROM vector_top_k(?, ${conv}(?), ?)`).raw().all([index, query, Number(k)]).map((r) => r[0]);
const before = ids();
const count = db.prepare(`SELECT count(*) FROM ${table}`).raw().get()[0];
db.prepare(`INSERT INTO ${table} (id, emb) VALUES (?, ${conv}(?))`).run([100000, query]);
const after = ids();
const integrity = db.prepare('PRAGMA integrity_check').raw().get()[0];
console.log(JSON.stringify({ before, count, after, integrity }));
db.close();
