"""Runs a file of SQL statements through whichever libsqlite3.so.0 the loader finds (CPython's
own sqlite3 module, pointed elsewhere with LD_LIBRARY_PATH) and prints one JSON line per
statement: its rows, or its error message. Values are typed and exact (a REAL as its IEEE bits),
in the encoding tests/libsql/run.js uses for libSQL, so that outputs compare line by line.
Leading `--` comment lines are dropped from a statement's text."""
import json
import sqlite3
import struct
import sys


def encode(v):
    if v is None:
        return None
    if isinstance(v, int):
        return {"int": str(v)}
    if isinstance(v, float):
        return {"real": struct.pack("<d", v).hex()}
    if isinstance(v, str):
        return {"text": v}
    return {"blob": bytes(v).hex().upper()}


con = sqlite3.connect(":memory:", isolation_level=None)
print(json.dumps({"sqlite_version": sqlite3.sqlite_version}, separators=(",", ":")))
buf = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        if not buf and (not line.strip() or line.strip().startswith("--")):
            continue
        buf.append(line)
        if not sqlite3.complete_statement("".join(buf)):
            continue
        sql, buf = "".join(buf).strip(), []
        try:
            rows = con.execute(sql).fetchall()
            result = {"rows": [[encode(v) for v in row] for row in rows]}
        except sqlite3.Error as e:
            result = {"error": str(e)}
        print(json.dumps({"sql": sql, **result}, separators=(",", ":"), ensure_ascii=False))
