/*
** edgelite: the planner rewrite of core patch 0002 (PATCHES.md): ORDER BY vector_distance_*(col,
** q) LIMIT n [OFFSET m] through the vector index.
**
** Not compiled on its own: sqlite3-src/patches/0002 includes this file into the amalgamation
** after 0001's helpers, inside #if !defined(EDGELITE_OMIT_VECTOR_PLANNER) &&
** !defined(EDGELITE_OMIT_VECTOR_INDEX), so it sees SQLite's internal types and
** EDGELITE_IS_VECTOR_INDEX(). sqlite3Select() calls edgeliteVectorOrderBy() before name
** resolution.
*/
/* Walker callbacks: eCode becomes 1 if an expression can depend on the row (a column, a
** subquery, a window) or, for edgeliteHasAggregate, if it calls an aggregate or a window. */
static int edgeliteRowExprCb(Walker *pW, Expr *p){
  if( p->op==TK_ID || p->op==TK_DOT || p->op==TK_COLUMN || p->op==TK_AGG_COLUMN
   || p->op==TK_AGG_FUNCTION || ExprHasProperty(p, EP_WinFunc) ){
    pW->eCode = 1;
    return WRC_Abort;
  }
  return WRC_Continue;
}
static int edgeliteRowSelectCb(Walker *pW, Select *pSel){
  (void)pSel;
  pW->eCode = 1;
  return WRC_Abort;
}
static int edgeliteAggExprCb(Walker *pW, Expr *p){
  if( p->op==TK_FUNCTION ){
    sqlite3 *db = pW->pParse->db;
    int n = p->x.pList ? p->x.pList->nExpr : 0;
    FuncDef *pDef = sqlite3FindFunction(db, p->u.zToken, n, ENC(db), 0);
    if( ExprHasProperty(p, EP_WinFunc) || (pDef && pDef->xFinalize) ){
      pW->eCode = 1;
      return WRC_Abort;
    }
  }
  return WRC_Continue;
}
/* eCode becomes 1 at a bare name that starts as the rewrite's own names do (edgelite_...): the
** copies of the query's clauses sit next to the rewrite's subqueries and table-valued
** functions, where such a name may be ambiguous (a user's column edgelite_gate in WHERE
** edgelite_gate > 2: "ambiguous column name", where the scan answers; a differential fuzzer's
** find) or name one of the rewrite's columns where the scan fails ("no such column"). */
static int edgeliteReservedNameCb(Walker *pW, Expr *p){
  if( p->op==TK_ID && p->u.zToken && sqlite3StrNICmp(p->u.zToken, "edgelite_", 9)==0 ){
    pW->eCode = 1;
    return WRC_Abort;
  }
  return WRC_Continue;
}
/* For a WHERE clause: eCode becomes 1 at a bare name that is an alias of a result column
** (of pW->u.pSelect), at a bare name reserved by the rewrite (edgeliteReservedNameCb), or at a
** call of a function not known to be deterministic. */
static int edgeliteWhereUnsafeCb(Walker *pW, Expr *p){
  if( edgeliteReservedNameCb(pW, p)==WRC_Abort ) return WRC_Abort;
  if( p->op==TK_ID && pW->u.pSelect->pEList ){
    ExprList *pE = pW->u.pSelect->pEList;
    int i;
    for(i=0; i<pE->nExpr; i++){
      if( pE->a[i].zEName && pE->a[i].fg.eEName==ENAME_NAME
       && sqlite3StrICmp(pE->a[i].zEName, p->u.zToken)==0 ){
        pW->eCode = 1;
        return WRC_Abort;
      }
    }
  }
  if( p->op==TK_FUNCTION && !ExprHasProperty(p, EP_IntValue) ){
    sqlite3 *db = pW->pParse->db;
    int n = ExprUseXList(p) && p->x.pList ? p->x.pList->nExpr : 0;
    FuncDef *pDef = sqlite3FindFunction(db, p->u.zToken, n, ENC(db), 0);
    if( pDef==0 || (pDef->funcFlags & SQLITE_FUNC_CONSTANT)==0 ){
      pW->eCode = 1;
      return WRC_Abort;
    }
  }
  return WRC_Continue;
}
/* Walks into subqueries too (their filters are copied with the WHERE clause); eCode becomes 1
** at a subquery that reads a table named like the rewrite's own CTEs (edgelite_...), which the
** copies of the filter inside those CTEs' scope would read instead. */
static int edgeliteNoSelectCb(Walker *pW, Select *pSel){
  int i;
  for(i=0; pSel->pSrc && i<pSel->pSrc->nSrc; i++){
    const char *zName = pSel->pSrc->a[i].zName;
    if( zName && sqlite3StrNICmp(zName, "edgelite_", 9)==0 ){
      pW->eCode = 1;
      return WRC_Abort;
    }
  }
  return WRC_Continue;
}
static int edgeliteSkipSelectCb(Walker *pW, Select *pSel){
  (void)pW; (void)pSel;
  return WRC_Prune;
}

/* A walker with the callbacks given, nothing else set. */
static void edgeliteWalker(Walker *pW, Parse *pParse, int (*xExpr)(Walker*, Expr*),
                           int (*xSelect)(Walker*, Select*)){
  memset(pW, 0, sizeof(*pW));
  pW->pParse = pParse;
  pW->xExprCallback = xExpr;
  pW->xSelectCallback = xSelect;
}

/* Walks pExpr with the callbacks given; returns the walk's eCode (1: one of them said no). */
static int edgeliteWalkExpr(Parse *pParse, Expr *pExpr, int (*xExpr)(Walker*, Expr*),
                            int (*xSelect)(Walker*, Select*)){
  Walker w;
  edgeliteWalker(&w, pParse, xExpr, xSelect);
  sqlite3WalkExpr(&w, pExpr);
  return w.eCode;
}

/* Walks p's WHERE clause and the ON clauses of its FROM items (the clauses the rewrite copies)
** with walker pW (edgeliteWalkFilterWith), or with the callbacks given, pW->u.pSelect being p
** (edgeliteWalkFilter); returns the walk's eCode (1: one of them said no). */
static int edgeliteWalkFilterWith(Walker *pW, Select *p){
  int i;
  if( p->pWhere ) sqlite3WalkExpr(pW, p->pWhere);
  for(i=0; p->pSrc && i<p->pSrc->nSrc && pW->eCode==0; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    if( !pIt->fg.isUsing && pIt->u3.pOn ) sqlite3WalkExpr(pW, pIt->u3.pOn);
  }
  return pW->eCode;
}
static int edgeliteWalkFilter(Parse *pParse, Select *p, int (*xExpr)(Walker*, Expr*),
                              int (*xSelect)(Walker*, Select*)){
  Walker w;
  edgeliteWalker(&w, pParse, xExpr, xSelect);
  w.u.pSelect = p;
  return edgeliteWalkFilterWith(&w, p);
}

/* eCode becomes 1 at a function call. */
static int edgeliteCallCb(Walker *pW, Expr *p){
  if( p->op==TK_FUNCTION ){
    pW->eCode = 1;
    return WRC_Abort;
  }
  return WRC_Continue;
}
/* eCode becomes 1 at a subquery. */
static int edgeliteSubqueryCb(Walker *pW, Select *pSel){
  (void)pSel;
  pW->eCode = 1;
  return WRC_Abort;
}

static Expr *edgeliteHasVector(Parse*, const char*, const char*);
static int edgeliteNamedColumn(Expr*, SrcItem*, Table*);

/* True for a filter over several tables or a table with generated columns: the vector is then
** tested (<zRef>.<zCol> IS NOT NULL) before the whole filter, which may fail on a row without
** one where the scan that tests the vector first does not (vector_distance_*() of NULL in a
** generated column; a join's filter on a row the query's own plan never reaches). Else
** edgeliteGuardWhere places the test among the filter's terms. */
static int edgeliteTestVectorFirst(Select *p, Table *pTab){
  return p->pSrc==0 || p->pSrc->nSrc!=1 || (pTab->tabFlags & TF_HasGenerated)!=0;
}

/* Copies the AND-ed terms of pExpr into *ppSafe (those that call no function and hold no
** subquery: comparisons, IN lists, ranges, OR of such) and *ppRisky (the others), each in its
** order. */
static void edgeliteSplitTerms(Parse *pParse, Expr *pExpr, Expr **ppSafe, Expr **ppRisky){
  Expr **pp;
  if( pExpr==0 ) return;
  if( pExpr->op==TK_AND ){
    edgeliteSplitTerms(pParse, pExpr->pLeft, ppSafe, ppRisky);
    edgeliteSplitTerms(pParse, pExpr->pRight, ppSafe, ppRisky);
    return;
  }
  pp = edgeliteWalkExpr(pParse, pExpr, edgeliteCallCb, edgeliteSubqueryCb) ? ppRisky : ppSafe;
  *pp = sqlite3ExprAnd(pParse, *pp, sqlite3ExprDup(pParse->db, pExpr, 0));
}

/* A copy of pWhere, p's filter, with the test that the row has a vector (<zRef>.<zCol> IS NOT
** NULL) where no row without one meets a term that may fail on it: first if bFirst
** (edgeliteTestVectorFirst); else after the terms that cannot fail (no function call, no
** subquery) and before the others, and left out if there are no others unless bAlways. A scan
** evaluates the filter on every row it reads, and the test first on every row cost a tenth of
** the scan (`filtered -- --synthetic 100000`, `bucket = 7`: 0.87x the scan's speed, 58
** against 50 ms a query); after the terms that cannot fail it runs on the rows they pass.
** Terms that may fail come after it: vector_distance_*() of NULL, abs() of the least integer,
** a user's function that raises (a review found all three once the test came after every
** filter that called no function on the vector column by name); so does LIKE, a function. */
static Expr *edgeliteGuardWhere(Parse *pParse, Expr *pWhere, int bFirst, const char *zRef, const char *zCol,
                                int bAlways){
  Expr *pSafe = 0, *pRisky = 0;
  if( bFirst ){
    return sqlite3ExprAnd(pParse, edgeliteHasVector(pParse, zRef, zCol), sqlite3ExprDup(pParse->db, pWhere, 0));
  }
  edgeliteSplitTerms(pParse, pWhere, &pSafe, &pRisky);
  if( pRisky==0 && !bAlways ) return pSafe;
  return sqlite3ExprAnd(pParse, sqlite3ExprAnd(pParse, pSafe, edgeliteHasVector(pParse, zRef, zCol)), pRisky);
}

/* The metric of vector index pIdx as its options give it: "cosine" (the default), "l2", or 0
** for anything this rewrite does not understand. The value is read as CREATE INDEX read it
** (libSQL's rule, options.rs): any case-insensitive prefix of "cosine", tried first, or of
** "l2", the last metric= option winning. Read as exactly "cosine" or "l2", an index made with
** 'metric=cos' (or 'metric=L2') was never used: the query scanned, and INDEXED BY failed. */
static const char *edgeliteIndexMetric(Index *pIdx){
  ExprList *pArgs = pIdx->aColExpr->a[0].pExpr->x.pList;
  const char *zMetric = "cosine";
  int i;
  for(i=1; i<pArgs->nExpr; i++){
    const char *z = pArgs->a[i].pExpr->u.zToken;
    if( sqlite3StrNICmp(z, "metric=", 7)==0 ){
      int n = sqlite3Strlen30(z+7);
      if( n<=6 && sqlite3StrNICmp(z+7, "cosine", n)==0 ) zMetric = "cosine";
      else if( n<=2 && sqlite3StrNICmp(z+7, "l2", n)==0 ) zMetric = "l2";
      else return 0;
    }
  }
  return zMetric;
}

/* CASE WHEN pCond THEN pThen ELSE pElse END. */
static Expr *edgeliteCase(Parse *pParse, Expr *pCond, Expr *pThen, Expr *pElse){
  ExprList *pList = sqlite3ExprListAppend(pParse, 0, pCond);
  Expr *pCase;
  pList = sqlite3ExprListAppend(pParse, pList, pThen);
  pList = sqlite3ExprListAppend(pParse, pList, pElse);
  pCase = sqlite3PExpr(pParse, TK_CASE, 0, 0);
  if( pCase ){
    pCase->x.pList = pList;
    sqlite3ExprSetHeightAndFlags(pParse, pCase);
  }else{
    sqlite3ExprListDelete(pParse->db, pList);
  }
  return pCase;
}

/* The K of a rewritten ORDER BY ... LIMIT whose limit or offset is a bound parameter:
** edgelite_limit_k(<limit>[, <offset>]) (vector_sample.rs), evaluated when the statement runs:
** n + max(m, 0) as SQLite's LIMIT and OFFSET take them (numeric text '5' is 5, the double 10.0
** is 10), or the largest integer (every node: the search then returns every reachable row, as
** the scan would) for a negative limit, which means no limit, or one too large to count. The
** parameters keep their numbers, so a value bound once is read in both places. One call, not
** an expression of the parameters: K is copied into every copy of the rewrite's CTEs, and an
** expression of about twenty terms tripled what a filtered query with `LIMIT ?` cost to
** prepare. */
static Expr *edgeliteBoundK(Parse *pParse, Expr *pLimit, Expr *pOffset){
  sqlite3 *db = pParse->db;
  Token tFn = {"edgelite_limit_k", 16};
  ExprList *pArgs = sqlite3ExprListAppend(pParse, 0, sqlite3ExprDup(db, pLimit, 0));
  if( pOffset ) pArgs = sqlite3ExprListAppend(pParse, pArgs, sqlite3ExprDup(db, pOffset, 0));
  return sqlite3ExprFunction(pParse, pArgs, &tFn, 0);
}

