// Runs a file of SQL statements through libSQL's own engine (npm `libsql`, pinned in
// package.json) and prints one JSON line per statement, in the same encoding as
// crates/edgelite-capi/tests/run_sql.py prints edgelite's answers, so the two can be compared
// line by line. A statement ends with a line whose last character is `;`; leading `--` comment
// lines are dropped from its text.
'use strict';
const fs = require('fs');
const path = require('path');
const Database = require(path.join(__dirname, 'node_modules', 'libsql'));

function encode(v) {
  if (v === null) return null;
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return { real: b.toString('hex') };
  }
  if (typeof v === 'string') return { text: v };
  if (Buffer.isBuffer(v)) return { blob: v.toString('hex').toUpperCase() };
  throw new Error(`unexpected value ${v}`);
}

const db = new Database(':memory:');
const statements = [];
let buf = [];
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (buf.length === 0 && (line.trim() === '' || line.trim().startsWith('--'))) continue;
  buf.push(line);
  if (line.trimEnd().endsWith(';')) {
    statements.push(buf.join('\n').trim());
    buf = [];
  }
}
for (const sql of statements) {
  let out;
  try {
    const stmt = db.prepare(sql);
    if (stmt.reader) {
      stmt.safeIntegers(true);
      out = { rows: stmt.raw().all().map((row) => row.map(encode)) };
    } else {
      stmt.run();
      out = { rows: [] };
    }
  } catch (e) {
    out = { error: e.message };
  }
  console.log(JSON.stringify({ sql, ...out }));
}
