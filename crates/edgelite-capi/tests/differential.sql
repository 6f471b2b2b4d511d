-- edgelite differential corpus.
-- Non-vector SQL, run top to bottom, one statement at a time, on one fresh :memory: connection
-- in autocommit mode, through edgelite and through pristine upstream SQLite built with the same
-- compile options; the two outputs must be identical. Every statement is deterministic: no
-- random(), no 'now', no version strings, no file names, no page or memory counts, and an
-- ORDER BY wherever more than one row can come back (aggregates and PRAGMAs excepted).
-- A comment beginning "-- error" marks each statement that is meant to fail.

-- ===== 1. Connection settings =====
PRAGMA foreign_keys = ON;
PRAGMA foreign_keys;
PRAGMA recursive_triggers;
PRAGMA encoding;
PRAGMA user_version = 7;
PRAGMA user_version;
PRAGMA application_id;

-- ===== 2. Literals, arithmetic, integer overflow, division by zero =====
SELECT 1, 'a', 2.5, NULL, x'CAFE', -0.0, 1e3, .5, 5.;
SELECT typeof(1), typeof(1.0), typeof('1'), typeof(x'01'), typeof(NULL), typeof(1e3), typeof(9223372036854775808);
SELECT 1 + 1, 7 / 2, 7 % 3, 7.0 / 2, -7 / 2, -7 % 3, 7 % -3, 2 * 3.5, 10 - 0.1;
SELECT 1 / 0, 1 % 0, 1.0 / 0, 0.0 / 0.0, 5 / 0.0, 5 % 0.0;
SELECT 9223372036854775807 + 1, -9223372036854775808 - 1, 9223372036854775807 * 2;
SELECT 9223372036854775807, -9223372036854775808, 9223372036854775808, -9223372036854775809;
SELECT -(-9223372036854775807), typeof(-(-9223372036854775808)), -(-9223372036854775808);
-- error: integer overflow
SELECT abs(-9223372036854775808);
SELECT abs(-9223372036854775807), abs(-1.5), abs('-3'), abs(NULL), abs('x');
SELECT 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0x10, -0x10, 0x0;
-- error: hex literal too big
SELECT 0x1FFFFFFFFFFFFFFFF;
SELECT 1e308 * 10, -1e308 * 10, 1e-320, 1e-400;
SELECT round(2.5), round(-2.5), round(3.14159, 2), round(1234.5678, -2), round(0.5), round(1.005, 2), round(NULL);
SELECT 1 << 62, 1 << 63, 1 << 64, -1 >> 1, 5 & 3, 5 | 3, ~5, 1 << -1;
SELECT 10 BETWEEN 1 AND 10, 'b' BETWEEN 'a' AND 'c', 5 NOT BETWEEN 6 AND 7;
SELECT 0.1 + 0.2, 0.1 + 0.2 = 0.3, 1.0 = 1, '1' = 1, 100000000000000000000.0, 1.5e300 * 1.5e10;
-- error: integer overflow in sum()
SELECT sum(v) FROM (SELECT 9223372036854775807 AS v UNION ALL SELECT 1);
SELECT total(v), typeof(total(v)) FROM (SELECT 9223372036854775807 AS v UNION ALL SELECT 1);
SELECT avg(v) FROM (SELECT 9223372036854775807 AS v UNION ALL SELECT 9223372036854775807);

-- ===== 3. CAST edge cases =====
SELECT CAST('123abc' AS INTEGER), CAST('  42  ' AS INTEGER), CAST('abc' AS INTEGER), CAST('1e3' AS INTEGER), CAST('0x1A' AS INTEGER), CAST('-0' AS INTEGER);
SELECT CAST(3.99 AS INTEGER), CAST(-3.99 AS INTEGER), CAST(1e20 AS INTEGER), CAST(-1e20 AS INTEGER), CAST(9223372036854775807.0 AS INTEGER);
SELECT CAST('3.0' AS REAL), CAST('abc' AS REAL), CAST(12 AS TEXT), CAST(1.5 AS TEXT), CAST(x'414243' AS TEXT), CAST(1e100 AS TEXT);
SELECT CAST('abc' AS BLOB), typeof(CAST('abc' AS BLOB)), CAST(NULL AS INTEGER), CAST('12' AS NUMERIC), CAST('12.0' AS NUMERIC), CAST('1.5e2' AS NUMERIC);
SELECT CAST('9223372036854775808' AS INTEGER), CAST('-9223372036854775809' AS INTEGER), CAST('9223372036854775807' AS NUMERIC), CAST('9223372036854775808' AS NUMERIC);
SELECT CAST(x'' AS TEXT), CAST('' AS INTEGER), CAST('' AS REAL), CAST(' ' AS NUMERIC), typeof(CAST('' AS NUMERIC));
SELECT CAST(1 AS BOOLEAN), CAST('2.5xyz' AS NUMERIC), CAST('  -7.25e1 ' AS REAL), CAST(123 AS VARCHAR(2)), CAST(4.0 AS DECIMAL(10, 2));
-- an empty type name is accepted (no affinity)
SELECT CAST(1 AS), CAST('1' AS), typeof(CAST('1' AS));

-- ===== 4. Type affinity and typeof =====
CREATE TABLE aff(i INTEGER, r REAL, t TEXT, b BLOB, n NUMERIC, x ANYTHING, v);
INSERT INTO aff VALUES ('1', '1', '1', '1', '1', '1', '1');
INSERT INTO aff VALUES (1.0, 1, 1, 1, 1.0, 1.5, 1.0);
INSERT INTO aff VALUES ('1.5e1', '2e0', 3.0, x'04', '0x10', ' 7 ', '8');
INSERT INTO aff VALUES (NULL, 'abc', NULL, 'text', '3.0000', '00012', x'00');
INSERT INTO aff VALUES ('9223372036854775808', '1e400', 1e400, -0.0, '1.0e2', 'x', 2.5);
SELECT rowid, typeof(i), i, typeof(r), r, typeof(t), t, typeof(b), b, typeof(n), n, typeof(x), x, typeof(v), v FROM aff ORDER BY rowid;
SELECT count(*) FROM aff WHERE i = '1';
SELECT count(*) FROM aff WHERE t = 1;
SELECT count(*) FROM aff WHERE v = '1';
SELECT '10' < 9, 10 < '9', '10' < '9', x'00' > 'zzz', NULL < 1, 1 < 'a', 'a' < x'00';
SELECT rowid FROM aff ORDER BY v, rowid;

-- ===== 5. NULL handling =====
SELECT NULL = NULL, NULL IS NULL, NULL IS NOT NULL, 1 IS NOT 2, NULL IS 1, NULL AND 0, NULL OR 1, NULL AND 1, NOT NULL;
SELECT coalesce(NULL, NULL, 3), ifnull(NULL, 'x'), nullif(5, 5), nullif(5, 6), iif(NULL, 'y', 'n'), iif(1, 'y', 'n'), iif(0, 'y');
SELECT 1 IS DISTINCT FROM NULL, NULL IS NOT DISTINCT FROM NULL, 2 IS DISTINCT FROM 2;
SELECT count(*), count(v), sum(v), total(v), avg(v), min(v), max(v), group_concat(v) FROM (SELECT NULL AS v UNION ALL SELECT NULL);
SELECT CASE NULL WHEN NULL THEN 'match' ELSE 'nomatch' END, CASE WHEN NULL THEN 1 ELSE 2 END, CASE 1 WHEN 2 THEN 'x' END;
SELECT NULL IN (1, 2), 1 IN (1, NULL), 3 IN (1, NULL), 3 NOT IN (1, NULL), NULL NOT IN (), 1 IN ();
SELECT NULL || 'a', length(NULL), upper(NULL), NULL + 1, -NULL, max(1, NULL), min(NULL, 1);
SELECT v FROM (SELECT 2 AS v UNION ALL SELECT NULL UNION ALL SELECT 1) ORDER BY v NULLS LAST;
SELECT v FROM (SELECT 2 AS v UNION ALL SELECT NULL UNION ALL SELECT 1) ORDER BY v DESC NULLS FIRST;

-- ===== 6. Core schema: CHECK, UNIQUE, NOT NULL, foreign keys, indexes =====
CREATE TABLE dept(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  budget REAL CHECK (budget >= 0),
  region TEXT DEFAULT 'north'
);
CREATE TABLE emp(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  dept_id INTEGER REFERENCES dept(id) ON DELETE SET NULL ON UPDATE CASCADE,
  manager_id INTEGER REFERENCES emp(id) ON DELETE RESTRICT,
  salary INTEGER NOT NULL CONSTRAINT positive_salary CHECK (salary > 0),
  hired TEXT,
  email TEXT UNIQUE
);
CREATE INDEX emp_dept ON emp(dept_id, salary DESC);
CREATE INDEX emp_email_lower ON emp(lower(email));
CREATE INDEX emp_high_paid ON emp(salary) WHERE salary > 5000;
CREATE UNIQUE INDEX dept_region_name ON dept(region, name);
INSERT INTO dept(id, name, budget, region) VALUES (1, 'Engineering', 1000000, 'north'), (2, 'Sales', 250000.5, 'south'), (3, 'Marketing', 120000, 'south'), (4, 'Research', 0, 'east');
INSERT INTO dept(id, name, budget) VALUES (5, 'Empty', 10);
INSERT INTO emp(name, dept_id, manager_id, salary, hired, email) VALUES
  ('Alice', 1, NULL, 9000, '2015-03-01', 'alice@example.com'),
  ('Bob', 1, 1, 7000, '2016-07-15', 'Bob@Example.com'),
  ('Carol', 1, 2, 6500, '2018-01-10', 'carol@example.com'),
  ('Dave', 2, 1, 5000, '2017-11-30', 'dave@example.com'),
  ('Eve', 2, 4, 4200, '2019-05-05', NULL),
  ('Frank', 3, 1, 4800, '2020-02-29', 'frank@example.com'),
  ('Grace', 3, 6, 3900, '2021-08-01', 'grace@example.com'),
  ('Heidi', NULL, 1, 3000, '2022-12-31', 'heidi@example.com'),
  ('Ivan', 2, 4, 5000, '2023-06-15', 'ivan@example.com'),
  ('Judy', 1, 2, 7000, '2014-09-09', 'judy@example.com');
SELECT id, name, dept_id, manager_id, salary, hired, email FROM emp ORDER BY id;
SELECT name, seq FROM sqlite_sequence ORDER BY name;
SELECT * FROM dept ORDER BY id;
SELECT name FROM dept WHERE name = 'SALES';
SELECT id, name FROM emp WHERE lower(email) = 'bob@example.com';
SELECT last_insert_rowid(), changes();
-- error: NOT NULL constraint failed
INSERT INTO dept(id, name) VALUES (11, NULL);
-- error: UNIQUE constraint failed (primary key)
INSERT INTO dept(id, name) VALUES (1, 'Dup');
-- error: UNIQUE constraint failed (NOCASE column)
INSERT INTO dept(id, name, region) VALUES (12, 'ENGINEERING', 'west');
-- error: UNIQUE constraint failed (composite unique index)
INSERT INTO dept(id, name) VALUES (13, 'empty');
-- error: CHECK constraint failed
INSERT INTO dept(id, name, budget) VALUES (10, 'Neg', -1);
-- error: named CHECK constraint failed
UPDATE emp SET salary = 0 WHERE id = 3;
-- error: FOREIGN KEY constraint failed on insert
INSERT INTO emp(name, dept_id, salary) VALUES ('Ghost', 99, 100);
-- error: UNIQUE constraint failed on a secondary unique column
INSERT INTO emp(name, salary, email) VALUES ('Clone', 100, 'alice@example.com');
-- error: too many values
INSERT INTO dept VALUES (9, 'x', 1, 'n', 'extra');
-- error: value count mismatch
INSERT INTO dept(id, name) VALUES (9);
-- error: datatype mismatch on rowid
INSERT INTO emp(id, name, salary) VALUES ('abc', 'x', 1);
SELECT count(*) FROM emp;
SELECT * FROM pragma_foreign_key_list('emp') ORDER BY id, seq;
SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info('emp') ORDER BY cid;
SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_info('dept') ORDER BY cid;
SELECT name, "unique", origin, partial FROM pragma_index_list('emp') ORDER BY name;
SELECT name, "unique", origin, partial FROM pragma_index_list('dept') ORDER BY name;
SELECT seqno, cid, name FROM pragma_index_info('emp_dept') ORDER BY seqno;
SELECT seqno, cid, name, "desc", coll, key FROM pragma_index_xinfo('emp_dept') ORDER BY seqno;
SELECT seqno, cid, name FROM pragma_index_info('emp_email_lower') ORDER BY seqno;