/* FROM items a rewritten query may join (the vector table and the tables that filter it). */
#define EDGELITE_MAX_JOIN 8

/* Rows a filter may pass for the rewrite to answer from an ordinary index, exactly. */
#define EDGELITE_EXACT_ROWS 1000

/* K plus slack for a filtered scan: K + ceil(K/10), or K itself when K means "every row".
** The walk returns rows in nearly exact order (each once the whole of its candidate list waits
** behind it), so a few more than K let the exact ORDER BY pick the right K. Each candidate
** costs a step of the walk and a seek of the filter's row, so the slack is most of what a
** filter that few rows pass costs: on minilm-20k (`WHERE bucket < 100 ... LIMIT 10`, 10% of
** the rows pass), by hand, K + 1 gave recall@10 0.982 at 1.3x the queries/s of K + 10 with a
** quarter of the list's look-ahead past the first K rows (0.982), K + 2 0.985 at 1.22x, and K
** alone 0.979 at 1.38x; on 100,000 rows (`filtered -- --synthetic 100000`) K + 1 gave 0.982
** at 1.17x against 0.977. The slack's rows farther than the K-th that passed are no longer
** sought (edgelite_pass, below).
** The rule is one Rust function, edgelite_slack_rows (vector_sample.rs), which this file calls
** for a literal K and the SQL function edgelite_slack applies to a bound one. */

/* The slack as an expression of pK (taken): a number for a literal K, else a call. */
static Expr *edgeliteSlack(Parse *pParse, Expr *pK){
  sqlite3 *db = pParse->db;
  int k;
  if( sqlite3ExprIsInteger(pK, &k, 0, 0) && k>=0 && k<=10000 ){
    /* a literal K (the rewrite takes literals up to 10,000): S itself, not an expression of K
    ** that the statement computes at every run and that SQLite copies with every copy of the
    ** walk's CTE */
    sqlite3ExprDelete(db, pK);
    return sqlite3ExprInt32(db, (int)edgelite_slack_rows(k));
  }
  /* a bound K (edgeliteBoundK): edgelite_slack(<K>) (vector_sample.rs), the same rule, when
  ** the statement runs; one call, as K is (an expression of K was copied with every copy) */
  {
    Token tFn = {"edgelite_slack", 14};
    return sqlite3ExprFunction(pParse, sqlite3ExprListAppend(pParse, 0, pK), &tFn, 0);
  }
}

/* edgeliteSlack of a copy of pK (which the caller keeps). */
static Expr *edgeliteSlackOf(Parse *pParse, Expr *pK){
  return edgeliteSlack(pParse, sqlite3ExprDup(pParse->db, pK, 0));
}

/* <zRef>.<zCol> IS NOT NULL: the row has a vector (a node in the index, the walk's rows). */
static Expr *edgeliteHasVector(Parse *pParse, const char *zRef, const char *zCol){
  sqlite3 *db = pParse->db;
  return sqlite3PExpr(pParse, TK_NOTNULL,
      sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRef), sqlite3Expr(db, TK_ID, zCol)), 0);
}

/* The name of the rewrite's CTE of the rows that pass an indexed filter (edgeliteFewWith). */
#define EDGELITE_FEW "edgelite_few"

/* WITH edgelite_few AS MATERIALIZED (SELECT <zRef>.rowid AS edgelite_r FROM <p's FROM item>
** WHERE <p's WHERE, with edgeliteGuardWhere's test> LIMIT EDGELITE_EXACT_ROWS + 1): the rows
** that pass a filter an ordinary index serves, read through it once, stopping at one more than
** an exact answer should read. Both branches of the rewrite and both of their gates use it, so
** the rows are read once (a gate and a branch each reading them made a selective rowid range
** cost three reads). A row without a vector is tested before any term that may fail on one
** (edgeliteGuardWhere; before the whole filter for a join), as in edgeliteFilterExists: this
** CTE has no ORDER BY, so SQLite may join its tables in another order than the query's own
** plan, and a filter's vector_distance_*() then failed on a row that plan never reaches (a
** differential fuzzer's join: `FROM t AS x, u WHERE x.a < 2 AND vector_distance_cos(x.v, ?)
** < 1.5 AND u.tid = x.rowid`, with x.a indexed and a row of x without a vector that no u
** names, failed where the scan answers). */
static With *edgeliteFewWith(Parse *pParse, Select *p, int bFirst, const char *zRef,
                             const char *zCol){
  sqlite3 *db = pParse->db;
  Token tFew, tR;
  ExprList *pCols = sqlite3ExprListAppend(pParse, 0,
      sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRef), sqlite3Expr(db, TK_ID, "rowid")));
  Select *pRows;
  tR.z = "edgelite_r";
  tR.n = 10;
  sqlite3ExprListSetName(pParse, pCols, &tR, 0);
  /* the vector is tested only before a term that may fail on a row without one: the query's
  ** own WHERE leaves such rows out */
  pRows = sqlite3SelectNew(pParse, pCols,
      sqlite3SrcListDup(db, p->pSrc, 0), edgeliteGuardWhere(pParse, p->pWhere, bFirst, zRef, zCol, 0), 0, 0, 0, 0,
      sqlite3PExpr(pParse, TK_LIMIT, sqlite3ExprInt32(db, EDGELITE_EXACT_ROWS + 1), 0));
  tFew.z = EDGELITE_FEW;
  tFew.n = sizeof(EDGELITE_FEW) - 1;
  return sqlite3WithAdd(pParse, 0, sqlite3CteNew(pParse, &tFew, 0, pRows, M10d_Yes));
}

/* SELECT <pCols> FROM edgelite_few */
static Select *edgeliteFromFew(Parse *pParse, ExprList *pCols, Expr *pWhere){
  Token tFew;
  tFew.z = EDGELITE_FEW;
  tFew.n = sizeof(EDGELITE_FEW) - 1;
  return sqlite3SelectNew(pParse, pCols, sqlite3SrcListAppend(pParse, 0, &tFew, 0), pWhere, 0, 0, 0, 0, 0);
}

/* (SELECT count(*) FROM edgelite_few) > EDGELITE_EXACT_ROWS: more rows pass the filter than an
** exact answer from an ordinary index should read (edgeliteFewWith). */
static Expr *edgeliteManyPass(Parse *pParse){
  sqlite3 *db = pParse->db;
  Token tCount;
  Expr *pCount = sqlite3PExpr(pParse, TK_SELECT, 0, 0);
  tCount.z = "count";
  tCount.n = 5;
  sqlite3PExprAddSelect(pParse, pCount, edgeliteFromFew(pParse,
      sqlite3ExprListAppend(pParse, 0, sqlite3ExprFunction(pParse, 0, &tCount, 0)), 0));
  return sqlite3PExpr(pParse, TK_GT, pCount, sqlite3ExprInt32(db, EDGELITE_EXACT_ROWS));
}


/* EXISTS (SELECT 1 FROM <p's FROM item> WHERE <zRef>.rowid = <zRows>.edgelite_id
**   AND <p's WHERE with the test <zRef>.<zCol> IS NOT NULL: edgeliteGuardWhere>):
** p's filter, evaluated on the row whose rowid is the enclosing query's edgelite_id, in the
** scope it was written for: the copy of the FROM item comes innermost, so every name means what
** it meant (the edgelite_* modules' columns have names no table uses). A row without a vector
** (zCol, the vector column) is not in the index, so it passes for no walk; testing that before
** any term that may fail keeps the sample from evaluating such a term on such a row, whose
** vector_distance_*() would fail where the query's own plan (a join that never reaches the
** row) does not call it. bFirst: edgeliteTestVectorFirst. */
static Expr *edgeliteFilterExists(Parse *pParse, Select *p, int bFirst, const char *zRef, const char *zCol,
                                  const char *zRows){
  sqlite3 *db = pParse->db;
  Expr *pExists;
  /* edgelite_id qualified: a user's column of that name in the copied FROM clause, which is
  ** the inner scope, would take a bare name */
  Expr *pEq = sqlite3PExpr(pParse, TK_EQ,
      sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRef), sqlite3Expr(db, TK_ID, "rowid")),
      sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRows), sqlite3Expr(db, TK_ID, "edgelite_id")));
  /* the vector tested after the terms that cannot fail (edgeliteGuardWhere): most rows a
  ** selective filter sees fail it, and reading their vector copied it for nothing */
  Select *pInner = sqlite3SelectNew(pParse,
      sqlite3ExprListAppend(pParse, 0, sqlite3ExprInt32(db, 1)),
      sqlite3SrcListDup(db, p->pSrc, 0),
      sqlite3ExprAnd(pParse, pEq, edgeliteGuardWhere(pParse, p->pWhere, bFirst, zRef, zCol, 1)),
      0, 0, 0, 0, 0);
  pExists = sqlite3PExpr(pParse, TK_EXISTS, 0, 0);
  sqlite3PExprAddSelect(pParse, pExists, pInner);
  return pExists;
}

/* Rows of the table a filter's sample evaluates (edgelite_vector_sample). */
#define EDGELITE_SAMPLE_ROWS 64
/* The name of the rewrite's CTE of the sample's verdict (edgeliteSampledMany). */
#define EDGELITE_MANY "edgelite_many"

/* Variables of p's filter (its WHERE clause and ON clauses, subqueries included) beyond which
** the sample's count is not remembered (edgeliteSampledMany): each is an argument of the memo's
** functions. */
#define EDGELITE_MEMO_VARS 64

/* Appends a copy of each variable the walk meets to pW->u.pGroupBy. */
static int edgeliteVarCb(Walker *pW, Expr *pExpr){
  if( pExpr->op==TK_VARIABLE ){
    pW->u.pGroupBy = sqlite3ExprListAppend(pW->pParse, pW->u.pGroupBy, sqlite3ExprDup(pW->pParse->db, pExpr, 0));
  }
  return WRC_Continue;
}

/* Copies of the variables of p's filter (its WHERE clause and the ON clauses of its FROM items,
** their subqueries included), in the order met; 0 if there are none. */
static ExprList *edgeliteFilterVars(Parse *pParse, Select *p){
  Walker w;
  edgeliteWalker(&w, pParse, edgeliteVarCb, sqlite3SelectWalkNoop);
  edgeliteWalkFilterWith(&w, p);
  return w.u.pGroupBy;
}

/* pArgs, <schema>, <table>, EDGELITE_SAMPLE_ROWS: the arguments that name pTab's sample,
** appended to pArgs. */
static ExprList *edgeliteSampleArgs(Parse *pParse, ExprList *pArgs, Table *pTab){
  sqlite3 *db = pParse->db;
  pArgs = sqlite3ExprListAppend(pParse, pArgs,
      sqlite3Expr(db, TK_STRING, db->aDb[sqlite3SchemaToIndex(db, pTab->pSchema)].zDbSName));
  pArgs = sqlite3ExprListAppend(pParse, pArgs, sqlite3Expr(db, TK_STRING, pTab->zName));
  return sqlite3ExprListAppend(pParse, pArgs, sqlite3ExprInt32(db, EDGELITE_SAMPLE_ROWS));
}

/* FROM edgelite_vector_sample(<schema>, <table>, EDGELITE_SAMPLE_ROWS) AS edgelite_vector_sample */
static SrcList *edgeliteSampleFrom(Parse *pParse, Table *pTab){
  sqlite3 *db = pParse->db;
  Token tFn = {"edgelite_vector_sample", 22};
  ExprList *pArgs = edgeliteSampleArgs(pParse, 0, pTab);
  SrcList *pSrc = sqlite3SrcListAppend(pParse, 0, &tFn, 0);
  if( pSrc==0 ){
    sqlite3ExprListDelete(db, pArgs);
    return 0;
  }
  sqlite3SrcListFuncArgs(pParse, pSrc, pArgs);
  pSrc->a[0].zAlias = sqlite3DbStrDup(db, "edgelite_vector_sample");
  return pSrc;
}

