/*
** edgelite: the helpers of core patch 0001 (libSQL-compatible vector indexes; PATCHES.md).
**
** Not compiled on its own: sqlite3-src/patches/0001 includes this file into the amalgamation,
** after sqliteInt.h and inside #ifndef EDGELITE_OMIT_VECTOR_INDEX, so it sees SQLite's
** internal types. The hunks of 0001 call these functions.
**
** edgelite: libSQL-compatible vector indexes (sqlite3-src/patches/0001, PATCHES.md).
**
** An index whose only key is the expression libsql_vector_idx(col, 'k=v', ...) keeps its
** B-tree empty and is never used by the planner (bNoQuery). Its entries live in shadow tables
** that edgelite's Rust side maintains. The core reaches that side only through the method
** table of sqlite3-src/ext/edgelite.h, called from each statement's VDBE program while the
** statement runs (never while it is prepared), through one internal SQL function.
*/
/* True if pIdx is a vector index: one key expression, a call of libsql_vector_idx(). */
static int edgeliteIsVectorIndex(const Index *pIdx){
  const Expr *pExpr;
  if( pIdx->aColExpr==0 || pIdx->nKeyCol!=1 || pIdx->aColExpr->nExpr<1 ) return 0;
  pExpr = pIdx->aColExpr->a[0].pExpr;
  return pExpr!=0 && pExpr->op==TK_FUNCTION
      && !ExprHasProperty(pExpr, EP_IntValue)
      && sqlite3StrICmp(pExpr->u.zToken, "libsql_vector_idx")==0;
}
#define EDGELITE_IS_VECTOR_INDEX(p) ((p)->bNoQuery && edgeliteIsVectorIndex(p))

/* The internal function through which VDBE programs reach the method table. argv[0] is the
** operation (EDGELITE_VECTOR_OP_*), then the schema and index names, then its arguments. */
static void edgeliteVectorHookFunc(sqlite3_context *ctx, int argc, sqlite3_value **argv){
  const edgelite_vector_methods *m = edgelite_vector_index_methods();
  void (*xOp)(sqlite3_context*,int,sqlite3_value**) = 0;
  if( m==0 || m->iVersion<1 || argc<3 ){
    sqlite3_result_error(ctx, "vector index: edgelite's vector index methods are missing", -1);
    return;
  }
  switch( sqlite3_value_int(argv[0]) ){
    case EDGELITE_VECTOR_OP_CREATE: xOp = m->xCreate; break;
    case EDGELITE_VECTOR_OP_INSERT: xOp = m->xInsert; break;
    case EDGELITE_VECTOR_OP_DELETE: xOp = m->xDelete; break;
    case EDGELITE_VECTOR_OP_DROP:   xOp = m->xDrop;   break;
    case EDGELITE_VECTOR_OP_CLEAR:  xOp = m->xClear;  break;
    case EDGELITE_VECTOR_OP_BUILD:  if( m->iVersion>=2 ) xOp = m->xBuild; break;
    case EDGELITE_VECTOR_OP_CHECK:  if( m->iVersion>=2 ) xOp = m->xCheck; break;
    case EDGELITE_VECTOR_OP_FLUSH:  if( m->iVersion>=3 ) xOp = m->xFlush; break;
  }
  if( xOp==0 ){
    sqlite3_result_error(ctx, "vector index: unknown operation", -1);
    return;
  }
  xOp(ctx, argc-1, argv+1);
}
static FuncDef edgeliteVectorHookDef = {
  -1, SQLITE_UTF8|SQLITE_FUNC_INTERNAL, 0, 0, edgeliteVectorHookFunc, 0, 0, 0,
  "edgelite_vector_hook", {0}
};

/* Method table version 3 (edgelite.h): a statement that inserts rows into vector index pIdx
** outside a build opens edgelite's transaction module as if it wrote that virtual table
** (OP_VBegin at the start of its program, coded by sqlite3FinishCoding), so that the Rust side
** is told of the transaction's savepoints, commit and rollback and may hold the rows back until
** then. Without the module (its registration failed) nothing is coded and rows are inserted
** at once. A statement that inserts into a table with two vector indexes or more gets a
** statement journal: the second index's check may fail after the first held its row back, and
** the statement's rollback (xRollbackTo) must then drop that row. */
static void edgeliteVectorJoinTxn(Parse *pParse, Index *pIdx){
  sqlite3 *db = pParse->db;
  Module *pMod;
  Index *p;
  int nVector = 0;
#ifdef EDGELITE_OMIT_VECTOR_PLANNER
  /* reads of the shadow table write the rows held back from patch 0002's hook
  ** (edgeliteVectorFlushReads): without it, rows are inserted at once */
  return;
#endif
  pMod = (Module*)sqlite3HashFind(&db->aModule, EDGELITE_VECTOR_TXN_MODULE);
  if( pMod==0 || pMod->pModule==0 || pMod->pModule->iVersion<2 ) return;
  if( pMod->pEpoTab==0 ) sqlite3VtabEponymousTableInit(pParse, pMod);
  if( pMod->pEpoTab==0 ) return;
  sqlite3VtabMakeWritable(pParse, pMod->pEpoTab);
  for(p=pIdx->pTable->pIndex; p; p=p->pNext){
    if( EDGELITE_IS_VECTOR_INDEX(p) ) nVector++;
  }
  if( nVector>1 ){
    sqlite3MultiWrite(pParse);
    sqlite3MayAbort(pParse);
  }
}

