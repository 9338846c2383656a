//! The SQL types: names as PostgreSQL prints them, type OIDs, and parsing sqlparser's types.

use serde::{Deserialize, Serialize};

/// A column or expression type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// numeric(precision, scale); `None` for unconstrained numeric.
    Numeric(Option<(u32, u32)>),
    Text,
    /// varchar(n) / character varying(n); `None` for no limit.
    Varchar(Option<u32>),
    /// char(n) / character(n) (bpchar); `None` means bpchar without a length.
    Char(Option<u32>),
    /// `name` (catalog identifiers, 63 bytes max); values are `Value::Text`.
    Name,
    /// `"char"` (the one-byte catalog type, e.g. pg_class.relkind); values are `Value::Text`.
    InternalChar,
    Oid,
    /// `regproc`: a function, by name (values are `Value::Text`; Orbit has no function oids).
    RegProc,
    /// `regclass`, `regtype`, `regnamespace`, `regrole`: an oid that prints (when cast to text
    /// with the catalog at hand) as the object's name. Values are `Value::Oid`.
    RegClass,
    RegType,
    RegNamespace,
    RegRole,
    /// `int2vector` / `oidvector` (pg_index.indkey, pg_proc.proargtypes): values are
    /// `Value::Text` in their output form, space-separated numbers ("1 2").
    Int2Vector,
    OidVector,
    Bytea,
    Date,
    /// time(p) / timestamp(p) / timestamptz(p): `Some(p)` rounds values stored or cast to p
    /// fractional-second digits (0-6); `None` keeps microseconds.
    Time(Option<u8>),
    Timestamp(Option<u8>),
    Timestamptz(Option<u8>),
    Interval,
    Uuid,
    Json,
    Jsonb,
    /// Array of the element type.
    Array(Box<DataType>),
    /// An anonymous row type (`record`): its fields' names and types.
    Record(Vec<(String, DataType)>),
    /// pgvector's `vector(n)`, `halfvec(n)`, `sparsevec(n)`: `Some(n)` fixes the dimension.
    Vector(Option<u32>),
    HalfVec(Option<u32>),
    SparseVec(Option<u32>),
    /// `bit(n)` (exactly n bits; `bit` alone is bit(1) in a column, any length in a cast) and
    /// `bit varying(n)` (at most n).
    Bit(Option<u32>),
    VarBit(Option<u32>),
    /// The type of an untyped literal or parameter not yet resolved (PostgreSQL's `unknown`).
    Unknown,
    /// `void`: what pg_sleep returns. Its one value is `Value::Text("")`, an empty string on
    /// the wire in both formats, as PostgreSQL sends it.
    Void,
}

