"""Runs a file of SQL statements through whichever libsqlite3.so.0 the loader finds (CPython's
own sqlite3 module, pointed elsewhere with LD_LIBRARY_PATH) and prints one JSON line per
statement: its rows, or its error class and message. The differential test runs this against
edgelite and against a pristine upstream build and compares the outputs."""
import json
import sqlite3
import sys

con = sqlite3.connect(":memory:", isolation_level=None)
print(json.dumps({"sqlite_version": sqlite3.sqlite_version}))
buf = ""
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        buf += line
        if not sqlite3.complete_statement(buf):
            continue
        sql, buf = buf.strip(), ""
        try:
            rows = con.execute(sql).fetchall()
            result = {"rows": [[repr(v) for v in row] for row in rows]}
        except sqlite3.Error as e:
            result = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps({"sql": sql, **result}))
