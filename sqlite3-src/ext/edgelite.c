/*
** edgelite's C glue. Compiled beside the amalgamation, never inside it.
*/
#include <stddef.h>
#include "edgelite.h"

/*
** openDatabase() calls this for every new connection, from its list of built-in extensions
** (FTS5, R*Tree, ...), so no connection can miss it and sqlite3_reset_auto_extension() cannot
** remove it. An auto-extension installed by the SQLITE_EXTRA_INIT hook could be missed: that
** hook runs after sqlite3_initialize() marks SQLite initialised, and a thread opening its first
** connection in between got one without edgelite's functions.
*/
int edgelite_builtin_init(sqlite3 *db){
  /* Statement scan status is compiled in (the shell's .scanstats and the bytecode table's
  ** nexec/ncycle columns need it) but starts off on every connection, as upstream's shell turns
  ** it off after opening: on, it reads the CPU's cycle counter twice for every VDBE opcode of
  ** every statement, and a full scan of a 100,000-row table took 47.5-48 ms against 40-42 ms
  ** with Debian's library and libSQL's, which lack it (timed by hand, the same SQL through
  ** each library; 41-42 ms with it off). sqlite3_db_config(db,
  ** SQLITE_DBCONFIG_STMT_SCANSTATUS, 1, 0) or the shell's .scanstats on turns it on. */
  sqlite3_db_config(db, SQLITE_DBCONFIG_STMT_SCANSTATUS, 0, (int*)0);
  return edgelite_register(db, 0, 0);
}

int edgelite_vector_methods_layout(int *aOut, int n){
  const int a[] = {
    (int)sizeof(edgelite_vector_methods),
    (int)offsetof(edgelite_vector_methods, iVersion),
    (int)offsetof(edgelite_vector_methods, xValidate),
    (int)offsetof(edgelite_vector_methods, xCreate),
    (int)offsetof(edgelite_vector_methods, xInsert),
    (int)offsetof(edgelite_vector_methods, xDelete),
    (int)offsetof(edgelite_vector_methods, xDrop),
    (int)offsetof(edgelite_vector_methods, xClear),
    (int)offsetof(edgelite_vector_methods, xBuild),
    (int)offsetof(edgelite_vector_methods, xCheck),
    (int)offsetof(edgelite_vector_methods, xFlush),
    EDGELITE_VECTOR_METHODS_VERSION,
  };
  int i, nA = (int)(sizeof(a)/sizeof(a[0]));
  for(i=0; i<nA && i<n; i++) aOut[i] = a[i];
  return nA;
}
