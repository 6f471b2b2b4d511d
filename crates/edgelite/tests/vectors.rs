//! Vectors through the public API: every conversion against the SQL functions (libSQL's encoders
//! and `vector_extract`, the oracle), every error, and the top-k-with-filter pattern.

use edgelite::functions::FunctionFlags;
use edgelite::types::{FromSqlError, Type};
use edgelite::vector::{
    Bf16VectorRef, Bit1Vector, F8Params, F8Vector, F16VectorRef, F32VectorRef, F64VectorRef, Vector,
    VectorConversionError, VectorRef, VectorType, bf16, f16,
};
use edgelite::{Connection, Error, Result, params};

fn conn() -> Result<Connection> {
    Connection::open_in_memory()
}

/// `vector_extract` of a bound value: how libSQL's own decoder reads what we wrote.
fn extract<T: edgelite::ToSql>(conn: &Connection, v: T) -> Result<String> {
    conn.query_row("SELECT vector_extract(?1)", [v], |r| r.get(0))
}

#[test]
fn bound_vectors_are_what_libsql_encoders_produce() -> Result<()> {
    let c = conn()?;
    let same_blob = |sql: &str, v: &dyn edgelite::ToSql| -> Result<bool> {
        c.query_row(&format!("SELECT {sql} = ?1"), [v], |r| r.get(0))
    };
    assert!(same_blob("vector32('[1, -2.5, 3]')", &&[1.0_f32, -2.5, 3.0][..])?);
    assert!(same_blob("vector32('[1, -2.5, 3]')", &vec![1.0_f32, -2.5, 3.0])?);
    assert!(same_blob("vector32('[1, -2.5, 3]')", &[1.0_f32, -2.5, 3.0])?);
    assert!(same_blob("vector64('[0.1, 2]')", &vec![0.1_f64, 2.0])?);
    assert!(same_blob("vector16('[1.5, -2]')", &[f16::from_f32(1.5), f16::from_f32(-2.0)])?);
    assert!(same_blob("vectorb16('[1.5, -2]')", &[bf16::from_f32(1.5), bf16::from_f32(-2.0)])?);
    assert!(same_blob("vector8('[0, 0.5, 1, -3]')", &F8Vector::quantize(&[0.0, 0.5, 1.0, -3.0]).expect("f8"))?);
    assert!(same_blob("vector1bit('[1, -1, 0, 2, 5, -5, 1, 1, 1]')", &{
        Bit1Vector::from_signs(&[1.0, -1.0, 0.0, 2.0, 5.0, -5.0, 1.0, 1.0, 1.0]).expect("bits")
    })?);
    assert!(same_blob("vector32('[]')", &Vec::<f32>::new())?);
    let v = Vector::parse("[1, 2]").expect("text").convert(VectorType::F16);
    assert!(same_blob("vector16('[1, 2]')", &v)?);
    assert!(same_blob("vector16('[1, 2]')", &v.as_ref())?);
    assert_eq!(extract(&c, [0.25_f32, 1e10])?, "[0.25,1e+10]");
    Ok(())
}