/* WITH edgelite_many AS MATERIALIZED (SELECT edgelite_walk_budget(<count>, <schema>, <table>,
**   EDGELITE_SAMPLE_ROWS, pSlack) AS edgelite_b): the verdict of the filter's sample (over
**   edgelite_vector_sample(<schema>, <table>, EDGELITE_SAMPLE_ROWS)), drawn once per run: 0 when
**   the walk would read too much of the table to find pSlack rows that pass (the query then
**   scans), else the walk's budget; NULL for an empty table (vector_sample.rs). The walk reads
**   it, as the outer loop of its FROM clause: it starts only when edgelite_b > 0, with that
**   budget. The rule and its reasons are in the Rust function, one call: as SQL expressions of
**   the sample's size and the table's, the test and the budget were copied with every copy of
**   the walk's CTE. bFirst: edgeliteTestVectorFirst, decided once per rewrite. Takes ownership
**   of pSlack.
** <count>, the rows of the sample that pass the filter, is
**   coalesce(edgelite_sample_memo(<site>, <the filter's variables>),
**            edgelite_sample_remember(<site>, (SELECT sum(<filter passes>) FROM
**              edgelite_vector_sample(...)), <the filter's variables>))
** <site> a random number drawn for this rewrite: a run with the same values of the filter's
** variables over unchanged data takes the count an earlier run of the statement remembered
** (vector_sample.rs), where counting evaluated the filter on each of the sample's rows (64
** seeks, about 4% of `WHERE bucket < 100 ... LIMIT 10` on minilm-20k). The count only
** chooses between plans that are both exact in rows. A filter with more than
** EDGELITE_MEMO_VARS variables is counted every run: (SELECT sum(<filter passes>) FROM
** edgelite_vector_sample(...)). */
static With *edgeliteSampledMany(Parse *pParse, Select *p, Table *pTab, int bFirst,
                                 const char *zRef, const char *zCol, Expr *pSlack){
  sqlite3 *db = pParse->db;
  Token tSum = {"sum", 3};
  Token tB = {"edgelite_b", 10}, tMany;
  Token tMemo = {"edgelite_sample_memo", 20}, tRemember = {"edgelite_sample_remember", 24};
  Token tCoalesce = {"coalesce", 8}, tBudget = {"edgelite_walk_budget", 20};
  ExprList *pCols, *pVars, *pBudgetArgs;
  SrcList *pSrc;
  Select *pSample;
  Expr *pCount;
  pSrc = edgeliteSampleFrom(pParse, pTab);
  if( pSrc==0 ){
    sqlite3ExprDelete(db, pSlack);
    return 0;
  }
  pCount = sqlite3ExprFunction(pParse,
      sqlite3ExprListAppend(pParse, 0, edgeliteFilterExists(pParse, p, bFirst, zRef, zCol, "edgelite_vector_sample")), &tSum, 0);
  pVars = edgeliteFilterVars(pParse, p);
  if( pVars==0 || pVars->nExpr<=EDGELITE_MEMO_VARS ){
    u64 site;
    char zSite[24];
    ExprList *pMemoArgs, *pRememberArgs, *pEither;
    Expr *pSum = sqlite3PExpr(pParse, TK_SELECT, 0, 0);
    sqlite3_randomness(sizeof(site), &site);
    sqlite3_snprintf(sizeof(zSite), zSite, "%lld", (i64)(site & LARGEST_INT64));
    sqlite3PExprAddSelect(pParse, pSum,
        sqlite3SelectNew(pParse, sqlite3ExprListAppend(pParse, 0, pCount), pSrc, 0, 0, 0, 0, 0, 0));
    pSrc = 0;
    pMemoArgs = sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_INTEGER, zSite));
    pRememberArgs = sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_INTEGER, zSite));
    pRememberArgs = sqlite3ExprListAppend(pParse, pRememberArgs, pSum);
    if( pVars ){
      int i;
      for(i=0; i<pVars->nExpr; i++){
        pMemoArgs = sqlite3ExprListAppend(pParse, pMemoArgs, sqlite3ExprDup(db, pVars->a[i].pExpr, 0));
        pRememberArgs = sqlite3ExprListAppend(pParse, pRememberArgs, pVars->a[i].pExpr);
        pVars->a[i].pExpr = 0;
      }
      sqlite3ExprListDelete(db, pVars);
    }
    pEither = sqlite3ExprListAppend(pParse, 0, sqlite3ExprFunction(pParse, pMemoArgs, &tMemo, 0));
    pEither = sqlite3ExprListAppend(pParse, pEither, sqlite3ExprFunction(pParse, pRememberArgs, &tRemember, 0));
    pCount = sqlite3ExprFunction(pParse, pEither, &tCoalesce, 0);
  }else{
    /* (SELECT sum(<filter passes>) FROM edgelite_vector_sample(...)) */
    Expr *pSum = sqlite3PExpr(pParse, TK_SELECT, 0, 0);
    sqlite3ExprListDelete(db, pVars);
    sqlite3PExprAddSelect(pParse, pSum,
        sqlite3SelectNew(pParse, sqlite3ExprListAppend(pParse, 0, pCount), pSrc, 0, 0, 0, 0, 0, 0));
    pCount = pSum;
    pSrc = 0;
  }
  sqlite3SrcListDelete(db, pSrc);
  /* edgelite_walk_budget(<count>, <schema>, <table>, EDGELITE_SAMPLE_ROWS, pSlack) */
  pBudgetArgs = edgeliteSampleArgs(pParse, sqlite3ExprListAppend(pParse, 0, pCount), pTab);
  pBudgetArgs = sqlite3ExprListAppend(pParse, pBudgetArgs, pSlack);
  pCols = sqlite3ExprListAppend(pParse, 0, sqlite3ExprFunction(pParse, pBudgetArgs, &tBudget, 0));
  sqlite3ExprListSetName(pParse, pCols, &tB, 0);
  pSample = sqlite3SelectNew(pParse, pCols, 0, 0, 0, 0, 0, 0, 0);
  tMany.z = EDGELITE_MANY;
  tMany.n = sizeof(EDGELITE_MANY) - 1;
  return sqlite3WithAdd(pParse, 0, sqlite3CteNew(pParse, &tMany, 0, pSample, M10d_Yes));
}

/* edgelite_many.<zCol>: a column of the sample's verdict, read where edgelite_many is a FROM
** item (the walk's, edgeliteRewriteOne). */
static Expr *edgeliteManyCol(Parse *pParse, const char *zCol){
  sqlite3 *db = pParse->db;
  return sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, EDGELITE_MANY), sqlite3Expr(db, TK_ID, zCol));
}

/* The name of the rewrite's CTE of the walk's candidates that pass the filter. */
#define EDGELITE_WALK "edgelite_walk"

/* (SELECT count(*) FROM edgelite_walk) < pK, the gate of the rewrite's scans: true when the
** rows that pass are ranked by a scan, because the sample says that few pass (the walk is then
** never started: its own test of edgelite_many, in edgeliteRewriteOne, and it has no rows,
** fewer than K, K >= 1 whenever a row is read) or the walk spent its budget before K rows
** passed. K, not S: once K rows have passed, the walk's later rows are only those nearer than
** the K-th (edgelite_pass), so a walk that has answered may end with K. The caller keeps pK.
** The gate used to test the sample's verdict as well, in a subquery of edgelite_many of its
** own; every reference to a CTE is a copy of its SELECT (the sample's, with the filter), which
** SQLite expands and resolves at each, and those copies were most of what the rewrite cost to
** prepare. */
static Expr *edgeliteWalkShort(Parse *pParse, Expr *pK){
  Token tCount = {"count", 5}, tWalk = {EDGELITE_WALK, sizeof(EDGELITE_WALK) - 1};
  Expr *pCount = sqlite3PExpr(pParse, TK_SELECT, 0, 0);
  sqlite3PExprAddSelect(pParse, pCount, sqlite3SelectNew(pParse,
      sqlite3ExprListAppend(pParse, 0, sqlite3ExprFunction(pParse, 0, &tCount, 0)),
      sqlite3SrcListAppend(pParse, 0, &tWalk, 0), 0, 0, 0, 0, 0, 0));
  return sqlite3PExpr(pParse, TK_LT, pCount, sqlite3ExprDup(pParse->db, pK, 0));
}

/* True for a join whose FROM items are all ordinary tables without generated columns and whose
** ON clauses call no function and hold no subquery: no ON term can fail on any row (a view's
** column or a generated one may be a function's result). */
static int edgelitePlainJoin(Parse *pParse, Select *p){
  int i;
  if( p->pSrc->nSrc<2 ) return 0;
  for(i=0; i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    Table *pT = sqlite3FindTable(pParse->db, pIt->zName, pIt->u4.zDatabase);
    if( pT==0 || !IsOrdinaryTable(pT) || (pT->tabFlags & TF_HasGenerated)!=0 || pIt->fg.isUsing ) return 0;
    if( pIt->u3.pOn && edgeliteWalkExpr(pParse, pIt->u3.pOn, edgeliteCallCb, edgeliteSubqueryCb) ) return 0;
  }
  return 1;
}

/* eCode becomes 1 at a name of the rowid of the FROM item pW->u.pSrcItem's table (rowid, oid,
** _rowid_, or its INTEGER PRIMARY KEY), bare or qualified by that item's name or alias. */
static int edgeliteRowidNameCb(Walker *pW, Expr *p){
  SrcItem *pIt = pW->u.pSrcItem;
  Table *pT = sqlite3FindTable(pW->pParse->db, pIt->zName, pIt->u4.zDatabase);
  int iCol;
  if( p->op!=TK_ID && p->op!=TK_DOT ) return WRC_Continue;
  /* schema.table.column: any such name counts */
  iCol = pT && (p->op==TK_ID || p->pRight->op!=TK_DOT) ? edgeliteNamedColumn(p, pIt, pT) : -1;
  if( iCol==-1 || (iCol>=0 && iCol==pT->iPKey) ){
    pW->eCode = 1;
    return WRC_Abort;
  }
  return WRC_Prune;
}

/* eCode becomes 1 at a name, a column or a subquery: an expression that may differ from row to
** row. */
static int edgeliteNameCb(Walker *pW, Expr *p){
  if( p->op==TK_ID || p->op==TK_DOT || p->op==TK_COLUMN ){
    pW->eCode = 1;
    return WRC_Abort;
  }
  return WRC_Continue;
}

/* True if an AND-ed term of pExpr is `<column> = <value>` or `<column> IS <value>` (either way
** round), the column being FROM item pItem's rowid or the first column of a UNIQUE index of its
** table pTab, and the value naming no column: SQLite then reads that one row of pItem first and
** the other tables once for it. */
static int edgeliteOneRowTerm(Parse *pParse, Expr *pExpr, SrcItem *pItem, Table *pTab){
  int i;
  if( pExpr==0 ) return 0;
  if( pExpr->op==TK_AND ){
    return edgeliteOneRowTerm(pParse, pExpr->pLeft, pItem, pTab)
        || edgeliteOneRowTerm(pParse, pExpr->pRight, pItem, pTab);
  }
  if( pExpr->op!=TK_EQ && pExpr->op!=TK_IS ) return 0;
  for(i=0; i<2; i++){
    Expr *pCol = i ? pExpr->pRight : pExpr->pLeft, *pVal = i ? pExpr->pLeft : pExpr->pRight;
    int iCol = edgeliteNamedColumn(pCol, pItem, pTab);
    Index *pIdx;
    if( iCol==-2 || edgeliteWalkExpr(pParse, pVal, edgeliteNameCb, edgeliteSubqueryCb) ) continue;
    if( iCol==-1 || iCol==pTab->iPKey ) return 1;
    for(pIdx=pTab->pIndex; pIdx; pIdx=pIdx->pNext){
      if( pIdx->onError!=OE_None && pIdx->pPartIdxWhere==0 && pIdx->aiColumn[0]==iCol ) return 1;
    }
  }
  return 0;
}

/* True for a join whose rows that pass, when the scan answers, the query's own loop can rank
** as for one table (the rowid OR of edgeliteRewriteOne, the vector table pItem outermost):
** pItem is the first FROM item of a plain join (edgelitePlainJoin); no term of its WHERE or
** ON clauses calls a function or holds a subquery (SQLite copies the WHERE's comparisons into
** each side of the OR, ahead of the terms that the scan evaluates before them, and one that
** calls a function may fail there where the scan answers); its table has no ordinary index
** and no term names its rowid, so the scan's own plan reads it whole once too (with an index,
** or the rowid, the scan may reach its rows from another table, and the join order that the
** OR fixes would then read every row where the scan reads a few); and no other table is
** filtered to one row by its rowid or a UNIQUE index (edgeliteOneRowTerm: the scan reads that
** row first and the vector table once for it, where the fixed order seeks the other table
** for every row of the vector table: `items JOIN grp ON grp.id = items.bucket WHERE grp.code =
** 'c7'`, grp.code UNIQUE, on minilm-20k ran at 0.83x the scan, by hand; with an IN list,
** `grp.id IN (7, 9)`, SQLite's own plan reads the vector table once for each value, and the
** fixed order ran at 1.66-1.75x, `filtered -- --only 'JOIN grp, grp.id'`). A join ranked in
** a subquery of its own kept the nearest S rows, which the query read back by rowid and
** ranked again: `filtered -- --k 5000 --only JOIN` on minilm-20k ran at 0.57-0.71x the scan,
** 0.94-0.96x with this loop and patch 0009. */
static int edgeliteJoinOwnLoop(Parse *pParse, Select *p, SrcItem *pItem, Table *pTab){
  Index *pIdx;
  Walker w;
  int i;
  if( pItem!=&p->pSrc->a[0] || !edgelitePlainJoin(pParse, p) ) return 0;
  for(pIdx=pTab->pIndex; pIdx; pIdx=pIdx->pNext){
    if( !EDGELITE_IS_VECTOR_INDEX(pIdx) ) return 0;
  }
  if( p->pWhere && edgeliteWalkExpr(pParse, p->pWhere, edgeliteCallCb, edgeliteSubqueryCb) ) return 0;
  memset(&w, 0, sizeof(w));
  w.pParse = pParse;
  w.xExprCallback = edgeliteRowidNameCb;
  w.xSelectCallback = edgeliteSkipSelectCb;
  w.u.pSrcItem = pItem;
  sqlite3WalkExpr(&w, p->pWhere);
  /* edgelitePlainJoin: no USING, and no ON clause calls a function or holds a subquery */
  for(i=1; i<p->pSrc->nSrc && w.eCode==0; i++) sqlite3WalkExpr(&w, p->pSrc->a[i].u3.pOn);
  if( w.eCode ) return 0;
  for(i=1; i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    Table *pT = sqlite3FindTable(pParse->db, pIt->zName, pIt->u4.zDatabase);
    int j;
    if( pT==0 ) return 0;
    if( edgeliteOneRowTerm(pParse, p->pWhere, pIt, pT) ) return 0;
    for(j=1; j<p->pSrc->nSrc; j++){
      if( edgeliteOneRowTerm(pParse, p->pSrc->a[j].u3.pOn, pIt, pT) ) return 0;
    }
  }
  return 1;
}