-- ===== 7. Basic queries, GROUP BY, HAVING, aggregate FILTER =====
SELECT dept_id, count(*), sum(salary), avg(salary), min(salary), max(salary) FROM emp GROUP BY dept_id ORDER BY dept_id;
SELECT dept_id, count(*) AS n FROM emp GROUP BY dept_id HAVING count(*) > 2 ORDER BY n DESC, dept_id;
SELECT count(*) FROM emp HAVING count(*) > 5;
SELECT count(*) FROM emp HAVING count(*) > 50;
SELECT count(*) FILTER (WHERE salary > 5000), count(*) FILTER (WHERE salary <= 5000), sum(salary) FILTER (WHERE dept_id = 1), avg(salary) FILTER (WHERE dept_id IS NULL) FROM emp;
SELECT dept_id, group_concat(name, ',' ORDER BY name) FROM emp GROUP BY dept_id ORDER BY dept_id;
SELECT string_agg(name, '; ' ORDER BY salary DESC, name) FROM emp;
SELECT count(DISTINCT dept_id), count(DISTINCT salary), total(DISTINCT salary), sum(DISTINCT salary) FROM emp;
SELECT max(salary), name FROM emp;
SELECT min(salary), name FROM emp;
SELECT substr(hired, 1, 3) || '0s' AS decade, count(*) FROM emp GROUP BY decade ORDER BY decade;
SELECT dept_id, max(salary) - min(salary) AS spread FROM emp WHERE dept_id IS NOT NULL GROUP BY 1 HAVING spread > 0 ORDER BY 2 DESC, 1;
SELECT DISTINCT salary FROM emp ORDER BY salary DESC;
SELECT name FROM emp ORDER BY salary DESC, name LIMIT 3;
SELECT name FROM emp ORDER BY id LIMIT 3 OFFSET 4;
SELECT name FROM emp ORDER BY id LIMIT -1 OFFSET 8;
SELECT name FROM emp ORDER BY id LIMIT 2, 3;
SELECT name, CASE WHEN salary >= 7000 THEN 'high' WHEN salary >= 4500 THEN 'mid' ELSE 'low' END AS band FROM emp ORDER BY band, name;
SELECT name FROM emp WHERE name LIKE '_a%' ORDER BY name;
SELECT name FROM emp WHERE email IS NULL OR dept_id IS NULL ORDER BY name;
SELECT name FROM emp WHERE salary IN (3000, 5000, 9000) ORDER BY id;
SELECT name FROM emp WHERE hired BETWEEN '2016-01-01' AND '2019-12-31' ORDER BY hired;
SELECT 1 WHERE 0;
-- error: misuse of aggregate
SELECT name FROM emp WHERE count(*) > 1;
-- error: aggregate in GROUP BY
SELECT count(*) FROM emp GROUP BY sum(salary);
-- error: GROUP BY term out of range
SELECT dept_id FROM emp GROUP BY 3;
-- error: ORDER BY term out of range
SELECT name FROM emp ORDER BY 5;
-- error: DISTINCT aggregates must have exactly one argument
SELECT count(DISTINCT id, name) FROM emp;
-- error: no such column
SELECT nosuchcol FROM emp;
-- error: no such table
SELECT * FROM nosuchtable;
-- error: no such function
SELECT nosuchfunc(1);
-- error: wrong number of arguments
SELECT substr('abc');
-- error: wrong number of arguments
SELECT substr('abc', 1, 2, 3);
-- error: ambiguous column name
SELECT id FROM emp, dept;
-- error: syntax error
SELECT FROM emp;
-- error: syntax error
SELEC 1;
-- error: syntax error at end of input
SELECT 1 +;
-- error: syntax error, empty WHERE
SELECT * FROM emp WHERE;
-- error: unrecognized token
SELECT x'ABC';
-- error: sub-select returns 2 columns
SELECT (SELECT id, name FROM emp WHERE id = 1);
-- error: row value misused
SELECT (1, 2) + 1;

-- ===== 8. Joins of every kind =====
CREATE TABLE ja(k INTEGER, v TEXT);
CREATE TABLE jb(k INTEGER, w TEXT);
INSERT INTO ja VALUES (1, 'a1'), (2, 'a2'), (3, 'a3'), (NULL, 'anull');
INSERT INTO jb VALUES (2, 'b2'), (3, 'b3'), (3, 'b3bis'), (4, 'b4'), (NULL, 'bnull');
SELECT e.name, d.name FROM emp e JOIN dept d ON e.dept_id = d.id ORDER BY e.id;
SELECT e.name, d.name FROM emp e INNER JOIN dept d ON e.dept_id = d.id AND d.region = 'south' ORDER BY e.id;
SELECT e.name, d.name FROM emp e LEFT JOIN dept d ON e.dept_id = d.id ORDER BY e.id;
SELECT e.name, d.name FROM emp e LEFT OUTER JOIN dept d ON e.dept_id = d.id WHERE d.id IS NULL ORDER BY e.id;
SELECT e.name, d.name FROM emp e RIGHT JOIN dept d ON e.dept_id = d.id ORDER BY d.id, e.id;
SELECT e.name, d.name FROM emp e FULL OUTER JOIN dept d ON e.dept_id = d.id ORDER BY d.id NULLS FIRST, e.id;
SELECT count(*) FROM emp CROSS JOIN dept;
SELECT e.name, m.name AS manager FROM emp e LEFT JOIN emp m ON e.manager_id = m.id ORDER BY e.id;
SELECT ja.k, v, jb.k, w FROM ja JOIN jb ON ja.k = jb.k ORDER BY ja.k, w;
SELECT ja.k, v, jb.k, w FROM ja LEFT JOIN jb ON ja.k = jb.k ORDER BY v, w;
SELECT ja.k, v, jb.k, w FROM ja RIGHT JOIN jb ON ja.k = jb.k ORDER BY w, v;
SELECT ja.k, v, jb.k, w FROM ja FULL JOIN jb ON ja.k = jb.k ORDER BY v NULLS LAST, w NULLS LAST;
SELECT k, v, w FROM ja JOIN jb USING (k) ORDER BY k, w;
SELECT k, v, w FROM ja NATURAL JOIN jb ORDER BY k, w;
SELECT k, v, w FROM ja NATURAL LEFT JOIN jb ORDER BY v, w;
SELECT k, v, w FROM ja FULL JOIN jb USING (k) ORDER BY k NULLS FIRST, v NULLS FIRST, w NULLS FIRST;
SELECT v, w FROM ja, jb WHERE ja.k < jb.k ORDER BY v, w;
SELECT v, w FROM ja CROSS JOIN jb WHERE jb.k = 4 ORDER BY v;
SELECT a.v, b.v FROM ja a JOIN ja b ON a.k + 1 = b.k ORDER BY a.v;
SELECT d.name, count(e.id) FROM dept d LEFT JOIN emp e ON e.dept_id = d.id GROUP BY d.id ORDER BY d.id;
SELECT x.column1, y.column1 FROM (VALUES (1), (2)) AS x JOIN (VALUES (2), (3)) AS y ON x.column1 <= y.column1 ORDER BY 1, 2;
SELECT e.name, d.name, m.name FROM emp e LEFT JOIN dept d ON d.id = e.dept_id LEFT JOIN emp m ON m.id = e.manager_id WHERE e.salary < 5000 ORDER BY e.name;
-- error: a NATURAL join may not have an ON clause
SELECT * FROM ja NATURAL JOIN jb ON ja.k = jb.k;
-- error: USING column not present in both tables
SELECT * FROM ja JOIN jb USING (v);
-- error: ambiguous column in a join
SELECT k FROM ja JOIN jb ON ja.k = jb.k;

-- ===== 9. Subqueries: correlated, IN, EXISTS, row values =====
SELECT name, salary FROM emp e WHERE salary > (SELECT avg(salary) FROM emp WHERE dept_id = e.dept_id) ORDER BY id;
SELECT d.name, (SELECT count(*) FROM emp WHERE dept_id = d.id) AS n, (SELECT max(salary) FROM emp WHERE dept_id = d.id) AS top FROM dept d ORDER BY d.id;
SELECT name FROM dept d WHERE EXISTS (SELECT 1 FROM emp WHERE dept_id = d.id AND salary > 6000) ORDER BY name;
SELECT name FROM dept d WHERE NOT EXISTS (SELECT 1 FROM emp WHERE dept_id = d.id) ORDER BY name;
SELECT name FROM emp WHERE dept_id IN (SELECT id FROM dept WHERE region = 'south') ORDER BY name;
SELECT name FROM emp WHERE dept_id NOT IN (SELECT id FROM dept WHERE region = 'south') ORDER BY name;
SELECT name FROM emp WHERE (dept_id, salary) IN (SELECT dept_id, max(salary) FROM emp GROUP BY dept_id) ORDER BY name;
SELECT name FROM emp e WHERE salary = (SELECT max(salary) FROM emp e2 WHERE e2.dept_id IS e.dept_id) ORDER BY name;
SELECT name, (SELECT name FROM emp m WHERE m.id = e.manager_id) AS mgr FROM emp e ORDER BY id;
SELECT (SELECT count(*) FROM emp) AS total, (SELECT count(*) FROM dept) AS depts, (SELECT name FROM emp ORDER BY salary LIMIT 1) AS lowest;
SELECT (1, 2) < (1, 3), (1, 2, 3) = (1, 2, 3), (1, NULL) = (1, 2), (2, NULL) > (1, 5), (1, 'a') IN (VALUES (1, 'a'), (2, 'b'));
SELECT sub.dept_id, sub.total FROM (SELECT dept_id, sum(salary) AS total FROM emp GROUP BY dept_id) AS sub WHERE sub.total > 10000 ORDER BY sub.dept_id;
SELECT name FROM emp WHERE id IN (SELECT manager_id FROM emp) ORDER BY name;
SELECT name FROM emp WHERE id NOT IN (SELECT manager_id FROM emp) ORDER BY name;
SELECT name FROM emp WHERE id NOT IN (SELECT manager_id FROM emp WHERE manager_id IS NOT NULL) ORDER BY name;
SELECT name FROM emp WHERE salary > 5000 AND EXISTS (SELECT 1 FROM emp sub WHERE sub.manager_id = emp.id) ORDER BY name;

-- ===== 10. Compound SELECTs =====
SELECT dept_id FROM emp UNION SELECT id FROM dept ORDER BY 1;
SELECT dept_id FROM emp UNION ALL SELECT id FROM dept ORDER BY 1;
SELECT dept_id FROM emp INTERSECT SELECT id FROM dept ORDER BY 1;
SELECT id FROM dept EXCEPT SELECT dept_id FROM emp ORDER BY 1;
SELECT name FROM emp UNION SELECT name FROM dept ORDER BY 1 LIMIT 5 OFFSET 2;
SELECT 'x' AS c UNION SELECT 'X' UNION SELECT 'x' ORDER BY c;
SELECT 1 AS a, 'one' AS b UNION ALL SELECT 2, 'two' UNION ALL SELECT 1, 'one' EXCEPT SELECT 2, 'two' ORDER BY a;
SELECT column1, column2 FROM (VALUES (3, 'c'), (1, 'a'), (2, 'b')) ORDER BY column1;
VALUES (42, 'single row');
SELECT k FROM ja UNION SELECT k FROM jb ORDER BY k DESC NULLS LAST;
SELECT name COLLATE NOCASE AS n FROM dept INTERSECT SELECT 'SALES' ORDER BY n;
SELECT * FROM (SELECT 1 AS x UNION ALL SELECT 2) AS t1, (SELECT 'a' AS y UNION ALL SELECT 'b') AS t2 ORDER BY x, y;
-- error: different number of result columns
SELECT 1, 2 UNION SELECT 3;
-- error: ORDER BY term does not match any column of the compound
SELECT 1 AS a UNION SELECT 2 ORDER BY b;

-- ===== 11. Window functions =====
SELECT name, dept_id, salary,
  row_number() OVER (PARTITION BY dept_id ORDER BY salary DESC, id) AS rn,
  rank() OVER (PARTITION BY dept_id ORDER BY salary DESC) AS rk,
  dense_rank() OVER (ORDER BY salary DESC) AS dr
