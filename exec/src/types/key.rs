//! Order-preserving (memcomparable) key encoding for primary keys and btree indexes: for two
//! values of one type, the bytes compare as `Value::sort_cmp` orders the values, and keys of
//! several columns concatenate without losing the order.
//!
//! Layout: a tag byte (0x01 non-null, 0x02 NULL: NULL sorts last), then the payload:
//! integers (all widths, and oid) as i64 big-endian with the sign bit flipped; floats as f64
//! with the IEEE trick (-0 → 0, one NaN above +Infinity); numeric as a class byte (-inf, neg,
//! zero, pos, +inf, NaN), a sign-adjusted decimal exponent and the significant digits (all
//! inverted for negatives); strings, bytea and json with 0x00 escaped as 0x00 0xFF and a
//! 0x00 0x01 terminator; bool 0/1; date/timestamps as i64 microseconds and time as i64
//! (sign flipped); interval by its 30-day-month total (i128); uuid raw; jsonb by its btree
//! order; arrays as the element keys followed by a 0x00 terminator.
//!
//! char(n) values are compared with their padding, as they are stored (all values of a
//! char(n) column have the same length, so the order only differs from PostgreSQL's for
//! characters below the space).

use super::numeric::Numeric;
use super::Value;
use bigdecimal::num_traits::Signed;

/// Appends the order-preserving key of `value`.
pub fn encode_key(value: &Value, out: &mut Vec<u8>) {
    if value.is_null() {
        out.push(0x02);
        return;
    }
    out.push(0x01);
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Int2(v) => put_i64(i64::from(*v), out),
        Value::Int4(v) => put_i64(i64::from(*v), out),
        Value::Int8(v) => put_i64(*v, out),
        Value::Oid(v) => put_i64(i64::from(*v), out),
        Value::Reg(r) => put_i64(i64::from(r.oid), out),
        Value::Float4(v) => put_f64(f64::from(*v), out),
        Value::Float8(v) => put_f64(*v, out),
        Value::Numeric(n) => put_numeric(n, out),
        Value::Text(s) | Value::Json(s) => put_bytes(s.as_bytes(), out),
        Value::Bytea(b) => put_bytes(b, out),
        Value::Date(d) => put_i64(super::datetime::date_to_timestamp(*d), out),
        Value::Timestamp(t) | Value::Timestamptz(t) | Value::Time(t) => put_i64(*t, out),
        Value::Interval(iv) => {
            let k = iv.cmp_key() as u128 ^ (1u128 << 127);
            out.extend_from_slice(&k.to_be_bytes());
        }
        Value::Uuid(u) => out.extend_from_slice(u),
        Value::Jsonb(j) => put_jsonb(j, out),
        Value::Vector(v) | Value::HalfVec(v) => {
            for x in v {
                out.push(0x01);
                put_f64(f64::from(*x), out);
            }
            out.push(0x00);
        }
        Value::SparseVec(v) => put_sparse(v, out),
        Value::Bit(b) => {
            put_bytes(&b.bytes, out);
            out.extend_from_slice(&b.len.to_be_bytes());
        }
        Value::Array(_, items) | Value::Record(items) => {
            for it in items {
                encode_key(it, out);
            }
            out.push(0x00);
        }
    }
}

/// A sparsevec ordered as its dense form is (element by element, then by dimension): each
/// non-zero entry is a class byte (negative 0x01, positive 0x03), its index (ascending for
/// negative values, inverted for positive ones: an earlier positive entry makes the vector
/// larger, an earlier negative one smaller), and its value; the entries end with 0x02, which
/// sorts between the classes (running out of entries is a zero against the other's value);
/// then the dimension.
fn put_sparse(v: &super::vector::SparseVec, out: &mut Vec<u8>) {
    for (i, x) in v.indices.iter().zip(&v.values) {
        if *x < 0.0 {
            out.push(0x01);
            out.extend_from_slice(&i.to_be_bytes());
        } else {
            out.push(0x03);
            out.extend_from_slice(&(!i).to_be_bytes());
        }
        put_f64(f64::from(*x), out);
    }
    out.push(0x02);
    out.extend_from_slice(&v.dim.to_be_bytes());
}

fn put_i64(v: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
}

fn put_f64(v: f64, out: &mut Vec<u8>) {
    let v = if v == 0.0 {
        0.0
    } else if v.is_nan() {
        f64::NAN
    } else {
        v
    };
    let bits = v.to_bits();
    let k = if v.is_nan() {
        u64::MAX
    } else if bits >> 63 == 0 {
        bits ^ (1 << 63)
    } else {
        !bits
    };
    out.extend_from_slice(&k.to_be_bytes());
}

fn put_bytes(b: &[u8], out: &mut Vec<u8>) {
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn put_numeric(n: &Numeric, out: &mut Vec<u8>) {
    if n.is_nan() {
        out.push(0x06);
        return;
    }
    match n.infinity_sign() {
        1 => return out.push(0x05),
        -1 => return out.push(0x01),
        _ => {}
    }
    let Some((m, scale)) = n.parts() else {
        return out.push(0x06);
    };
    if n.signum() == 0 {
        return out.push(0x03);
    }
    let neg = m.is_negative();
    let digits = m.abs().to_string();
    let digits = digits.trim_end_matches('0');
    // value = 0.d1d2... * 10^exp
    let exp = m.abs().to_string().len() as i64 - scale;
    let mut payload = Vec::with_capacity(digits.len() + 9);
    payload.extend_from_slice(&((exp as u64) ^ (1 << 63)).to_be_bytes());
    payload.extend(digits.bytes());
    payload.push(0x00);
    if neg {
        out.push(0x02);
        out.extend(payload.iter().map(|b| !b));
    } else {
        out.push(0x04);
        out.extend(payload);
    }
}

fn put_jsonb(j: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value as J;
    out.push(super::json::rank(j));
    match j {
        J::Null => {}
        J::Bool(b) => out.push(u8::from(*b)),
        J::Number(n) => match n.as_i64() {
            Some(i) => put_numeric(&Numeric::from_i64(i), out),
            None => put_numeric(
                &Numeric::parse(&super::json::to_text(j)).unwrap_or_else(Numeric::nan),
                out,
            ),
        },
        J::String(s) => put_bytes(s.as_bytes(), out),
        J::Array(a) => {
            out.extend_from_slice(&(a.len() as u32).to_be_bytes());
            for x in a {
                put_jsonb(x, out);
            }
        }
        J::Object(m) => {
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            for (k, v) in super::json::sorted_entries(m) {
                out.extend_from_slice(&(k.len() as u32).to_be_bytes());
                put_bytes(k.as_bytes(), out);
                put_jsonb(v, out);
            }
        }
    }
}