impl DataType {
    /// The PostgreSQL type OID (arrays: the array type's OID).
    pub fn oid(&self) -> u32 {
        match self {
            DataType::Bool => 16,
            DataType::Bytea => 17,
            DataType::InternalChar => 18,
            DataType::Name => 19,
            DataType::Int8 => 20,
            DataType::Int2 => 21,
            DataType::Int4 => 23,
            DataType::Text => 25,
            DataType::Oid => 26,
            DataType::RegProc => 24,
            DataType::RegClass => 2205,
            DataType::RegType => 2206,
            DataType::RegNamespace => 4089,
            DataType::RegRole => 4096,
            DataType::Int2Vector => 22,
            DataType::OidVector => 30,
            DataType::Json => 114,
            DataType::Float4 => 700,
            DataType::Float8 => 701,
            DataType::Unknown => 705,
            DataType::Void => 2278,
            DataType::Char(_) => 1042,
            DataType::Varchar(_) => 1043,
            DataType::Date => 1082,
            DataType::Time(_) => 1083,
            DataType::Timestamp(_) => 1114,
            DataType::Timestamptz(_) => 1184,
            DataType::Interval => 1186,
            DataType::Numeric(_) => 1700,
            DataType::Uuid => 2950,
            DataType::Jsonb => 3802,
            DataType::Record(_) => 2249,
            DataType::Vector(_) => VECTOR_OID,
            DataType::HalfVec(_) => HALFVEC_OID,
            DataType::SparseVec(_) => SPARSEVEC_OID,
            DataType::Bit(_) => 1560,
            DataType::VarBit(_) => 1562,
            DataType::Array(elem) => match elem.as_ref() {
                DataType::Record(_) => 2287,
                DataType::Bool => 1000,
                DataType::Bytea => 1001,
                DataType::InternalChar => 1002,
                DataType::Name => 1003,
                DataType::Int2 => 1005,
                DataType::Int4 => 1007,
                DataType::Text => 1009,
                DataType::Char(_) => 1014,
                DataType::Varchar(_) => 1015,
                DataType::Int8 => 1016,
                DataType::Float4 => 1021,
                DataType::Float8 => 1022,
                DataType::Oid => 1028,
                DataType::RegProc => 1008,
                DataType::RegClass => 2210,
                DataType::RegType => 2211,
                DataType::RegNamespace => 4090,
                DataType::RegRole => 4097,
                DataType::Int2Vector => 1006,
                DataType::OidVector => 1013,
                DataType::Timestamp(_) => 1115,
                DataType::Date => 1182,
                DataType::Time(_) => 1183,
                DataType::Timestamptz(_) => 1185,
                DataType::Interval => 1187,
                DataType::Numeric(_) => 1231,
                DataType::Uuid => 2951,
                DataType::Json => 199,
                DataType::Jsonb => 3807,
                DataType::Vector(_) => VECTOR_OID + 1,
                DataType::HalfVec(_) => HALFVEC_OID + 1,
                DataType::SparseVec(_) => SPARSEVEC_OID + 1,
                DataType::Bit(_) => 1561,
                DataType::VarBit(_) => 1563,
                // No array-of-array or array-of-unknown types exist: text[] is the fallback.
                DataType::Array(_) | DataType::Unknown | DataType::Void => 1009,
            },
        }
    }

    /// The type with OID `oid`, unconstrained (no length, precision or scale).
    pub fn from_oid(oid: u32) -> Option<DataType> {
        let scalar = |o: u32| -> Option<DataType> {
            Some(match o {
                16 => DataType::Bool,
                17 => DataType::Bytea,
                18 => DataType::InternalChar,
                19 => DataType::Name,
                20 => DataType::Int8,
                21 => DataType::Int2,
                23 => DataType::Int4,
                25 => DataType::Text,
                26 => DataType::Oid,
                24 => DataType::RegProc,
                2205 => DataType::RegClass,
                2206 => DataType::RegType,
                4089 => DataType::RegNamespace,
                4096 => DataType::RegRole,
                22 => DataType::Int2Vector,
                30 => DataType::OidVector,
                114 => DataType::Json,
                700 => DataType::Float4,
                701 => DataType::Float8,
                705 => DataType::Unknown,
                2278 => DataType::Void,
                1042 => DataType::Char(None),
                1043 => DataType::Varchar(None),
                1082 => DataType::Date,
                1083 => DataType::Time(None),
                1114 => DataType::Timestamp(None),
                1184 => DataType::Timestamptz(None),
                1186 => DataType::Interval,
                1700 => DataType::Numeric(None),
                2950 => DataType::Uuid,
                3802 => DataType::Jsonb,
                VECTOR_OID => DataType::Vector(None),
                HALFVEC_OID => DataType::HalfVec(None),
                SPARSEVEC_OID => DataType::SparseVec(None),
                1560 => DataType::Bit(None),
                1562 => DataType::VarBit(None),
                _ => return None,
            })
        };
        if let Some(t) = scalar(oid) {
            return Some(t);
        }
        let elem = match oid {
            1000 => 16,
            1001 => 17,
            1002 => 18,
            1003 => 19,
            1005 => 21,
            1007 => 23,
            1009 => 25,
            1014 => 1042,
            1015 => 1043,
            1016 => 20,
            1021 => 700,
            1022 => 701,
            1028 => 26,
            1008 => 24,
            2210 => 2205,
            2211 => 2206,
            4090 => 4089,
            4097 => 4096,
            1006 => 22,
            1013 => 30,
            1115 => 1114,
            1182 => 1082,
            1183 => 1083,
            1185 => 1184,
            1187 => 1186,
            1231 => 1700,
            2951 => 2950,
            199 => 114,
            3807 => 3802,
            1561 => 1560,
            1563 => 1562,
            o if o == VECTOR_OID + 1 || o == HALFVEC_OID + 1 || o == SPARSEVEC_OID + 1 => o - 1,
            _ => return None,
        };
        scalar(elem).map(|e| DataType::Array(Box::new(e)))
    }