FROM emp ORDER BY dept_id NULLS FIRST, rn;
SELECT name, salary, ntile(3) OVER (ORDER BY salary, id) AS tile, percent_rank() OVER (ORDER BY salary) AS pr, cume_dist() OVER (ORDER BY salary) AS cd FROM emp ORDER BY salary, id;
SELECT name, salary, lag(salary) OVER w AS prev, lead(salary, 2, -1) OVER w AS next2, lag(name, 1, 'none') OVER w AS prevname FROM emp WINDOW w AS (ORDER BY id) ORDER BY id;
SELECT name, first_value(name) OVER w, last_value(name) OVER w, nth_value(name, 2) OVER w FROM emp WINDOW w AS (PARTITION BY dept_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) ORDER BY id;
SELECT name, last_value(name) OVER (ORDER BY id) AS default_frame, nth_value(name, 3) OVER (ORDER BY id) AS third FROM emp ORDER BY id;
SELECT id, salary, sum(salary) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS s3 FROM emp ORDER BY id;
SELECT id, salary, sum(salary) OVER (ORDER BY salary RANGE BETWEEN 1000 PRECEDING AND CURRENT ROW) AS r FROM emp ORDER BY salary, id;
SELECT id, salary, count(*) OVER (ORDER BY salary GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS g FROM emp ORDER BY salary, id;
SELECT id, salary, sum(salary) OVER (ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE CURRENT ROW) AS ex FROM emp ORDER BY id;
SELECT id, salary, count(*) OVER (ORDER BY salary RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE GROUP) AS eg, count(*) OVER (ORDER BY salary RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING EXCLUDE TIES) AS et FROM emp ORDER BY salary, id;
SELECT id, salary, sum(salary) OVER (ORDER BY salary GROUPS BETWEEN CURRENT ROW AND 1 FOLLOWING EXCLUDE NO OTHERS) AS gs FROM emp ORDER BY salary, id;
SELECT id, avg(salary) OVER (PARTITION BY dept_id) AS dept_avg, salary - avg(salary) OVER (PARTITION BY dept_id) AS diff FROM emp ORDER BY id;
SELECT id, sum(salary) FILTER (WHERE dept_id = 1) OVER (ORDER BY id) AS eng_running FROM emp ORDER BY id;
SELECT id, group_concat(name, '/') OVER (ORDER BY id ROWS 2 PRECEDING) AS last3 FROM emp ORDER BY id;
SELECT dept_id, name, salary FROM (SELECT *, row_number() OVER (PARTITION BY dept_id ORDER BY salary DESC, id) AS rn FROM emp) WHERE rn = 1 ORDER BY dept_id NULLS LAST;
SELECT id, max(salary) OVER win, min(salary) OVER win FROM emp WINDOW base AS (PARTITION BY dept_id), win AS (base ORDER BY id ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) ORDER BY id;
SELECT dept_id, sum(salary), rank() OVER (ORDER BY sum(salary) DESC) FROM emp GROUP BY dept_id ORDER BY dept_id;
SELECT id, count(*) OVER () AS n, sum(id) OVER () AS total FROM emp ORDER BY id LIMIT 3;
SELECT x, sum(x) OVER (ORDER BY x RANGE BETWEEN 1.5 PRECEDING AND 0.5 FOLLOWING) FROM (SELECT 1.0 AS x UNION ALL SELECT 2.0 UNION ALL SELECT 2.5 UNION ALL SELECT 4.0) ORDER BY x;
-- error: window function used without OVER
SELECT row_number() FROM emp;
-- error: no such window
SELECT sum(salary) OVER w FROM emp;
-- error: ntile argument must be positive
SELECT ntile(0) OVER (ORDER BY id) FROM emp;
-- error: nth_value second argument must be positive
SELECT nth_value(id, 0) OVER (ORDER BY id) FROM emp;
-- error: RANGE with offset requires one ORDER BY expression
SELECT sum(id) OVER (RANGE 1 PRECEDING) FROM emp;
-- error: DISTINCT is not supported for window functions
SELECT count(DISTINCT id) OVER () FROM emp;
-- error: FILTER on a non-aggregate window function
SELECT row_number() FILTER (WHERE id > 1) OVER (ORDER BY id) FROM emp;
-- error: negative frame offset
SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN -1 PRECEDING AND CURRENT ROW) FROM emp;
-- error: window function in WHERE
SELECT id FROM emp WHERE row_number() OVER (ORDER BY id) > 2;

-- ===== 12. Common table expressions =====
WITH RECURSIVE cnt(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM cnt WHERE x < 10) SELECT x, x * x FROM cnt ORDER BY x;
WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s LIMIT 1000) SELECT count(*), sum(n), max(n), min(n) FROM s;
WITH RECURSIVE fib(n, a, b) AS (SELECT 1, 0, 1 UNION ALL SELECT n + 1, b, a + b FROM fib WHERE n < 90) SELECT n, a FROM fib ORDER BY n DESC LIMIT 4;
WITH RECURSIVE chain(id, name, lvl, path) AS (
  SELECT id, name, 0, name FROM emp WHERE manager_id IS NULL
  UNION ALL
  SELECT e.id, e.name, c.lvl + 1, c.path || '/' || e.name FROM emp e JOIN chain c ON e.manager_id = c.id
) SELECT id, lvl, path FROM chain ORDER BY path;
WITH RECURSIVE up(id, name, manager_id, depth) AS (
  SELECT id, name, manager_id, 0 FROM emp WHERE name = 'Grace'
  UNION ALL
  SELECT e.id, e.name, e.manager_id, up.depth + 1 FROM emp e JOIN up ON e.id = up.manager_id
) SELECT name, depth FROM up ORDER BY depth;
WITH big AS MATERIALIZED (SELECT dept_id, sum(salary) AS s FROM emp GROUP BY dept_id) SELECT dept_id, s FROM big WHERE s > 10000 ORDER BY dept_id;
WITH small AS NOT MATERIALIZED (SELECT id, name FROM emp WHERE salary < 5000) SELECT a.name, b.name FROM small a JOIN small b ON a.id < b.id ORDER BY a.id, b.id;
WITH a(x) AS (SELECT 1), b(y) AS (SELECT x + 1 FROM a), c(z) AS (SELECT y * 10 FROM b) SELECT x, y, z FROM a, b, c;
WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n * 2 FROM r WHERE n < 100 UNION SELECT n * 3 FROM r WHERE n < 100) SELECT group_concat(n, ' ' ORDER BY n) FROM r;
CREATE TABLE edge(src INTEGER, dst INTEGER);
INSERT INTO edge VALUES (1, 2), (2, 3), (3, 1), (3, 4), (5, 6);
WITH RECURSIVE reach(n) AS (SELECT 1 UNION SELECT dst FROM edge JOIN reach ON src = n) SELECT n FROM reach ORDER BY n;
WITH RECURSIVE paths(node, path, hops) AS (
  SELECT 1, '1', 0
  UNION ALL
  SELECT e.dst, p.path || '>' || e.dst, p.hops + 1 FROM edge e JOIN paths p ON e.src = p.node WHERE p.hops < 5
) SELECT node, path, hops FROM paths ORDER BY hops, path;
WITH RECURSIVE digits(d) AS (SELECT 0 UNION ALL SELECT d + 1 FROM digits WHERE d < 9),
  sq(n) AS (SELECT a.d * 10 + b.d FROM digits a, digits b)
SELECT count(*), sum(n), sum(n * n) FROM sq;
WITH RECURSIVE dates(d) AS (SELECT '2024-02-26' UNION ALL SELECT date(d, '+1 day') FROM dates WHERE d < '2024-03-02') SELECT d, strftime('%w', d) FROM dates ORDER BY d;
WITH t(a, b) AS (VALUES (1, 'x'), (2, 'y')) SELECT b FROM t WHERE a = 2;
WITH RECURSIVE gcd(a, b) AS (SELECT 1071, 462 UNION ALL SELECT b, a % b FROM gcd WHERE b > 0) SELECT a FROM gcd WHERE b = 0;
WITH RECURSIVE collatz(n, steps) AS (SELECT 27, 0 UNION ALL SELECT CASE WHEN n % 2 = 0 THEN n / 2 ELSE 3 * n + 1 END, steps + 1 FROM collatz WHERE n <> 1) SELECT max(steps), max(n) FROM collatz;
-- error: circular reference between CTEs
WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM a;
-- error: recursive aggregate queries not supported
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT count(*) FROM r) SELECT * FROM r;
-- error: CTE column count mismatch
WITH t(a, b) AS (SELECT 1) SELECT * FROM t;

-- ===== 13. UPSERT, REPLACE, conflict clauses, RETURNING =====
CREATE TABLE inventory(sku TEXT PRIMARY KEY, qty INTEGER NOT NULL DEFAULT 0, updated INTEGER DEFAULT 0, note TEXT UNIQUE);
INSERT INTO inventory(sku, qty) VALUES ('A', 5), ('B', 3);
INSERT INTO inventory(sku, qty) VALUES ('A', 2) ON CONFLICT(sku) DO UPDATE SET qty = qty + excluded.qty, updated = updated + 1;
INSERT INTO inventory(sku, qty) VALUES ('B', 10) ON CONFLICT DO NOTHING;
INSERT INTO inventory(sku, qty) VALUES ('C', 1) ON CONFLICT(sku) DO UPDATE SET qty = 0 RETURNING sku, qty, updated;
INSERT INTO inventory(sku, qty) VALUES ('A', 1) ON CONFLICT(sku) DO UPDATE SET qty = qty + 1 WHERE excluded.qty > 5 RETURNING *;
INSERT INTO inventory(sku, qty) VALUES ('A', 100) ON CONFLICT(sku) DO UPDATE SET qty = excluded.qty WHERE excluded.qty > 5 RETURNING sku, qty, updated;
INSERT INTO inventory(sku, qty, note) VALUES ('D', 4, 'n1');
INSERT INTO inventory(sku, qty, note) VALUES ('E', 9, 'n1') ON CONFLICT(sku) DO NOTHING ON CONFLICT(note) DO UPDATE SET qty = qty + excluded.qty RETURNING sku, qty, note;
SELECT * FROM inventory ORDER BY sku;
INSERT OR REPLACE INTO inventory(sku, qty, updated) VALUES ('B', 42, 9);
INSERT OR IGNORE INTO inventory(sku, qty, updated) VALUES ('B', 43, 9);
REPLACE INTO inventory(sku, qty, note) VALUES ('F', 1, 'n1');
SELECT * FROM inventory ORDER BY sku;
SELECT changes(), total_changes() > 0;
UPDATE inventory SET qty = qty - 1 WHERE sku = 'A' RETURNING sku, qty, qty + 1 AS before;
DELETE FROM inventory WHERE sku = 'C' RETURNING sku, qty;
INSERT INTO inventory(sku) VALUES ('G') RETURNING sku, qty, updated, note, typeof(rowid);
INSERT INTO inventory DEFAULT VALUES;
-- error: UNIQUE constraint failed on primary key
INSERT INTO inventory(sku, qty) VALUES ('B', 1);
-- error: ON CONFLICT target is not a unique constraint
INSERT INTO inventory(sku, qty) VALUES ('Z', 1) ON CONFLICT(qty) DO NOTHING;
-- error: NOT NULL constraint failed under OR ABORT
INSERT OR ABORT INTO inventory(sku, qty) VALUES ('H', NULL);
-- error: UNIQUE constraint under OR FAIL
INSERT OR FAIL INTO inventory(sku, qty) VALUES ('A', 1);
-- error: RETURNING references an unknown column
INSERT INTO inventory(sku) VALUES ('Y') RETURNING nosuch;
SELECT count(*) FROM inventory WHERE sku = 'Y';
SELECT sku, qty, updated, note FROM inventory ORDER BY sku NULLS FIRST;

-- ===== 14. UPDATE FROM, DELETE with subqueries =====
CREATE TABLE sales(id INTEGER PRIMARY KEY, emp_id INTEGER, amount INTEGER, region TEXT);
INSERT INTO sales(emp_id, amount, region) VALUES (4, 100, 'south'), (4, 250, 'south'), (5, 75, 'south'), (9, 300, 'west'), (9, 20, 'west'), (6, 500, 'north'), (7, 10, 'north');
CREATE TABLE bonus(emp_id INTEGER PRIMARY KEY, total INTEGER DEFAULT 0, best INTEGER);
INSERT INTO bonus(emp_id) SELECT id FROM emp WHERE dept_id IN (2, 3) ORDER BY id;
UPDATE bonus SET total = s.t, best = s.m FROM (SELECT emp_id, sum(amount) AS t, max(amount) AS m FROM sales GROUP BY emp_id) AS s WHERE s.emp_id = bonus.emp_id;
SELECT * FROM bonus ORDER BY emp_id;
UPDATE bonus SET total = total * 2 FROM emp WHERE emp.id = bonus.emp_id AND emp.salary >= 5000;
SELECT * FROM bonus ORDER BY emp_id;
UPDATE sales SET region = (SELECT d.region FROM emp e JOIN dept d ON d.id = e.dept_id WHERE e.id = sales.emp_id) WHERE region = 'west';
SELECT id, emp_id, amount, region FROM sales ORDER BY id;
DELETE FROM sales WHERE emp_id IN (SELECT id FROM emp WHERE salary < 4500);
SELECT changes();
DELETE FROM sales WHERE amount < (SELECT avg(amount) FROM sales) AND EXISTS (SELECT 1 FROM bonus WHERE bonus.emp_id = sales.emp_id AND bonus.total > 500);
SELECT id, emp_id, amount FROM sales ORDER BY id;
UPDATE sales SET amount = amount + 1 WHERE id = (SELECT max(id) FROM sales) RETURNING id, amount;
DELETE FROM bonus WHERE NOT EXISTS (SELECT 1 FROM sales WHERE sales.emp_id = bonus.emp_id);
SELECT emp_id, total, best FROM bonus ORDER BY emp_id;
-- error: UPDATE FROM with ambiguous column
UPDATE bonus SET total = 0 FROM sales WHERE emp_id = 4;