/* SELECT edgelite_r FROM (SELECT <zRef>.rowid AS edgelite_r FROM (SELECT 1 AS edgelite_gate LIMIT pGate)
** CROSS JOIN <p's FROM> WHERE <p's WHERE, with edgeliteGuardWhere's test> ORDER BY <pOrder>
** LIMIT pS), pOrder being the distance p orders by (its ORDER BY term, or the result column
** that term names): the rows that pass, ranked as p ranks them, and only the first pS (every
** row p can return is among them, a row the join repeats included), so that p reads back a
** few rows instead of every row that passed (a filter that 1% of 20,000 rows pass: 20 seeks,
** not 200). A row without a vector is left out, as the walk leaves it out (it has no node):
** ranking it failed ("got NULL"), so that one query answered or failed by the plan that the
** table's statistics chose. The gate subquery has a LIMIT, so it is not flattened into the
** join, and the table is read only when pGate is 1. Takes ownership of pGate and pS. */
static Select *edgeliteExactBranch(Parse *pParse, Select *p, int bFirst, const char *zRef,
                                   const char *zCol, Expr *pOrder, Expr *pGate, Expr *pS){
  sqlite3 *db = pParse->db;
  Token tEmpty = {0, 0};
  Token tR = {"edgelite_r", 10};
  Token tGate = {"edgelite_gate", 13};
  SrcList *pFrom;
  ExprList *pCols = sqlite3ExprListAppend(pParse, 0, sqlite3ExprInt32(db, 1));
  Select *pSel;
  Expr *pWhere;
  /* named: unnamed, SQLite would call it column1, and a user's column1 in the filter would be
  ** ambiguous */
  sqlite3ExprListSetName(pParse, pCols, &tGate, 0);
  pSel = sqlite3SelectNew(pParse, pCols, 0, 0, 0, 0, 0, 0,
      sqlite3PExpr(pParse, TK_LIMIT, pGate, 0));
  pFrom = sqlite3SrcListAppendFromTerm(pParse, 0, 0, 0, &tEmpty, pSel, 0);
  /* sqlite3SrcListAppendList asserts a first list: none is left when memory ran out (the
  ** copy then fails as well, so nothing is leaked) */
  if( pFrom ) pFrom = sqlite3SrcListAppendList(pParse, pFrom, sqlite3SrcListDup(db, p->pSrc, 0));
  if( pFrom && pFrom->nSrc>=2 ) pFrom->a[1].fg.jointype = JT_INNER|JT_CROSS;
  pCols = sqlite3ExprListAppend(pParse, 0,
      sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRef), sqlite3Expr(db, TK_ID, "rowid")));
  sqlite3ExprListSetName(pParse, pCols, &tR, 0);
  /* this branch scans the table: the test that the row has a vector after every term of the
  ** filter that cannot fail (edgeliteGuardWhere) */
  if( bFirst && pFrom && edgelitePlainJoin(pParse, p) ){
    /* A join of ordinary tables without generated columns whose ON clauses cannot fail: the ON
    ** clauses become WHERE terms (the same thing in an inner join), so that the vector test
    ** comes after them and the WHERE's terms that cannot fail, as for one table. SQLite
    ** evaluates the ON clauses after the WHERE, so the test first, or anywhere in the WHERE,
    ** ran on every row of the table that the join scans: `items i JOIN grp g ON g.id =
    ** i.bucket WHERE g.id = 7` on minilm-20k, by hand, 0.95x the scan (0.86x before patch 0008
    ** made the test cheaper). */
    Expr *pAll = sqlite3ExprDup(db, p->pWhere, 0);
    int i;
    /* edgelitePlainJoin: no item has USING, so u3 is an ON clause or NULL */
    for(i=1; i<pFrom->nSrc; i++){
      pAll = sqlite3ExprAnd(pParse, pAll, pFrom->a[i].u3.pOn);
      pFrom->a[i].u3.pOn = 0;
    }
    pWhere = edgeliteGuardWhere(pParse, pAll, 0, zRef, zCol, 1);
    sqlite3ExprDelete(db, pAll);
  }else{
    pWhere = edgeliteGuardWhere(pParse, p->pWhere, bFirst, zRef, zCol, 1);
  }
  pSel = sqlite3SelectNew(pParse, pCols, pFrom, pWhere, 0, 0,
      sqlite3ExprListAppend(pParse, 0, sqlite3ExprDup(db, pOrder, 0)), 0,
      sqlite3PExpr(pParse, TK_LIMIT, pS, 0));
  return sqlite3SelectNew(pParse,
      sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_r")),
      sqlite3SrcListAppendFromTerm(pParse, 0, 0, 0, &tEmpty, pSel, 0), 0, 0, 0, 0, 0, 0);
}

/* The rowid of p's vector table: `rowid` when p reads one table, `<zRef>.rowid` in a join (zRef
** its name or alias there). */
static Expr *edgeliteRowidOf(Parse *pParse, Select *p, const char *zRef){
  sqlite3 *db = pParse->db;
  if( p->pSrc->nSrc==1 ) return sqlite3Expr(db, TK_ID, "rowid");
  return sqlite3PExpr(pParse, TK_DOT, sqlite3Expr(db, TK_ID, zRef), sqlite3Expr(db, TK_ID, "rowid"));
}

/* `<rowid of p's vector table> >= CASE WHEN pShort THEN -9223372036854775808 END` (pShort
** taken): ORed with the walk's `rowid IN (...)`, SQLite reads it as a second loop of the vector
** table (a MULTI-INDEX OR), every row in rowid order when pShort holds and none when it does
** not (a seek to a NULL finds no row). */
static Expr *edgeliteScanFrom(Parse *pParse, Select *p, const char *zRef, Expr *pShort){
  sqlite3 *db = pParse->db;
  return sqlite3PExpr(pParse, TK_GE, edgeliteRowidOf(pParse, p, zRef),
      edgeliteCase(pParse, pShort,
                   sqlite3PExpr(pParse, TK_UMINUS, sqlite3Expr(db, TK_INTEGER, "9223372036854775808"), 0),
                   sqlite3Expr(db, TK_NULL, 0)));
}

/* The expression ORDER BY term pTerm of p stands for, as SQLite resolves it: a result column's
** expression for a bare name that is that column's alias (ORDER BY d, for "... AS d"; an
** alias given to two columns is left alone, 0) or for a column number (ORDER BY 2); else the
** term itself. A result list with * or t.* in it is left alone (0) for a name or a number: the
** columns it stands for are not known before name resolution, and they come first (ORDER BY 2
** of "SELECT *, vector_distance_cos(...)" is the table's second column, ORDER BY d a table
** column d if there is one). */
static Expr *edgeliteOrderTerm(Select *p, Expr *pTerm){
  ExprList *pE = p->pEList;
  int i, iCol = 0;
  Expr *pFound = 0;
  if( pE==0 ) return pTerm;
  if( pTerm->op==TK_ID || sqlite3ExprIsInteger(pTerm, &iCol, 0, 0) ){
    for(i=0; i<pE->nExpr; i++){
      Expr *e = pE->a[i].pExpr;
      if( e->op==TK_ASTERISK || (e->op==TK_DOT && e->pRight && e->pRight->op==TK_ASTERISK) ){
        return 0;
      }
    }
  }
  if( pTerm->op==TK_ID ){
    for(i=0; i<pE->nExpr; i++){
      if( pE->a[i].zEName && pE->a[i].fg.eEName==ENAME_NAME
       && sqlite3StrICmp(pE->a[i].zEName, pTerm->u.zToken)==0 ){
        if( pFound ) return 0;
        pFound = pE->a[i].pExpr;
      }
    }
    return pFound ? pFound : pTerm;
  }
  if( sqlite3ExprIsInteger(pTerm, &iCol, 0, 0) ){
    return iCol>=1 && iCol<=pE->nExpr ? pE->a[iCol-1].pExpr : 0;
  }
  return pTerm;
}

/* The column of pTab that expression e (as parsed: a name, or alias.name) names: its index,
** -1 for the rowid (a rowid alias that no column of pTab is named), or -2 (not a column of
** pTab: another table's, say). */
static int edgeliteNamedColumn(Expr *e, SrcItem *pItem, Table *pTab){
  int iCol;
  const char *zCol = 0;
  if( e->op==TK_ID ){
    zCol = e->u.zToken;
  }else if( e->op==TK_DOT && e->pLeft->op==TK_ID && e->pRight->op==TK_ID
         && sqlite3StrICmp(e->pLeft->u.zToken, pItem->zAlias ? pItem->zAlias : pItem->zName)==0 ){
    zCol = e->pRight->u.zToken;
  }
  if( zCol==0 ) return -2;
  iCol = sqlite3ColumnIndex(pTab, zCol);
  if( iCol>=0 ) return iCol;
  return sqlite3IsRowid(zCol) ? -1 : -2;
}

/* True if a term of the filter's top-level AND compares a column that an ordinary index leads
** with (or the rowid) to something: the planner can then count and read the rows that pass
** through that index, without scanning the table. */
static int edgeliteFilterIsIndexed(Parse *pParse, Expr *pWhere, SrcItem *pItem, Table *pTab){
  int iCol;
  Index *pIdx;
  (void)pParse;
  if( pWhere==0 ) return 0;
  if( pWhere->op==TK_AND ){
    return edgeliteFilterIsIndexed(pParse, pWhere->pLeft, pItem, pTab)
        || edgeliteFilterIsIndexed(pParse, pWhere->pRight, pItem, pTab);
  }
  switch( pWhere->op ){
    case TK_EQ: case TK_IS: case TK_LT: case TK_LE: case TK_GT: case TK_GE:
      iCol = edgeliteNamedColumn(pWhere->pLeft, pItem, pTab);
      if( iCol==-2 ) iCol = edgeliteNamedColumn(pWhere->pRight, pItem, pTab);
      break;
    case TK_IN: case TK_BETWEEN:
      iCol = edgeliteNamedColumn(pWhere->pLeft, pItem, pTab);
      break;
    default:
      return 0;
  }
  if( iCol==-2 ) return 0;
  if( iCol==-1 || iCol==pTab->iPKey ) return 1;
  for(pIdx=pTab->pIndex; pIdx; pIdx=pIdx->pNext){
    if( !EDGELITE_IS_VECTOR_INDEX(pIdx) && pIdx->pPartIdxWhere==0 && pIdx->aiColumn[0]==iCol ) return 1;
  }
  return 0;
}

/* True if pQ, a term of a query's WHERE as parsed (names as written, for FROM item pItem of
** table pTab), is pI, a term of a partial index's WHERE as resolved (columns of pTab). Literal
** leaves compare as sqlite3ExprCompare compares them; anything else must be the same operator
** with the same operands. A subquery, or anything unlike, is "not the same": the caller then
** does not use the index (a false "not the same" costs speed, never an answer). */
static int edgeliteSameTerm(Expr *pQ, Expr *pI, SrcItem *pItem, Table *pTab){
  int i;
  if( pQ==0 || pI==0 ) return pQ==pI;
  if( pI->op==TK_COLUMN ){
    int iCol = edgeliteNamedColumn(pQ, pItem, pTab);
    if( iCol==-2 ) return 0;
    if( iCol==pTab->iPKey ) iCol = -1;
    return iCol==pI->iColumn;
  }
  if( pQ->op!=pI->op ) return 0;
  if( ExprUseXSelect(pQ) || ExprUseXSelect(pI) ) return 0;
  if( pI->pLeft==0 && pI->pRight==0 && (!ExprUseXList(pI) || pI->x.pList==0) ){
    return pQ->pLeft==0 && pQ->pRight==0 && (!ExprUseXList(pQ) || pQ->x.pList==0)
        && sqlite3ExprCompare(0, pQ, pI, -1)==0;
  }
  /* an operator with a name (a function, CAST's type, COLLATE's sequence) must have the same */
  if( ExprHasProperty(pI, EP_IntValue) || ExprHasProperty(pQ, EP_IntValue)
   || ExprHasProperty(pQ, EP_WinFunc) || ExprHasProperty(pI, EP_WinFunc)
   || (pQ->u.zToken==0)!=(pI->u.zToken==0)
   || (pI->u.zToken && sqlite3StrICmp(pQ->u.zToken, pI->u.zToken)!=0) ){
    return 0;
  }
  if( !edgeliteSameTerm(pQ->pLeft, pI->pLeft, pItem, pTab)
   || !edgeliteSameTerm(pQ->pRight, pI->pRight, pItem, pTab) ){
    return 0;
  }
  if( ExprUseXList(pQ)!=ExprUseXList(pI) ) return 0;
  if( ExprUseXList(pI) ){
    ExprList *a = pQ->x.pList, *b = pI->x.pList;
    if( (a==0)!=(b==0) || (a && a->nExpr!=b->nExpr) ) return 0;
    for(i=0; a && i<a->nExpr; i++){
      if( !edgeliteSameTerm(a->a[i].pExpr, b->a[i].pExpr, pItem, pTab) ) return 0;
    }
  }
  return 1;
}