    /// pg_type.typname: "int4", "varchar", "bpchar", "_int4", ...
    pub fn typname(&self) -> String {
        let s = match self {
            DataType::Bool => "bool",
            DataType::Int2 => "int2",
            DataType::Int4 => "int4",
            DataType::Int8 => "int8",
            DataType::Float4 => "float4",
            DataType::Float8 => "float8",
            DataType::Numeric(_) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(_) => "varchar",
            DataType::Char(_) => "bpchar",
            DataType::Name => "name",
            DataType::InternalChar => "char",
            DataType::Oid => "oid",
            DataType::RegProc => "regproc",
            DataType::RegClass => "regclass",
            DataType::RegType => "regtype",
            DataType::RegNamespace => "regnamespace",
            DataType::RegRole => "regrole",
            DataType::Int2Vector => "int2vector",
            DataType::OidVector => "oidvector",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Time(_) => "time",
            DataType::Timestamp(_) => "timestamp",
            DataType::Timestamptz(_) => "timestamptz",
            DataType::Interval => "interval",
            DataType::Uuid => "uuid",
            DataType::Json => "json",
            DataType::Jsonb => "jsonb",
            DataType::Unknown => "unknown",
            DataType::Void => "void",
            DataType::Array(elem) => return format!("_{}", elem.typname()),
            DataType::Record(_) => "record",
            DataType::Vector(_) => "vector",
            DataType::HalfVec(_) => "halfvec",
            DataType::SparseVec(_) => "sparsevec",
            DataType::Bit(_) => "bit",
            DataType::VarBit(_) => "varbit",
        };
        s.to_string()
    }

    /// What `format_type()` and psql's `\d` print: "integer", "character varying(20)", ...
    pub fn display(&self) -> String {
        let s = match self {
            DataType::Bool => "boolean",
            DataType::Int2 => "smallint",
            DataType::Int4 => "integer",
            DataType::Int8 => "bigint",
            DataType::Float4 => "real",
            DataType::Float8 => "double precision",
            DataType::Numeric(Some((p, s))) => return format!("numeric({p},{s})"),
            DataType::Numeric(None) => "numeric",
            DataType::Text => "text",
            DataType::Varchar(Some(n)) => return format!("character varying({n})"),
            DataType::Varchar(None) => "character varying",
            DataType::Char(Some(n)) => return format!("character({n})"),
            DataType::Char(None) => "bpchar",
            DataType::Name => "name",
            DataType::InternalChar => "\"char\"",
            DataType::Oid => "oid",
            DataType::RegProc => "regproc",
            DataType::RegClass => "regclass",
            DataType::RegType => "regtype",
            DataType::RegNamespace => "regnamespace",
            DataType::RegRole => "regrole",
            DataType::Int2Vector => "int2vector",
            DataType::OidVector => "oidvector",
            DataType::Bytea => "bytea",
            DataType::Date => "date",
            DataType::Time(p) => return with_precision("time", *p, "without"),
            DataType::Timestamp(p) => return with_precision("timestamp", *p, "without"),
            DataType::Timestamptz(p) => return with_precision("timestamp", *p, "with"),
            DataType::Interval => "interval",
            DataType::Uuid => "uuid",
            DataType::Json => "json",
            DataType::Jsonb => "jsonb",
            DataType::Unknown => "unknown",
            DataType::Void => "void",
            DataType::Array(elem) => return format!("{}[]", elem.display()),
            DataType::Record(_) => "record",
            DataType::Vector(n) => return with_dims("vector", *n),
            DataType::HalfVec(n) => return with_dims("halfvec", *n),
            DataType::SparseVec(n) => return with_dims("sparsevec", *n),
            DataType::Bit(n) => return with_dims("bit", *n),
            DataType::VarBit(n) => return with_dims("bit varying", *n),
        };
        s.to_string()
    }

