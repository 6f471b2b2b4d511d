/*
** edgelite's C glue. Compiled beside the amalgamation, never inside it.
*/
#include "edgelite.h"

/*
** sqlite3_initialize() runs this with the core initialised, so sqlite3_auto_extension() only
** adds to the list (it de-duplicates, so repeated initialisation is harmless). Registering at
** initialisation rather than at load time keeps sqlite3_config() usable before the first open,
** as programs linking the system library expect.
*/
int edgelite_extra_init(const char *zUnused){
  (void)zUnused;
  return sqlite3_auto_extension((void(*)(void))edgelite_register);
}