-- ===== 15. STRICT tables =====
CREATE TABLE st(id INTEGER PRIMARY KEY, i INT, r REAL, t TEXT, b BLOB, a ANY) STRICT;
INSERT INTO st VALUES (1, 1, 1.5, 'x', x'01', 'any');
INSERT INTO st VALUES (2, '2', 2, 3, x'02', 2.0);
INSERT INTO st VALUES ('3', ' 4 ', '5.5', 'txt', NULL, x'ff');
INSERT INTO st(id, i, r) VALUES (4, 9223372036854775807, 9223372036854775807);
SELECT id, typeof(i), i, typeof(r), r, typeof(t), t, typeof(b), typeof(a), a FROM st ORDER BY id;
-- error: cannot store TEXT value in INT column
INSERT INTO st(id, i) VALUES (10, 'abc');
-- error: cannot store REAL value in INT column
INSERT INTO st(id, i) VALUES (11, 1.5);
-- error: cannot store TEXT value in REAL column
INSERT INTO st(id, r) VALUES (12, 'x');
-- error: cannot store TEXT value in BLOB column
INSERT INTO st(id, b) VALUES (13, 'text');
-- error: cannot store BLOB value in INT column
UPDATE st SET i = x'00' WHERE id = 1;
-- error: unknown datatype in a STRICT table
CREATE TABLE st_bad(x FOO) STRICT;
-- error: missing datatype in a STRICT table
CREATE TABLE st_bad2(x) STRICT;
CREATE TABLE st_kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL) STRICT, WITHOUT ROWID;
INSERT INTO st_kv VALUES ('one', 1), ('two', '2');
SELECT k, v, typeof(v) FROM st_kv ORDER BY k;
-- error: STRICT WITHOUT ROWID rejects a non-integer
INSERT INTO st_kv VALUES ('three', 'three');
SELECT name, strict, wr, ncol FROM pragma_table_list WHERE schema = 'main' AND name LIKE 'st%' ORDER BY name;

-- ===== 16. WITHOUT ROWID tables =====
CREATE TABLE kv(k TEXT PRIMARY KEY, v ANY) WITHOUT ROWID;
CREATE TABLE pairs(a INTEGER, b INTEGER, label TEXT, PRIMARY KEY (a DESC, b)) WITHOUT ROWID;
INSERT INTO kv VALUES ('b', 2), ('a', 'one'), ('c', x'03');
INSERT INTO pairs VALUES (1, 1, 'x'), (1, 2, 'y'), (2, 1, 'z'), (0, 5, 'w');
SELECT k, v FROM kv ORDER BY k;
SELECT a, b, label FROM pairs ORDER BY a DESC, b;
SELECT label FROM pairs WHERE a = 1 AND b >= 2 ORDER BY b;
UPDATE pairs SET b = b + 10 WHERE a = 1;
SELECT a, b, label FROM pairs ORDER BY a, b;
-- error: WITHOUT ROWID tables have no rowid
SELECT rowid FROM kv;
-- error: WITHOUT ROWID requires a PRIMARY KEY
CREATE TABLE nopk(a) WITHOUT ROWID;
-- error: duplicate primary key in WITHOUT ROWID
INSERT INTO pairs VALUES (2, 1, 'dup');
SELECT cid, name, type, pk FROM pragma_table_info('pairs') ORDER BY cid;
SELECT seqno, cid, name, "desc", key FROM pragma_index_xinfo('sqlite_autoindex_pairs_1') ORDER BY seqno;

-- ===== 17. Generated columns =====
CREATE TABLE gen(
  id INTEGER PRIMARY KEY,
  w REAL NOT NULL,
  h REAL NOT NULL,
  area REAL GENERATED ALWAYS AS (w * h) STORED,
  perim AS (2 * (w + h)),
  label TEXT AS ('box ' || id || ' ' || printf('%.1f', area)) VIRTUAL
);
INSERT INTO gen(w, h) VALUES (2, 3), (1.5, 4), (10, 0.5);
CREATE INDEX gen_area ON gen(area);
CREATE INDEX gen_perim ON gen(perim);
SELECT id, w, h, area, perim, label FROM gen ORDER BY id;
UPDATE gen SET w = w + 1 WHERE id = 2;
SELECT id, area, perim, label FROM gen WHERE area > 5 ORDER BY area DESC;
SELECT cid, name, type, hidden FROM pragma_table_xinfo('gen') ORDER BY cid;
SELECT cid, name FROM pragma_table_info('gen') ORDER BY cid;
-- error: cannot INSERT into generated column
INSERT INTO gen(id, w, h, area) VALUES (9, 1, 1, 5);
-- error: cannot UPDATE generated column
UPDATE gen SET perim = 1;
-- error: generated column cannot be part of the PRIMARY KEY
CREATE TABLE gen_bad(a INTEGER, b AS (a + 1), PRIMARY KEY (b));
-- error: generated columns may not have a default
CREATE TABLE gen_bad2(a INTEGER, b INTEGER DEFAULT 1 AS (a * 2));
-- NOT NULL on a generated column is checked when a row is written
CREATE TABLE gen_nn(a INTEGER, b INTEGER NOT NULL AS (a * 2));
-- error: NOT NULL constraint failed on a generated column
INSERT INTO gen_nn VALUES (NULL);

-- ===== 18. ALTER TABLE =====
CREATE TABLE alt(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);
CREATE INDEX alt_b ON alt(b);
CREATE VIEW alt_view AS SELECT a, b FROM alt WHERE c > 0;
CREATE TRIGGER alt_trg AFTER UPDATE OF b ON alt BEGIN UPDATE alt SET c = c + 1 WHERE a = NEW.a AND c < 100; END;
INSERT INTO alt VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 0);
ALTER TABLE alt ADD COLUMN d TEXT DEFAULT 'dflt';
ALTER TABLE alt ADD COLUMN e INTEGER NOT NULL DEFAULT 0 CHECK (e >= 0);
ALTER TABLE alt ADD COLUMN g AS (c * 2);
SELECT * FROM alt ORDER BY a;
-- error: cannot add a NOT NULL column with default NULL
ALTER TABLE alt ADD COLUMN f NOT NULL;
-- error: cannot add a STORED column
ALTER TABLE alt ADD COLUMN h AS (c * 3) STORED;
-- error: cannot add a PRIMARY KEY column
ALTER TABLE alt ADD COLUMN p INTEGER PRIMARY KEY;
-- error: cannot add a UNIQUE column
ALTER TABLE alt ADD COLUMN u INTEGER UNIQUE;
-- error: duplicate column name
ALTER TABLE alt ADD COLUMN b TEXT;
ALTER TABLE alt RENAME COLUMN b TO bee;
ALTER TABLE alt RENAME TO alt2;
SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE tbl_name IN ('alt2', 'alt_view') ORDER BY type, name;
SELECT a, bee FROM alt_view ORDER BY a;
UPDATE alt2 SET bee = 'uno' WHERE a = 1;
SELECT a, bee, c, d, e, g FROM alt2 ORDER BY a;
-- error: cannot drop PRIMARY KEY column
ALTER TABLE alt2 DROP COLUMN a;
-- error: cannot drop an indexed column
ALTER TABLE alt2 DROP COLUMN bee;
-- error: dropping a column a generated column depends on
ALTER TABLE alt2 DROP COLUMN c;
ALTER TABLE alt2 DROP COLUMN d;
ALTER TABLE alt2 DROP COLUMN g;
SELECT * FROM alt2 ORDER BY a;
SELECT cid, name, type, "notnull", dflt_value FROM pragma_table_info('alt2') ORDER BY cid;
-- error: renaming to an existing table name
ALTER TABLE alt2 RENAME TO emp;
-- error: no such column to rename
ALTER TABLE alt2 RENAME COLUMN zzz TO yyy;
-- error: ALTER on a view
ALTER TABLE alt_view ADD COLUMN z;
PRAGMA integrity_check;

-- ===== 19. Views =====
CREATE VIEW emp_view AS SELECT e.id, e.name, d.name AS dept, e.salary FROM emp e LEFT JOIN dept d ON d.id = e.dept_id;
CREATE VIEW dept_stats(dept, headcount, payroll) AS SELECT d.name, count(e.id), coalesce(sum(e.salary), 0) FROM dept d LEFT JOIN emp e ON e.dept_id = d.id GROUP BY d.id;
SELECT * FROM emp_view ORDER BY id;
SELECT * FROM dept_stats ORDER BY payroll DESC, dept;
SELECT dept, headcount FROM dept_stats WHERE headcount = 0 ORDER BY dept;
CREATE TEMP VIEW high_earners AS SELECT name, salary FROM emp WHERE salary > 6000;
SELECT * FROM high_earners ORDER BY salary DESC, name;
-- error: cannot modify a view without INSTEAD OF triggers
UPDATE emp_view SET name = 'x' WHERE id = 1;
-- error: cannot DELETE from a view
DELETE FROM dept_stats;
-- error: DROP VIEW on a table
DROP VIEW emp;
-- error: DROP TABLE on a view
DROP TABLE emp_view;
-- error: view already exists
CREATE VIEW emp_view AS SELECT 1;
-- a view whose column list does not match its SELECT is accepted when created ...
CREATE VIEW badv(a, b) AS SELECT 1;
-- error: ... and fails when used
SELECT * FROM badv;
DROP VIEW badv;
DROP VIEW high_earners;

-- ===== 20. Triggers: BEFORE / AFTER / INSTEAD OF, RAISE, recursion =====
CREATE TABLE audit(id INTEGER PRIMARY KEY, tbl TEXT, op TEXT, detail TEXT);
CREATE TRIGGER emp_ai AFTER INSERT ON emp BEGIN
  INSERT INTO audit(tbl, op, detail) VALUES ('emp', 'insert', NEW.name || '@' || coalesce(NEW.dept_id, '-'));
END;
CREATE TRIGGER emp_bu BEFORE UPDATE OF salary ON emp WHEN NEW.salary > 20000 BEGIN
  SELECT RAISE(ABORT, 'salary too high');
END;
CREATE TRIGGER emp_au AFTER UPDATE OF salary ON emp FOR EACH ROW WHEN NEW.salary <> OLD.salary BEGIN
  INSERT INTO audit(tbl, op, detail) VALUES ('emp', 'raise', OLD.name || ':' || OLD.salary || '->' || NEW.salary);
END;
CREATE TRIGGER emp_bd BEFORE DELETE ON emp WHEN OLD.name = 'Alice' BEGIN
  SELECT RAISE(FAIL, 'cannot delete the founder');
END;
CREATE TRIGGER emp_ad AFTER DELETE ON emp BEGIN
  INSERT INTO audit(tbl, op, detail) VALUES ('emp', 'delete', OLD.name);
END;
CREATE TRIGGER emp_view_ins INSTEAD OF INSERT ON emp_view BEGIN
  INSERT INTO emp(name, dept_id, salary) VALUES (NEW.name, (SELECT id FROM dept WHERE name = NEW.dept), coalesce(NEW.salary, 1000));
END;
CREATE TRIGGER emp_view_upd INSTEAD OF UPDATE OF salary ON emp_view BEGIN
  UPDATE emp SET salary = NEW.salary WHERE id = OLD.id;
END;
CREATE TRIGGER emp_view_del INSTEAD OF DELETE ON emp_view BEGIN
  DELETE FROM emp WHERE id = OLD.id;
END;
INSERT INTO emp_view(name, dept) VALUES ('Ken', 'sales');
INSERT INTO emp_view(name, dept, salary) VALUES ('Liam', 'Research', 2500);
UPDATE emp SET salary = salary + 100 WHERE dept_id = 3;
UPDATE emp_view SET salary = 2600 WHERE name = 'Liam';
UPDATE emp SET salary = salary WHERE id = 1;
SELECT id, name, dept_id, salary FROM emp WHERE id > 10 ORDER BY id;
SELECT id, tbl, op, detail FROM audit ORDER BY id;
-- error: RAISE(ABORT) from a BEFORE UPDATE trigger
UPDATE emp SET salary = 25000 WHERE id = 2;
-- error: RAISE(FAIL) from a BEFORE DELETE trigger
DELETE FROM emp WHERE name = 'Alice';
-- error: RAISE(ABORT) rolls back the whole multi-row statement
UPDATE emp SET salary = salary * 3 WHERE dept_id = 1;
SELECT name, salary FROM emp WHERE dept_id = 1 ORDER BY id;
DELETE FROM emp_view WHERE name = 'Ken';
SELECT count(*) FROM emp WHERE name = 'Ken';
SELECT id, op, detail FROM audit WHERE id > 4 ORDER BY id;
CREATE TABLE readings(id INTEGER PRIMARY KEY, val REAL);
CREATE TRIGGER readings_bi BEFORE INSERT ON readings WHEN NEW.val < 0 BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER readings_bu BEFORE UPDATE ON readings WHEN NEW.val > 1000 BEGIN SELECT RAISE(ROLLBACK, 'reading out of range'); END;
INSERT INTO readings(val) VALUES (1.5), (-2), (3.25), (-0.1);
SELECT id, val FROM readings ORDER BY id;
BEGIN;
INSERT INTO readings(val) VALUES (7);
-- error: RAISE(ROLLBACK) ends the transaction
UPDATE readings SET val = 5000 WHERE id = 1;
-- error: the transaction is already gone
COMMIT;
SELECT count(*) FROM readings;
CREATE TABLE countdown(n INTEGER);
CREATE TRIGGER countdown_ai AFTER INSERT ON countdown WHEN NEW.n > 0 BEGIN INSERT INTO countdown VALUES (NEW.n - 1); END;
INSERT INTO countdown VALUES (5);
SELECT group_concat(n, ',' ORDER BY n DESC) FROM countdown;
PRAGMA recursive_triggers = OFF;
DELETE FROM countdown;
INSERT INTO countdown VALUES (5);
SELECT group_concat(n, ',' ORDER BY n DESC) FROM countdown;
PRAGMA recursive_triggers = ON;
PRAGMA recursive_triggers;
CREATE TABLE runaway(n INTEGER);
CREATE TRIGGER runaway_ai AFTER INSERT ON runaway BEGIN INSERT INTO runaway VALUES (NEW.n + 1); END;
-- error: too many levels of trigger recursion
INSERT INTO runaway VALUES (1);
SELECT count(*) FROM runaway;
DROP TRIGGER runaway_ai;
CREATE TABLE tree_node(id INTEGER PRIMARY KEY, parent INTEGER, size INTEGER DEFAULT 0);
CREATE TRIGGER tree_node_ai AFTER INSERT ON tree_node WHEN NEW.parent IS NOT NULL BEGIN
  UPDATE tree_node SET size = size + 1 WHERE id = NEW.parent;