    /// `atttypmod` (and RowDescription's type modifier): varchar(n) and char(n) n + 4,
    /// numeric(p,s) ((p << 16) | s) + 4, time(p) and timestamp(p) p, arrays their element's,
    /// else -1.
    pub fn typmod(&self) -> i32 {
        match self {
            DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => (*n as i32).saturating_add(4),
            DataType::Numeric(Some((p, s))) => (((*p as i32) << 16) | *s as i32) + 4,
            DataType::Time(Some(p))
            | DataType::Timestamp(Some(p))
            | DataType::Timestamptz(Some(p)) => i32::from(*p),
            DataType::Array(e) => e.typmod(),
            DataType::Vector(Some(n))
            | DataType::HalfVec(Some(n))
            | DataType::SparseVec(Some(n))
            | DataType::Bit(Some(n))
            | DataType::VarBit(Some(n)) => i32::try_from(*n).unwrap_or(-1),
            _ => -1,
        }
    }

    /// This type with the modifier `typmod` (as [`DataType::typmod`] gives it; negative: no
    /// modifier, so `varchar(20)` becomes `varchar`).
    pub fn with_typmod(self, typmod: i32) -> DataType {
        let p = u8::try_from(typmod).ok().map(|p| p.min(6));
        let len = (typmod >= 4).then(|| (typmod - 4) as u32);
        let dims = u32::try_from(typmod).ok();
        match self {
            DataType::Varchar(_) => DataType::Varchar(len),
            DataType::Char(_) => DataType::Char(len),
            DataType::Numeric(_) => DataType::Numeric(len.map(|v| (v >> 16 & 0xffff, v & 0xffff))),
            DataType::Time(_) => DataType::Time(p),
            DataType::Timestamp(_) => DataType::Timestamp(p),
            DataType::Timestamptz(_) => DataType::Timestamptz(p),
            DataType::Array(e) => DataType::Array(Box::new(e.with_typmod(typmod))),
            DataType::Vector(_) => DataType::Vector(dims),
            DataType::HalfVec(_) => DataType::HalfVec(dims),
            DataType::SparseVec(_) => DataType::SparseVec(dims),
            DataType::Bit(_) => DataType::Bit(dims),
            DataType::VarBit(_) => DataType::VarBit(dims),
            other => other,
        }
    }

    /// pg_type.typlen: -1 for variable-length types, else the fixed size in bytes.
    pub fn typlen(&self) -> i16 {
        match self {
            DataType::Bool | DataType::InternalChar => 1,
            DataType::Int2 => 2,
            DataType::Int4
            | DataType::Oid
            | DataType::Float4
            | DataType::Date
            | DataType::RegProc
            | DataType::RegClass
            | DataType::RegType
            | DataType::RegNamespace
            | DataType::RegRole => 4,
            DataType::Int8
            | DataType::Float8
            | DataType::Time(_)
            | DataType::Timestamp(_)
            | DataType::Timestamptz(_) => 8,
            DataType::Interval | DataType::Uuid => 16,
            DataType::Name => 64,
            DataType::Unknown => -2,
            DataType::Void => 4,
            _ => -1,
        }
    }

    /// The element type of an array type.
    pub fn element(&self) -> Option<&DataType> {
        match self {
            DataType::Array(e) => Some(e),
            _ => None,
        }
    }

