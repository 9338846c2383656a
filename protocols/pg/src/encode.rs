//! Values between the wire and Orbit: result rows in text or binary (per column, as the
//! client's Bind asked), and parameters decoded from text or binary into the described types.

use bytes::{BufMut, BytesMut};
use orbit_exec::types::{DataType, Value};
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::api::Type;
use pgwire::messages::data::DataRow;

use orbit_exec::{Column, Error};

/// The pgwire type of a data type, by OID; the types PostgreSQL does not have built in
/// (pgvector's vector, halfvec and sparsevec, and their arrays) by name and OID.
pub fn wire_type(ty: &DataType) -> Type {
    if let Some(t) = Type::from_oid(ty.oid()) {
        return t;
    }
    let kind = match ty {
        DataType::Array(elem) => postgres_types::Kind::Array(wire_type(elem)),
        _ => postgres_types::Kind::Simple,
    };
    Type::new(ty.typname(), ty.oid(), kind, "pg_catalog".into())
}

/// The data type a client-declared parameter OID means (None: infer it).
pub fn declared_type(t: &Option<Type>) -> DataType {
    match t {
        Some(t) if t.oid() != 0 => DataType::from_oid(t.oid()).unwrap_or(DataType::Unknown),
        _ => DataType::Unknown,
    }
}

/// RowDescription fields for `columns` in `format`.
pub fn fields(columns: &[Column], format: &Format) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            FieldInfo::new(
                c.name.clone(),
                (c.table_oid != 0).then_some(c.table_oid as i32),
                (c.column != 0).then_some(c.column),
                wire_type(&c.ty),
                format.format_for(i),
            )
            .with_type_size(c.ty.typlen())
            .with_type_modifier(c.ty.typmod())
        })
        .collect()
}

/// One DataRow.
pub fn data_row(row: &[Value], fields: &[FieldInfo]) -> DataRow {
    let mut buf = BytesMut::with_capacity(16 * row.len());
    let mut scratch = Vec::new();
    for (i, v) in row.iter().enumerate() {
        if v.is_null() {
            buf.put_i32(-1);
            continue;
        }
        let binary = fields
            .get(i)
            .is_some_and(|f| f.format() == FieldFormat::Binary);
        scratch.clear();
        if binary {
            v.to_binary(&mut scratch);
        } else if let Some(t) = v.to_text() {
            scratch.extend_from_slice(t.as_bytes());
        }
        buf.put_i32(scratch.len() as i32);
        buf.put_slice(&scratch);
    }
    DataRow::new(buf, row.len() as i16)
}

/// Decodes Bind parameters into values of `types`.
pub fn params(
    raw: &[Option<bytes::Bytes>],
    format: &Format,
    types: &[DataType],
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in raw.iter().enumerate() {
        let ty = types.get(i).cloned().unwrap_or(DataType::Text);
        let Some(bytes) = p else {
            out.push(Value::Null);
            continue;
        };
        let v = if format.is_binary(i) {
            Value::from_binary(&ty, bytes)?
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::new("22021", "invalid byte sequence for encoding \"UTF8\""))?;
            if ty == DataType::Unknown || ty == DataType::Text {
                Value::Text(text.to_string())
            } else {
                Value::parse_text(&ty, text)?
            }
        };
        out.push(v);
    }
    Ok(out)
}
