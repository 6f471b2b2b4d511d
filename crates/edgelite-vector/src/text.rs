//! The text form: libSQL's parser (docs/libsql-vector.md §1.3) and `vector_extract`'s formatter (SQLite `%g`).

use std::fmt::Write as _;

use crate::MAX_DIMS;
use crate::error::{Error, Result};
use crate::types::{VectorType, is_space};
use crate::vector::{F8Params, Vector, VectorRef};

/// Longest element, in non-space characters. (libSQL's check is off by one and accepts 1025;
/// edgelite follows the documented limit and its message, which quotes the first 1024.)
pub const MAX_ELEMENT_CHARS: usize = 1024;

/// Parses `[a, b, ...]` with libSQL's grammar (docs/libsql-vector.md §1.3) into a vector of type `ty`.
///
/// Elements are parsed as f64 and stored as f64 when `ty` is [`VectorType::F64`]; otherwise they
/// are narrowed to f32 (overflow gives ±Inf) and then converted to `ty` (see
/// [`VectorRef::convert`]), which is what `vector16()`, `vector8()` etc. do. Whitespace is ignored
/// everywhere, even inside a number (`[1 2]` is `[12]`); the text ends at the first NUL byte.
///
/// ```
/// use edgelite_vector::{parse_text, VectorType};
/// let v = parse_text(b" [1, 2.5e1 ,-.5]", VectorType::F32).unwrap();
/// assert_eq!(v.to_f32_vec(), [1.0, 25.0, -0.5]);
/// let e = parse_text(b"[1,abc]", VectorType::F32).unwrap_err();
/// assert_eq!(e.to_string(), "vector: invalid float at position 1: 'abc'");
/// ```
///
/// # Errors
/// The text errors of docs/libsql-vector.md §1.3, e.g. [`Error::MissingOpenBracket`], [`Error::InvalidFloat`].
pub fn parse_text(text: &[u8], ty: VectorType) -> Result<Vector> {
    let text = match text.iter().position(|&c| c == 0) {
        Some(nul) => &text[..nul],
        None => text,
    };
    let mut i = 0;
    while i < text.len() && is_space(text[i]) {
        i += 1;
    }
    if text.get(i) != Some(&b'[') {
        return Err(Error::MissingOpenBracket);
    }
    i += 1;
    let mut values: Vec<f64> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(32);
    let mut closed = false;
    while i < text.len() {
        let c = text[i];
        i += 1;
        if is_space(c) {
            continue;
        }
        if c != b',' && c != b']' {
            if buf.len() >= MAX_ELEMENT_CHARS {
                return Err(Error::ElementTooLong(String::from_utf8_lossy(&buf).into_owned()));
            }
            buf.push(c);
            continue;
        }
        if c == b']' && values.is_empty() && buf.is_empty() {
            closed = true;
            break;
        }
        let Some(x) = parse_sqlite_float(&buf) else {
            return Err(Error::InvalidFloat {
                position: values.len(),
                text: String::from_utf8_lossy(&buf).into_owned(),
            });
        };
        if values.len() >= MAX_DIMS as usize {
            return Err(Error::TextTooLong);
        }
        values.push(x);
        buf.clear();
        if c == b']' {
            closed = true;
            break;
        }
    }
    if !closed {
        return Err(Error::MissingCloseBracket);
    }
    if text[i..].iter().any(|&c| !is_space(c)) {
        return Err(Error::TrailingCharacters);
    }
    Ok(match ty {
        VectorType::F64 => Vector::from_parts(
            VectorType::F64,
            values.len() as u32,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            F8Params::default(),
        ),
        _ => {
            let v = Vector::from_parts(
                VectorType::F32,
                values.len() as u32,
                values.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
                F8Params::default(),
            );
            if ty == VectorType::F32 { v } else { v.convert(ty) }
        }
    })
}

