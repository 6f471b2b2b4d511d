// libSQL's own engine (npm `libsql`, pinned in tests/libsql/package.json) running the filtered
// queries of src/bin/filtered.rs on the same database file (libSQL reads edgelite's files): each
// SQL statement once per query vector, an untimed warm-up pass, then <repeats> timed passes.
// libSQL has no planner rewrite, so `ORDER BY vector_distance_cos(...) LIMIT k` scans. Prints
// one JSON object: {"version", "filters": [{"repeat_ms": [..], "ids": [[..], ..]}, ..]}.
//
// usage: node filtered.js <db path> <queries.f32 path> <queries> <repeats> <JSON array of SQL>
'use strict';
const fs = require('fs');
const path = require('path');
const MODULE = path.join(__dirname, '..', '..', 'tests', 'libsql', 'node_modules', 'libsql');
const Database = require(MODULE);

const [dbPath, queriesPath, nq, repeats, sqlJson] = process.argv.slice(2);
const NQ = Number(nq);
const REPEATS = Number(repeats);
const ROW = 384 * 4;
const queries = fs.readFileSync(queriesPath);
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

const db = new Database(dbPath);
const version = db.prepare('SELECT sqlite_version()').raw().get()[0];
const filters = JSON.parse(sqlJson).map((sql) => {
  const stmt = db.prepare(sql).raw();
  // parameters as an array: a lone Buffer is taken for named parameters by libsql-js 0.5.29
  const query = (q) => stmt.all([queries.subarray(q * ROW, (q + 1) * ROW)]);
  for (let q = 0; q < NQ; q++) query(q);
  const repeatMs = [];
  let ids = [];
  for (let rep = 0; rep < REPEATS; rep++) {
    const out = [];
    const t0 = process.hrtime.bigint();
    for (let q = 0; q < NQ; q++) out.push(query(q).map((row) => Number(row[0])));
    repeatMs.push(ms(t0));
    ids = out;
  }
  return { repeat_ms: repeatMs, ids };
});
process.stdout.write(JSON.stringify({ version, filters }));