/* Codes a call of method `op` on vector index pIdx of schema iDb, with nArg arguments copied
** from registers regArg.. . VACUUM copies the shadow tables as ordinary tables, so while it
** runs nothing is coded. Returns the register that receives the method's result. */
static int edgeliteVectorCall(Parse *pParse, int op, Index *pIdx, int iDb, int regArg, int nArg){
  Vdbe *v = sqlite3GetVdbe(pParse);
  sqlite3 *db = pParse->db;
  int r, i;
  if( v==0 || (db->mDbFlags & DBFLAG_Vacuum)!=0 ) return 0;
  /* an insert outside a build (a build passes a third argument) */
  if( op==EDGELITE_VECTOR_OP_INSERT && nArg==2 ) edgeliteVectorJoinTxn(pParse, pIdx);
  /* A delete removes the row's node at once; in an UPDATE (or an upsert's DO UPDATE) of one
  ** row the insert that follows may still fail (a vector of the wrong size), and the statement
  ** must then take the delete back: it needs a statement journal, which SQLite gives a
  ** one-row UPDATE only if told that it writes more than once. */
  if( op==EDGELITE_VECTOR_OP_DELETE ){
    sqlite3MultiWrite(pParse);
    sqlite3MayAbort(pParse);
  }
  /* Arguments in r..r+2+nArg; the result in a register of its own (OP_Function sets its
  ** output register to NULL before the call). */
  r = pParse->nMem+1;
  pParse->nMem += 4+nArg;
  sqlite3VdbeAddOp2(v, OP_Integer, op, r);
  sqlite3VdbeLoadString(v, r+1, db->aDb[iDb].zDbSName);
  sqlite3VdbeLoadString(v, r+2, pIdx->zName);
  for(i=0; i<nArg; i++){
    sqlite3VdbeAddOp2(v, OP_Copy, regArg+i, r+3+i);
  }
  sqlite3VdbeAddFunctionCall(pParse, 0, r, r+3+nArg, 3+nArg, &edgeliteVectorHookDef, 0);
  return r+3+nArg;
}

/* Codes, for each FROM item of SELECT p that names the shadow table of a vector index, a call
** of the flush method at this point of the program (before the table is opened), so that a
** statement that reads a shadow table itself (a dump inside a transaction) finds the rows
** that the index holds back (method table version 3). Called by patch 0002's hook, before
** name resolution; a name that is not a vector index's shadow table codes nothing. */
static void edgeliteVectorFlushReads(Parse *pParse, Select *p){
  sqlite3 *db = pParse->db;
  int i;
  if( p==0 || p->pSrc==0 || (db->mDbFlags & DBFLAG_Vacuum)!=0 ) return;
  for(i=0; i<p->pSrc->nSrc; i++){
    SrcItem *pItem = &p->pSrc->a[i];
    const char *zName = pItem->zName;
    int n = zName ? sqlite3Strlen30(zName) : 0;
    char *zIndex;
    Index *pIdx;
    if( pItem->fg.isSubquery ){
      /* a subquery in FROM may be flattened into p before it is coded on its own */
      Select *pSub;
      for(pSub=pItem->u4.pSubq->pSelect; pSub; pSub=pSub->pPrior){
        edgeliteVectorFlushReads(pParse, pSub);
      }
      continue;
    }
    if( n<=7 || sqlite3StrICmp(zName+n-7, "_shadow")!=0 ) continue;
    if( pItem->fg.fixedSchema ) continue;
    zIndex = sqlite3DbStrNDup(db, zName, n-7);
    if( zIndex==0 ) return;
    pIdx = sqlite3FindIndex(db, zIndex, pItem->u4.zDatabase);
    sqlite3DbFree(db, zIndex);
    if( pIdx && EDGELITE_IS_VECTOR_INDEX(pIdx) ){
      edgeliteVectorCall(pParse, EDGELITE_VECTOR_OP_FLUSH, pIdx,
                         sqlite3SchemaToIndex(db, pIdx->pSchema), 0, 0);
    }
  }
}

