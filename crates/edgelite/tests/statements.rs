//! Statements, rows and parameters.

use edgelite::types::{Null, ToSql, ValueRef};
use edgelite::{Connection, Error, Result, named_params, params, params_from_iter};

fn db() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch(
        "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER);
         INSERT INTO people(name, age) VALUES ('ada', 36), ('bob', NULL), ('cy', 7);",
    )?;
    Ok(conn)
}

#[test]
fn streaming_rows() -> Result<()> {
    let conn = db()?;
    let mut stmt = conn.prepare("SELECT id, name, age FROM people ORDER BY id")?;
    let mut rows = stmt.query([])?;
    let mut names = Vec::new();
    while let Some(row) = rows.next()? {
        names.push(row.get::<_, String>("name")?);
    }
    assert_eq!(names, ["ada", "bob", "cy"]);
    // Exhausted rows stay exhausted.
    assert!(rows.next()?.is_none());
    Ok(())
}

#[test]
fn column_metadata() -> Result<()> {
    let conn = db()?;
    let stmt = conn.prepare("SELECT id, name AS Who, age FROM people")?;
    assert_eq!(stmt.column_count(), 3);
    assert_eq!(stmt.column_names(), ["id", "Who", "age"]);
    assert_eq!(stmt.column_name(1)?, "Who");
    assert_eq!(stmt.column_index("who")?, 1); // case-insensitive
    assert!(matches!(stmt.column_index("nope"), Err(Error::InvalidColumnName(n)) if n == "nope"));
    assert!(matches!(stmt.column_name(3), Err(Error::InvalidColumnIndex(3))));
    assert!(stmt.readonly());
    assert_eq!(stmt.sql(), Some("SELECT id, name AS Who, age FROM people"));
    Ok(())
}