    /// int2/4/8, float4/8, numeric and oid.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::Int2
                | DataType::Int4
                | DataType::Int8
                | DataType::Float4
                | DataType::Float8
                | DataType::Numeric(_)
                | DataType::Oid
        )
    }

    /// regclass, regtype, regnamespace and regrole: oids that name catalog objects.
    pub fn is_reg_oid(&self) -> bool {
        matches!(
            self,
            DataType::RegClass | DataType::RegType | DataType::RegNamespace | DataType::RegRole
        )
    }

    /// text, varchar, char, name, "char" and unknown.
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            DataType::Text
                | DataType::Varchar(_)
                | DataType::Char(_)
                | DataType::Name
                | DataType::InternalChar
                | DataType::Unknown
        )
    }

    /// The type named by a single identifier (function-style casts, `'x'::int4`), lower-case
    /// or not. `char` is character(1); the catalog type is spelled with its quotes: `"char"`.
    /// Array names work both as `_int4` and `int4[]`.
    pub fn from_name(name: &str) -> Option<DataType> {
        let lower = name.trim().to_ascii_lowercase();
        if let Some(inner) = lower.strip_suffix("[]") {
            return DataType::from_name(inner).map(|e| DataType::Array(Box::new(e.base())));
        }
        if let Some(inner) = lower.strip_prefix('_') {
            return DataType::from_name(inner).map(|e| DataType::Array(Box::new(e.base())));
        }
        Some(match lower.as_str() {
            "bool" | "boolean" => DataType::Bool,
            "int2" | "smallint" => DataType::Int2,
            "int4" | "int" | "integer" => DataType::Int4,
            "int8" | "bigint" => DataType::Int8,
            "float4" | "real" => DataType::Float4,
            "float8" | "float" | "double precision" => DataType::Float8,
            "numeric" | "decimal" | "dec" => DataType::Numeric(None),
            "text" => DataType::Text,
            "varchar" | "character varying" => DataType::Varchar(None),
            "bpchar" => DataType::Char(None),
            "char" | "character" => DataType::Char(Some(1)),
            "\"char\"" => DataType::InternalChar,
            "name" => DataType::Name,
            "oid" => DataType::Oid,
            "regproc" => DataType::RegProc,
            "regclass" => DataType::RegClass,
            "regtype" => DataType::RegType,
            "regnamespace" => DataType::RegNamespace,
            "regrole" => DataType::RegRole,
            "int2vector" => DataType::Int2Vector,
            "oidvector" => DataType::OidVector,
            "bytea" => DataType::Bytea,
            "date" => DataType::Date,
            "time" | "time without time zone" => DataType::Time(None),
            "timestamp" | "timestamp without time zone" => DataType::Timestamp(None),
            "timestamptz" | "timestamp with time zone" => DataType::Timestamptz(None),
            "interval" => DataType::Interval,
            "uuid" => DataType::Uuid,
            "json" => DataType::Json,
            "jsonb" => DataType::Jsonb,
            "unknown" => DataType::Unknown,
            "vector" => DataType::Vector(None),
            "halfvec" => DataType::HalfVec(None),
            "sparsevec" => DataType::SparseVec(None),
            "bit" => DataType::Bit(None),
            "varbit" | "bit varying" => DataType::VarBit(None),
            _ => return None,
        })
    }

    /// An array's element type (arrays are one-dimensional: `int[][]` is `int[]`).
    pub(super) fn base(self) -> DataType {
        match self {
            DataType::Array(e) => e.base(),
            other => other,
        }
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// pg_type oids of pgvector's types (an extension's oids are assigned when it is created;
/// Orbit's are fixed, in the range PostgreSQL releases leave unused). Each array type's oid is
/// the element's plus one.
pub const VECTOR_OID: u32 = 8100;
pub const HALFVEC_OID: u32 = 8102;
pub const SPARSEVEC_OID: u32 = 8104;

/// "vector(3)", "bit varying": a type name with an optional dimension or length.
fn with_dims(name: &str, n: Option<u32>) -> String {
    match n {
        Some(n) => format!("{name}({n})"),
        None => name.to_string(),
    }
}

/// "time(3) without time zone", "timestamp with time zone": format_type's names.
fn with_precision(name: &str, p: Option<u8>, zone: &str) -> String {
    match p {
        Some(p) => format!("{name}({p}) {zone} time zone"),
        None => format!("{name} {zone} time zone"),
    }
}
