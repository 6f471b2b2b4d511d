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
