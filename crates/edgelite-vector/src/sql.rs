//! The SQL functions' argument handling, in libSQL's order of checks, so that the bridge only
//! maps SQLite values to [`Arg`] and results back.
//!
//! libSQL first *detects* each argument's type and dimension (a TEXT argument is f32, or f64
//! inside `vector64()`, with the dimension counted from commas, see
//! [`crate::text_dims_hint`]), compares them, and only then parses. The helpers here reproduce
//! that, so the first error reported for a bad call is the one libSQL reports.

use crate::distance::{Metric, concat, distance, slice};
use crate::error::{Error, Result};
use crate::text::{parse_text, text_dims_hint};
use crate::types::VectorType;
use crate::vector::{Vector, VectorRef};

/// A SQL function argument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg<'a> {
    /// SQL NULL.
    Null,
    /// SQL INTEGER.
    Integer,
    /// SQL REAL.
    Float,
    /// SQL TEXT (bytes as `sqlite3_value_text` returns them).
    Text(&'a [u8]),
    /// SQL BLOB.
    Blob(&'a [u8]),
}

/// A decoded argument: borrowed from a blob, or parsed from text.
enum Value<'a> {
    Borrowed(VectorRef<'a>),
    Owned(Vector),
}

impl Value<'_> {
    fn view(&self) -> VectorRef<'_> {
        match self {
            Value::Borrowed(v) => *v,
            Value::Owned(v) => v.as_ref(),
        }
    }
}

fn type_error(arg: &Arg<'_>) -> Error {
    Error::UnexpectedValueType(match arg {
        Arg::Null => "NULL",
        Arg::Integer => "INTEGER",
        _ => "FLOAT",
    })
}

/// The (type, dimension) libSQL detects before parsing.
fn detect(arg: &Arg<'_>, text_type: VectorType) -> Result<(VectorType, u64)> {
    match arg {
        Arg::Blob(b) => VectorRef::from_blob(b).map(|v| (v.vector_type(), u64::from(v.dims()))),
        Arg::Text(t) => Ok((text_type, text_dims_hint(t))),
        other => Err(type_error(other)),
    }
}

fn parse<'a>(arg: &Arg<'a>, text_type: VectorType) -> Result<Value<'a>> {
    match arg {
        Arg::Blob(b) => VectorRef::from_blob(b).map(Value::Borrowed),
        Arg::Text(t) => parse_text(t, text_type).map(Value::Owned),
        other => Err(type_error(other)),
    }
}

/// `vector(x)`, `vector32`, `vector64`, `vector16`, `vectorb16`, `vector8`, `vector1bit`: the blob
/// of `x` converted to `target`. TEXT is parsed as f64 for an f64 target, else as f32.
///
/// # Errors
/// The value-type, text and blob errors of docs/libsql-vector.md §1.3, §1.4.
pub fn vector_fn(target: VectorType, arg: Arg<'_>) -> Result<Vec<u8>> {
    let text_type = if target == VectorType::F64 { VectorType::F64 } else { VectorType::F32 };
    let v = parse(&arg, text_type)?;
    let v = v.view();
    Ok(if v.vector_type() == target { v.to_blob() } else { v.convert(target).to_blob() })
}

/// `vector_extract(x)`.
///
/// # Errors
/// As [`vector_fn`].
pub fn vector_extract(arg: Arg<'_>) -> Result<String> {
    Ok(parse(&arg, VectorType::F32)?.view().to_text())
}

/// `vector_distance_cos(a, b)` (`Metric::Cosine`), `vector_distance_l2` (`Metric::L2`) and the
/// edgelite addition `vector_distance_dot` (`Metric::Dot`). `Ok(None)` means SQL NULL (a NaN
/// result).
///
/// Order of checks, as libSQL: value type and blob format of `a`, then of `b`, type equality,
/// dimension equality (TEXT dimension counted before parsing), L2 on float1bit, then parsing.
///
/// # Errors
/// As above.
pub fn vector_distance(metric: Metric, a: Arg<'_>, b: Arg<'_>) -> Result<Option<f64>> {
    let (ta, da) = detect(&a, VectorType::F32)?;
    let (tb, db) = detect(&b, VectorType::F32)?;
    if ta != tb {
        return Err(Error::TypeMismatch(ta.id(), tb.id()));
    }
    if da != db {
        // dims of blobs are ≤ 65536; text hints are commas + 1 and fit u32 for any SQLite text
        return Err(Error::LengthMismatch(da as u32, db as u32));
    }
    if metric == Metric::L2 && ta == VectorType::Bit1 {
        return Err(Error::L2OnBit1);
    }
    let (va, vb) = (parse(&a, VectorType::F32)?, parse(&b, VectorType::F32)?);
    let d = distance(metric, va.view(), vb.view())?;
    Ok(if d.is_nan() { None } else { Some(d) })
}