/* Codes the (re)building of vector index pIdx from its table's rows: one insert call per row,
** with the key SQLite computes for the index (so partial-index WHERE clauses apply) and a
** third argument 1 that marks the row as part of a build, then one build call that completes
** it (the Rust side may build the graph in memory and write it out at once). */
static void edgeliteVectorFill(Parse *pParse, Index *pIdx, int iDb){
  Vdbe *v = sqlite3GetVdbe(pParse);
  Table *pTab = pIdx->pTable;
  int iTab = pParse->nTab++;
  int addr1, iPartIdxLabel, regKey, regRow;
  if( v==0 || (pParse->db->mDbFlags & DBFLAG_Vacuum)!=0 ) return;
  sqlite3OpenTable(pParse, iTab, iDb, pTab, OP_OpenRead);
  addr1 = sqlite3VdbeAddOp2(v, OP_Rewind, iTab, 0); VdbeCoverage(v);
  sqlite3MultiWrite(pParse);
  /* The key is (vector, rowid), or (vector, key) for a WITHOUT ROWID table, in temporaries
  ** that are released but not yet reused: the call copies them into registers of its own
  ** before anything else is coded. */
  regKey = sqlite3GenerateIndexKey(pParse, pIdx, iTab, 0, 0, &iPartIdxLabel, 0, 0);
  regRow = pParse->nMem+1;
  pParse->nMem += 3;
  sqlite3VdbeAddOp2(v, OP_Copy, regKey, regRow);
  sqlite3VdbeAddOp2(v, OP_Copy, regKey+1, regRow+1);
  sqlite3VdbeAddOp2(v, OP_Integer, 1, regRow+2);
  edgeliteVectorCall(pParse, EDGELITE_VECTOR_OP_INSERT, pIdx, iDb, regRow, 3);
  sqlite3ResolvePartIdxLabel(pParse, iPartIdxLabel);
  sqlite3VdbeAddOp2(v, OP_Next, iTab, addr1+1); VdbeCoverage(v);
  sqlite3VdbeJumpHere(v, addr1);
  edgeliteVectorCall(pParse, EDGELITE_VECTOR_OP_BUILD, pIdx, iDb, 0, 0);
  sqlite3MayAbort(pParse);
}

/* Checks a CREATE INDEX that names libsql_vector_idx() (prepare-time errors, with libSQL's
** texts) and marks the index as a vector index. Returns non-zero after an error. */
static int edgeliteVectorCheckIndex(Parse *pParse, Table *pTab, Index *pIdx, int onError){
  sqlite3 *db = pParse->db;
  ExprList *pList = pIdx->aColExpr;
  Expr *pCall = 0;
  int i, iCol;
  if( pList==0 ) return 0;
  for(i=0; i<pList->nExpr; i++){
    Expr *p = sqlite3ExprSkipCollate(pList->a[i].pExpr);
    if( p && p->op==TK_FUNCTION && !ExprHasProperty(p, EP_IntValue)
     && sqlite3StrICmp(p->u.zToken, "libsql_vector_idx")==0 ){
      if( pList->a[i].pExpr->op==TK_COLLATE ){
        sqlite3ErrorMsg(pParse, "vector index: collation in expression is forbidden");
        return 1;
      }
      pCall = p;
    }
  }
  if( pCall==0 ) return 0;
  if( pIdx->nKeyCol!=1 || pList->nExpr!=1 ){
    sqlite3ErrorMsg(pParse, "vector index: must contain exactly one column wrapped into "
                            "the libsql_vector_idx function");
    return 1;
  }
  if( !ExprUseXList(pCall) || pCall->x.pList==0 || pCall->x.pList->nExpr<1
   || pCall->x.pList->a[0].pExpr->op!=TK_COLUMN
   || pCall->x.pList->a[0].pExpr->iColumn<0 ){
    sqlite3ErrorMsg(pParse, "vector index: libsql_vector_idx first argument must be a column token");
    return 1;
  }
  pIdx->bNoQuery = 1;
  /* Loading a schema, or re-parsing it for ALTER TABLE: it was checked when it was created. */
  if( db->init.busy || IN_RENAME_OBJECT ) return 0;
  for(i=1; i<pCall->x.pList->nExpr; i++){
    if( pCall->x.pList->a[i].pExpr->op!=TK_STRING ){
      sqlite3ErrorMsg(pParse, "vector index: all arguments after first must be strings");
      return 1;
    }
  }
  if( onError!=OE_None ){
    sqlite3ErrorMsg(pParse, "vector index: UNIQUE is not supported for vector indexes");
    return 1;
  }
  if( !HasRowid(pTab) ){
    /* A WITHOUT ROWID table's rows are named by their one key column: by its integers (the
    ** shadow table's rowid-like key, libSQL's first shape) or, for any other key, through the
    ** shadow table's own rowid (libSQL's second shape; the Rust side picks it). */
    Index *pPk = sqlite3PrimaryKeyIndex(pTab);
    if( pPk==0 || pPk->nKeyCol!=1 ){
      sqlite3ErrorMsg(pParse, "vector index: unsupported for tables without ROWID and composite primary key");
      return 1;
    }
  }
  iCol = pCall->x.pList->a[0].pExpr->iColumn;
  {
    const char *azOpt[64];
    int nOpt = pCall->x.pList->nExpr-1;
    char *zErr = 0;
    const edgelite_vector_methods *m = edgelite_vector_index_methods();
    if( nOpt>64 ) nOpt = 64;   /* far beyond the 128-byte option limit: still an error */
    for(i=0; i<nOpt; i++){
      azOpt[i] = pCall->x.pList->a[i+1].pExpr->u.zToken;
    }
    if( m==0 || m->xValidate==0 ){
      sqlite3ErrorMsg(pParse, "vector index: edgelite's vector index methods are missing");
      return 1;
    }
    if( m->xValidate(sqlite3ColumnType(&pTab->aCol[iCol], ""), nOpt, azOpt, &zErr)!=SQLITE_OK ){
      sqlite3ErrorMsg(pParse, "%s", zErr ? zErr : "vector index: invalid vector index");
      sqlite3_free(zErr);
      return 1;
    }
  }
  return 0;
}

