/*
** edgelite: the progress handler and sqlite3_interrupt() inside SQL functions whose work grows
** as the product of their arguments' lengths (core patch 0007, EDGELITE_OMIT_FUNCTION_PROGRESS).
** Included into the amalgamation by the patch, before instr(); not compiled on its own.
**
** SQLite checks for an interrupt, and calls the progress handler, between VDBE instructions
** only. One call of LIKE or GLOB (patternCompare), instr(), replace(), trim() or geopoly's
** overlap test (geopoly_overlap(), geopoly_within(): segments walked, not bytes) over long values
** is one instruction, and can run for hours: a 50,000-byte LIKE pattern over a 64 MiB text, or
** instr() of a 32 MiB needle in a 64 MiB haystack that nearly matches everywhere. Nothing could
** stop it: not sqlite3_interrupt(), not a progress handler, not a server's scheduler that
** yields from one; nor could it stop an FTS5 insert or delete, which tokenizes the whole row in
** one instruction (see EDGELITE_FTS5_TOKENS below). These functions now count their work (bytes
** they may compare) and, every EDGELITE_WORK_QUANTUM units, check for an interrupt and call the
** progress handler; either stops the call, which then fails with SQLITE_INTERRUPT as the
** statement would have.
*/
typedef struct EdgeliteWork EdgeliteWork;
struct EdgeliteWork {
  sqlite3_context *pCtx;  /* The function call doing the work */
  u64 nDone;              /* Units of work done since the last check */
  u64 nUnit;              /* patternCompare(): the units of one attempt (the pattern's bytes) */
  int bStop;              /* Set once a check said stop */
};

/* About a millisecond of byte comparisons at most between two checks. */
#define EDGELITE_WORK_QUANTUM (1<<20)

static void edgeliteWorkInit(EdgeliteWork *p, sqlite3_context *pCtx, u64 nUnit){
  p->pCtx = pCtx;
  p->nDone = 0;
  p->nUnit = nUnit>0 ? nUnit : 1;
  p->bStop = 0;
}

/* Nonzero if db's statement must stop: it was interrupted, or its progress handler says so. */
static SQLITE_NOINLINE int edgeliteDbMustStop(sqlite3 *db){
  if( AtomicLoad(&db->u1.isInterrupted) ) return 1;
#ifndef SQLITE_OMIT_PROGRESS_CALLBACK
  if( db->xProgress && db->xProgress(db->pProgressArg) ) return 1;
#endif
  return 0;
}

static SQLITE_NOINLINE int edgeliteWorkCheck(EdgeliteWork *p){
  p->nDone = 0;
  if( edgeliteDbMustStop(sqlite3_context_db_handle(p->pCtx)) ){
    p->bStop = 1;
  }
  return p->bStop;
}

/*
** FTS5's inserts and deletes (one VUpdate instruction each) tokenize the whole row: a 30 MB
** text is 30 million trigram tokens, about 10 s. fts5StorageInsertCallback() counts them on
** its table's Fts5Storage and, every EDGELITE_FTS5_TOKENS, returns SQLITE_INTERRUPT when
** edgeliteDbMustStop() says so: the tokenizer passes the error up, the row's write fails, and
** SQLite rolls the transaction back as after any interrupted write (FTS5's xRollback drops the
** tokens it held in memory).
*/
#define EDGELITE_FTS5_TOKENS (1<<14)

/* Counts n units of work; nonzero once the call must stop (and from then on). */
static int edgeliteWork(EdgeliteWork *p, u64 n){
  if( p->bStop ) return 1;
  p->nDone += n;
  return p->nDone>=EDGELITE_WORK_QUANTUM ? edgeliteWorkCheck(p) : 0;
}

/* Fails the call as an interrupted statement fails (SQLITE_INTERRUPT, "interrupted"). */
static void edgeliteWorkStopped(sqlite3_context *pCtx){
  sqlite3_result_error_code(pCtx, SQLITE_INTERRUPT);
}