/// `vector_concat(a, b)` (edgelite, as Turso): the blob of `a` followed by `b`; TEXT is f32.
///
/// # Errors
/// Argument errors of `a` then `b`, then those of [`crate::concat()`].
pub fn vector_concat(a: Arg<'_>, b: Arg<'_>) -> Result<Vec<u8>> {
    let (va, vb) = (parse(&a, VectorType::F32)?, parse(&b, VectorType::F32)?);
    Ok(concat(va.view(), vb.view())?.to_blob())
}

/// `vector_slice(v, start, end)` (edgelite, as Turso): elements `start..end`, 0-based, end
/// exclusive; TEXT is f32.
///
/// # Errors
/// Argument errors, then [`Error::SliceOutOfRange`] unless `0 <= start <= end <= dims`.
pub fn vector_slice(v: Arg<'_>, start: i64, end: i64) -> Result<Vec<u8>> {
    let v = parse(&v, VectorType::F32)?;
    let v = v.view();
    match (u64::try_from(start), u64::try_from(end)) {
        (Ok(s), Ok(e)) => Ok(slice(v, s, e)?.to_blob()),
        _ => Err(Error::SliceOutOfRange { start, end, dims: v.dims() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cos(a: Arg<'_>, b: Arg<'_>) -> Result<Option<f64>> {
        vector_distance(Metric::Cosine, a, b)
    }

    #[test]
    fn value_type_errors() {
        for (arg, name) in [(Arg::Null, "NULL"), (Arg::Integer, "INTEGER"), (Arg::Float, "FLOAT")] {
            let msg = format!("vector: unexpected value type: got {name}, expected TEXT or BLOB");
            assert_eq!(vector_fn(VectorType::F32, arg).unwrap_err().to_string(), msg);
            assert_eq!(vector_extract(arg).unwrap_err().to_string(), msg);
            assert_eq!(cos(arg, Arg::Text(b"[1]")).unwrap_err().to_string(), msg);
            assert_eq!(cos(Arg::Text(b"[1]"), arg).unwrap_err().to_string(), msg);
        }
    }

    #[test]
    fn distance_errors_in_libsql_order() {
        let f64blob = vector_fn(VectorType::F64, Arg::Text(b"[1,2]")).unwrap();
        assert_eq!(
            cos(Arg::Blob(&f64blob), Arg::Text(b"[1,2]")).unwrap_err().to_string(),
            "vector_distance: vectors must have the same type: 2 != 1"
        );
        assert_eq!(
            cos(Arg::Text(b"[1,2]"), Arg::Text(b"[abc]")).unwrap_err().to_string(),
            "vector_distance: vectors must have the same length: 2 != 0"
        );
        assert_eq!(
            cos(Arg::Text(b"[1,a]"), Arg::Text(b"[1,2]")).unwrap_err().to_string(),
            "vector: invalid float at position 1: 'a'"
        );
        let bits = vector_fn(VectorType::Bit1, Arg::Text(b"[1,2]")).unwrap();
        assert_eq!(
            vector_distance(Metric::L2, Arg::Blob(&bits), Arg::Blob(&bits)).unwrap_err().to_string(),
            "vector_distance: l2 distance is not supported for float1bit vectors"
        );
        // the uninitialised-read case of libSQL is an error here
        assert_eq!(
            cos(Arg::Blob(&[0; 6]), Arg::Text(b"[1]")).unwrap_err().to_string(),
            "vector: unexpected data part size: type=1, dims=1, 6 != 4"
        );
        assert_eq!(
            vector_extract(Arg::Blob(&[0; 6])).unwrap_err().to_string(),
            "vector: unexpected data part size: type=1, dims=1, 6 != 4"
        );
        assert_eq!(
            vector_extract(Arg::Blob(&[0, 0, 4])).unwrap_err().to_string(),
            "vector: malformed float8 vector blob: length=2, trailing bytes=0"
        );
    }

    #[test]
    fn distance_values() {
        let f64a = vector_fn(VectorType::F64, Arg::Text(b"[1,2]")).unwrap();
        let f64b = vector_fn(VectorType::F64, Arg::Text(b"[2,1]")).unwrap();
        assert_eq!(cos(Arg::Blob(&f64a), Arg::Blob(&f64b)).unwrap(), Some(0.20000000298023224));
        assert_eq!(cos(Arg::Text(b"[1000]"), Arg::Text(b"[1000]")).unwrap(), Some(-2.047999991816596e-09));
        assert_eq!(cos(Arg::Text(b"[0,0]"), Arg::Text(b"[1,2]")).unwrap(), None);
        assert_eq!(cos(Arg::Text(b"[]"), Arg::Text(b"[]")).unwrap(), None);
        assert_eq!(vector_distance(Metric::L2, Arg::Text(b"[]"), Arg::Text(b"[]")).unwrap(), Some(0.0));
        assert_eq!(vector_distance(Metric::L2, Arg::Text(b"[1,2]"), Arg::Text(b"[4,6]")).unwrap(), Some(5.0));
        let a = vector_fn(VectorType::Bit1, Arg::Text(b"[1,-1,1,1]")).unwrap();
        let b = vector_fn(VectorType::Bit1, Arg::Text(b"[1,1,-1,1]")).unwrap();
        assert_eq!(cos(Arg::Blob(&a), Arg::Blob(&b)).unwrap(), Some(2.0));
        assert_eq!(vector_distance(Metric::Dot, Arg::Blob(&a), Arg::Blob(&b)).unwrap(), Some(0.0));
        let inf = vector_fn(VectorType::F16, Arg::Text(b"[1e5,1]")).unwrap();
        assert_eq!(cos(Arg::Blob(&inf), Arg::Blob(&inf)).unwrap(), None);
    }

    #[test]
    fn concat_slice_functions() {
        let c = vector_concat(Arg::Text(b"[1,2]"), Arg::Text(b"[3]")).unwrap();
        assert_eq!(vector_extract(Arg::Blob(&c)).unwrap(), "[1,2,3]");
        let s = vector_slice(Arg::Blob(&c), 1, 3).unwrap();
        assert_eq!(vector_extract(Arg::Blob(&s)).unwrap(), "[2,3]");
        assert_eq!(
            vector_slice(Arg::Blob(&c), -1, 2).unwrap_err().to_string(),
            "vector_slice: invalid range [-1, 2) for a vector of 3 dimensions"
        );
        assert_eq!(
            vector_concat(Arg::Null, Arg::Text(b"[1]")).unwrap_err().to_string(),
            "vector: unexpected value type: got NULL, expected TEXT or BLOB"
        );
        let f64b = vector_fn(VectorType::F64, Arg::Text(b"[1]")).unwrap();
        assert_eq!(
            vector_concat(Arg::Blob(&f64b), Arg::Text(b"[1]")).unwrap_err().to_string(),
            "vector_concat: vectors must have the same type: 2 != 1"
        );
    }

    #[test]
    fn vector_functions() {
        let hex = |b: Vec<u8>| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
        assert_eq!(hex(vector_fn(VectorType::F32, Arg::Text(b"[1,2,3]")).unwrap()), "0000803F0000004000004040");
        assert_eq!(hex(vector_fn(VectorType::F64, Arg::Text(b"[1]")).unwrap()), "000000000000F03F02");
        // vector64 of text keeps double precision; vector32 of an f64 blob narrows
        let b = vector_fn(VectorType::F64, Arg::Text(b"[0.1]")).unwrap();
        assert_eq!(VectorRef::from_blob(&b).unwrap().to_f64_vec(), [0.1]);
        let n = vector_fn(VectorType::F32, Arg::Blob(&b)).unwrap();
        assert_eq!(VectorRef::from_blob(&n).unwrap().to_f32_vec(), [0.1f32]);
        let b = vector_fn(VectorType::F64, Arg::Text(b"[1e-100, 1e100]")).unwrap();
        let n = vector_fn(VectorType::F32, Arg::Blob(&b)).unwrap();
        assert_eq!(VectorRef::from_blob(&n).unwrap().to_f32_vec(), [0.0, f32::INFINITY]);
        assert_eq!(vector_extract(Arg::Blob(&b)).unwrap(), "[1e-100,1e+100]");
    }
}