/// The dimension libSQL attributes to a TEXT argument *before* parsing it: the number of commas,
/// plus one if the text contains any ASCII digit. Distance functions compare these counts (and
/// report a length mismatch) before they parse, so the SQL layer needs this to order its errors
/// like libSQL.
pub fn text_dims_hint(text: &[u8]) -> u64 {
    let commas = text.iter().filter(|&&c| c == b',').count() as u64;
    commas + u64::from(text.iter().any(u8::is_ascii_digit))
}

/// Parses one element with `sqlite3AtoF`'s grammar: optional sign, digits, optional `.` and
/// digits (at least one digit in total), optional `e`/`E`, sign and at least one digit. No hex,
/// `inf` or `nan`. Out-of-range magnitudes give ±Inf, tiny ones ±0. The value is correctly
/// rounded (SQLite's own conversion may differ in the last bit for inputs of more than 15-17
/// significant digits).
pub fn parse_sqlite_float(s: &[u8]) -> Option<f64> {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa_digits = digits(&mut i);
    if s.get(i) == Some(&b'.') {
        i += 1;
        mantissa_digits += digits(&mut i);
    }
    if mantissa_digits == 0 {
        return None;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != s.len() {
        return None;
    }
    // the grammar above is a subset of what Rust's parser accepts; the text is ASCII
    std::str::from_utf8(s).ok()?.parse::<f64>().ok()
}

/// Appends `x` formatted like SQLite's `printf("%g")` (6 significant digits, round half up on
/// the decimal expansion, trailing zeros removed, exponent form below 1e-4 and from 1e6 on with
/// at least two exponent digits; `Inf`, `-Inf`, `NaN`; `-0` prints as `0`).
///
/// ```
/// let g = |x| { let mut s = String::new(); edgelite_vector::format_g(x, &mut s); s };
/// assert_eq!(g(100000.0), "100000");
/// assert_eq!(g(1e6), "1e+06");
/// assert_eq!(g(1.5e-7), "1.5e-07");
/// assert_eq!(g(0.1f32 as f64), "0.1");
/// ```
pub fn format_g(x: f64, out: &mut String) {
    const PRECISION: usize = 6;
    if x.is_nan() {
        out.push_str("NaN");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x < 0.0 { "-Inf" } else { "Inf" });
        return;
    }
    if x == 0.0 {
        out.push('0');
        return;
    }
    if x < 0.0 {
        out.push('-');
    }
    // 17 significant digits (correctly rounded), then SQLite's half-up rounding to 6
    let sci = format!("{:.16e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mut exp: i32 = exp.parse().unwrap_or(0);
    let all: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut digits: Vec<u8> = all[..PRECISION].to_vec();
    if all[PRECISION] >= b'5' {
        let mut k = PRECISION;
        loop {
            if k == 0 {
                // 999999.5 -> 1000000: one more digit before the point
                digits.insert(0, b'1');
                digits.truncate(PRECISION);
                exp += 1;
                break;
            }
            k -= 1;
            if digits[k] == b'9' {
                digits[k] = b'0';
            } else {
                digits[k] += 1;
                break;
            }
        }
    }
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let digits = std::str::from_utf8(&digits).unwrap_or("0");
    if exp < -4 || exp > PRECISION as i32 - 1 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

impl VectorRef<'_> {
    /// The text `vector_extract` returns: `[a,b,...]`, f32 and f64 elements printed directly with
    /// [`format_g`], every other type converted to f32 first (float1bit prints ±1, f8 its
    /// dequantised values).
    ///
    /// ```
    /// use edgelite_vector::{parse_text, VectorType};
    /// let v = parse_text(b"[1e20, 0.000001, -3]", VectorType::F32).unwrap();
    /// assert_eq!(v.as_ref().to_text(), "[1e+20,1e-06,-3]");
    /// ```
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(2 + 12 * self.dims as usize);
        out.push('[');
        for i in 0..self.dims as usize {
            if i > 0 {
                out.push(',');
            }
            format_g(self.get_f64(i), &mut out);
        }
        out.push(']');
        out
    }
}