END;
CREATE TRIGGER tree_node_au AFTER UPDATE OF size ON tree_node WHEN NEW.parent IS NOT NULL BEGIN
  UPDATE tree_node SET size = size + (NEW.size - OLD.size) WHERE id = NEW.parent;
END;
INSERT INTO tree_node(id, parent) VALUES (1, NULL), (2, 1), (3, 1), (4, 2), (5, 4), (6, 4);
SELECT id, parent, size FROM tree_node ORDER BY id;
-- error: INSTEAD OF trigger on a table
CREATE TRIGGER bad_trg INSTEAD OF INSERT ON dept BEGIN SELECT 1; END;
-- error: BEFORE trigger on a view
CREATE TRIGGER bad_trg2 BEFORE INSERT ON emp_view BEGIN SELECT 1; END;
-- error: trigger already exists
CREATE TRIGGER emp_ai AFTER INSERT ON emp BEGIN SELECT 1; END;
-- error: RAISE outside a trigger
SELECT RAISE(ABORT, 'not in a trigger');
-- error: no such trigger
DROP TRIGGER nosuch_trigger;
SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name;

-- ===== 21. Transactions and savepoints =====
CREATE TABLE ledger(id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);
BEGIN;
INSERT INTO ledger(amount) VALUES (10);
SAVEPOINT sp1;
INSERT INTO ledger(amount) VALUES (20);
SAVEPOINT sp2;
INSERT INTO ledger(amount) VALUES (30);
SELECT sum(amount) FROM ledger;
ROLLBACK TO sp2;
SELECT sum(amount) FROM ledger;
INSERT INTO ledger(amount) VALUES (40);
RELEASE sp1;
SELECT id, amount FROM ledger ORDER BY id;
COMMIT;
BEGIN;
DELETE FROM ledger;
SELECT count(*) FROM ledger;
ROLLBACK;
SELECT count(*) FROM ledger;
BEGIN DEFERRED TRANSACTION;
-- error: cannot start a transaction within a transaction
BEGIN;
END TRANSACTION;
-- error: cannot commit - no transaction is active
COMMIT;
-- error: cannot rollback - no transaction is active
ROLLBACK;
-- error: no such savepoint
ROLLBACK TO nosuch;
SAVEPOINT outer_sp;
INSERT INTO ledger(amount) VALUES (500);
SAVEPOINT inner_sp;
UPDATE ledger SET amount = amount * 10;
ROLLBACK TO inner_sp;
SELECT sum(amount) FROM ledger;
RELEASE inner_sp;
ROLLBACK TO outer_sp;
SELECT sum(amount) FROM ledger;
RELEASE outer_sp;
-- error: no such savepoint to release
RELEASE nosuch;
BEGIN IMMEDIATE;
INSERT INTO ledger(amount) VALUES (1);
-- error: statement aborted, transaction continues
INSERT INTO ledger(amount) VALUES (NULL);
INSERT INTO ledger(amount) VALUES (2);
COMMIT;
SELECT id, amount FROM ledger ORDER BY id;
BEGIN EXCLUSIVE;
INSERT INTO ledger(amount) VALUES (100);
-- error: OR ROLLBACK undoes the whole transaction
INSERT OR ROLLBACK INTO ledger(id, amount) VALUES (1, 5);
-- error: nothing left to commit
COMMIT;
SELECT count(*), sum(amount) FROM ledger;
-- error: OR FAIL keeps rows inserted before the failing one
INSERT OR FAIL INTO ledger(id, amount) VALUES (50, 1), (51, 2), (1, 3), (52, 4);
SELECT id FROM ledger WHERE id >= 50 ORDER BY id;
-- error: OR ABORT (the default) keeps none of them
INSERT INTO ledger(id, amount) VALUES (60, 1), (61, 2), (1, 3), (62, 4);
SELECT count(*) FROM ledger WHERE id >= 60;
INSERT OR IGNORE INTO ledger(id, amount) VALUES (70, 1), (1, 2), (71, 3);
SELECT id, amount FROM ledger WHERE id >= 50 ORDER BY id;
INSERT OR REPLACE INTO ledger(id, amount) VALUES (70, 700);
SELECT amount FROM ledger WHERE id = 70;

-- ===== 22. Foreign key actions, deferred constraints =====
CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED, note TEXT);
CREATE TABLE owner(id INTEGER PRIMARY KEY);
CREATE TABLE pet(id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES owner(id) ON DELETE CASCADE ON UPDATE CASCADE);
BEGIN;
INSERT INTO child VALUES (1, 100, 'orphan for now');
SELECT count(*) FROM child;
-- error: deferred foreign key fails at COMMIT, the transaction stays open
COMMIT;
INSERT INTO parent VALUES (100, 'late parent');
COMMIT;
SELECT c.note, p.name FROM child c JOIN parent p ON p.id = c.parent_id ORDER BY c.id;
-- error: deleting a referenced parent fails at the implicit commit
DELETE FROM parent WHERE id = 100;
PRAGMA foreign_keys = OFF;
INSERT INTO child VALUES (2, 999, 'dangling');
PRAGMA foreign_keys = ON;
SELECT "table", rowid, parent, fkid FROM pragma_foreign_key_check ORDER BY "table", rowid;
DELETE FROM child WHERE id = 2;
PRAGMA foreign_key_check;
INSERT INTO owner VALUES (1), (2), (3);
INSERT INTO pet(owner_id) VALUES (1), (1), (2), (3), (3), (3);
DELETE FROM owner WHERE id = 3;
SELECT changes();
SELECT id, owner_id FROM pet ORDER BY id;
UPDATE owner SET id = 20 WHERE id = 2;
SELECT id, owner_id FROM pet ORDER BY id;
-- error: NOT NULL child column with a missing parent
INSERT INTO pet(owner_id) VALUES (42);
UPDATE dept SET id = 30 WHERE id = 3;
SELECT id, name, dept_id FROM emp WHERE dept_id = 30 ORDER BY id;
DELETE FROM dept WHERE id = 30;
SELECT name FROM emp WHERE dept_id IS NULL ORDER BY name;
-- error: ON DELETE RESTRICT (Frank manages Grace)
DELETE FROM emp WHERE name = 'Frank';
PRAGMA defer_foreign_keys = ON;
BEGIN;
DELETE FROM owner WHERE id = 1;
-- the cascade removed owner 1's pets; deferral allows a temporary violation until COMMIT
INSERT INTO pet(owner_id) VALUES (77);
INSERT INTO owner VALUES (77);
COMMIT;
PRAGMA defer_foreign_keys;
SELECT id, owner_id FROM pet ORDER BY id;

-- ===== 23. Collations =====
CREATE TABLE coll(id INTEGER PRIMARY KEY, b TEXT COLLATE BINARY, n TEXT COLLATE NOCASE, r TEXT COLLATE RTRIM);
INSERT INTO coll VALUES (1, 'abc', 'abc', 'abc'), (2, 'ABC', 'ABC', 'abc  '), (3, 'abd', 'Abd', 'abc '), (4, 'b', 'B', 'b'), (5, 'Ä', 'ä', 'ä ');
SELECT id FROM coll WHERE b = 'abc' ORDER BY id;
SELECT id FROM coll WHERE n = 'ABC' ORDER BY id;
SELECT id FROM coll WHERE r = 'abc' ORDER BY id;
SELECT id FROM coll WHERE n = 'Ä' ORDER BY id;
SELECT id, b FROM coll ORDER BY b, id;
SELECT id, b FROM coll ORDER BY b COLLATE NOCASE, id;
SELECT id, n FROM coll ORDER BY n, id;
SELECT id, n FROM coll ORDER BY n COLLATE BINARY, id;
SELECT 'abc' = 'ABC', 'abc' = 'ABC' COLLATE NOCASE, 'abc ' = 'abc' COLLATE RTRIM, 'abc' < 'abd' COLLATE BINARY, 'a' COLLATE NOCASE = 'A';
SELECT count(DISTINCT b), count(DISTINCT n), count(DISTINCT r) FROM coll;
SELECT upper(n), count(*) FROM coll GROUP BY n ORDER BY 1;
SELECT id FROM coll WHERE n IN ('abc', 'b') ORDER BY id;
SELECT max(n), min(b), max(b), max(r) FROM coll;
SELECT id FROM coll WHERE b BETWEEN 'a' AND 'b' ORDER BY id;
CREATE INDEX coll_n ON coll(n);
SELECT id FROM coll WHERE n > 'ABC' ORDER BY n, id;
SELECT name FROM pragma_collation_list WHERE name IN ('NOCASE', 'RTRIM', 'BINARY') ORDER BY name;
-- error: no such collation sequence
SELECT 'a' = 'A' COLLATE nosuch;
-- error: no such collation in a table definition
CREATE TABLE coll_bad(x TEXT COLLATE nosuch);