/* True if term pTerm of a query's WHERE is one of the AND-ed terms of pWhere. */
static int edgeliteHasTerm(Expr *pWhere, Expr *pTerm, SrcItem *pItem, Table *pTab){
  if( pWhere==0 ) return 0;
  if( pWhere->op==TK_AND ){
    return edgeliteHasTerm(pWhere->pLeft, pTerm, pItem, pTab)
        || edgeliteHasTerm(pWhere->pRight, pTerm, pItem, pTab);
  }
  return edgeliteSameTerm(pWhere, pTerm, pItem, pTab);
}

/* True if the query's WHERE (as parsed) implies partial index condition pPart (as resolved):
** each AND-ed term of pPart is one of the query's AND-ed terms. Then every row the query can
** return is in the index, and its candidates can come from the index alone. */
static int edgeliteImpliesPart(Expr *pWhere, Expr *pPart, SrcItem *pItem, Table *pTab){
  if( pPart->op==TK_AND ){
    return edgeliteImpliesPart(pWhere, pPart->pLeft, pItem, pTab)
        && edgeliteImpliesPart(pWhere, pPart->pRight, pItem, pTab);
  }
  return edgeliteHasTerm(pWhere, pPart, pItem, pTab);
}

/* True if z is valid UTF-8 as Rust's str takes it: no overlong form, no surrogate, nothing past
** U+10FFFF. */
static int edgeliteIsUtf8(const char *z){
  const unsigned char *s = (const unsigned char*)z;
  while( *s ){
    int n;
    unsigned char lo = 0x80, hi = 0xBF;
    if( s[0]<0x80 ){ s++; continue; }
    if( s[0]>=0xC2 && s[0]<=0xDF ) n = 1;
    else if( s[0]>=0xE0 && s[0]<=0xEF ){
      n = 2;
      if( s[0]==0xE0 ) lo = 0xA0;
      if( s[0]==0xED ) hi = 0x9F;
    }else if( s[0]>=0xF0 && s[0]<=0xF4 ){
      n = 3;
      if( s[0]==0xF0 ) lo = 0x90;
      if( s[0]==0xF4 ) hi = 0x8F;
    }else{
      return 0;
    }
    if( s[1]<lo || s[1]>hi ) return 0;
    for(s+=2; --n>0; s++){
      if( (s[0]&0xC0)!=0x80 ) return 0;
    }
  }
  return 1;
}

/* The dimensions of vector column iCol of pTab as its declared type gives them ("F32_BLOB(8)",
** "FLOAT32 ( 8 )", white space of any kind), or 0 if it gives none (the vector index's type
** takes them from there). */
static int edgeliteColumnDims(Table *pTab, int iCol){
  const char *z = sqlite3ColumnType(&pTab->aCol[iCol], "");
  int n = 0;
  /* (sqlite3Isdigit's table is declared after this file's place in the amalgamation) */
  while( *z && *z!='(' ) z++;
  if( *z==0 ) return 0;
  for(z++; *z==' ' || (*z>='\t' && *z<='\r'); z++){}
  if( *z<'0' || *z>'9' ) return 0;
  for(; *z>='0' && *z<='9' && n<100000; z++) n = n*10 + (*z - '0');
  for(; *z==' ' || (*z>='\t' && *z<='\r'); z++){}
  return *z==')' ? n : 0;
}

/* p's LIMIT n becomes edgelite_plan_guard(n, zDb, zTab, nLo, nHi) (0: NULL, no bound), which
** SQLite evaluates when the statement starts, before it reads a row: it is n while the size of
** table zDb.zTab (its rows as vector_sample.rs's table_size reckons them: the rowid span, or
** SQLite's estimate where the rowids are sparse) is at least nLo and under nHi, and otherwise
** fails with SQLITE_SCHEMA, on which sqlite3_step() prepares the statement again (the size it
** read is then the planner's hint, edgelite_size_hint) and runs it anew. */
static void edgeliteGuardLimit(Parse *pParse, Select *p, const char *zDb, const char *zTab, i64 nLo, i64 nHi){
  sqlite3 *db = pParse->db;
  Token tFn = {"edgelite_plan_guard", 19};
  ExprList *pArgs = sqlite3ExprListAppend(pParse, 0, p->pLimit->pLeft);
  pArgs = sqlite3ExprListAppend(pParse, pArgs, sqlite3Expr(db, TK_STRING, zDb));
  pArgs = sqlite3ExprListAppend(pParse, pArgs, sqlite3Expr(db, TK_STRING, zTab));
  pArgs = sqlite3ExprListAppend(pParse, pArgs, nLo ? sqlite3ExprInt32(db, (int)nLo) : sqlite3Expr(db, TK_NULL, 0));
  pArgs = sqlite3ExprListAppend(pParse, pArgs, nHi ? sqlite3ExprInt32(db, (int)nHi) : sqlite3Expr(db, TK_NULL, 0));
  /* the list owns the LIMIT now (freed with it if memory ran out) */
  p->pLimit->pLeft = sqlite3ExprFunction(pParse, pArgs, &tFn, 0);
}