/* Codes what CREATE INDEX does for a new vector index: the create method makes the shadow
** tables and the metadata row and answers whether the index needs filling (not when a dump
** load already brought its shadow rows), then the fill. */
static void edgeliteVectorCreate(Parse *pParse, Index *pIdx, int iDb){
  Vdbe *v = sqlite3GetVdbe(pParse);
  Table *pTab = pIdx->pTable;
  Expr *pCall = pIdx->aColExpr->a[0].pExpr;
  ExprList *pArgs = pCall->x.pList;
  int regArg, i, r, addr;
  if( v==0 || (pParse->db->mDbFlags & DBFLAG_Vacuum)!=0 ) return;
  regArg = pParse->nMem+1;
  pParse->nMem += 2+pArgs->nExpr;
  sqlite3VdbeLoadString(v, regArg, pTab->zName);
  sqlite3VdbeLoadString(v, regArg+1, pTab->aCol[pArgs->a[0].pExpr->iColumn].zCnName);
  sqlite3VdbeLoadString(v, regArg+2, sqlite3ColumnType(&pTab->aCol[pArgs->a[0].pExpr->iColumn], ""));
  for(i=1; i<pArgs->nExpr; i++){
    sqlite3VdbeLoadString(v, regArg+2+i, pArgs->a[i].pExpr->u.zToken);
  }
  r = edgeliteVectorCall(pParse, EDGELITE_VECTOR_OP_CREATE, pIdx, iDb, regArg, 2+pArgs->nExpr);
  addr = sqlite3VdbeAddOp1(v, OP_IfNot, r); VdbeCoverage(v);
  edgeliteVectorFill(pParse, pIdx, iDb);
  sqlite3VdbeJumpHere(v, addr);
}
/* Codes what dropping vector index pIdx does to its shadow table and metadata row. They are
** dropped by code in this statement's own program: a DROP TABLE run by a nested statement
** would find this one active and fail with SQLITE_LOCKED. The drop method is told first. */
static void edgeliteVectorDrop(Parse *pParse, Index *pIdx, int iDb){
  sqlite3 *db = pParse->db;
  const char *zDb = db->aDb[iDb].zDbSName;
  char *zShadow;
  if( (db->mDbFlags & DBFLAG_Vacuum)!=0 ) return;
  edgeliteVectorCall(pParse, EDGELITE_VECTOR_OP_DROP, pIdx, iDb, 0, 0);
  zShadow = sqlite3MPrintf(db, "%s_shadow", pIdx->zName);
  if( zShadow==0 ) return;
  if( sqlite3FindTable(db, zShadow, zDb) ){
    sqlite3NestedParse(pParse, "DROP TABLE %Q.%Q", zDb, zShadow);
  }
  sqlite3DbFree(db, zShadow);
  if( sqlite3FindTable(db, "libsql_vector_meta_shadow", zDb) ){
    /* the index's metadata row, and the records of its nodes without a direction (the
    ** bridge's zeros.rs: named 'sqlite_edgelite_zero' char(1) length(<index>) char(1) <index>
    ** char(1) <id>) */
    sqlite3NestedParse(pParse, "DELETE FROM %Q.libsql_vector_meta_shadow WHERE name=%Q"
                       " OR (name>='sqlite_edgelite_zero'||char(1)||length(%Q)||char(1)||%Q||char(1)"
                       " AND name<'sqlite_edgelite_zero'||char(1)||length(%Q)||char(1)||%Q||char(2))",
                       zDb, pIdx->zName, pIdx->zName, pIdx->zName, pIdx->zName, pIdx->zName);
  }
}