-- ===== 24. JSON =====
SELECT json('{"a" : 1, "b":[1,2, 3]}'), json(' [1, 2.50, "x", null, true] '), json('"\u00e9"'), json('1e2');
SELECT json('{a:1, b:0x10, c:''s'', d:[1,2,], e:.5, f:+3, g:Infinity}');
SELECT json_extract('{"a":{"b":[10,20,30]}}', '$.a.b[1]'), json_extract('{"a":1,"b":2}', '$.a', '$.b'), json_extract('[1,2,3]', '$[#-1]'), json_extract('{"a":null}', '$.a'), json_extract('{"a":1}', '$.zz');
SELECT json_extract('{"a":{"b":true}}', '$.a'), typeof(json_extract('{"a":true}', '$.a')), json_extract('{"a":"x"}', '$'), json_extract('{"a.b":5}', '$."a.b"');
SELECT '{"a":{"b":5}}' -> '$.a', '{"a":{"b":5}}' -> 'a' ->> 'b', '[1,2,3]' ->> 2, '[1,2,3]' -> -1, '{"x":"str"}' -> 'x', '{"x":"str"}' ->> 'x', '{"x":[]}' ->> 'x';
SELECT json_type('{"a":[1,2]}', '$.a'), json_type('1.5'), json_type('7'), json_type('null'), json_type('"s"'), json_type('false'), json_type('{}'), json_type('{"a":1}', '$.b');
SELECT json_valid('{"a":1}'), json_valid('{a:1}'), json_valid('{a:1}', 2), json_valid('[1,'), json_valid(NULL), json_valid(''), json_valid(jsonb('[1]'), 4);
SELECT key, value, type, atom, fullkey, path FROM json_each('{"a":1,"b":[2,3],"c":{"d":null},"e":"txt"}') ORDER BY key;
SELECT key, value, type, fullkey FROM json_each('{"a":{"x":1,"y":[5,6]}}', '$.a') ORDER BY key;
SELECT key, value FROM json_each('[10, 20, 30]') ORDER BY key DESC;
SELECT key, value, type, atom, fullkey, path, parent IS NULL AS root FROM json_tree('{"a":1,"b":[2,{"c":3}],"d":{"e":null}}') ORDER BY fullkey;
SELECT fullkey, atom FROM json_tree('{"a":[1,[2,[3]]]}') WHERE atom IS NOT NULL ORDER BY fullkey;
SELECT json_group_array(name ORDER BY id) FROM emp WHERE dept_id = 1;
SELECT json_group_object(name, salary ORDER BY name) FROM emp WHERE dept_id = 2;
SELECT json_group_array(v ORDER BY v) FROM (SELECT 1 AS v UNION ALL SELECT 'two' UNION ALL SELECT NULL UNION ALL SELECT 2.5);
SELECT json_set('{"a":1}', '$.b', 2, '$.a', 10), json_insert('{"a":1}', '$.a', 99, '$.c', 3), json_replace('{"a":1}', '$.a', 99, '$.c', 3);
SELECT json_remove('[0,1,2,3]', '$[1]', '$[1]'), json_remove('{"a":1,"b":2}', '$.a'), json_remove('{"a":1}', '$'), json_set('[1,2]', '$[#]', 3), json_insert('[1,2]', '$[#]', json('{"n":4}'));
SELECT json_patch('{"a":1,"b":{"c":2}}', '{"b":{"c":null,"d":4},"e":5}'), json_patch('[1,2]', '{"x":1}'), json_patch('{"a":1}', '"scalar"');
SELECT json_array(1, 'two', NULL, 3.5, json('[4]'), '[5]'), json_object('k', 1, 'j', json('{"x":true}'), 's', 'str'), json_object();
SELECT json_array_length('[1,[2,3]]'), json_array_length('[1,[2,3]]', '$[1]'), json_array_length('{"a":1}'), json_array_length('[]');
SELECT json_quote('he said "hi"'), json_quote(3.0), json_quote(NULL), json_quote(json('[1]')), json_quote('tab	and\slash');
SELECT json_set('{"a":{"b":1}}', '$.a.c', json('[1,2]')), json_set('{}', '$.x.y', 1), json_set('{"a":1}', '$.a', 'text');
SELECT hex(jsonb('{"a":1}')), json(jsonb('{"a":[1,2,{"b":null}]}')), hex(jsonb_extract(jsonb('{"a":[1,2]}'), '$.a')), jsonb_extract(jsonb('{"a":[1,2]}'), '$.a[1]');
SELECT json(jsonb_set(jsonb('{"a":1}'), '$.b', 'x')), json(jsonb_insert('[1]', '$[#]', 2)), json(jsonb_remove('{"a":1,"b":2}', '$.b')), json(jsonb_patch('{"a":1}', '{"a":2}')), json(jsonb_object('k', 'v')), json(jsonb_array(1, 2));
SELECT typeof(jsonb('[1]')), jsonb('[1]') -> '$[0]', jsonb('{"k":"v"}') ->> '$.k', json_type(jsonb('{"k":[1]}'), '$.k');
SELECT json_pretty('{"a":[1,2],"b":{}}'), json_pretty('[1,{"x":2}]', '--');
SELECT json_error_position('{"a":1,}'), json_error_position('[1,2'), json_error_position('{"a":1}'), json_error_position('{"a" 1}');
SELECT json_group_array(json_object('id', id, 'name', name) ORDER BY id) FROM emp WHERE salary > 6500;
SELECT value FROM json_each('[3,1,2]') ORDER BY value;
SELECT sum(value), count(*) FROM json_each('[1, 2.5, "3", null]');
SELECT j.value ->> 'name' AS n FROM json_each('[{"name":"x","age":3},{"name":"y","age":1}]') AS j ORDER BY j.value ->> 'age';
CREATE TABLE docs(
  id INTEGER PRIMARY KEY,
  body TEXT CHECK (json_valid(body)),
  title TEXT GENERATED ALWAYS AS (body ->> '$.title') VIRTUAL,
  ntags INT AS (json_array_length(body, '$.tags')) STORED
);
CREATE INDEX docs_title ON docs(title);
INSERT INTO docs(body) VALUES ('{"title":"Alpha","tags":["a","b"],"meta":{"views":10}}'), ('{"title":"Beta","tags":[],"meta":{"views":3}}'), ('{"title":"Gamma","tags":["c"]}');
SELECT id, title, ntags, body -> '$.meta.views' FROM docs ORDER BY id;
SELECT d.title, t.value FROM docs d, json_each(d.body, '$.tags') t ORDER BY d.id, t.key;
UPDATE docs SET body = json_set(body, '$.meta.views', coalesce(body ->> '$.meta.views', 0) + 1) WHERE id IN (1, 3);
SELECT id, body FROM docs ORDER BY id;
SELECT title FROM docs WHERE title = 'Beta';
-- error: CHECK (json_valid) rejects bad JSON
INSERT INTO docs(body) VALUES ('{"title":');
-- error: malformed JSON
SELECT json('{"a":');
-- error: malformed JSON via ->
SELECT '{"a":1' -> '$.a';
-- error: bad JSON path
SELECT json_extract('{"a":1}', 'a.b');
-- error: bad JSON path in json_set
SELECT json_set('{}', '$.a[', 1);
-- error: json_object needs an even number of arguments
SELECT json_object('a');
-- error: json_object labels must be text
SELECT json_object(1, 2);
-- error: malformed JSON in json_each
SELECT * FROM json_each('[1,2');
-- error: JSON cannot hold BLOB values
SELECT json_array(x'0102');

-- ===== 25. FTS5 =====
CREATE VIRTUAL TABLE notes USING fts5(title, body, tokenize = 'porter unicode61');
INSERT INTO notes(rowid, title, body) VALUES
  (1, 'SQLite tips', 'The quick brown fox jumps over the lazy dog'),
  (2, 'Database internals', 'A database engine stores rows in a btree; the query planner chooses indexes'),
  (3, 'Fox facts', 'Foxes are quick and clever; a fox hunts alone at dusk'),
  (4, 'Query tuning', 'Tuning a query means reading the query plan and adding the right index'),
  (5, 'Dogs', 'The lazy dog sleeps all day while the quick cat watches'),
  (6, 'Empty', '');
SELECT rowid, title FROM notes WHERE notes MATCH 'fox' ORDER BY rank, rowid;
SELECT rowid, round(bm25(notes), 6) FROM notes WHERE notes MATCH 'query OR database' ORDER BY bm25(notes), rowid;
SELECT rowid, bm25(notes, 10.0, 1.0) AS score FROM notes WHERE notes MATCH 'quick' ORDER BY score, rowid;
SELECT rowid, highlight(notes, 1, '[', ']') FROM notes WHERE notes MATCH 'quick' ORDER BY rowid;
SELECT rowid, snippet(notes, 1, '<b>', '</b>', '...', 5) FROM notes WHERE notes MATCH 'lazy' ORDER BY rowid;
SELECT rowid, snippet(notes, -1, '{', '}', '~', 3) FROM notes WHERE notes MATCH 'index' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'qui*' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'data*' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'NEAR(quick dog, 6)' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'NEAR(quick dog, 2)' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'title:fox' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH '{title body}: tuning' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH '"brown fox"' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'fox NOT dog' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'quick AND (dog OR cat)' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH '^the' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'hunting' ORDER BY rowid;
SELECT rowid, title FROM notes('lazy') ORDER BY rowid;
SELECT rowid FROM notes WHERE notes = 'query' ORDER BY rowid;
SELECT rowid FROM notes WHERE title MATCH 'dogs' ORDER BY rowid;
SELECT count(*) FROM notes WHERE notes MATCH 'the';
UPDATE notes SET body = 'The slow brown fox naps' WHERE rowid = 1;
DELETE FROM notes WHERE rowid = 6;
SELECT rowid FROM notes WHERE notes MATCH 'quick' ORDER BY rowid;
SELECT rowid FROM notes WHERE notes MATCH 'slow' ORDER BY rowid;
INSERT INTO notes(notes) VALUES ('integrity-check');
INSERT INTO notes(notes) VALUES ('optimize');
INSERT INTO notes(notes, rank) VALUES ('rank', 'bm25(10.0, 5.0)');
SELECT rowid, round(rank, 6) FROM notes WHERE notes MATCH 'fox OR dog' ORDER BY rank, rowid;
CREATE VIRTUAL TABLE notes_vocab USING fts5vocab(notes, 'row');
SELECT term, doc, cnt FROM notes_vocab WHERE term >= 'q' AND term < 't' ORDER BY term;
CREATE VIRTUAL TABLE notes_vocab_col USING fts5vocab(notes, 'col');
SELECT term, col, doc, cnt FROM notes_vocab_col WHERE term IN ('fox', 'queri', 'dog') ORDER BY term, col;
CREATE VIRTUAL TABLE tri USING fts5(s, tokenize = 'trigram');
INSERT INTO tri(rowid, s) VALUES (1, 'abcdefg'), (2, 'xyzabc'), (3, 'Mississippi');
SELECT rowid FROM tri WHERE tri MATCH 'abc' ORDER BY rowid;
SELECT rowid FROM tri WHERE s LIKE '%ssi%' ORDER BY rowid;
SELECT rowid FROM tri WHERE s GLOB '*cde*' ORDER BY rowid;
CREATE TABLE articles(id INTEGER PRIMARY KEY, headline TEXT, content TEXT);
CREATE VIRTUAL TABLE articles_fts USING fts5(headline, content, content = 'articles', content_rowid = 'id');
CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN
  INSERT INTO articles_fts(rowid, headline, content) VALUES (NEW.id, NEW.headline, NEW.content);
END;
CREATE TRIGGER articles_ad AFTER DELETE ON articles BEGIN
  INSERT INTO articles_fts(articles_fts, rowid, headline, content) VALUES ('delete', OLD.id, OLD.headline, OLD.content);
END;
INSERT INTO articles(headline, content) VALUES ('Rust and C', 'Memory safety without garbage collection'), ('SQLite forks', 'Embedded databases with vector search'), ('Garbage day', 'The truck collects garbage on Tuesday');
SELECT a.id, a.headline FROM articles_fts f JOIN articles a ON a.id = f.rowid WHERE articles_fts MATCH 'garbage' ORDER BY f.rank, a.id;
DELETE FROM articles WHERE id = 3;
SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'garbage' ORDER BY rowid;
CREATE VIRTUAL TABLE cl USING fts5(x, content = '', contentless_delete = 1);
INSERT INTO cl(rowid, x) VALUES (1, 'alpha beta'), (2, 'beta gamma');
SELECT rowid, x FROM cl WHERE cl MATCH 'beta' ORDER BY rowid;
-- error: fts5 syntax error
SELECT rowid FROM notes WHERE notes MATCH 'AND fox';
-- error: fts5 syntax error (unterminated string)
SELECT rowid FROM notes WHERE notes MATCH '"unterminated';
-- error: fts5 no such column
SELECT rowid FROM notes WHERE notes MATCH 'nosuch: fox';
-- error: fts5 unknown special command
INSERT INTO notes(notes) VALUES ('no-such-command');
-- error: unknown tokenizer
CREATE VIRTUAL TABLE bad_fts USING fts5(x, tokenize = 'nosuchtokenizer');
-- error: no such module
CREATE VIRTUAL TABLE bad_vt USING nosuchmodule(x);

-- ===== 26. FTS3 / FTS4 =====
CREATE VIRTUAL TABLE docs4 USING fts4(title, content);
INSERT INTO docs4(docid, title, content) VALUES
  (1, 'SQLite manual', 'SQLite is an embedded SQL database engine'),
  (2, 'Postgres notes', 'A client server database with a query planner'),
  (3, 'Engine room', 'The engine of the ship; no database here'),
  (4, 'SQLite again', 'Another sqlite database document about sqlite');
SELECT docid, title FROM docs4 WHERE docs4 MATCH 'sqlite' ORDER BY docid;
SELECT docid, hex(matchinfo(docs4)) FROM docs4 WHERE docs4 MATCH 'database' ORDER BY docid;
SELECT docid, hex(matchinfo(docs4, 'pcnalx')) FROM docs4 WHERE docs4 MATCH 'sqlite database' ORDER BY docid;
SELECT docid, offsets(docs4) FROM docs4 WHERE docs4 MATCH 'engine' ORDER BY docid;
SELECT docid, snippet(docs4, '[', ']', '...', -1, 4) FROM docs4 WHERE docs4 MATCH 'planner' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'data*' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'title:sqlite OR content:engine' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'sqlite NEAR/6 engine' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'database -sqlite' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'database NOT sqlite' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH 'sqlite NEAR/3 engine' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH '(sqlite OR postgres) AND database' ORDER BY docid;
SELECT docid FROM docs4 WHERE docs4 MATCH '"embedded sql"' ORDER BY docid;
CREATE VIRTUAL TABLE docs4_terms USING fts4aux(docs4);
SELECT term, col, documents, occurrences FROM docs4_terms WHERE term IN ('sqlite', 'database') ORDER BY term, col;
CREATE VIRTUAL TABLE f3 USING fts3(body, tokenize = porter);
INSERT INTO f3(body) VALUES ('running runners run'), ('a walk in the park'), ('she runs daily');
SELECT rowid, body FROM f3 WHERE f3 MATCH 'run' ORDER BY rowid;
SELECT rowid, hex(matchinfo(f3)) FROM f3 WHERE f3 MATCH 'run' ORDER BY rowid;
INSERT INTO docs4(docs4) VALUES ('optimize');
INSERT INTO docs4(docs4) VALUES ('integrity-check');
-- error: malformed MATCH expression in FTS4
SELECT docid FROM docs4 WHERE docs4 MATCH '"unbalanced';
-- error: unrecognized matchinfo request
SELECT matchinfo(docs4, 'z') FROM docs4 WHERE docs4 MATCH 'sqlite';