/* SELECT ... FROM t [WHERE ...] ORDER BY vector_distance_cos|l2(col, q) LIMIT n [OFFSET m]
** where t has a vector index on col with that metric (t may be inner-joined to up to
** EDGELITE_MAX_JOIN - 1 tables that filter it, by ON or WHERE terms: the candidates must then
** pass the whole join, and a candidate may give several rows): adds "rowid IN (<candidates>)"
** (t's rowid, by its alias in a join) to the WHERE clause, so that the ORDER BY ranks
** candidates exactly instead of computing the distance of every row (unless few rows pass the
** filter, below). K is n + max(m, 0): integer literals (K up to 10,000, else the scan is
** cheaper) or bound parameters (ORMs bind their limits; K is then computed when the statement
** runs, see edgeliteBoundK). The candidates come from edgelite_vector_scan, the incremental
** search, which ends with every indexed row: without a WHERE its first K rows; with one, the
** first S = K + ceil(K/10) of its rows that pass the filter (edgeliteSlack; evaluated on each
** row in its own scope), or, when few rows pass, exactly those rows (at most
** EDGELITE_EXACT_ROWS through an ordinary index that serves the filter), or, when a sample of
** the table says that too few pass for the walk (edgeliteSampledMany) or the walk ends short,
** every row: for one table the WHERE clause becomes "rowid IN (<the walk's rows>) OR (rowid >=
** <the least integer, or NULL when the walk answers> AND <the filter>)", which SQLite reads as
** two loops of the table, and the query ranks what they read as the scan does; for a join, the
** nearest S rows that pass, ranked in a subquery (edgeliteExactBranch). So the query returns as
** many rows as the scan. Runs before name resolution, on the statement as parsed; anything it
** does not recognise is left alone, and "NOT INDEXED" or a column written as +col turns it off
** ("INDEXED BY" a vector index of t uses that index, even where the table is small enough to
** be scanned).
** A partial vector index serves a query whose WHERE has every AND-ed term of the index's WHERE
** among its own (edgeliteImpliesPart): every row such a query can return is in that index.
** libSQL always scans. */
static void edgeliteRewriteOne(Parse *pParse, Select *p, int bTop){
  sqlite3 *db = pParse->db;
  SrcItem *pItem;
  Table *pTab;
  Index *pIdx;
  Expr *pCall, *pQuery = 0, *pIn, *pK, *pLim, *pOff, *pSubWhere, *pKLimit, *pScanAll = 0;
  ExprList *pArgs, *pFnArgs, *pCols;
  SrcList *pSrc;
  Select *pSub;
  const char *zMetric, *zCol = 0, *zHasRef = 0, *zDb;
  char *zIndex;
  int i, iCol, iDb, nLimit = 0, nOffset = 0, bBound, bForced, bDirty, iColArg = 0;
  i64 k, nS, nScanRows, nSmall;
  Walker w;
  Token tFn;
  if( p->pOrderBy==0 || p->pLimit==0 || p->pPrior || p->pNext || p->pGroupBy || p->pHaving
   || (p->selFlags & SF_Distinct) || p->pWith || pParse->pWith || p->pSrc==0
   || p->pSrc->nSrc<1 || p->pSrc->nSrc>EDGELITE_MAX_JOIN || p->pOrderBy->nExpr!=1
   || p->pOrderBy->a[0].fg.sortFlags!=0
   || (db->mDbFlags & DBFLAG_Vacuum)!=0 ){
    return;
  }
#ifndef SQLITE_OMIT_WINDOWFUNC
  if( p->pWin || p->pWinDefn ) return;
#endif
  /* Every FROM item a named table or view, joined by inner joins (ON or WHERE terms): each
  ** row of the answer then has one row of the vector table, and that row's candidates can be
  ** filtered by the whole join (edgeliteFilterExists). */
  for(i=0; i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    if( pIt->zName==0 || pIt->fg.isSubquery || pIt->fg.isTabFunc || pIt->fg.fixedSchema
     || pIt->fg.notIndexed || pIt->fg.isUsing
     || (pIt->fg.jointype & (JT_NATURAL|JT_LEFT|JT_RIGHT|JT_OUTER|JT_LTORJ))!=0
     /* the rewrite's own names (its CTE, the scan's alias) must mean nothing else here */
     || sqlite3StrNICmp(pIt->zName, "edgelite_", 9)==0
     || (pIt->zAlias && sqlite3StrNICmp(pIt->zAlias, "edgelite_", 9)==0) ){
      return;
    }
  }
  /* the rewrite's table-valued functions are named without a schema: a table or view of the
  ** same name would be read instead ("... is not a function") */
  if( sqlite3FindTable(db, "edgelite_vector_scan", 0) || sqlite3FindTable(db, "edgelite_vector_sample", 0) ){
    return;
  }
  pCall = edgeliteOrderTerm(p, p->pOrderBy->a[0].pExpr);
  if( pCall==0 ) return;
  if( pCall->op!=TK_FUNCTION || ExprHasProperty(pCall, EP_WinFunc) ) return;
  if( sqlite3StrICmp(pCall->u.zToken, "vector_distance_cos")==0 ) zMetric = "cosine";
  else if( sqlite3StrICmp(pCall->u.zToken, "vector_distance_l2")==0 ) zMetric = "l2";
  else return;
  pArgs = pCall->x.pList;
  if( pArgs==0 || pArgs->nExpr!=2 ) return;
  /* The vector column: a name or alias.name of one FROM item (a bare name that two items'
  ** tables have is left to SQLite, which calls it ambiguous). */
  pItem = 0;
  pTab = 0;
  for(i=0; i<2 && zCol==0; i++){
    Expr *e = pArgs->a[i].pExpr;
    int j;
    for(j=0; j<p->pSrc->nSrc; j++){
      SrcItem *pIt = &p->pSrc->a[j];
      Table *pT = sqlite3FindTable(db, pIt->zName, pIt->u4.zDatabase);
      const char *zName = 0;
      /* a view's or virtual table's columns are not known before name resolution; the
      ** vector table is an ordinary one */
      if( pT==0 || !IsOrdinaryTable(pT) ) continue;
      if( e->op==TK_ID ){
        zName = e->u.zToken;
      }else if( e->op==TK_DOT && e->pLeft->op==TK_ID && e->pRight->op==TK_ID
             && sqlite3StrICmp(e->pLeft->u.zToken, pIt->zAlias ? pIt->zAlias : pIt->zName)==0 ){
        zName = e->pRight->u.zToken;
      }
      if( zName==0 || sqlite3ColumnIndex(pT, zName)<0 ) continue;
      if( zCol ) return;  /* two items have it */
      zCol = zName;
      pItem = pIt;
      pTab = pT;
    }
    if( zCol ){
      pQuery = pArgs->a[1-i].pExpr;
      iColArg = i;
    }
  }
  if( zCol==0 ) return;
  if( !IsOrdinaryTable(pTab) || !HasRowid(pTab) || pTab->pIndex==0
   || sqlite3ColumnIndex(pTab, "rowid")>=0 ){
    return;
  }
  /* the vector table's name in this query names nothing else (two items exposed as "t" make
  ** the added t.rowid ambiguous); INDEXED BY only on the vector table (below) */
  for(i=0; i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    if( pIt!=pItem && (pIt->fg.isIndexedBy || sqlite3StrICmp(pIt->zAlias ? pIt->zAlias : pIt->zName,
                                                           pItem->zAlias ? pItem->zAlias : pItem->zName)==0) ){
      return;
    }
  }
  /* a filter that names a result column's alias (WHERE d < 0.5 for "... AS d") is copied where
  ** the result columns are not, and one that calls a non-deterministic function (random())
  ** would be evaluated twice, choosing different rows each time: both are left to scan (the ON
  ** clauses are copied with the FROM items, and checked as the WHERE clause is) */
  if( edgeliteWalkFilter(pParse, p, edgeliteWhereUnsafeCb, edgeliteNoSelectCb) ) return;
  /* nor a subquery of a result column or of the ORDER BY that reads a table so named: the
  ** rewrite's CTEs become the query's own WITH clause, whose scope covers them too (a result
  ** column `(SELECT count(*) FROM edgelite_walk)` of a user's table counted the walk's rows) */
  for(i=0; i<p->pEList->nExpr; i++){
    if( edgeliteWalkExpr(pParse, p->pEList->a[i].pExpr, sqlite3ExprWalkNoop, edgeliteNoSelectCb) ) return;
  }
  if( edgeliteWalkExpr(pParse, p->pOrderBy->a[0].pExpr, sqlite3ExprWalkNoop, edgeliteNoSelectCb) ) return;
  /* the ORDER BY call is copied next to the rewrite's subqueries too (its query vector into
  ** the walk's arguments, the whole call into a join's ranked branch): a vector column named
  ** edgelite_gate would be ambiguous there */
  if( edgeliteWalkExpr(pParse, pCall, edgeliteReservedNameCb, edgeliteSkipSelectCb) ) return;
  if( (iCol = sqlite3ColumnIndex(pTab, zCol))<0 ) return;
  if( edgeliteWalkExpr(pParse, pQuery, edgeliteRowExprCb, edgeliteRowSelectCb) ) return;
  memset(&w, 0, sizeof(w));
  w.pParse = pParse;
  w.xExprCallback = edgeliteAggExprCb;
  w.xSelectCallback = edgeliteSkipSelectCb;
  sqlite3WalkExprList(&w, p->pEList);
  if( w.eCode ) return;
  pLim = p->pLimit->pLeft;
  pOff = p->pLimit->pRight;
  bBound = pLim->op==TK_VARIABLE || (pOff && pOff->op==TK_VARIABLE);
  if( pLim->op!=TK_VARIABLE && (!sqlite3ExprIsInteger(pLim, &nLimit, 0, 0) || nLimit<=0) ) return;
  if( pOff && pOff->op!=TK_VARIABLE && !sqlite3ExprIsInteger(pOff, &nOffset, 0, 0) ) return;
  k = (i64)nLimit + (nOffset>0 ? nOffset : 0);  /* a negative offset means none */
  if( !bBound && k>10000 ) return;
  /* `t INDEXED BY <a vector index of t>`: that index, whatever the table's size (SQLite's
  ** INDEXED BY: use this index or fail; its own planner cannot use a vector index, and the
  ** query failed with "no query solution" before). Any other INDEXED BY is SQLite's. */
  for(pIdx=pTab->pIndex; pIdx; pIdx=pIdx->pNext){
    if( pItem->fg.isIndexedBy && sqlite3StrICmp(pIdx->zName, pItem->u1.zIndexedBy)!=0 ) continue;
    if( EDGELITE_IS_VECTOR_INDEX(pIdx)
     && (pIdx->pPartIdxWhere==0 || edgeliteImpliesPart(p->pWhere, pIdx->pPartIdxWhere, pItem, pTab))
     && pIdx->aColExpr->a[0].pExpr->x.pList->a[0].pExpr->op==TK_COLUMN
     && pIdx->aColExpr->a[0].pExpr->x.pList->a[0].pExpr->iColumn==iCol ){
      const char *zIdxMetric = edgeliteIndexMetric(pIdx);
      if( zIdxMetric && strcmp(zIdxMetric, zMetric)==0 ) break;
    }
  }
  if( pIdx==0 ) return;
  iDb = sqlite3SchemaToIndex(db, pTab->pSchema);
  zDb = db->aDb[iDb].zDbSName;
  /* the rewrite's functions take the names as text and read the table and index through SQL
  ** (vector_sample.rs, vector_scan.rs), as UTF-8: a name that is not UTF-8 ("t\xff", which
  ** SQLite accepts) became another name there, "no such table" where the scan answers */
  if( !edgeliteIsUtf8(pTab->zName) || !edgeliteIsUtf8(pIdx->zName) || !edgeliteIsUtf8(zDb) ) return;
  bForced = pItem->fg.isIndexedBy;
  if( bForced ){
    /* the rewrite uses the index: SQLite's planner must not look for it (its copies of the
    ** FROM item, made below, have no INDEXED BY either) */
    sqlite3DbFree(db, pItem->u1.zIndexedBy);
    pItem->u1.zIndexedBy = 0;
    pItem->fg.isIndexedBy = 0;
  }
  /* The size under which the walk cannot pay (0: none). The sample sends a filter to the walk
  ** only if the walk would read at most a 32nd of the table's rows to find S rows that
  ** pass: never under 32 S, where the rewrite only adds its fixed cost to the scan (its CTEs,
  ** the OR's steps on each row that passes: `filtered -- --rows 300` ran at 0.62-0.93x the
  ** scan at every filter, and LIMIT 2000 of 3000 rows at about 0.95x). A filter that an
  ** ordinary index serves goes to the walk only when more than EDGELITE_EXACT_ROWS rows pass
  ** it: never under that many (its rows are read through that index and ranked, as SQLite's
  ** own plan reads and ranks them; with the rewrite `bucket = 7 AND id < 30` on 300 rows ran at
  ** 0.77x the scan). Where vectors of few dimensions make the scan's rows cheap, the query
  ** without a filter goes to the scan under the size edgelite_scan_rows gives, and a filtered one
  ** under twice it when that is the larger: the filtered walk costs more (`WHERE a < 5`, half
  ** the rows, ran at 0.78x the scan on 1,200 8-d rows and 0.70-0.94x on 800 to 1,200 32-d ones;
  ** 0.98x and 1.10x at 1,600, by hand). */
  nS = edgelite_slack_rows(k);
  /* edgelite_scan_rows: the table size (rows, vector_sample.rs's table_size) under which SQLite's
  ** scan of a table of nDims-dimensional vectors ranks the nearest rows for less than the walk
  ** that finds nS of them costs: the walk's first rows come after the index's
  ** window (100 visits at edgelite's default width) and one visit a row, each visit about a
  ** microsecond at up to 128 dimensions, where the scan costs about 0.11 + 0.0012 x nDims
  ** microseconds a row, and a table under twice those visits is read by brute force, whose own
  ** fixed cost loses to the scan at few dimensions only. By hand (`ORDER BY
  ** vector_distance_cos(v, ?) LIMIT 10` on random rows, the two plans alternating): 8-d rows ran
  ** at 0.78x the scan at 200 rows, 0.60x at 400 and 0.98x at 800; 32-d at 0.89x, 0.77x and 1.11x;
  ** 128-d at 1.11x, 1.10x and 1.63x; 384-d at 1.79x and more. So (100 + nS) x (128 - nDims) / 16
  ** below 128 dimensions: at LIMIT 10 (S = 11), 832 rows at 8, 666 at 32, 444 at 64. At any
  ** number of dimensions, a walk that returns more than a third of a table costs more than the
  ** scan (each row it returns is a visit, or a node read by brute force past a third of the
  ** index, then a seek of the row and its SQL distance, where the scan reads each row in order):
  ** on minilm-20k, 384 dimensions, no filter, by hand, the walk ran at 3.82x the scan's speed for
  ** 1,000 rows, 1.37x for 5,000, 0.87x for 10,000 and 0.68x for every row; so never under 3 x nS.
  ** The rule is one Rust function, edgelite_scan_rows (vector_sample.rs), which
  ** edgelite_scan_cheaper also applies to a K bound to a parameter when the statement runs. */
  nScanRows = edgelite_scan_rows(edgeliteColumnDims(pTab, iCol), nS);
  if( p->pWhere==0 && p->pSrc->nSrc==1 ){
    nSmall = nScanRows;
  }else{
    nSmall = edgeliteFilterIsIndexed(pParse, p->pWhere, pItem, pTab) ? EDGELITE_EXACT_ROWS + 1 : 32*nS;
    if( nSmall<2*nScanRows ) nSmall = 2*nScanRows;
  }
  /* While the size that this connection last read stays under that one, the statement is
  ** prepared as the scan, with the rewrite's vector test, and its LIMIT checks at each run
  ** that the size stays under twice it (edgeliteGuardLimit); a rewritten statement checks that
  ** it stays at least that. Only a statement's own SELECT (bTop), prepared to be prepared
  ** again (sqlite3_prepare_v2/v3), with a LIMIT and OFFSET known here, and no INDEXED BY. */
  /* PRAGMA read_uncommitted on a shared cache (where alone it matters; the pragma expires every
  ** statement when it runs): the statement reads other connections' uncommitted rows, but the
  ** walk reads the vector index as this connection's caches hold it (they go by the data
  ** version, which uncommitted changes do not move) and without the rows another connection
  ** holds back until it commits (txn.rs): with that connection's rows deleted, `ORDER BY
  ** vector_distance_cos(v, ?) LIMIT 10` returned none where the scan returned 10 (a review's
  ** find). The statement is then the scan below, at any size and without a guard. */
  bDirty = (db->flags & SQLITE_ReadUncommit)!=0 && db->aDb[iDb].pBt!=0 && sqlite3BtreeSharable(db->aDb[iDb].pBt);
  if( bDirty || (bTop && !bForced && (pParse->prepFlags & SQLITE_PREPARE_SAVESQL)!=0 && !bBound && nSmall>0) ){
    sqlite3_int64 nHint = bDirty ? 0 : edgelite_size_hint(db, zDb, pTab->zName);
    /* -1: this connection has not read the size yet (its first statement on the table). The
    ** scan is the guess, its guard reading the size at the first run: wrong for a table too
    ** large for it, it costs one more prepare of a statement about as small as the query, where
    ** the rewrite as the guess cost a small table a prepare of the rewrite, ten to twenty times
    ** that (a fresh connection's first query on 300 rows, by hand: 0.76 ms where the scan took
    ** 0.60). EXPLAIN, which never runs, shows the rewrite; -2, a connection that cannot remember
    ** a size (its vector cache off), always rewrites. */
    int bGuess = !bDirty && nHint==-1 && !pParse->explain;
    if( bDirty || (nHint>=0 && nHint<nSmall) || bGuess ){
      /* the scan, leaving out rows without a vector as every plan of the rewrite does: the
      ** test placed as in its scans (edgeliteGuardWhere), but in a plain join whose filter
      ** cannot fail on any row, after every term, in the last ON clause. SQLite evaluates it
      ** in the vector table's loop all the same (it names no other table): after the join's
      ** terms when another table's one row comes first (`items JOIN grp ON grp.id =
      ** items.bucket WHERE grp.id = 7` on 300 rows: tested first, it cost a seventh of the
      ** scan's time, by hand), on every row of the vector table when that table is read first
      ** (`WHERE grp.ok = 1` on 800 8-d rows: 13% of the scan's time, by hand; tied to the last
      ** FROM item, `(v IS NOT NULL OR <last>.rowid + 0 IS NULL)`, it ran after the join's terms
      ** at 0.96-0.98x the scan where it ran at 0.86-0.88x, but a review measured it 2.6-4x
      ** slower where most vectors are NULL and each row joins ten: it then ran on every row of
      ** the join, where first it left the rows without a vector out before their seeks) */
      const char *zRef = pItem->zAlias ? pItem->zAlias : pItem->zName;
      int nSrc = p->pSrc->nSrc;
      if( nSrc>1 && edgelitePlainJoin(pParse, p)
       && (p->pWhere==0 || !edgeliteWalkExpr(pParse, p->pWhere, edgeliteCallCb, edgeliteSubqueryCb)) ){
        SrcItem *pLast = &p->pSrc->a[nSrc-1];
        pLast->u3.pOn = sqlite3ExprAnd(pParse, pLast->u3.pOn, edgeliteHasVector(pParse, zRef, zCol));
      }else{
        Expr *pGuarded = edgeliteGuardWhere(pParse, p->pWhere, edgeliteTestVectorFirst(p, pTab), zRef, zCol, 1);
        sqlite3ExprDelete(db, p->pWhere);
        p->pWhere = pGuarded;
      }
      /* kept while the table stays under twice nSmall; a guess only while it is under nSmall,
      ** where the planner chooses the scan knowing the size (in between, the statement would
      ** keep the guess, where a known size's first plan is the rewrite) */
      if( !bDirty ) edgeliteGuardLimit(pParse, p, zDb, pTab->zName, 0, bGuess ? nSmall : 2*nSmall);
      /* EXPLAIN QUERY PLAN says why (SQLite emits the opcode only for it, or with scan status
      ** on: nothing is added to the statement otherwise) */
      if( sqlite3GetVdbe(pParse)==0 ){
        /* out of memory: the statement fails */
      }else if( bDirty ){
        ExplainQueryPlan((pParse, 0, "VECTOR INDEX %s NOT USED: this connection reads uncommitted"
            " rows (PRAGMA read_uncommitted), which the index does not show", pIdx->zName));
      }else if( bGuess ){
        ExplainQueryPlan((pParse, 0, "VECTOR INDEX %s NOT USED YET: the table's size is read"
            " at the first run, and the statement prepared again at %lld rows or more",
            pIdx->zName, (sqlite3_int64)nSmall));
      }else{
        ExplainQueryPlan((pParse, 0, "VECTOR INDEX %s NOT USED: %lld rows under %lld,"
            " where SQLite's scan costs less than the walk (INDEXED BY %s uses it)",
            pIdx->zName, (sqlite3_int64)nHint, (sqlite3_int64)nSmall, pIdx->zName));
      }
      return;
    }
    /* the rewrite below: its LIMIT checks the size stays at least nSmall (should the rewrite
    ** give up, out of memory, the guard still holds for the scan it leaves) */
    edgeliteGuardLimit(pParse, p, zDb, pTab->zName, nSmall, 0);
  }
  /* the schema quoted: a schema's name may hold a dot, as an index's may (search_name) */
  zIndex = sqlite3MPrintf(db, "\"%w\".%s", zDb, pIdx->zName);
  if( zIndex==0 ) return;
  pFnArgs = sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_STRING, zIndex));
  sqlite3DbFree(db, zIndex);
  pFnArgs = sqlite3ExprListAppend(pParse, pFnArgs, sqlite3ExprDup(db, pQuery, 0));
  pK = bBound ? edgeliteBoundK(pParse, pLim, pOff) : sqlite3ExprInt32(db, (int)k);
  pKLimit = sqlite3ExprDup(db, pK, 0);
  pFnArgs = sqlite3ExprListAppend(pParse, pFnArgs, pK);
  /* the budget, none (NULL) unless the sample gives one (below), and where the vector column
  ** is in the ORDER BY's call (0 first, 1 second): a query vector the walk cannot use fails
  ** with the error the scan's call would give on its first row (vector_scan.rs), not with the
  ** index's own (a review found "dimensions are different: 4 != 8" where the scan says
  ** "vectors must have the same length: 8 != 4") */
  pFnArgs = sqlite3ExprListAppend(pParse, pFnArgs, sqlite3Expr(db, TK_NULL, 0));
  pFnArgs = sqlite3ExprListAppend(pParse, pFnArgs, sqlite3ExprInt32(db, iColArg));
  tFn.z = "edgelite_vector_scan";
  tFn.n = 20;
  pSrc = sqlite3SrcListAppend(pParse, 0, &tFn, 0);
  if( pSrc==0 ){
    sqlite3ExprListDelete(db, pFnArgs);
    sqlite3ExprDelete(db, pKLimit);
    return;
  }
  sqlite3SrcListFuncArgs(pParse, pSrc, pFnArgs);
  pSrc->a[0].zAlias = sqlite3DbStrDup(db, "edgelite_vector_scan");
  if( p->pWhere==0 && p->pSrc->nSrc==1 ){
    /* LIMIT CASE WHEN EXISTS (SELECT 1 FROM <p's FROM item>) THEN K ELSE 0 END: the scan of an
    ** empty table never evaluates the query vector (a malformed one fails nothing), and a LIMIT
    ** of 0 never starts the walk, whose arguments would evaluate it */
    Expr *pAny = sqlite3PExpr(pParse, TK_EXISTS, 0, 0);
    Expr *pShort = 0;
    sqlite3PExprAddSelect(pParse, pAny, sqlite3SelectNew(pParse,
        sqlite3ExprListAppend(pParse, 0, sqlite3ExprInt32(db, 1)),
        sqlite3SrcListDup(db, p->pSrc, 0), 0, 0, 0, 0, 0, 0));
    if( bBound ){
      /* K is known only when the statement runs, so the planner cannot choose the scan for a K
      ** too large for the walk as it does for a literal one (edgelite_scan_rows, at prepare): the
      ** walk starts only while edgelite_scan_cheaper(K, 'schema', 'table', dims), the same rule
      ** in Rust on the table's size, says no, and the query reads every row itself when the
      ** walk returned fewer than K (the WHERE clause's OR below, as for a filter). Bound, `LIMIT
      ** -1 OFFSET ?` on minilm-20k walked every row at 0.68x the scan's speed. Copied here,
      ** before the LIMIT below takes pKLimit. */
      Token tCheaper = {"edgelite_scan_cheaper", 21};
      ExprList *pCheaper = sqlite3ExprListAppend(pParse, 0, sqlite3ExprDup(db, pKLimit, 0));
      pCheaper = sqlite3ExprListAppend(pParse, pCheaper, sqlite3Expr(db, TK_STRING, zDb));
      pCheaper = sqlite3ExprListAppend(pParse, pCheaper, sqlite3Expr(db, TK_STRING, pTab->zName));
      pCheaper = sqlite3ExprListAppend(pParse, pCheaper, sqlite3ExprInt32(db, edgeliteColumnDims(pTab, iCol)));
      pAny = sqlite3ExprAnd(pParse, pAny,
          sqlite3PExpr(pParse, TK_NOT, sqlite3ExprFunction(pParse, pCheaper, &tCheaper, 0), 0));
      pShort = edgeliteWalkShort(pParse, pKLimit);
    }
    pCols = sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_id"));
    pSub = sqlite3SelectNew(pParse, pCols, pSrc, 0, 0, 0, 0, 0,
        sqlite3PExpr(pParse, TK_LIMIT, edgeliteCase(pParse, pAny, pKLimit, sqlite3ExprInt32(db, 0)), 0));
    if( pShort ){
      /* WITH edgelite_walk AS MATERIALIZED (<the walk>) on the query, whose WHERE becomes
      ** rowid IN (SELECT edgelite_id FROM edgelite_walk) OR (edgeliteScanFrom(<short>) AND <the
      ** vector test>), as for a filter (below): the walk's rows, or every row with a vector in
      ** rowid order */
      Token tWalk = {EDGELITE_WALK, sizeof(EDGELITE_WALK) - 1};
      const char *zRef = pItem->zAlias ? pItem->zAlias : pItem->zName;
      With *pWith = sqlite3WithAdd(pParse, 0, sqlite3CteNew(pParse, &tWalk, 0, pSub, M10d_Yes));
      pScanAll = sqlite3ExprAnd(pParse, edgeliteScanFrom(pParse, p, zRef, pShort),
          edgeliteHasVector(pParse, zRef, zCol));
      pSub = sqlite3SelectNew(pParse,
          sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_id")),
          sqlite3SrcListAppend(pParse, 0, &tWalk, 0), 0, 0, 0, 0, 0, 0);
      if( pWith==0 || pSub==0 || pScanAll==0 ){
        /* out of memory: the statement fails */
        sqlite3WithDelete(db, pWith);
        sqlite3SelectDelete(db, pSub);
        sqlite3ExprDelete(db, pScanAll);
        return;
      }
      p->pWith = pWith;
    }
  }else{
    /* The filter, evaluated on each candidate (edgeliteFilterExists). The scan walks on until
    ** K + slack candidates pass: its order is nearly exact, and the extra ones let the exact
    ** ORDER BY pick the right K. It selects edgelite_pass AS edgelite_id: the scan's
    ** edgelite_pass is its row's id, read only for a row that passed the filter (a result
    ** column is computed after the WHERE clause), which tells the scan so. Once K rows have
    ** passed, the scan returns only rows nearer than the K-th of them (no farther row can be
    ** among the K the ORDER BY keeps), for as many rows as the slack would have read
    ** (PATCHES.md): the slack's farther rows cost a step of the walk each, but no seek of their
    ** filter's row. */
    Token tId = {"edgelite_id", 11};
    const char *zRef = pItem->zAlias ? pItem->zAlias : pItem->zName;
    int bFirst = edgeliteTestVectorFirst(p, pTab);
    pCols = sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_pass"));
    sqlite3ExprListSetName(pParse, pCols, &tId, 0);
    pSubWhere = edgeliteFilterExists(pParse, p, bFirst, zRef, zCol, "edgelite_vector_scan");
    {
      /* When few rows pass, the candidates are exactly the rows that pass and the ORDER BY
      ** ranks them all (exact, and cheaper than a walk through rows that fail); otherwise the
      ** scan. "Few": when an ordinary index serves the filter, at most EDGELITE_EXACT_ROWS
      ** (read through that index once, stopping at one more, into edgelite_few: both branches
      ** and both tests read it); else a sample of the table says that the walk would read
      ** more than a 32nd of the table (edgeliteSampledMany, edgelite_walk_budget: a materialized
      ** CTE that the walk reads, as its outer loop), and the query reads every row itself, as
      ** the scan does. */
      Select *pA, *pB = 0;
      Expr *pSlackMany;
      Token tEmpty = {0, 0};
      int bIndexed = edgeliteFilterIsIndexed(pParse, p->pWhere, pItem, pTab);
      /* one table whose filter no ordinary index serves, or such a join (edgeliteJoinOwnLoop):
      ** the query's own loop scans (pScanAll) */
      int bOwnLoop = !bIndexed && (p->pSrc->nSrc==1 || edgeliteJoinOwnLoop(pParse, p, pItem, pTab));
      Expr *pManyA = bIndexed ? edgeliteManyPass(pParse) : 0;
      assert( pSrc->nSrc==1 && pSrc->a[0].fg.isTabFunc );  /* made above, never 0 here */
      if( !bIndexed ){
        /* The walk: FROM edgelite_many CROSS JOIN edgelite_vector_scan(..., <budget>) WHERE
        ** <many pass> AND <the filter>, the sample's verdict read once, as the outer loop's one
        ** row: the test, which names only edgelite_many, is evaluated there, so the scan is
        ** never started when the sample says few; the budget, its fourth argument
        ** (edgelite_vector_scan's edgelite_budget), reads that row's columns. */
        Token tMany = {EDGELITE_MANY, sizeof(EDGELITE_MANY) - 1};
        SrcList *pMany;
        ExprList *pFnA = pSrc->a[0].u1.pFuncArg;
        /* the budget in place of the NULL above (out of memory: the statement fails) */
        if( pFnA && pFnA->nExpr==5 ){
          sqlite3ExprDelete(db, pFnA->a[3].pExpr);
          pFnA->a[3].pExpr = edgeliteManyCol(pParse, "edgelite_b");
        }
        pMany = sqlite3SrcListAppend(pParse, 0, &tMany, 0);
        /* out of memory: the statement fails (a name it cannot resolve, if not that) */
        if( pMany ){
          pSrc = sqlite3SrcListAppendList(pParse, pMany, pSrc);
          if( pSrc->nSrc==2 ) pSrc->a[1].fg.jointype = JT_INNER|JT_CROSS;
        }
        pSubWhere = sqlite3ExprAnd(pParse,
            sqlite3PExpr(pParse, TK_GT, edgeliteManyCol(pParse, "edgelite_b"), sqlite3ExprInt32(db, 0)), pSubWhere);
      }
      /* the query below leaves out rows without a vector, as the walk does: the rows that pass
      ** an indexed filter include them, and a plan that scans the table for `rowid IN (...)`
      ** evaluated the filter's vector_distance_*() on them before the IN (a fuzzer's partial
      ** index, `WHERE a IS NOT NULL AND (a = 0 OR vector_distance_l2(v, ?) > 1.5)` after
      ** ANALYZE, failed where a search by rowid did not) */
      zHasRef = zRef;
      if( bIndexed ){
        /* SELECT edgelite_r FROM edgelite_few WHERE NOT <many pass> */
        pB = edgeliteFromFew(pParse, sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_r")),
            sqlite3PExpr(pParse, TK_NOT, edgeliteManyPass(pParse), 0));
      }else if( !bOwnLoop ){
        /* A join that edgeliteJoinOwnLoop refuses: when the sample says that few rows pass or
        ** the walk spent its budget before K rows passed (edgeliteWalkShort), a scan of the join
        ** in a subquery of its own ranks the rows that pass and keeps the nearest S, which the
        ** query reads back and ranks again (edgeliteExactBranch). The query's own loop would
        ** let SQLite evaluate the filter's comparisons of the vector table's columns inside
        ** that loop, before terms that the scan evaluates first (`t.b + 0 = l.x + 0 AND t.a <
        ** abs(l.x)` failed on l's least integer where the scan answers). */
        pB = edgeliteExactBranch(pParse, p, bFirst, zRef, zCol, pCall,
            edgeliteCase(pParse, edgeliteWalkShort(pParse, pKLimit),
                         sqlite3ExprInt32(db, 1), sqlite3ExprInt32(db, 0)),
            edgeliteSlackOf(pParse, pKLimit));
      }else{
        /* The scan, when the sample says that few rows pass or the walk spent its budget before
        ** K rows passed (edgeliteWalkShort): edgeliteScanFrom, ORed below with the walk's
        ** `rowid IN (...)`. A lower bound, so
        ** that the rows read are not compared with an upper one (an upper bound cost the scan
        ** about 3%, by hand, on minilm-20k's `WHERE bucket < 10`). The filter comes after the
        ** bound, the vector tested as edgeliteGuardWhere places it, and the query's ORDER BY
        ** ranks the rows that pass, as the scan it stands for does. A branch that ranked the
        ** table in a subquery of its own kept the nearest S rows, which the query then read back
        ** by rowid and ranked again: at LIMIT 5000 on minilm-20k
        ** (`filtered -- --k 5000 --only none`, WHERE 1), 0.61-0.83x the scan's speed. */
        pScanAll = edgeliteScanFrom(pParse, p, zRef, edgeliteWalkShort(pParse, pKLimit));
        if( p->pSrc->nSrc==1 ){
          pScanAll = sqlite3ExprAnd(pParse, pScanAll, edgeliteGuardWhere(pParse, p->pWhere, bFirst, zRef, zCol, 1));
        }
      }
      /* S for the sample's verdict, copied while pKLimit stands: the walk's LIMIT below takes
      ** pKLimit (a literal K's S is a new number, and pKLimit is freed there; reading it
      ** after that was a use of freed memory, which a test that runs out of memory at every
      ** allocation found) */
      pSlackMany = bIndexed ? 0 : edgeliteSlackOf(pParse, pKLimit);
      /* The gate of the walk of an indexed filter is a LIMIT, not a WHERE term: SQLite tests a
      ** constant WHERE term before a loop only if it has no subquery, but a LIMIT of 0 skips the
      ** loop (the scan is never started). The sample's verdict is a column of the walk's outer
      ** loop instead (above). */
      pA = sqlite3SelectNew(pParse, pCols, pSrc, pSubWhere, 0, 0, 0, 0,
          sqlite3PExpr(pParse, TK_LIMIT, pManyA ? edgeliteCase(pParse, pManyA, edgeliteSlack(pParse, pKLimit),
                                                               sqlite3ExprInt32(db, 0))
                                                : edgeliteSlack(pParse, pKLimit), 0));
      if( bIndexed ){
        pA = sqlite3SelectNew(pParse,
            sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_id")),
            sqlite3SrcListAppendFromTerm(pParse, 0, 0, 0, &tEmpty, pA, 0), 0, 0, 0, 0, 0, 0);
      }else{
        /* WITH edgelite_many AS MATERIALIZED (...), edgelite_walk AS MATERIALIZED (<the walk>)
        ** on the query itself (it has no WITH clause of its own): the walk reads edgelite_many,
        ** and both the walk's `rowid IN` and the scan's bound read edgelite_walk; each is
        ** computed once */
        Token tWalk = {EDGELITE_WALK, sizeof(EDGELITE_WALK) - 1};
        With *pWith = edgeliteSampledMany(pParse, p, pTab, bFirst, zRef, zCol, pSlackMany);
        pWith = sqlite3WithAdd(pParse, pWith, sqlite3CteNew(pParse, &tWalk, 0, pA, M10d_Yes));
        pA = sqlite3SelectNew(pParse,
            sqlite3ExprListAppend(pParse, 0, sqlite3Expr(db, TK_ID, "edgelite_id")),
            sqlite3SrcListAppend(pParse, 0, &tWalk, 0), 0, 0, 0, 0, 0, 0);
        if( !bOwnLoop ){
          /* a join: the CTEs on the compound's last member, the walk's rows (below); its first
          ** member, the ranked scan, reads edgelite_walk in its gate */
          if( pA ){
            pA->pWith = pWith;
          }else{
            sqlite3WithDelete(db, pWith);
          }
        }else if( pA==0 || pScanAll==0 || pWith==0 ){
          sqlite3SelectDelete(db, pA);
          sqlite3ExprDelete(db, pScanAll);
          sqlite3WithDelete(db, pWith);
          return;
        }else{
          p->pWith = pWith;
          pSub = pA;
        }
      }
      if( !bOwnLoop ){
        if( pA==0 || pB==0 ){
          sqlite3SelectDelete(db, pA);
          sqlite3SelectDelete(db, pB);
          return;
        }
        /* The members are marked as members of a compound, as the parser marks them: SQLite
        ** never flattens a subquery with a LIMIT into a compound's member (its restriction 15),
        ** and without the mark it would flatten one into the first member and lose the LIMIT. */
        pA->op = TK_ALL;
        pA->pPrior = pB;
        pB->pNext = pA;
        pA->selFlags |= SF_Compound;
        pB->selFlags |= SF_Compound;
        pSub = pA;
        if( bIndexed ){
          /* A compound's WITH sits on its last member, and its first can see it too. */
          pA->pWith = edgeliteFewWith(pParse, p, bFirst, zRef, zCol);
        }
      }
    }
  }
  /* the vector table's rowid (in a join, by its name in this query) */
  pIn = sqlite3PExpr(pParse, TK_IN, edgeliteRowidOf(pParse, p, pItem->zAlias ? pItem->zAlias : pItem->zName), 0);
  sqlite3PExprAddSelect(pParse, pIn, pSub);
  if( pScanAll ){
    /* one table, a filter no ordinary index serves: rowid IN (<the walk's rows>) OR (rowid >=
    ** <bound> AND <the WHERE, guarded>), the whole WHERE clause. The walk's rows have passed
    ** the filter (in its EXISTS, on this statement's snapshot) and have a vector. The filter
    ** is not left beside the OR: the loop's body then ran it again on every row the scan's
    ** side passed, and SQLite copied its AND-ed comparisons of a column into that side's loop
    ** ahead of the vector test (one of a generated column of json_extract(meta, ...) failed
    ** there on a row that `json_valid(meta)`, written before it, leaves out, where the scan
    ** answers). Nor is it on the walk's side as well: SQLite moves a term that every side of
    ** an OR has out in front of the OR, and `vector_distance_l2(v, ?) > 1.5` then ran on a row
    ** without a vector. */
    if( p->pSrc->nSrc==1 ){
      sqlite3ExprDelete(db, p->pWhere);
      p->pWhere = sqlite3PExpr(pParse, TK_OR, pIn, pScanAll);
    }else{
      /* A join (edgeliteJoinOwnLoop): (<rowid> IN (...) OR <rowid> >= <bound>) AND <the WHERE>
      ** AND <the vector test>, the vector table outermost (CROSS JOIN keeps the FROM clause's
      ** order): its OR is then read once, where an inner loop would read the whole table again
      ** for each row of the tables before it. The filter's terms cannot fail, so where SQLite
      ** evaluates them does not matter; the walk's rows pass them again. */
      p->pWhere = sqlite3ExprAnd(pParse, sqlite3ExprAnd(pParse, sqlite3PExpr(pParse, TK_OR, pIn, pScanAll),
          p->pWhere), edgeliteHasVector(pParse, zHasRef, zCol));
      for(i=1; i<p->pSrc->nSrc; i++) p->pSrc->a[i].fg.jointype |= JT_INNER|JT_CROSS;
    }
    return;
  }
  if( zHasRef ) pIn = sqlite3ExprAnd(pParse, pIn, edgeliteHasVector(pParse, zHasRef, zCol));
  p->pWhere = sqlite3ExprAnd(pParse, pIn, p->pWhere);
}