impl Vector {
    /// Parses f32 text; shorthand for `parse_text(text.as_bytes(), VectorType::F32)`.
    ///
    /// # Errors
    /// As [`parse_text`].
    pub fn parse(text: &str) -> Result<Vector> {
        parse_text(text.as_bytes(), VectorType::F32)
    }

    /// See [`VectorRef::to_text`].
    pub fn to_text(&self) -> String {
        self.as_ref().to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(x: f64) -> String {
        let mut s = String::new();
        format_g(x, &mut s);
        s
    }

    fn err(text: &str) -> String {
        parse_text(text.as_bytes(), VectorType::F32).unwrap_err().to_string()
    }

    fn f32s(text: &str) -> Vec<f32> {
        parse_text(text.as_bytes(), VectorType::F32).unwrap().to_f32_vec()
    }

    #[test]
    fn percent_g() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.0, "-1"),
            (0.0, "0"),
            (-0.0, "0"),
            (1e20, "1e+20"),
            (1.5e-7, "1.5e-07"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (999999.0, "999999"),
            (999999.5, "1e+06"),
            (9999995.0, "1e+07"),
            (123456.7, "123457"),
            (1234565.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000123456789, "0.000123457"),
            (std::f64::consts::PI, "3.14159"),
            (2.5182818, "2.51828"),
            (2.5, "2.5"),
            (1e100, "1e+100"),
            (1.25e-300, "1.25e-300"),
            (f64::INFINITY, "Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.1f32 as f64, "0.1"),
            (0.3f32 as f64, "0.3"),
            (1.1f32 as f64, "1.1"),
            (16777216.0, "1.67772e+07"),
            (f32::MAX as f64, "3.40282e+38"),
            (f32::MIN_POSITIVE as f64, "1.17549e-38"),
            (5e-324, "4.94066e-324"),
            (12.5, "12.5"),
            (0.5, "0.5"),
            (99999.95, "99999.9"),
            (99999.96, "100000"),
        ];
        for (x, want) in cases {
            assert_eq!(&g(*x), want, "{x:e}");
        }
    }

    #[test]
    fn grammar_accepts() {
        assert_eq!(f32s("[]"), Vec::<f32>::new());
        assert_eq!(f32s("  [ ]  "), Vec::<f32>::new());
        assert_eq!(f32s("[1,2,3]"), [1.0, 2.0, 3.0]);
        assert_eq!(f32s("[1 2, 3]"), [12.0, 3.0]);
        assert_eq!(f32s("\t\n[\x0b1\x0c,\r2]\n"), [1.0, 2.0]);
        assert_eq!(f32s("[+1,-1,.5,5.,1e2,1E-2,1.e1,-.5e+1,007]"), [1.0, -1.0, 0.5, 5.0, 100.0, 0.01, 10.0, -5.0, 7.0]);
        assert_eq!(f32s("[1e39,-1e39,1e-50]"), [f32::INFINITY, f32::NEG_INFINITY, 0.0]);
        assert_eq!(f32s("[1e99999999999999999999]"), [f32::INFINITY]);
        assert_eq!(f32s("[1]\0garbage"), [1.0]);
        let v = parse_text(b"[0.1, 1e300]", VectorType::F64).unwrap();
        assert_eq!(v.to_f64_vec(), [0.1, 1e300]);
        assert_eq!(v.vector_type(), VectorType::F64);
        let v = parse_text(b"[1e400]", VectorType::F64).unwrap();
        assert_eq!(v.to_f64_vec(), [f64::INFINITY]);
    }

