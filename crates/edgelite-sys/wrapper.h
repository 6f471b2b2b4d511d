/* Everything the Rust bindings cover: SQLite's public API as compiled in edgelite. */
#include "sqlite3.h"