#[test]
fn row_access_by_index_and_name() -> Result<()> {
    let conn = db()?;
    conn.query_row("SELECT id, name, age FROM people WHERE name = 'bob'", [], |row| {
        assert_eq!(row.get::<_, i64>(0)?, 2);
        assert_eq!(row.get::<_, Option<i64>>("age")?, None);
        assert_eq!(row.get_ref("name")?, ValueRef::Text(b"bob"));
        assert!(matches!(row.get::<_, i64>(5), Err(Error::InvalidColumnIndex(5))));
        assert!(matches!(row.get::<_, i64>("zzz"), Err(Error::InvalidColumnName(_))));
        match row.get::<_, i64>("age") {
            Err(Error::FromSqlConversionFailure { index: 2, name: Some(n), value_type, .. }) => {
                assert_eq!(n, "age");
                assert_eq!(value_type, edgelite::types::Type::Null);
            }
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn query_map_and_reuse() -> Result<()> {
    let conn = db()?;
    let mut stmt = conn.prepare("SELECT name FROM people WHERE age > ?1 ORDER BY id")?;
    let old: Vec<String> = stmt.query_map([10], |r| r.get(0))?.collect::<Result<_>>()?;
    assert_eq!(old, ["ada"]);
    let all: Vec<String> = stmt.query_map([0], |r| r.get(0))?.collect::<Result<_>>()?;
    assert_eq!(all, ["ada", "cy"]);
    assert!(stmt.exists([30])?);
    assert!(!stmt.exists([99])?);
    assert_eq!(stmt.query_row([5], |r| r.get::<_, String>(0))?, "ada");
    assert_eq!(stmt.query_one([20], |r| r.get::<_, String>(0))?, "ada");
    Ok(())
}

#[test]
fn errors_while_stepping_end_the_query() -> Result<()> {
    let conn = db()?;
    conn.execute_batch("CREATE TABLE u(x UNIQUE); INSERT INTO u VALUES (1)")?;
    let mut stmt = conn.prepare("INSERT INTO u VALUES (?1)")?;
    let err = stmt.execute([1]).expect_err("duplicate");
    assert_eq!(err.extended_code(), Some(edgelite::ffi::SQLITE_CONSTRAINT_UNIQUE));
    assert!(err.to_string().contains("UNIQUE constraint failed: u.x"), "{err}");
    // The statement is reusable after the failure.
    assert_eq!(stmt.execute([2])?, 1);
    Ok(())
}

#[test]
#[allow(clippy::needless_borrows_for_generic_args)] // `&[&1, &2, &3]` exercises the `&[&T; N]` impl
fn positional_parameter_forms() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let sum = |sql: &str, f: &dyn Fn(&mut edgelite::Statement<'_>) -> Result<i64>| -> Result<i64> {
        let mut stmt = conn.prepare(sql)?;
        f(&mut stmt)
    };
    let three = "SELECT ?1 + ?2 + ?3";
    assert_eq!(sum(three, &|s| s.query_row([1, 2, 3], |r| r.get(0)))?, 6);
    assert_eq!(sum(three, &|s| s.query_row(&[&1, &2, &3], |r| r.get(0)))?, 6);
    assert_eq!(sum(three, &|s| s.query_row((1_i32, 2_i64, 3_u8), |r| r.get(0)))?, 6);
    assert_eq!(sum(three, &|s| s.query_row(params![1, 2_i64, "3"], |r| r.get(0)))?, 6);
    let dyns: Vec<&dyn ToSql> = vec![&1, &2, &3];
    assert_eq!(sum(three, &|s| s.query_row(&dyns[..], |r| r.get(0)))?, 6);
    assert_eq!(sum(three, &|s| s.query_row(params_from_iter(vec![1, 2, 3]), |r| r.get(0)))?, 6);
    assert_eq!(sum(three, &|s| s.query_row(params_from_iter([1, 2, 3].iter()), |r| r.get(0)))?, 6);
    Ok(())
}

#[test]
fn parameter_count_is_checked() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let mut stmt = conn.prepare("SELECT ?1, ?2")?;
    assert!(matches!(stmt.execute([1]), Err(Error::InvalidParameterCount { expected: 2, given: 1 })));
    assert!(matches!(stmt.query([1, 2, 3]), Err(Error::InvalidParameterCount { expected: 2, given: 3 })));
    assert!(matches!(stmt.query((1,)), Err(Error::InvalidParameterCount { expected: 2, given: 1 })));
    assert!(matches!(stmt.query(params![]), Err(Error::InvalidParameterCount { expected: 2, given: 0 })));
    assert_eq!(stmt.parameter_count(), 2);
    Ok(())
}

#[test]
fn named_parameters() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let mut stmt = conn.prepare("SELECT :a || @b || $c")?;
    assert_eq!(stmt.parameter_index(":a")?, Some(1));
    assert_eq!(stmt.parameter_name(3), Some("$c"));
    let s: String = stmt
        .query_row(named_params! {":a": "x", "@b": 1, "$c": Null}, |r| r.get::<_, Option<String>>(0))?
        .unwrap_or_default();
    assert_eq!(s, ""); // NULL propagates through ||
    let s: String = stmt.query_row(named_params! {":a": "x", "@b": 1, "$c": "z"}, |r| r.get(0))?;
    assert_eq!(s, "x1z");
    let s: String = stmt.query_row(&[(":a", &"p"), ("@b", &"q"), ("$c", &"r")], |r| r.get(0))?;
    assert_eq!(s, "pqr");
    let err = stmt.query(named_params! {":nope": 1}).expect_err("unknown name");
    assert!(matches!(err, Error::InvalidParameterName(n) if n == ":nope"));
    Ok(())
}

#[test]
fn raw_binding_and_expanded_sql() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(a, b)")?;
    let mut stmt = conn.prepare("INSERT INTO t VALUES (?1, ?2)")?;
    stmt.raw_bind_parameter(1, &5)?;
    stmt.raw_bind_parameter(2, "five")?;
    assert_eq!(stmt.expanded_sql().as_deref(), Some("INSERT INTO t VALUES (5, 'five')"));
    assert_eq!(stmt.raw_execute()?, 1);
    stmt.clear_bindings();
    assert_eq!(stmt.expanded_sql().as_deref(), Some("INSERT INTO t VALUES (NULL, NULL)"));
    assert!(stmt.raw_bind_parameter(3, &1).is_err());
    let mut q = conn.prepare("SELECT b FROM t WHERE a = ?1")?;
    q.raw_bind_parameter(1, &5)?;
    let mut rows = q.raw_query();
    assert_eq!(rows.next()?.expect("a row").get::<_, String>(0)?, "five");
    drop(rows);
    q.reset();
    q.finalize()?;
    Ok(())
}

#[test]
fn prepared_statement_cache() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    conn.execute_batch("CREATE TABLE t(x)")?;
    for i in 0..100 {
        let mut stmt = conn.prepare_cached("INSERT INTO t VALUES (?1)")?;
        stmt.execute([i])?;
    }
    let total: i64 = conn.prepare_cached("SELECT sum(x) FROM t")?.query_row([], |r| r.get(0))?;
    assert_eq!(total, 4950);
    // A schema change is transparent: SQLite re-prepares cached statements itself.
    conn.execute_batch("ALTER TABLE t ADD COLUMN y DEFAULT 1")?;
    let total: i64 = conn.prepare_cached("SELECT sum(x) FROM t")?.query_row([], |r| r.get(0))?;
    assert_eq!(total, 4950);
    conn.flush_prepared_statement_cache();
    Ok(())
}

#[test]
fn syntax_errors_carry_the_offset() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let err = conn.prepare("SELECT 1 FORM t").expect_err("syntax");
    assert_eq!(err.sql_offset(), Some(14));
    assert!(err.to_string().starts_with("near \"t\": syntax error"), "{err}");
    let err = conn.prepare("SELECT nope FROM (SELECT 1)").expect_err("column");
    assert_eq!(err.sql_offset(), Some(7));
    // Errors without a location have no offset.
    let err = conn.prepare("SELECT * FROM missing").expect_err("table");
    assert_eq!(err.sql_offset(), None);
    Ok(())
}
