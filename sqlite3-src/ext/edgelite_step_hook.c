/*
** edgelite: the statement hook (core patch 0003, PATCHES.md). Included into the amalgamation
** by the patch, inside its guard, just before sqlite3_step(): it needs the Vdbe's and the
** connection's internals. No algorithm lives here: the hook itself is Rust (edgelite-capi's
** embedded replicas), which runs a write on the primary instead of (or as well as) locally.
*/

/* See edgelite.h. */
void edgelite_set_step_hook(sqlite3 *db, edgelite_step_fn xHook, void *pArg){
  sqlite3_mutex_enter(db->mutex);
  db->xEdgeliteStep = xHook;
  db->pEdgeliteStepArg = pArg;
  sqlite3_mutex_leave(db->mutex);
}

/* See edgelite.h. */
sqlite3_value *edgelite_stmt_bound_value(sqlite3_stmt *pStmt, int i){
  Vdbe *p = (Vdbe*)pStmt;
  if( p==0 || i<1 || i>p->nVar ) return 0;
  return (sqlite3_value*)&p->aVar[i-1];
}

/* See edgelite.h. The statement's write transactions, as its program opens them. */
int edgelite_stmt_writes_other_schemas(sqlite3_stmt *pStmt){
  Vdbe *p = (Vdbe*)pStmt;
  int i;
  if( p==0 ) return 0;
  for(i=0; i<p->nOp; i++){
    if( p->aOp[i].opcode==OP_Transaction && p->aOp[i].p1!=0 && p->aOp[i].p2!=0 ) return 1;
  }
  return 0;
}

/* See edgelite.h. */
void edgelite_set_query_only(sqlite3 *db, int bOn){
  sqlite3_mutex_enter(db->mutex);
  if( bOn ){
    db->flags |= SQLITE_QueryOnly;
  }else{
    db->flags &= ~(u64)SQLITE_QueryOnly;
  }
  sqlite3_mutex_leave(db->mutex);
}

/*
** Calls the connection's hook (db->xEdgeliteStep is set; db->mutex is held) for statement v:
** eEvent is EDGELITE_STEP_BEGIN before a run starts (rc is SQLITE_OK), EDGELITE_STEP_END when
** sqlite3_step() is about to return rc (SQLITE_ROW only for a statement that writes). Returns
** what the hook returns, masked as the connection's result codes are (extended codes only
** when the program asked for them). A change count the hook reports becomes sqlite3_changes()
** (and, for a statement it answered in place of the core, part of sqlite3_total_changes()); an
** error message it reports becomes the connection's, and after a run (END) the statement's, as
** if the core had failed with it. A statement refused before its run stays ready to run.
*/
static int edgeliteStepHook(sqlite3 *db, Vdbe *v, int eEvent, int rc){
  sqlite3_int64 nChange = -1;
  char *zErr = 0;
  int rc2 = db->xEdgeliteStep(db->pEdgeliteStepArg, (sqlite3_stmt*)v, eEvent, rc, &nChange, &zErr);
  if( nChange>=0 ){
    db->nChange = nChange;
    if( eEvent==EDGELITE_STEP_BEGIN ) db->nTotalChange += nChange;
  }
  if( rc2!=rc && rc2!=SQLITE_OK && rc2!=SQLITE_DONE && rc2!=SQLITE_ROW ){
    if( eEvent==EDGELITE_STEP_END ){
      v->rc = rc2;
      sqlite3DbFree(db, v->zErrMsg);
      v->zErrMsg = zErr ? sqlite3DbStrDup(db, zErr) : 0;
    }
    if( zErr ){
      sqlite3ErrorWithMsg(db, rc2, "%s", zErr);
    }else{
      sqlite3Error(db, rc2);
    }
  }
  sqlite3_free(zErr);
  return rc2 & db->errMask;
}