-- ===== 27. R*Tree and Geopoly =====
CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
INSERT INTO boxes VALUES (1, 0, 10, 0, 10), (2, 5, 15, 5, 15), (3, 20, 30, 20, 30), (4, -5, 0.5, -5, 0.5), (5, 0.1, 0.2, 0.1, 0.2);
SELECT id FROM boxes WHERE minx <= 6 AND maxx >= 6 AND miny <= 6 AND maxy >= 6 ORDER BY id;
SELECT id FROM boxes WHERE maxx < 1 ORDER BY id;
SELECT id FROM boxes WHERE minx >= 0 AND maxx <= 15 AND miny >= 0 AND maxy <= 15 ORDER BY id;
SELECT id, minx, maxx, miny, maxy FROM boxes WHERE id = 5;
SELECT id, (maxx - minx) * (maxy - miny) AS area FROM boxes ORDER BY area DESC, id;
SELECT b.id, e.name FROM boxes b JOIN emp e ON e.id = b.id ORDER BY b.id;
UPDATE boxes SET maxx = 40 WHERE id = 3;
DELETE FROM boxes WHERE id = 4;
SELECT id, minx, maxx FROM boxes ORDER BY id;
SELECT rtreecheck('boxes');
CREATE VIRTUAL TABLE pts USING rtree_i32(id, x0, x1, y0, y1, +label);
INSERT INTO pts VALUES (1, 1, 1, 2, 2, 'a'), (2, 5, 7, 5, 7, 'b'), (3, 2.7, 3.2, -1, 1, 'c');
SELECT id, x0, x1, y0, y1, label FROM pts ORDER BY id;
SELECT label FROM pts WHERE x0 >= 2 ORDER BY label;
-- error: rtree constraint failed (min > max)
INSERT INTO boxes VALUES (6, 10, 0, 0, 1);
-- error: rtree needs an odd number of columns between 3 and 11
CREATE VIRTUAL TABLE bad_rtree USING rtree(id, a);
-- error: rtree primary key must be unique
INSERT INTO boxes VALUES (1, 0, 1, 0, 1);
CREATE VIRTUAL TABLE shapes USING geopoly(name);
INSERT INTO shapes(_shape, name) VALUES ('[[0,0],[4,0],[4,4],[0,4],[0,0]]', 'square'), ('[[10,10],[12,10],[11,12],[10,10]]', 'triangle'), ('[[3,3],[6,3],[6,6],[3,6],[3,3]]', 'offset');
SELECT name, geopoly_area(_shape), geopoly_json(_shape) FROM shapes ORDER BY name;
SELECT name FROM shapes WHERE geopoly_overlap(_shape, '[[1,1],[2,1],[2,2],[1,2],[1,1]]') ORDER BY name;
SELECT name FROM shapes WHERE geopoly_within(_shape, '[[-1,-1],[20,-1],[20,20],[-1,20],[-1,-1]]') ORDER BY name;
SELECT geopoly_contains_point('[[0,0],[4,0],[4,4],[0,4],[0,0]]', 2, 2), geopoly_contains_point('[[0,0],[4,0],[4,4],[0,4],[0,0]]', 5, 2);
SELECT geopoly_json(geopoly_bbox('[[1,5],[3,2],[4,9],[1,5]]')), geopoly_area('[[0,0],[0,2],[2,2],[2,0],[0,0]]'), geopoly_area(geopoly_ccw('[[0,0],[0,2],[2,2],[2,0],[0,0]]')), geopoly_json(geopoly_xform('[[0,0],[1,0],[1,1],[0,0]]', 2, 0, 0, 2, 10, 10));
SELECT geopoly_json(geopoly_regular(0, 0, 1, 4)), geopoly_svg('[[0,0],[1,0],[1,1],[0,0]]', 'fill="red"');
-- an unclosed ring is not a polygon
SELECT geopoly_json('[[0,0],[1,0],[1,1]]'), geopoly_svg('[[0,0],[1,0],[1,1]]');
SELECT geopoly_blob('[[0,0],[1,0],[1,1],[0,0]]') IS NOT NULL, geopoly_json('not a polygon');

-- ===== 28. Math functions =====
SELECT sqrt(2), pow(2, 10), power(2, 0.5), exp(1), ln(10), log(100), log10(1000), log(2, 8), log2(1024);
SELECT floor(-2.5), ceil(-2.5), ceiling(2.1), trunc(-2.7), trunc(2.7), floor(7), typeof(floor(7)), ceil(7.0);
SELECT mod(10, 3), mod(-10, 3), mod(10.5, 3), mod(10, 0), mod(NULL, 2), 10 % 3.5;
SELECT pi(), degrees(pi()), radians(180), sin(0), cos(0), tan(0), asin(1), acos(1), atan(1), atan2(1, 1), atan2(-1, -1);
SELECT sinh(1), cosh(0), tanh(0.5), asinh(1), acosh(2), atanh(0.5);
SELECT sqrt(-1), ln(0), ln(-1), log(0), acos(2), pow(0, -1), log(1, 10), sqrt('4'), sqrt('x');
SELECT sign(-5), sign(0), sign(3.2), sign('abc'), sign(NULL), sign(-0.0);
SELECT max(1, 2.5, '3'), min(1, 2.5, '3'), max('a', 'B'), min(x'00', 'a', 1), max(NULL, 1), typeof(max(1, 1.0));
SELECT round(sqrt(x), 4) FROM (SELECT column1 AS x FROM (VALUES (2), (3), (5), (7))) ORDER BY x;
SELECT round(sum(power(salary / 1000.0, 2)), 6), round(avg(ln(salary)), 6) FROM emp;
-- error: wrong number of arguments to a math function
SELECT pow(2);
-- error: wrong number of arguments to atan2
SELECT atan2(1);

-- ===== 29. String functions =====
SELECT printf('%d|%5d|%-5d|%05d|%x|%X|%o|%+d', 42, 42, 42, 42, 255, 255, 8, 7);
SELECT printf('%.2f|%10.3f|%e|%g|%g|%.0f|%.10g', 3.14159, 2.5, 12345.678, 0.0001, 1e20, 2.5, 1.0 / 3);
SELECT printf('%s|%10s|%-10s|%.3s|%q|%Q|%Q', 'abc', 'right', 'left', 'truncate', 'it''s', 'it''s', NULL);
SELECT format('%c%c', 'x', 'yz'), printf('%%'), printf('%,d', 1234567), printf('%!.3g', 1.0), printf('%w', 'a"b'), printf('%lld', 9223372036854775807);
SELECT printf('%d', '12abc'), printf('%s', NULL), printf('%5.1f%%', 99.44), printf('no args'), printf('%d %d', 1), printf('%z', 'x'), printf('%*d', 6, 42);
SELECT substr('Hello, World', 8), substr('Hello, World', 1, 5), substr('Hello', -3), substr('Hello', -3, 2), substr('Hello', 0, 2), substr('Hello', 2, -1), substring('Hello', 2, 3);
SELECT substr('héllo', 2, 3), substr(x'0102030405', 2, 2), length(substr('abc', 10)), substr('abc', 1, 0), substr(NULL, 1);
SELECT instr('banana', 'an'), instr('banana', 'x'), instr(x'010203', x'03'), instr(NULL, 'a'), instr('héllo', 'l'), instr('abc', '');
SELECT replace('banana', 'an', 'AN'), replace('abc', '', 'x'), replace('aaa', 'a', ''), replace(NULL, 'a', 'b'), replace(123, 2, 9);
SELECT trim('  pad  '), ltrim('xxhixx', 'x'), rtrim('xxhixx', 'x'), trim('--a--', '-'), trim('abcba', 'ab'), ltrim('  a'), rtrim('a  '), '[' || trim(char(9) || ' x ' || char(10)) || ']';
SELECT upper('straße ǆ'), lower('ÀÉÎ ABC'), length('naïve'), length(x'00ff'), octet_length('naïve'), length(NULL), length(123.5), length('');
SELECT char(72, 105, 0x263A), unicode('☺'), unicode(''), unicode('Abc'), hex('☺'), hex(123), hex(1.5), hex(NULL), hex('');
SELECT quote('a''b'), quote(x'00ff'), quote(1.5), quote(NULL), quote(12), quote(-0.0), quote(1e300);
SELECT soundex('Robert'), soundex('Rupert'), soundex('Tymczak'), soundex('Pfister'), soundex(''), soundex('123'), soundex(NULL);
SELECT unhex('414243'), unhex('41 42', ' '), unhex('zz'), hex(unhex('00FF')), unhex('ABC');
SELECT concat('a', NULL, 1, 2.0), concat_ws('-', 'a', NULL, 'b', 3), concat_ws(NULL, 'a', 'b'), 'a' || 1 || 2.5 || 'z', 'a' || x'62';
SELECT zeroblob(3), length(zeroblob(10)), hex(zeroblob(2)), typeof(zeroblob(0));
SELECT unistr('caf\00e9 \u00e9 \U0001F600'), unistr_quote('it''s'), unistr_quote(char(10));
SELECT group_concat(DISTINCT dept_id ORDER BY dept_id DESC) FROM emp WHERE dept_id IS NOT NULL;
SELECT upper(name) || ':' || lower(substr(email, 1, instr(email, '@') - 1)) FROM emp WHERE email IS NOT NULL ORDER BY id;
SELECT name, length(name), hex(name) FROM emp WHERE length(name) <= 3 ORDER BY name;
-- printf() with no arguments returns NULL (no failure)
SELECT printf(), format();
-- char() with no arguments is fine, but unicode() with two is an error
SELECT char(), typeof(char());
-- error: wrong number of arguments to unicode()
SELECT unicode('a', 'b');
-- error: string or blob too big
SELECT zeroblob(1e12);
-- error: unhex takes at most two arguments
SELECT unhex('41', 'x', 'y');

-- ===== 30. LIKE, GLOB, ESCAPE, blobs =====
SELECT 'abc' LIKE 'A%', 'abc' LIKE 'a_c', 'a%c' LIKE 'a\%c' ESCAPE '\', 'abc' LIKE 'a\%c' ESCAPE '\', 'a_c' LIKE 'a!_c' ESCAPE '!', 'abc' NOT LIKE 'b%';
SELECT 'abc' GLOB 'a*', 'abc' GLOB 'A*', 'abc' GLOB '[a-c]??', 'x' GLOB '[^a-c]', 'a?c' GLOB 'a[?]c', 'abc' GLOB 'a?c', 'ab]' GLOB 'ab[]]';
SELECT x'616263' LIKE 'abc', x'616263' GLOB 'abc', 'abc' LIKE x'616263', CAST(x'616263' AS TEXT) LIKE 'abc', x'616263' = 'abc';
SELECT like('a%', 'ABC'), glob('*c', 'abc'), like('a!%', 'a%', '!'), 'ÄBC' LIKE 'äbc', 'ÄBC' LIKE 'Äbc', NULL LIKE 'a', 'a' LIKE NULL;
SELECT 123 LIKE '12%', 1.5 GLOB '1.*', '' LIKE '', '' LIKE '%', 'abc' LIKE '%%%c';
PRAGMA case_sensitive_like = ON;
SELECT 'abc' LIKE 'A%', 'abc' LIKE 'a%';
PRAGMA case_sensitive_like = OFF;
SELECT 'abc' LIKE 'A%';
SELECT name FROM emp WHERE email LIKE '%@example.com' AND name GLOB '[A-D]*' ORDER BY name;
SELECT name FROM emp WHERE name LIKE '%a%' ESCAPE '#' ORDER BY name;
-- error: ESCAPE must be a single character
SELECT 'abc' LIKE 'a%' ESCAPE 'xy';

-- ===== 31. Date and time functions (fixed inputs only) =====
SELECT date('2024-02-29'), time('13:45:30.123'), datetime('2024-02-29 13:45:30'), julianday('2000-01-01 12:00:00'), unixepoch('2024-01-01 00:00:00');
SELECT date('2024-01-31', '+1 month'), date('2024-01-31', '+1 month', 'floor'), date('2024-01-31', '+1 month', 'ceiling'), date('2023-02-28', '+1 year'), date('2024-02-29', '+1 year'), date('2024-02-29', '-1 year');
SELECT date('2024-03-15', 'start of month'), date('2024-03-15', 'start of year'), date('2024-03-15', 'weekday 0'), date('2024-03-17', 'weekday 0'), datetime('2024-03-15 10:00', '-90 minutes'), datetime('2024-03-15', '+1.5 days');
SELECT strftime('%Y-%m-%d %H:%M:%S', '2024-07-04 09:08:07'), strftime('%j %w %W %u %s', '2024-07-04'), strftime('%f', '2024-07-04 01:02:03.456'), strftime('%J', '2024-07-04');
SELECT strftime('%G-W%V-%u', '2021-01-03'), strftime('%g', '2021-01-03'), strftime('%e|%k|%l|%p|%P|%I', '2024-07-04 15:08:00'), strftime('%F %T %R', '2024-07-04 15:08:09'), strftime('%U', '2024-07-04'), strftime('%%');
-- unsupported conversions make strftime() return NULL
SELECT strftime('%a', '2024-07-04'), strftime('%B', '2024-07-04'), strftime('%y', '2024-07-04'), strftime('%d', '2024-07-04'), strftime('%H:%M', '2024-07-04 00:05');
SELECT datetime(1700000000, 'unixepoch'), datetime(1700000000.5, 'unixepoch', 'subsec'), datetime(2460000.5), date(2460000.5, 'julianday'), datetime(1700000000, 'auto'), datetime(2460000.25, 'auto');
SELECT timediff('2024-03-01', '2024-02-01'), timediff('2023-01-01 00:00:00', '2024-06-15 12:30:00'), timediff('2024-01-01 00:00:01.5', '2024-01-01');
SELECT julianday('2024-01-01') - julianday('2023-01-01'), unixepoch('2024-01-01 00:00:00.750', 'subsec'), unixepoch('1970-01-01'), unixepoch('1969-12-31 23:59:59');
SELECT date('not a date'), datetime('2024-13-01'), date('2024-02-30'), date('2024-02-31'), time('25:00'), date('2024-01-01', 'bogus modifier'), date(NULL);
SELECT date('2024-01-15', '+1 year', '-1 day', 'start of month', '+14 days'), datetime('2024-01-31 10:00:00', '+0001-01-00 02:00:00'), datetime('2024-01-31 10:00:00', '-0000-00-01 00:30:00');
SELECT time('12:00', '+30 seconds'), time('23:59:59', '+1 second'), datetime('2024-01-01T10:20:30Z'), datetime('2024-01-01 10:20:30+02:00'), datetime('2024-01-01 10:20:30.5-05:30');
SELECT datetime('2024-06-15 08:00:00', 'start of day'), datetime('2024-06-15 08:00:00', '+12 hours', '+30 minutes', '+15 seconds'), date('2024-06-15', '-6 months'), date('2024-08-31', '-6 months');
SELECT datetime(0, 'unixepoch'), datetime(-1, 'unixepoch'), datetime(253402300799, 'unixepoch'), date('0000-01-01'), date('9999-12-31', '+1 day'), julianday('-4713-11-24 12:00:00');
SELECT date(d), strftime('%w', d), strftime('%W', d) FROM (SELECT '2024-12-29' AS d UNION ALL SELECT '2024-12-30' UNION ALL SELECT '2025-01-01') ORDER BY d;
SELECT hired, date(hired, '+90 days') AS probation_end, CAST(julianday('2025-01-01') - julianday(hired) AS INTEGER) AS tenure_days FROM emp ORDER BY hired LIMIT 4;
SELECT strftime('%Y', hired) AS yr, count(*) FROM emp GROUP BY yr ORDER BY yr;
SELECT time(45296, 'unixepoch'), datetime('2024-03-10 12:00', '+1.25 hours'), datetime('2024-03-10', '+86400 seconds'), date('2024-03-10', '+-2 days');