/* True if column zCol (of the FROM item named or aliased zTab, or of any when zTab is 0) is a
** column, or the rowid, of an ordinary table among p's FROM items. */
static int edgeliteNameIsLocal(sqlite3 *db, Select *p, const char *zTab, const char *zCol){
  int i;
  for(i=0; i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    Table *pT;
    if( pIt->zName==0 || pIt->fg.isSubquery || pIt->fg.isTabFunc ) continue;
    if( zTab && sqlite3StrICmp(zTab, pIt->zAlias ? pIt->zAlias : pIt->zName)!=0 ) continue;
    pT = sqlite3FindTable(db, pIt->zName, pIt->u4.zDatabase);
    if( pT==0 || !IsOrdinaryTable(pT) ) continue;
    if( sqlite3ColumnIndex(pT, zCol)>=0 || (HasRowid(pT) && sqlite3IsRowid(zCol)) ) return 1;
  }
  return 0;
}
/* Walker callback of edgeliteIsLocal: eCode becomes 1 at a name that is not one of
** pW->u.pSelect's own columns (edgeliteNameIsLocal), as alias.column or alone. */
static int edgeliteLocalExprCb(Walker *pW, Expr *e){
  if( e->op==TK_ID ){
    if( !edgeliteNameIsLocal(pW->pParse->db, pW->u.pSelect, 0, e->u.zToken) ){
      pW->eCode = 1;
      return WRC_Abort;
    }
  }else if( e->op==TK_DOT ){
    if( e->pLeft==0 || e->pRight==0 || e->pLeft->op!=TK_ID || e->pRight->op!=TK_ID
     || !edgeliteNameIsLocal(pW->pParse->db, pW->u.pSelect, e->pLeft->u.zToken, e->pRight->u.zToken) ){
      pW->eCode = 1;
      return WRC_Abort;
    }
    return WRC_Prune;
  }
  return WRC_Continue;
}