    #[test]
    fn grammar_errors() {
        let cases: &[(&str, &str)] = &[
            ("", "vector: must start with '['"),
            ("1,2]", "vector: must start with '['"),
            ("  (1]", "vector: must start with '['"),
            ("[1,2", "vector: must end with ']'"),
            ("[", "vector: must end with ']'"),
            ("[1]x", "vector: non-space symbols after closing ']' are forbidden"),
            ("[1] ]", "vector: non-space symbols after closing ']' are forbidden"),
            ("[abc]", "vector: invalid float at position 0: 'abc'"),
            ("[1,,2]", "vector: invalid float at position 1: ''"),
            ("[1,]", "vector: invalid float at position 1: ''"),
            ("[,]", "vector: invalid float at position 0: ''"),
            ("[[1]", "vector: invalid float at position 0: '[1'"),
            ("[0x10]", "vector: invalid float at position 0: '0x10'"),
            ("[inf]", "vector: invalid float at position 0: 'inf'"),
            ("[nan]", "vector: invalid float at position 0: 'nan'"),
            ("[1e]", "vector: invalid float at position 0: '1e'"),
            ("[1e+]", "vector: invalid float at position 0: '1e+'"),
            ("[.]", "vector: invalid float at position 0: '.'"),
            ("[-]", "vector: invalid float at position 0: '-'"),
            ("[1, 2, 3 x]", "vector: invalid float at position 2: '3x'"),
            ("[1.5.5]", "vector: invalid float at position 0: '1.5.5'"),
            ("[++1]", "vector: invalid float at position 0: '++1'"),
            ("[1e5.5]", "vector: invalid float at position 0: '1e5.5'"),
        ];
        for (text, msg) in cases {
            assert_eq!(&err(text), msg, "{text:?}");
        }
    }

    #[test]
    fn element_length_limit() {
        let ok = format!("[{}]", "1".repeat(1024));
        assert_eq!(f32s(&ok).len(), 1);
        let long = "2".repeat(1030);
        assert_eq!(
            err(&format!("[{long}]")),
            format!("vector: float string length exceeded 1024 characters: '{}'", &long[..1024])
        );
        // whitespace does not count
        let spaced = format!("[{}]", "1 ".repeat(1024));
        assert_eq!(f32s(&spaced).len(), 1);
    }

    #[test]
    fn element_count_limit() {
        let max = format!("[{}]", vec!["1"; 65536].join(","));
        assert_eq!(f32s(&max).len(), 65536);
        let over = format!("[{}]", vec!["1"; 65537].join(","));
        assert_eq!(err(&over), "vector: max size exceeded 65536");
    }

    #[test]
    fn dims_hint() {
        assert_eq!(text_dims_hint(b"[1,2,3]"), 3);
        assert_eq!(text_dims_hint(b"[]"), 0);
        assert_eq!(text_dims_hint(b"[a,b]"), 1);
        assert_eq!(text_dims_hint(b"[1 2]"), 1);
    }

    #[test]
    fn extract_text() {
        let t = |s: &str, ty| parse_text(s.as_bytes(), ty).unwrap().to_text();
        assert_eq!(t("[1,2,3]", VectorType::F32), "[1,2,3]");
        assert_eq!(t("[]", VectorType::F32), "[]");
        assert_eq!(t("[0.1,1e20]", VectorType::F64), "[0.1,1e+20]");
        assert_eq!(t("[1.123456789]", VectorType::F64), "[1.12346]");
        assert_eq!(t("[1,-1,0,2]", VectorType::Bit1), "[1,-1,-1,1]");
        assert_eq!(t("[0,1,2,3]", VectorType::F8), "[0,1,2,3]");
        assert_eq!(t("[5,5,5]", VectorType::F8), "[5,5,5]");
        assert_eq!(t("[1,2]", VectorType::F16), "[1,2]");
        assert_eq!(t("[0.1]", VectorType::F16), "[0.0999756]");
        assert_eq!(t("[0.1]", VectorType::Bf16), "[0.0996094]");
        assert_eq!(t("[1e5]", VectorType::F16), "[Inf]");
        assert_eq!(t("[1e39]", VectorType::F32), "[Inf]");
        assert_eq!(t("[-1e39]", VectorType::F32), "[-Inf]");
    }
}
