//! Round trips of Rust values through SQLite, and conversion errors.

use edgelite::types::{FromSql, FromSqlError, ToSql, Type, Value, ValueRef, ZeroBlob};
use edgelite::{Connection, Error, Result};

fn round_trip<T: ToSql + FromSql>(conn: &Connection, v: &T) -> Result<T> {
    conn.query_row("SELECT ?1", [v], |r| r.get(0))
}

#[test]
fn integers_round_trip_at_their_limits() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert_eq!(round_trip(&conn, &i8::MIN)?, i8::MIN);
    assert_eq!(round_trip(&conn, &i16::MAX)?, i16::MAX);
    assert_eq!(round_trip(&conn, &i32::MIN)?, i32::MIN);
    assert_eq!(round_trip(&conn, &i64::MIN)?, i64::MIN);
    assert_eq!(round_trip(&conn, &i64::MAX)?, i64::MAX);
    assert_eq!(round_trip(&conn, &u8::MAX)?, u8::MAX);
    assert_eq!(round_trip(&conn, &u16::MAX)?, u16::MAX);
    assert_eq!(round_trip(&conn, &u32::MAX)?, u32::MAX);
    assert_eq!(round_trip(&conn, &(i64::MAX as u64))?, i64::MAX as u64);
    assert_eq!(round_trip(&conn, &usize::MIN)?, 0);
    assert_eq!(round_trip(&conn, &-5_isize)?, -5);
    Ok(())
}

#[test]
fn out_of_range_integers_are_errors_not_truncations() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let get = |sql: &str| -> Result<u8> { conn.query_row(sql, [], |r| r.get(0)) };
    match get("SELECT 256 AS big") {
        Err(Error::FromSqlConversionFailure { index: 0, name, value_type: Type::Integer, source }) => {
            assert_eq!(name.as_deref(), Some("big"));
            assert!(matches!(source, FromSqlError::OutOfRange(256)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        get("SELECT -1"),
        Err(Error::FromSqlConversionFailure { source: FromSqlError::OutOfRange(-1), .. })
    ));
    let r: Result<i32> = conn.query_row("SELECT 1 << 40", [], |r| r.get(0));
    assert!(matches!(r, Err(Error::FromSqlConversionFailure { source: FromSqlError::OutOfRange(_), .. })));
    let r: Result<u64> = conn.query_row("SELECT -9", [], |r| r.get(0));
    assert!(matches!(r, Err(Error::FromSqlConversionFailure { source: FromSqlError::OutOfRange(-9), .. })));
    // u64 values beyond i64 cannot be stored.
    let r = conn.query_row("SELECT ?1", [u64::MAX], |r| r.get::<_, i64>(0));
    assert!(matches!(r, Err(Error::ToSqlConversionFailure(_))));
    Ok(())
}

#[test]
fn wrong_types_are_invalid_type() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let r: Result<i64> = conn.query_row("SELECT 'text'", [], |r| r.get(0));
    assert!(matches!(
        r,
        Err(Error::FromSqlConversionFailure { value_type: Type::Text, source: FromSqlError::InvalidType, .. })
    ));
    let r: Result<String> = conn.query_row("SELECT x'00'", [], |r| r.get(0));
    assert!(matches!(r, Err(Error::FromSqlConversionFailure { value_type: Type::Blob, .. })));
    let r: Result<Vec<u8>> = conn.query_row("SELECT 'abc'", [], |r| r.get(0));
    assert!(r.is_err());
    let r: Result<String> = conn.query_row("SELECT CAST(x'ff' AS TEXT)", [], |r| r.get(0));
    assert!(matches!(r, Err(Error::FromSqlConversionFailure { source: FromSqlError::Other(_), .. })));
    Ok(())
}