-- ===== 32. EXPLAIN QUERY PLAN =====
EXPLAIN QUERY PLAN SELECT * FROM emp WHERE dept_id = 1 AND salary > 5000;
EXPLAIN QUERY PLAN SELECT * FROM emp WHERE lower(email) = 'bob@example.com';
EXPLAIN QUERY PLAN SELECT name FROM emp WHERE salary > 6000;
EXPLAIN QUERY PLAN SELECT e.name, d.name FROM emp e JOIN dept d ON d.id = e.dept_id ORDER BY e.name;
EXPLAIN QUERY PLAN SELECT dept_id, count(*) FROM emp GROUP BY dept_id;
EXPLAIN QUERY PLAN SELECT rowid FROM notes WHERE notes MATCH 'fox';
EXPLAIN QUERY PLAN SELECT id FROM boxes WHERE minx >= 0 AND maxx <= 10;
EXPLAIN QUERY PLAN SELECT name FROM dept WHERE id IN (SELECT dept_id FROM emp WHERE salary > 6000);
EXPLAIN QUERY PLAN WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c;
EXPLAIN QUERY PLAN SELECT id FROM emp UNION SELECT id FROM dept;

-- ===== 33. Schema introspection =====
SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name;
SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name;
SELECT sql FROM sqlite_schema WHERE name IN ('emp', 'st_kv', 'gen') ORDER BY name;
SELECT sql FROM sqlite_master WHERE name = 'dept_stats';
SELECT name, type, ncol, wr, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite%' ORDER BY name;
SELECT m.name, p.cid, p.name, p.type FROM sqlite_schema m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name IN ('ledger', 'owner', 'pet') ORDER BY m.name, p.cid;
SELECT cid, name, type, hidden FROM pragma_table_xinfo('docs') ORDER BY cid;
SELECT id, seq, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list('pet') ORDER BY id, seq;
SELECT name, "unique", origin, partial FROM pragma_index_list('coll') ORDER BY name;
SELECT name FROM pragma_table_list WHERE schema = 'temp' ORDER BY name;
SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE 'notes%';
SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'docs4%' ORDER BY name;
-- error: sqlite_schema cannot be written directly
INSERT INTO sqlite_schema VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x(a)');
-- error: reserved object name
CREATE TABLE sqlite_foo(x);
-- error: table already exists
CREATE TABLE emp(x);
-- error: index already exists
CREATE INDEX emp_dept ON emp(name);
-- error: no such table in DROP
DROP TABLE nosuch;
-- error: no such index in DROP
DROP INDEX nosuch;
-- error: index on a missing column
CREATE INDEX bad_idx ON emp(nosuchcol);
-- error: AUTOINCREMENT on a non-integer key
CREATE TABLE ai_bad(x TEXT PRIMARY KEY AUTOINCREMENT);
-- error: default value must be constant
CREATE TABLE dv_bad(x, y DEFAULT (x + 1));
-- error: duplicate column in CREATE TABLE
CREATE TABLE dup_col(a, a);
-- error: more than one primary key
CREATE TABLE two_pk(a PRIMARY KEY, b PRIMARY KEY);
DROP TABLE IF EXISTS nosuch;
DROP INDEX IF EXISTS nosuch;
CREATE TABLE IF NOT EXISTS emp(x);

-- ===== 34. Attached in-memory database and temp objects =====
ATTACH DATABASE ':memory:' AS aux;
CREATE TABLE aux.notes_copy(id INTEGER PRIMARY KEY, title TEXT);
INSERT INTO aux.notes_copy SELECT rowid, title FROM main.notes ORDER BY rowid;
SELECT id, title FROM aux.notes_copy ORDER BY id;
SELECT name FROM aux.sqlite_schema ORDER BY name;
CREATE TEMP TABLE scratch(k INTEGER PRIMARY KEY, v TEXT);
INSERT INTO scratch VALUES (1, 'temp row');
SELECT v FROM temp.scratch;
SELECT n.id, s.v FROM aux.notes_copy n LEFT JOIN scratch s ON s.k = n.id ORDER BY n.id;
SELECT name FROM pragma_database_list WHERE name IN ('main', 'aux') ORDER BY seq;
-- error: no such table in the attached schema
SELECT * FROM aux.emp;
-- error: unknown schema
SELECT * FROM nosuchdb.emp;
DETACH DATABASE aux;
-- error: detached schema is gone
SELECT * FROM aux.notes_copy;
DROP TABLE scratch;

-- ===== 35. Miscellaneous expressions =====
SELECT CASE WHEN 1 THEN 'a' WHEN 1 THEN 'b' END, CASE 'x' WHEN 'X' THEN 1 WHEN 'x' THEN 2 END, CASE WHEN 0 THEN 1 END;
SELECT 5 IN (SELECT 5), 6 IN (SELECT value FROM json_each('[4,5,6]')), 'b' IN ('a', 'b' COLLATE NOCASE), 'B' IN ('a', 'b' COLLATE NOCASE);
SELECT EXISTS (SELECT 1 WHERE 0), NOT EXISTS (SELECT 1), (SELECT 1 WHERE 0) IS NULL;
SELECT likely(1), unlikely(0), likelihood(1, 0.5), coalesce(NULL, likely(NULL), 'd');
SELECT typeof(1 = 1), 1 = 1 = 1, 2 > 1 > 0, 'a' < 'b' < 'c', - - 5, +'7', -'7x', ~0;
SELECT 1 AND 'abc', 1 OR NULL, 0 OR '0.0', NOT 'x', NOT '1', NOT 0.1;
SELECT count(*), sum(x) FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3) AS t;
-- error: a column list after a subquery alias is not SQLite syntax
SELECT count(*) FROM (SELECT 1) AS t(x);
SELECT ifnull(max(id), 0) + 1 FROM ledger WHERE amount > 1000000;
SELECT 'x' = 'x' COLLATE RTRIM, 'x ' > 'x', length(' x '), ' x ' = 'x';
SELECT total_changes() > 0, changes() >= 0, last_insert_rowid() > 0;
SELECT iif(salary > 5000, 'yes', 'no'), if(salary > 8000, 'top') FROM emp WHERE id IN (1, 4) ORDER BY id;
-- error: bad argument type for likelihood
SELECT likelihood(1, 2);
-- error: too many columns on the left of IN
SELECT (1, 2) IN (SELECT 1);
-- error: ORDER BY on a non-existent alias in a simple select
SELECT name FROM emp ORDER BY nosuch_alias;
-- error: LIMIT must be an integer
SELECT 1 LIMIT 'x';
-- error: misuse of aliased aggregate
SELECT count(*) AS c FROM emp WHERE c > 1;

-- ===== 35b. typeof(), IS NULL and length() of a column's string or blob (patch 0008) =====
-- The content of a value on the row's page is not copied when only its type or byte length is
-- used: every such use, on the page and on overflow pages, texts of several bytes a character
-- (length() counts characters) and empty values.
CREATE TABLE lob(id INTEGER PRIMARY KEY, b BLOB, t TEXT, n INT);
INSERT INTO lob VALUES (1, x'', '', 0), (2, x'00', 'a', 1), (3, zeroblob(1536), 'héllo wörld', 2),
  (4, x'0102', printf('%.*c', 3000, 'é'), 3), (5, zeroblob(9000), printf('%.*c', 9000, 'x'), 4),
  (6, NULL, NULL, NULL), (7, CAST('ünï' AS BLOB), CAST(x'c3bc' AS TEXT), 5);
SELECT id, typeof(b), typeof(t), typeof(n), b IS NULL, t IS NOT NULL, length(b), length(t), octet_length(b), octet_length(t) FROM lob ORDER BY id;
SELECT id FROM lob WHERE b IS NOT NULL AND length(b) > 1 ORDER BY id;
SELECT id FROM lob WHERE t IS NULL OR length(t) = 11 OR octet_length(t) = 6000 ORDER BY id;
SELECT count(*), sum(length(b)), sum(length(t)), sum(octet_length(t)), sum(typeof(b) = 'blob') FROM lob;
SELECT id, length(b) + length(t), typeof(b) || typeof(t), b IS NULL, hex(substr(b, 1, 2)), substr(t, 1, 3) FROM lob ORDER BY id;
-- octet_length() of a text converts it if its register's encoding is another: the first row of
-- a statement, whose register was never used, once got 2 for 'hello'
CREATE TABLE lob2(a INTEGER PRIMARY KEY, b TEXT, g INT AS (octet_length(b)));
INSERT INTO lob2(a, b) VALUES (1, 'hello'), (2, 'abcdef'), (3, printf('%.*c', 3000, 'x')), (4, 'héllo');
SELECT octet_length(b) FROM lob2;
SELECT octet_length(b) FROM lob2 WHERE a = 3;
SELECT a, g, octet_length(b), length(b) FROM lob2 ORDER BY octet_length(b), a;

-- ===== 35c. An OR of one table's terms in a join (patch 0009) =====
-- A comparison of a table that the join reads after the OR's is not copied into the OR's loops,
-- which cannot test it; the OR then counts as tested. An OR whose own terms name such a table is
-- still tested again once that table's row is there.
CREATE TABLE ora(id INTEGER PRIMARY KEY, x INT, y INT, k INT);
CREATE INDEX ora_x ON ora(x);
CREATE TABLE orb(id INTEGER PRIMARY KEY, z INT, w TEXT);
CREATE TABLE orc(id INTEGER PRIMARY KEY, b INT, v INT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO ora SELECT i, i % 7, i % 11, i % 13 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 12)
INSERT INTO orb SELECT i, i % 4, 'w' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)
INSERT INTO orc SELECT i, i % 13, i % 5 FROM n;
SELECT a.id, b.id FROM ora a CROSS JOIN orb b WHERE (a.id IN (SELECT id * 10 FROM orb WHERE z = 1) OR a.id > 190) AND b.id = a.k AND b.z < 3 ORDER BY 1, 2;
SELECT a.id, b.w FROM ora a CROSS JOIN orb b WHERE (a.x = 3 OR a.id < 20) AND b.id = a.k AND b.w < 'w5' ORDER BY 1, 2;
SELECT a.id, b.id FROM ora a CROSS JOIN orb b WHERE (a.x = 3 OR (a.id < 40 AND b.z = 2)) AND b.id = a.k ORDER BY 1, 2;
SELECT a.id, b.id, c.id FROM ora a CROSS JOIN orb b CROSS JOIN orc c WHERE (a.x = 1 OR a.id >= 180) AND b.id = a.k AND c.b = b.id AND c.v <> 2 ORDER BY 1, 2, 3;
SELECT a.id, b.id FROM ora a LEFT JOIN orb b ON b.id = a.k AND b.z = 1 WHERE (a.x = 2 OR a.id > 195) ORDER BY 1, 2;
SELECT count(*), sum(a.id * b.id) FROM ora a, orb b WHERE (a.x = 5 OR a.y = 4) AND b.id = a.k AND b.z IN (0, 3);

-- ===== 36. Final checks =====
PRAGMA integrity_check;
PRAGMA quick_check;
PRAGMA foreign_key_check;
SELECT count(*) FROM emp;
SELECT sum(salary), count(DISTINCT dept_id) FROM emp;
SELECT id, tbl, op, detail FROM audit ORDER BY id;
SELECT name, seq FROM sqlite_sequence ORDER BY name;
