/*
** edgelite's C glue. Compiled beside the amalgamation, never inside it.
*/
#include "edgelite.h"

/*
** openDatabase() calls this for every new connection, from its list of built-in extensions
** (FTS5, R*Tree, ...), so no connection can miss it and sqlite3_reset_auto_extension() cannot
** remove it. An auto-extension installed by the SQLITE_EXTRA_INIT hook could be missed: that
** hook runs after sqlite3_initialize() marks SQLite initialised, and a thread opening its first
** connection in between got one without edgelite's functions.
*/
int edgelite_builtin_init(sqlite3 *db){
  return edgelite_register(db, 0, 0);
}