/* True if subquery p (as parsed) cannot refer to an enclosing query: every name in its WHERE
** and ON clauses is a column of one of its own FROM items (ordinary tables), and they hold no
** subquery. The rewrite copies those clauses into CTEs and subqueries of its own, where a
** reference to an enclosing query would mean something else or nothing. */
static int edgeliteIsLocal(Parse *pParse, Select *p){
  return p->pSrc!=0 && edgeliteWalkFilter(pParse, p, edgeliteLocalExprCb, edgeliteRowSelectCb)==0;
}

static void edgeliteRewriteNested(Parse *pParse, Select *p, int depth);

/* A subquery met in an expression (IN (SELECT ...), EXISTS, a scalar subquery): rewritten as
** edgeliteRewriteNested says; its own subqueries are visited there, not by this walk. The
** walk's eCode carries the depth (the walk itself never sets it). */
static int edgeliteNestedSelectCb(Walker *pW, Select *pSel){
  Select *pS;
  for(pS=pSel; pS; pS=pS->pPrior){
    edgeliteRewriteNested(pW->pParse, pS, pW->eCode);
  }
  return WRC_Prune;
}

/* The subqueries of p, in FROM and in its WHERE clause, deepest first, each rewritten if it is
** a query the rewrite serves and cannot refer to an enclosing query (edgeliteIsLocal). One with
** a WITH clause of its own is left alone, with what it holds (a CTE may be named as a table
** is). */
static void edgeliteRewriteNested(Parse *pParse, Select *p, int depth){
  int i;
  if( p==0 || p->pWith || depth>8 ) return;
  for(i=0; p->pSrc && i<p->pSrc->nSrc; i++){
    SrcItem *pIt = &p->pSrc->a[i];
    Select *pSub;
    if( !pIt->fg.isSubquery ) continue;
    for(pSub=pIt->u4.pSubq->pSelect; pSub; pSub=pSub->pPrior){
      edgeliteRewriteNested(pParse, pSub, depth+1);
    }
  }
  if( p->pWhere ){
    Walker w;
    memset(&w, 0, sizeof(w));
    w.pParse = pParse;
    w.xExprCallback = sqlite3ExprWalkNoop;
    w.xSelectCallback = edgeliteNestedSelectCb;
    w.eCode = (u16)(depth+1);
    sqlite3WalkExpr(&w, p->pWhere);
  }
  if( depth>0 && edgeliteIsLocal(pParse, p) ) edgeliteRewriteOne(pParse, p, 0);
}

/* Patch 0002's hook, called by sqlite3Select() before name resolution: the rewrite of the
** statement's SELECT (edgeliteRewriteOne) and of its subqueries that cannot refer to it
** (edgeliteRewriteNested); a statement with a WITH clause has only its own SELECT rewritten,
** as before (its CTEs may be named as tables are). */
static void edgeliteVectorOrderBy(Parse *pParse, Select *p, SelectDest *pDest){
  /* not the rewrite: a read of a vector index's shadow table writes the rows it holds back */
  edgeliteVectorFlushReads(pParse, p);
  if( (p->selFlags & SF_Resolved)==0 && p->pWith==0 && pParse->pWith==0
   && (pParse->db->mDbFlags & DBFLAG_Vacuum)==0 ){
    edgeliteRewriteNested(pParse, p, 0);
  }
  /* the statement's own SELECT (not a subquery's, nor one in a trigger): its LIMIT is
  ** evaluated before it returns a row, where edgeliteGuardLimit's SQLITE_SCHEMA may start it
  ** anew */
  edgeliteRewriteOne(pParse, p, pDest!=0 && pDest->eDest==SRT_Output && pParse->pToplevel==0 && pParse->nested==0);
}

/* See edgelite.h. SQLite's own estimate (sqlite3BtreeRowCountEst, which ANALYZE's size check
** reads): the cells of a leaf times those of each page above it, a few page reads where a count
** reads every page; the larger of the estimates at the first row and at the last, so that one
** odd page at either end (a first row holding a large text, the last leaf of a table that grows
** by appends, which starts with one row) does not make the table look small. Only under a
** transaction that db already holds on the schema (the running statement's, when the planner's
** functions call it): -1 otherwise, and for anything but an ordinary rowid table. */
sqlite3_int64 edgelite_table_rows_estimate(sqlite3 *db, const char *zSchema, const char *zTable){
  sqlite3_int64 n = -1;
  int iDb;
  Table *pTab;
  Btree *pBt;
  BtCursor *pCur;
  int bEmpty = 0;
  if( db==0 || zSchema==0 || zTable==0 ) return -1;
  sqlite3_mutex_enter(db->mutex);
  iDb = sqlite3FindDbName(db, zSchema);
  pBt = iDb>=0 ? db->aDb[iDb].pBt : 0;
  pTab = pBt ? sqlite3FindTable(db, zTable, db->aDb[iDb].zDbSName) : 0;
  if( pTab && IsOrdinaryTable(pTab) && HasRowid(pTab) ){
    sqlite3BtreeEnter(pBt);
    if( sqlite3BtreeTxnState(pBt)!=SQLITE_TXN_NONE
     && (pCur = (BtCursor*)sqlite3MallocZero(sqlite3BtreeCursorSize()))!=0 ){
      if( sqlite3BtreeCursor(pBt, pTab->tnum, 0, 0, pCur)==SQLITE_OK ){
        if( sqlite3BtreeFirst(pCur, &bEmpty)==SQLITE_OK ){
          n = bEmpty ? 0 : sqlite3BtreeRowCountEst(pCur);
          if( n>0 && sqlite3BtreeLast(pCur, &bEmpty)==SQLITE_OK && !bEmpty ){
            sqlite3_int64 nLast = sqlite3BtreeRowCountEst(pCur);
            if( nLast>n ) n = nLast;
          }
        }
        sqlite3BtreeCloseCursor(pCur);
      }
      sqlite3_free(pCur);
    }
    sqlite3BtreeLeave(pBt);
  }
  sqlite3_mutex_leave(db->mutex);
  return n;
}