#[test]
fn floats_bools_text_blobs_options() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    assert_eq!(round_trip(&conn, &1.5_f64)?, 1.5);
    assert_eq!(round_trip(&conn, &-0.25_f32)?, -0.25);
    assert_eq!(conn.query_row("SELECT 3", [], |r| r.get::<_, f64>(0))?, 3.0);
    assert!(round_trip(&conn, &true)?);
    assert!(!round_trip(&conn, &false)?);
    assert_eq!(round_trip(&conn, &String::from("héllo\0world"))?, "héllo\0world");
    assert_eq!(round_trip(&conn, &String::new())?, "");
    assert_eq!(round_trip(&conn, &vec![0_u8, 1, 255])?, [0, 1, 255]);
    assert_eq!(round_trip(&conn, &Vec::<u8>::new())?, Vec::<u8>::new()); // empty blob, not NULL
    assert_eq!(conn.query_row("SELECT typeof(?1)", [Vec::<u8>::new()], |r| r.get::<_, String>(0))?, "blob");
    assert_eq!(round_trip(&conn, &[1_u8, 2, 3, 4])?, [1, 2, 3, 4]);
    assert_eq!(round_trip(&conn, &Some(5_i32))?, Some(5));
    assert_eq!(round_trip(&conn, &None::<i32>)?, None);
    let s: &str = "borrowed";
    assert_eq!(conn.query_row("SELECT ?1", [s], |r| r.get::<_, String>(0))?, "borrowed");
    let b: &[u8] = b"raw";
    assert_eq!(conn.query_row("SELECT ?1", [b], |r| r.get::<_, Vec<u8>>(0))?, b"raw");
    Ok(())
}

#[test]
fn fixed_size_blobs_report_sizes() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let r: Result<[u8; 4]> = conn.query_row("SELECT x'010203'", [], |r| r.get(0));
    assert!(matches!(
        r,
        Err(Error::FromSqlConversionFailure {
            source: FromSqlError::InvalidBlobSize { expected_size: 4, blob_size: 3 },
            ..
        })
    ));
    Ok(())
}

#[test]
fn values_round_trip() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    for v in [Value::Null, Value::Integer(-1), Value::Real(2.5), Value::Text("t".into()), Value::Blob(vec![9])] {
        assert_eq!(round_trip(&conn, &v)?, v);
    }
    let kinds: Vec<Type> = conn.query_row("SELECT NULL, 1, 1.0, 'a', x'00'", [], |r| {
        (0..5).map(|i| Ok(r.get_ref(i)?.data_type())).collect()
    })?;
    assert_eq!(kinds, [Type::Null, Type::Integer, Type::Real, Type::Text, Type::Blob]);
    let v = ValueRef::Integer(3);
    assert_eq!(conn.query_row("SELECT ?1", [v], |r| r.get::<_, i64>(0))?, 3);
    Ok(())
}

#[test]
fn zeroblob_binds_a_sized_blob() -> Result<()> {
    let conn = Connection::open_in_memory()?;
    let b: Vec<u8> = conn.query_row("SELECT ?1", [ZeroBlob(4)], |r| r.get(0))?;
    assert_eq!(b, [0, 0, 0, 0]);
    Ok(())
}

#[test]
fn custom_from_sql_errors_are_structured() -> Result<()> {
    /// A fixed-dimension vector of f32 stored as a little-endian blob: the shape the vector types
    /// will have.
    #[derive(Debug)]
    struct Vec3([f32; 3]);
    impl FromSql for Vec3 {
        fn column_result(value: ValueRef<'_>) -> Result<Self, FromSqlError> {
            let b = value.as_blob()?;
            if b.len() != 12 {
                return Err(FromSqlError::InvalidBlobSize { expected_size: 12, blob_size: b.len() });
            }
            let mut out = [0.0; 3];
            for (o, chunk) in out.iter_mut().zip(b.chunks_exact(4)) {
                *o = f32::from_le_bytes(chunk.try_into().map_err(|e| FromSqlError::Other(Box::new(e)))?);
            }
            Ok(Vec3(out))
        }
    }
    let conn = Connection::open_in_memory()?;
    let bytes: Vec<u8> = [1.0_f32, 2.0, 3.0].iter().flat_map(|f| f.to_le_bytes()).collect();
    let v: Vec3 = conn.query_row("SELECT ?1", [&bytes], |r| r.get(0))?;
    assert_eq!(v.0, [1.0, 2.0, 3.0]);
    let r: Result<Vec3> = conn.query_row("SELECT x'00'", [], |r| r.get(0));
    let err = r.expect_err("wrong size");
    assert!(err.to_string().contains("1-byte blob"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    Ok(())
}