#[test]
fn columns_read_back_into_every_type() -> Result<()> {
    let c = conn()?;
    c.execute_batch(
        "CREATE TABLE t(a F32_BLOB(3), b F64_BLOB(2), c F16_BLOB(2), d FB16_BLOB(2), e F8_BLOB(3), f F1BIT_BLOB(3));
         INSERT INTO t VALUES (vector32('[1,2,3]'), vector64('[0.1,0.2]'), vector16('[1,2]'),
                               vectorb16('[1,2]'), vector8('[0,1,2]'), vector1bit('[1,-1,1]'));",
    )?;
    c.query_row("SELECT * FROM t", [], |row| {
        assert_eq!(row.get::<_, Vec<f32>>("a")?, [1.0, 2.0, 3.0]);
        assert_eq!(row.get::<_, [f32; 3]>(0)?, [1.0, 2.0, 3.0]);
        assert_eq!(row.get::<_, Vec<f64>>("b")?, [0.1, 0.2]);
        assert_eq!(row.get::<_, [f16; 2]>("c")?, [f16::from_f32(1.0), f16::from_f32(2.0)]);
        assert_eq!(row.get::<_, Vec<bf16>>("d")?, [bf16::from_f32(1.0), bf16::from_f32(2.0)]);
        let e: F8Vector = row.get("e")?;
        assert_eq!((e.len(), e.codes(), e.to_f32_vec()), (3, &[0_u8, 127, 255][..], vec![0.0, 0.996_078_5, 2.0]));
        assert_eq!(row.get::<_, Bit1Vector>("f")?.to_bools(), [true, false, true]);
        for (i, ty) in ["a", "b", "c", "d", "e", "f"].into_iter().zip([
            VectorType::F32,
            VectorType::F64,
            VectorType::F16,
            VectorType::Bf16,
            VectorType::F8,
            VectorType::Bit1,
        ]) {
            assert_eq!(row.get::<_, Vector>(i)?.vector_type(), ty);
            assert_eq!(row.get_view::<_, VectorRef<'_>>(i)?.vector_type(), ty);
        }
        Ok(())
    })
}

#[test]
fn views_borrow_the_row() -> Result<()> {
    let c = conn()?;
    c.query_row(
        "SELECT vector32('[1,2]'), vector64('[3]'), vector16('[4]'), vectorb16('[5]'), vector8('[1,2]')",
        [],
        |row| {
            let a: F32VectorRef<'_> = row.get_view(0)?;
            assert_eq!((a.len(), a.is_empty(), a.to_vec()), (2, false, vec![1.0, 2.0]));
            assert_eq!(row.get_view::<_, F64VectorRef<'_>>(1)?.get(0), Some(3.0));
            assert_eq!(row.get_view::<_, F16VectorRef<'_>>(2)?.to_vec(), [f16::from_f32(4.0)]);
            assert_eq!(row.get_view::<_, Bf16VectorRef<'_>>(3)?.iter().len(), 1);
            // a view binds again, and its untyped form works with the distance functions
            let d: f64 = c.query_row("SELECT vector_distance_l2(?1, vector('[1,2]'))", [a], |r| r.get(0))?;
            assert_eq!(d, 0.0);
            let e = row.get_view::<_, F32VectorRef<'_>>(4).expect_err("f8 is not f32");
            assert_eq!(
                e.vector_error(),
                Some(&VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F8 })
            );
            Ok(())
        },
    )
}

#[test]
fn text_vectors_are_parsed() -> Result<()> {
    let c = conn()?;
    c.execute_batch("CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('[1, 2.5, -3]');")?;
    assert_eq!(c.query_row("SELECT v FROM t", [], |r| r.get::<_, Vec<f32>>(0))?, [1.0, 2.5, -3.0]);
    assert_eq!(c.query_row("SELECT v FROM t", [], |r| r.get::<_, [f64; 3]>(0))?, [1.0, 2.5, -3.0]);
    assert_eq!(c.query_row("SELECT vector_extract(vector('[0.1]'))", [], |r| r.get::<_, Vec<f32>>(0))?, [0.1]);
    let v: Vector = c.query_row("SELECT v FROM t", [], |r| r.get(0))?;
    assert_eq!((v.vector_type(), v.dims()), (VectorType::F32, 3));
    // a view cannot borrow text
    let e = c.query_row("SELECT v FROM t", [], |r| r.get_view::<_, F32VectorRef<'_>>(0).map(|_| ())).expect_err("text");
    assert!(matches!(
        e,
        Error::FromSqlConversionFailure { value_type: Type::Text, source: FromSqlError::InvalidType, .. }
    ));
    Ok(())
}

#[test]
fn wrong_sql_types_are_invalid_type() -> Result<()> {
    let c = conn()?;
    for sql in ["SELECT NULL AS v", "SELECT 1 AS v", "SELECT 1.5 AS v"] {
        let e = c.query_row(sql, [], |r| r.get::<_, Vec<f32>>(0)).expect_err(sql);
        assert!(matches!(&e, Error::FromSqlConversionFailure { index: 0, source: FromSqlError::InvalidType, .. }));
        assert_eq!(e.vector_error(), None);
    }
    // NULL is an absent vector
    assert_eq!(c.query_row("SELECT NULL", [], |r| r.get::<_, Option<Vec<f32>>>(0))?, None);
    assert_eq!(c.query_row("SELECT ?1", [None::<Vec<f32>>], |r| r.get::<_, Option<Vec<f32>>>(0))?, None);
    Ok(())
}

#[test]
fn wrong_element_types_are_errors_not_conversions() -> Result<()> {
    let c = conn()?;
    let e = c.query_row("SELECT vector64('[1,2]') AS emb", [], |r| r.get::<_, Vec<f32>>("emb")).expect_err("f64");
    match &e {
        Error::FromSqlConversionFailure { index: 0, name, value_type: Type::Blob, .. } => {
            assert_eq!(name.as_deref(), Some("emb"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        e.vector_error(),
        Some(&VectorConversionError::ElementType { expected: VectorType::F32, found: VectorType::F64 })
    );
    assert_eq!(
        e.to_string(),
        "column 0 (\"emb\"): cannot convert BLOB value: vector of element type FLOAT64 where FLOAT32 was expected"
    );
    let e = c.query_row("SELECT vector('[1]')", [], |r| r.get::<_, F8Vector>(0)).expect_err("f32");
    assert_eq!(
        e.vector_error(),
        Some(&VectorConversionError::ElementType { expected: VectorType::F8, found: VectorType::F32 })
    );
    // converting is explicit
    let v: Vector = c.query_row("SELECT vector64('[1,2]')", [], |r| r.get(0))?;
    assert_eq!(v.to_f32_vec(), [1.0, 2.0]);
    Ok(())
}

#[test]
fn fixed_dimensions_are_checked() -> Result<()> {
    let c = conn()?;
    let e = c.query_row("SELECT ?1", [[1.0_f32, 2.0, 3.0]], |r| r.get::<_, [f32; 4]>(0)).expect_err("3 != 4");
    assert_eq!(e.vector_error(), Some(&VectorConversionError::Dimensions { expected: 4, found: 3 }));
    let e = c.query_row("SELECT '[1]'", [], |r| r.get::<_, [f64; 2]>(0)).expect_err("1 != 2");
    assert_eq!(e.vector_error(), Some(&VectorConversionError::Dimensions { expected: 2, found: 1 }));
    Ok(())
}

#[test]
fn malformed_blobs_and_text_are_reported_with_libsql_messages() -> Result<()> {
    let c = conn()?;
    for (sql, msg) in [
        ("SELECT x'010203040506'", "vector: unexpected data part size: type=1, dims=1, 6 != 4"),
        ("SELECT x'0102FF'", "vector: unexpected binary type: 255"),
        ("SELECT '[1, abc]'", "vector: invalid float at position 1: 'abc'"),
        ("SELECT '1, 2'", "vector: must start with '['"),
    ] {
        let e = c.query_row(sql, [], |r| r.get::<_, Vec<f32>>(0)).expect_err(sql);
        let v = e.vector_error().unwrap_or_else(|| panic!("{sql}: {e:?}"));
        assert!(matches!(v, VectorConversionError::Malformed(_)), "{sql}");
        assert_eq!(v.to_string(), msg, "{sql}");
    }
    let e = c.query_row("SELECT x'0102FF'", [], |r| r.get::<_, Vector>(0)).expect_err("bad");
    assert!(e.vector_error().is_some());
    let e = c.query_row("SELECT x'0102FF'", [], |r| r.get_view::<_, VectorRef<'_>>(0).map(|_| ())).expect_err("bad");
    assert!(e.vector_error().is_some());
    Ok(())
}

#[test]
fn plain_byte_blobs_are_unchanged() -> Result<()> {
    let c = conn()?;
    // Vec<u8> is still a blob, not a vector of bytes
    let b: Vec<u8> = c.query_row("SELECT ?1", [vec![1_u8, 2, 3]], |r| r.get(0))?;
    assert_eq!(b, [1, 2, 3]);
    assert_eq!(c.query_row("SELECT length(?1)", [[7_u8; 5]], |r| r.get::<_, i64>(0))?, 5);
    // and reads any vector's raw bytes
    let raw: Vec<u8> = c.query_row("SELECT vector32('[1]')", [], |r| r.get(0))?;
    assert_eq!(raw, 1.0_f32.to_le_bytes());
    Ok(())
}

#[test]
fn typed_wrappers_convert_to_and_from_vector() {
    let f8 = F8Vector::from_codes(vec![0, 4], F8Params { alpha: 0.25, shift: -1.0 }).expect("f8");
    assert_eq!((f8.params().alpha, f8.to_f32_vec()), (0.25, vec![-1.0, 0.0]));
    let v: Vector = f8.clone().into();
    assert_eq!(F8Vector::try_from(v.clone()), Ok(f8.clone()));
    assert_eq!(f8.as_vector_ref(), v.as_ref());
    assert_eq!(f8.clone().into_vector(), v);
    assert!(!f8.is_empty());
    let bits = Bit1Vector::from_bools(&[true, false]).expect("bits");
    assert_eq!((bits.len(), bits.get(0), bits.get(2)), (2, Some(true), None));
    assert!(Bit1Vector::try_from(v).is_err());
    assert!(Bit1Vector::from_bools(&[]).expect("empty").is_empty());
}

#[test]
fn functions_take_and_return_vectors() -> Result<()> {
    let c = conn()?;
    c.create_scalar_function("scale", 2, FunctionFlags::UTF8 | FunctionFlags::DETERMINISTIC, |ctx| {
        let v: Vec<f32> = ctx.get(0)?;
        let k: f64 = ctx.get(1)?;
        Ok(v.iter().map(|x| x * k as f32).collect::<Vec<f32>>())
    })?;
    assert_eq!(
        c.query_row("SELECT vector_extract(scale(vector('[1,2]'), 3))", [], |r| r.get::<_, String>(0))?,
        "[3,6]"
    );
    let e = c.query_row("SELECT scale(vector64('[1]'), 2)", [], |r| r.get::<_, Vec<u8>>(0)).expect_err("f64");
    assert!(e.to_string().contains("FLOAT64"), "{e}");
    Ok(())
}

#[test]
fn top_k_with_a_relational_filter() -> Result<()> {
    let mut c = conn()?;
    c.execute_batch("CREATE TABLE items(id INTEGER PRIMARY KEY, src TEXT, emb F32_BLOB(4))")?;
    // deterministic vectors: item i points at angle i degrees in the first plane
    let rows: Vec<(i64, String, [f32; 4])> = (0..200)
        .map(|i| {
            let a = (i as f32).to_radians();
            (i, if i % 2 == 0 { "even".into() } else { "odd".into() }, [a.cos(), a.sin(), 0.0, 0.0])
        })
        .collect();
    let tx = c.transaction()?;
    {
        let mut ins = tx.prepare("INSERT INTO items(id, src, emb) VALUES (?1, ?2, ?3)")?;
        for (id, src, emb) in &rows {
            ins.execute(params![id, src, &emb[..]])?;
        }
    }
    tx.commit()?;

    let q = [50.3_f32.to_radians().cos(), 50.3_f32.to_radians().sin(), 0.0, 0.0];
    let mut stmt =
        c.prepare("SELECT id, vector_distance_cos(emb, ?1) AS d FROM items WHERE src = ?2 ORDER BY d LIMIT ?3")?;
    let odd: Vec<i64> = stmt.query_map(params![q, "odd", 3], |r| r.get(0))?.collect::<Result<_>>()?;
    assert_eq!(odd, [51, 49, 53]);
    let even: Vec<(i64, f64)> =
        stmt.query_map(params![&q[..], "even", 2], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_>>()?;
    assert_eq!(even.iter().map(|e| e.0).collect::<Vec<_>>(), [50, 52]);
    assert!(even[0].1 < even[1].1);
    // the stored vector reads back exactly
    let emb: [f32; 4] = c.query_row("SELECT emb FROM items WHERE id = 7", [], |r| r.get(0))?;
    assert_eq!(emb, rows[7].2);
    Ok(())
}
