//! SQL types and values with PostgreSQL's semantics: the type list of `DataType`, values
//! (`Value`), their text forms (input and output functions), their binary wire forms (`send`
//! and `recv`), casts, comparison and the operators.
//!
//! Submodules: `datatype` (names, OIDs, parsing sqlparser's types), `text` (text in/out),
//! `binary` (binary wire in/out), `cast` (explicit and assignment casts), `ops` (comparison,
//! arithmetic and the result type of an operator), `compare` (comparison, sort order and value
//! accessors), `numeric`, `datetime`, `json` (jsonb output, order and operators), `key`
//! (order-preserving key encoding), `interval`, `ops_eval` (date/time, `||` and json operator
//! evaluation), `regex` (the `~` operators' matching), `vector` and `vector_ops` (pgvector's
//! vector, halfvec and sparsevec), `bits` (bit strings). Tests: `tests`, `tests_ops`, `proptests`.
//!
//! Invariants: a `Value` of a type has exactly one variant (varchar and char values are
//! `Text`; char(n) values are stored blank-padded to n); `to_text` of `parse_text` of a
//! canonical output round-trips; binary round-trips bit-exactly.

mod binary;
pub mod bits;
mod cast;
mod compare;
mod datatype;
mod datatype_sql;
mod datetime;
mod interval;
mod json;
pub(crate) use json::{parse as parse_json, pretty as jsonb_pretty, sorted_entries};
mod key;
mod numeric;
mod ops;
mod ops_eval;
pub(crate) use ops_eval::temporal;
mod regex;
pub(crate) use self::regex::{compiled as regex_compiled, Flags as RegexFlags};
mod text;
pub mod vector;
pub mod vector_ops;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_ops;

pub use datatype::DataType;
pub(crate) use datetime::{
    civil_from_days, days_from_civil, days_in_month, overflow as datetime_overflow,
};
pub use datetime::{now_micros, Interval};
pub use key::encode_key;
pub use numeric::Numeric;
pub use ops::{result_type, BinaryOp};

/// A value of some SQL type (`Null` for SQL NULL of any type).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Numeric(Numeric),
    /// text, varchar(n), char(n) (blank-padded), and untyped string literals.
    Text(String),
    Bytea(Vec<u8>),
    /// Days since 2000-01-01 (PostgreSQL's epoch).
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// Microseconds since 2000-01-01 00:00:00 (no time zone).
    Timestamp(i64),
    /// Microseconds since 2000-01-01 00:00:00 UTC.
    Timestamptz(i64),
    Interval(Interval),
    Uuid([u8; 16]),
    /// oid (catalog identifiers).
    Oid(u32),
    /// json keeps the input text exactly.
    Json(String),
    /// jsonb is normalized (serde_json's value, keys sorted as jsonb sorts them on output).
    Jsonb(serde_json::Value),
    /// An array of one element type; one dimension, lower bound 1.
    Array(Box<DataType>, Vec<Value>),
    /// A regclass / regtype / regnamespace / regrole value that knows the name it prints as
    /// (made where the catalog was at hand); it compares, sorts and travels in binary as its
    /// oid. Without a name such values are plain `Oid`s and print as numbers.
    Reg(Box<RegValue>),
    /// A row value (`ROW(a, b)`, a composite set-returning function's row): its fields, named
    /// by its type (`DataType::Record`).
    Record(Vec<Value>),
    /// pgvector's `vector`.
    Vector(Vec<f32>),
    /// pgvector's `halfvec`: each element exactly an f16 value.
    HalfVec(Vec<f32>),
    /// pgvector's `sparsevec`.
    SparseVec(Box<vector::SparseVec>),
    /// `bit(n)` / `bit varying(n)`.
    Bit(bits::Bits),
}

/// The oid and output name of a reg* value (see [`Value::Reg`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RegValue {
    pub ty: DataType,
    pub oid: u32,
    pub name: String,
}

impl Value {
    /// A reg* value of type `ty` printing as `name`.
    pub fn reg(ty: DataType, oid: u32, name: String) -> Value {
        Value::Reg(Box::new(RegValue { ty, oid, name }))
    }
}
