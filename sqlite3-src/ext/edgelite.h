/*
** edgelite: the boundary between SQLite's C core and edgelite's Rust side.
**
** Everything the core knows about edgelite is declared here. The Rust side (crate edgelite-sys,
** module bridge) defines the functions marked "Rust"; this directory's C defines the rest.
** Nothing in this header is an algorithm.
*/
#ifndef EDGELITE_H
#define EDGELITE_H

#include "sqlite3.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
** Rust. Registers edgelite's SQL functions on one connection. Has the signature of an
** extension entry point (so a program may also install it with sqlite3_auto_extension()).
** Returns an SQLite result code and, on failure, sets *pzErrMsg (if not NULL) to a message
** from sqlite3_malloc().
*/
int edgelite_register(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

/*
** C. Named by -DSQLITE_EXTRA_AUTOEXT, upstream's hook for one more built-in extension: every
** new connection runs it (as it runs FTS5's registration), and it calls edgelite_register.
*/
int edgelite_builtin_init(sqlite3 *db);

/*
** The vector index method table (core patch 0001, PATCHES.md). The core calls these for an
** index whose key is libsql_vector_idx(col, 'k=v', ...); its B-tree stays empty and the
** Rust side keeps the index in shadow tables of the same database, through the same
** connection, inside the statement's transaction.
**
** xValidate runs while CREATE INDEX is prepared: zColType is the column's declared type and
** azOpt the 'k=v' strings. It returns SQLITE_OK, or an error code and *pzErr, a message from
** sqlite3_malloc() that becomes the statement's error.
**
** The others run while a statement runs, each called like an SQL function from the
** statement's VDBE program: argv[0] is the schema name ("main", "temp", an attached name),
** argv[1] the index name, then the operation's own arguments. They report failure with
** sqlite3_result_error*(), which fails the statement (and SQLite rolls it back).
**   xCreate(table, column, column type, option...)  make the shadow table and metadata row;
**            result 1 if the index must now be filled from the table, 0 if its rows are
**            already there (a dump being loaded)
**   xInsert(vector, rowid)   add a row (vector is the column value: BLOB, TEXT or NULL)
**   xDelete(rowid)           remove a row, if it has a node
**   xDrop()                  the index is being dropped (the core itself drops the shadow
**                            table and metadata row in the same statement, see PATCHES.md)
**   xClear()                 remove every row (DELETE without WHERE, REINDEX)
** Version 2:
**   xInsert(vector, rowid, 1) a row of a build (CREATE INDEX, REINDEX): the index may hold it
**                            back until xBuild
**   xBuild()                 the build's last row was passed: complete the index
**   xCheck()                 PRAGMA integrity_check: NULL if the index is sound, else a
**                            message (one result row)
** Version 3 (per-transaction state):
**   xInsert(vector, rowid)   may hold the row back in the connection's memory, after checking
**                            it, until the transaction needs it. The core makes this safe by
**                            coding, in every statement that calls xInsert outside a build,
**                            the opening of edgelite's transaction module (below) as if the
**                            statement wrote that virtual table (OP_VBegin). The Rust side
**                            then gets sqlite3_module's transaction callbacks: xSync writes
**                            the rows held back (a failure fails the COMMIT, which rolls the
**                            transaction back), xSavepoint writes them too (so none straddles
**                            a savepoint), xRollbackTo and xRollback drop them. The other
**                            methods and every search write them first. A statement that
**                            could fail after one vector index held its row back and before
**                            its row is written (a table with two vector indexes) is coded
**                            with a statement journal.
**   xFlush()                 write the rows held back: coded at the start of a SELECT that
**                            names the index's shadow table (patch 0002's hook), so that
**                            reading it directly (a dump inside a transaction) finds them.
*/
#define EDGELITE_VECTOR_METHODS_VERSION 3
/* The eponymous virtual table module through which a vector index takes part in transactions
** (version 3). Its table lists the rows held back: (schema, index, rows). */
#define EDGELITE_VECTOR_TXN_MODULE "edgelite_vector_pending"
#define EDGELITE_VECTOR_OP_CREATE 1
#define EDGELITE_VECTOR_OP_INSERT 2
#define EDGELITE_VECTOR_OP_DELETE 3
#define EDGELITE_VECTOR_OP_DROP   4
#define EDGELITE_VECTOR_OP_CLEAR  5
#define EDGELITE_VECTOR_OP_BUILD  6
#define EDGELITE_VECTOR_OP_CHECK  7
#define EDGELITE_VECTOR_OP_FLUSH  8

typedef struct edgelite_vector_methods edgelite_vector_methods;
struct edgelite_vector_methods {
  int iVersion;   /* EDGELITE_VECTOR_METHODS_VERSION */
  int (*xValidate)(const char *zColType, int nOpt, const char *const *azOpt, char **pzErr);
  void (*xCreate)(sqlite3_context*, int argc, sqlite3_value **argv);
  void (*xInsert)(sqlite3_context*, int argc, sqlite3_value **argv);
  void (*xDelete)(sqlite3_context*, int argc, sqlite3_value **argv);
  void (*xDrop)(sqlite3_context*, int argc, sqlite3_value **argv);
  void (*xClear)(sqlite3_context*, int argc, sqlite3_value **argv);
  /* Version 2 */
  void (*xBuild)(sqlite3_context*, int argc, sqlite3_value **argv);
  void (*xCheck)(sqlite3_context*, int argc, sqlite3_value **argv);
  /* Version 3 */
  void (*xFlush)(sqlite3_context*, int argc, sqlite3_value **argv);
};

/* Rust. The method table; never null once edgelite-sys is linked. */
const edgelite_vector_methods *edgelite_vector_index_methods(void);

/* Rust. The size of table zSchema.zTable (its rows: the rowid span, or
** edgelite_table_rows_estimate where the rowids are sparse) that connection db last read for
** the vector planner's guard (edgelite_plan_guard), whatever has changed since; -1 if it read
** none yet; -2 if it cannot remember one (its vector cache off). The planner (patch 0002) calls
** it while it prepares a statement, with db's mutex held. */
sqlite3_int64 edgelite_size_hint(sqlite3 *db, const char *zSchema, const char *zTable);

/* Rust. The table size (rows) under which SQLite's scan ranks the nearest rows for less than a
** vector index walk that returns nS of them, for vectors of nDims dimensions (0: unknown). The
** planner (patch 0002) calls it for a literal K while it prepares; edgelite_scan_cheaper, its
** SQL function, applies the same rule to a K bound to a parameter when the statement runs. */
sqlite3_int64 edgelite_scan_rows(int nDims, sqlite3_int64 nS);

/* Rust. The rows that pass which a filtered walk gathers for the exact ORDER BY to pick K from:
** K + ceil(K/10), or K itself when K means every row (past 100,000,000, or negative). The
** planner (patch 0002) calls it for a literal K while it prepares; edgelite_slack, its SQL
** function, applies it to a K bound to a parameter when the statement runs. */
sqlite3_int64 edgelite_slack_rows(sqlite3_int64 nK);

/* C (patch 0002). An estimate of the rows of table zSchema.zTable from the pages on the paths to
** its first and last rows; 0 for an empty table; -1 where none can be made: not an ordinary
** rowid table, or no transaction open on the schema (the vector planner's functions call it
** from a running statement, which holds one). */
sqlite3_int64 edgelite_table_rows_estimate(sqlite3 *db, const char *zSchema, const char *zTable);

/* C. The layout of struct edgelite_vector_methods as this compiler lays it out: aOut[0] is its
** size, then the offset of each field in declaration order, then EDGELITE_VECTOR_METHODS_VERSION;
** returns the number of values
** (at most n are written). A Rust test compares its mirror of the struct with it. */
int edgelite_vector_methods_layout(int *aOut, int n);

/*
** The statement hook (core patch 0003, PATCHES.md), one per connection, for the connections
** of an embedded replica (edgelite-capi): they run writes on the primary.
**
** xHook(pArg, pStmt, eEvent, rc, pnChange, pzErr) runs with the connection's mutex held:
**   EDGELITE_STEP_BEGIN  at the sqlite3_step() that starts a run of pStmt (rc is SQLITE_OK).
**                        SQLITE_OK runs the statement as usual; any other code is returned by
**                        sqlite3_step() without running it (SQLITE_DONE: the hook did its work).
**   EDGELITE_STEP_END    when sqlite3_step() is about to return rc (SQLITE_ROW only for a
**                        statement that writes: RETURNING); the hook returns the code
**                        sqlite3_step() returns.
** The hook may set *pnChange (initially -1) to the value sqlite3_changes() must report, and,
** with an error code, *pzErr to a message from sqlite3_malloc() (freed by the core) that
** becomes sqlite3_errmsg(). The hook may run SQL on the same connection (it must not recurse
** into itself: the core does not stop it). xHook NULL removes the hook.
*/
#define EDGELITE_STEP_BEGIN 1
#define EDGELITE_STEP_END   2
typedef int (*edgelite_step_fn)(void *pArg, sqlite3_stmt *pStmt, int eEvent, int rc,
                                sqlite3_int64 *pnChange, char **pzErr);

/* C (patch 0003). Installs or removes the statement hook of one connection. */
void edgelite_set_step_hook(sqlite3 *db, edgelite_step_fn xHook, void *pArg);

/* C (patch 0003). The value bound to parameter i (1-based) of pStmt, or NULL if there is no
** such parameter; valid until the binding changes. (SQLite has no public way to read a
** binding back; a forwarded statement must carry its bindings exactly.) */
sqlite3_value *edgelite_stmt_bound_value(sqlite3_stmt *pStmt, int i);

/* C (patch 0003). Nonzero if pStmt writes a database other than "main" (TEMP, or an attached
** one): such a statement cannot run on a primary, which has neither. */
int edgelite_stmt_writes_other_schemas(sqlite3_stmt *pStmt);

/* C (patch 0003). Turns PRAGMA query_only on or off without the PRAGMA's side effect (which
** expires every prepared statement of the connection). */
void edgelite_set_query_only(sqlite3 *db, int bOn);

#ifdef __cplusplus
}
#endif
#endif /* EDGELITE_H */
