/*
** edgelite: the boundary between SQLite's C core and edgelite's Rust side.
**
** Everything the core knows about edgelite is declared here. The Rust side (crate edgelite-sys,
** module bridge) defines the functions marked "Rust"; this directory's C defines the rest.
** Nothing in this header is an algorithm: the index method table (create / insert / delete /
** drop / search / integrity) joins it when the core patches for the vector index land.
*/
#ifndef EDGELITE_H
#define EDGELITE_H

#include "sqlite3.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
** Rust. Registers edgelite's SQL functions on one connection. Has the signature of an
** extension entry point, because it is installed with sqlite3_auto_extension() and so runs
** for every connection opened in the process. Returns an SQLite result code and, on failure,
** sets *pzErrMsg to a message from sqlite3_malloc().
*/
int edgelite_register(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

/*
** C. Named by -DSQLITE_EXTRA_INIT, so that sqlite3_initialize() calls it once the core is up
** (again after every sqlite3_shutdown()). It installs edgelite_register as an auto-extension.
*/
int edgelite_extra_init(const char *zUnused);

#ifdef __cplusplus
}
#endif
#endif /* EDGELITE_H */
