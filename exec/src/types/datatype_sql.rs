//! DataType from sqlparser's AST: PostgreSQL's names, lengths, precisions and type
//! modifiers (`varchar(n)`, `numeric(p, s)`, `timestamp(p) with time zone`, `bit varying(n)`,
//! pgvector's `vector(n)`), with PostgreSQL's errors for the out-of-range ones.

use super::{vector, DataType};
use crate::error::{code, Error, Result};
use sqlparser::ast::{
    self as sql, ArrayElemTypeDef, CharacterLength, ExactNumberInfo, TimezoneInfo,
};

impl DataType {
    /// The type that sqlparser parsed, with PostgreSQL's rules for lengths and precisions.
    pub fn from_sql(ty: &sql::DataType) -> Result<DataType> {
        use sql::DataType as S;
        Ok(match ty {
            S::SmallInt(_) | S::Int2(_) => DataType::Int2,
            S::Int(_) | S::Integer(_) | S::Int4(_) => DataType::Int4,
            S::BigInt(_) | S::Int8(_) => DataType::Int8,
            S::Real | S::Float4 => DataType::Float4,
            S::DoublePrecision | S::Float8 | S::Double(ExactNumberInfo::None) => DataType::Float8,
            S::Float(info) | S::Double(info) => match info {
                ExactNumberInfo::None => DataType::Float8,
                ExactNumberInfo::Precision(p) | ExactNumberInfo::PrecisionAndScale(p, _) => {
                    float_precision(*p)?
                }
            },
            S::Numeric(info) | S::Decimal(info) | S::Dec(info) => numeric_type(info)?,
            S::Text => DataType::Text,
            S::Varchar(len) | S::CharacterVarying(len) | S::CharVarying(len) => {
                DataType::Varchar(char_length(len.as_ref())?)
            }
            S::Char(len) | S::Character(len) => {
                DataType::Char(Some(char_length(len.as_ref())?.unwrap_or(1)))
            }
            S::Bool | S::Boolean => DataType::Bool,
            S::Bytea => DataType::Bytea,
            S::Date => DataType::Date,
            S::Time(p, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                DataType::Time(seconds_precision("TIME", p.map(|p| p as i64))?)
            }
            S::Time(..) => {
                return Err(Error::unsupported(
                    "type time with time zone is not supported",
                ))
            }
            S::Timestamp(p, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
                DataType::Timestamp(seconds_precision("TIMESTAMP", p.map(|p| p as i64))?)
            }
            S::Timestamp(p, TimezoneInfo::WithTimeZone | TimezoneInfo::Tz) => {
                DataType::Timestamptz(seconds_precision("TIMESTAMP", p.map(|p| p as i64))?)
            }
            S::Interval { .. } => DataType::Interval,
            S::Uuid => DataType::Uuid,
            S::JSON => DataType::Json,
            S::JSONB => DataType::Jsonb,
            S::Regclass => DataType::RegClass,
            S::Bit(n) => DataType::Bit(Some(bit_length(&opt_mod(*n))?.unwrap_or(1))),
            S::BitVarying(n) | S::VarBit(n) => DataType::VarBit(bit_length(&opt_mod(*n))?),
            S::Array(def) => match def {
                ArrayElemTypeDef::SquareBracket(inner, _)
                | ArrayElemTypeDef::Qualified(inner, _)
                | ArrayElemTypeDef::AngleBracket(inner)
                | ArrayElemTypeDef::Parenthesis(inner)
                | ArrayElemTypeDef::ParenthesisNotNull(inner) => {
                    DataType::Array(Box::new(DataType::from_sql(inner)?.base()))
                }
                ArrayElemTypeDef::None => return Err(undefined_type("array")),
            },
            S::Custom(name, mods) => return custom_type(name, mods),
            other => return Err(undefined_type(&other.to_string().to_ascii_lowercase())),
        })
    }
}

fn undefined_type(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_OBJECT,
        format!("type \"{name}\" does not exist"),
    )
}

fn float_precision(p: u64) -> Result<DataType> {
    if p < 1 {
        Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "precision for type float must be at least 1 bit",
        ))
    } else if p <= 24 {
        Ok(DataType::Float4)
    } else if p <= 53 {
        Ok(DataType::Float8)
    } else {
        Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "precision for type float must be less than 54 bits",
        ))
    }
}

fn numeric_typmod(p: i64, s: i64) -> Result<DataType> {
    if !(1..=1000).contains(&p) {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("NUMERIC precision {p} must be between 1 and 1000"),
        ));
    }
    if s < 0 || s > p {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
        ));
    }
    Ok(DataType::Numeric(Some((p as u32, s as u32))))
}

fn numeric_type(info: &ExactNumberInfo) -> Result<DataType> {
    match info {
        ExactNumberInfo::None => Ok(DataType::Numeric(None)),
        ExactNumberInfo::Precision(p) => numeric_typmod(clamp_i64(*p), 0),
        ExactNumberInfo::PrecisionAndScale(p, s) => numeric_typmod(clamp_i64(*p), *s),
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn char_length(len: Option<&CharacterLength>) -> Result<Option<u32>> {
    match len {
        None => Ok(None),
        Some(CharacterLength::IntegerLength { length, .. }) => check_length(clamp_i64(*length)),
        Some(CharacterLength::Max) => Err(Error::syntax("syntax error at or near \"max\"")),
    }
}

fn check_length(n: i64) -> Result<Option<u32>> {
    if n < 1 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "length for type varchar must be at least 1",
        ));
    }
    if n > 10_485_760 {
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "length for type varchar cannot exceed 10485760",
        ));
    }
    Ok(Some(n as u32))
}

fn opt_mod(n: Option<u64>) -> Vec<i64> {
    n.map(clamp_i64).into_iter().collect()
}

/// The length of `bit(n)` / `bit varying(n)`: "length for type bit must be at least 1".
fn bit_length(mods: &[i64]) -> Result<Option<u32>> {
    match mods {
        [] => Ok(None),
        [n] if *n < 1 => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "length for type bit must be at least 1",
        )),
        [n] if *n > 83_886_080 => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            "length for type bit cannot exceed 83886080",
        )),
        [n] => Ok(Some(*n as u32)),
        _ => Err(Error::syntax("invalid type modifier")),
    }
}

/// Integer modifiers of a custom-named type (`bpchar(5)`, `varchar(3)`).
fn int_mods(name: &str, mods: &[sql::TypeModifier]) -> Result<Vec<i64>> {
    mods.iter()
        .map(|m| match m {
            sql::TypeModifier::Number(n, _) => n
                .parse::<i64>()
                .map_err(|_| Error::syntax(format!("invalid type modifier for type {name}"))),
            _ => Err(Error::syntax(format!(
                "type modifiers must be simple constants or identifiers ({name})"
            ))),
        })
        .collect()
}

/// `time(p)` / `timestamp(p)`'s precision: above 6 is 6 (PostgreSQL warns and does the same),
/// below 0 an error.
fn seconds_precision(ty: &str, p: Option<i64>) -> Result<Option<u8>> {
    match p {
        None => Ok(None),
        Some(p) if p < 0 => Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("{ty}({p}) precision must not be negative"),
        )),
        Some(p) => Ok(Some(p.min(6) as u8)),
    }
}

fn custom_type(name: &sql::ObjectName, mods: &[sql::TypeModifier]) -> Result<DataType> {
    let parts: Vec<&sql::Ident> = name.0.iter().filter_map(|p| p.as_ident()).collect();
    let Some(last) = parts.last() else {
        return Err(undefined_type(&name.to_string()));
    };
    if parts.len() != name.0.len()
        || (parts.len() == 2
            && !parts.first().is_some_and(|s| {
                s.value.eq_ignore_ascii_case("pg_catalog") || s.value.eq_ignore_ascii_case("public")
            }))
        || parts.len() > 2
    {
        return Err(undefined_type(&name.to_string()));
    }
    let quoted = last.quote_style.is_some();
    let lname = if quoted {
        last.value.clone()
    } else {
        last.value.to_ascii_lowercase()
    };
    if lname == "char" && quoted {
        return Ok(DataType::InternalChar);
    }
    let m = int_mods(&lname, mods)?;
    let base = match lname.as_str() {
        "bpchar" | "char" | "character" => match m.as_slice() {
            [] if lname == "bpchar" => DataType::Char(None),
            [] => DataType::Char(Some(1)),
            [n] => DataType::Char(check_length(*n)?),
            _ => return Err(Error::syntax("invalid type modifier")),
        },
        "varchar" => match m.as_slice() {
            [] => DataType::Varchar(None),
            [n] => DataType::Varchar(check_length(*n)?),
            _ => return Err(Error::syntax("invalid type modifier")),
        },
        "numeric" | "decimal" => match m.as_slice() {
            [] => DataType::Numeric(None),
            [p] => numeric_typmod(*p, 0)?,
            [p, s] => numeric_typmod(*p, *s)?,
            _ => return Err(Error::syntax("invalid NUMERIC type modifier")),
        },
        "float" => match m.as_slice() {
            [] => DataType::Float8,
            [p] if *p >= 0 => float_precision(*p as u64)?,
            _ => float_precision(0)?,
        },
        "timestamp" | "timestamptz" | "time" => {
            let p = match m.as_slice() {
                [] => None,
                [p] => {
                    seconds_precision(if lname == "time" { "TIME" } else { "TIMESTAMP" }, Some(*p))?
                }
                _ => return Err(Error::syntax("invalid type modifier")),
            };
            match lname.as_str() {
                "time" => DataType::Time(p),
                "timestamp" => DataType::Timestamp(p),
                _ => DataType::Timestamptz(p),
            }
        }
        "interval" => {
            // Fractional-second precision is accepted and ignored (always microseconds).
            DataType::Interval
        }
        "vector" => DataType::Vector(vector::typmod(vector::Kind::Vector, &m)?),
        "halfvec" => DataType::HalfVec(vector::typmod(vector::Kind::HalfVec, &m)?),
        "sparsevec" => DataType::SparseVec(vector::typmod(vector::Kind::SparseVec, &m)?),
        "varbit" => DataType::VarBit(bit_length(&m)?),
        _ => {
            if !m.is_empty() {
                return Err(Error::syntax(format!(
                    "type modifier is not allowed for type \"{lname}\""
                )));
            }
            match DataType::from_name(&lname) {
                Some(t) if lname != "char" && lname != "character" => t,
                _ => return Err(undefined_type(&lname)),
            }
        }
    };
    Ok(base)
}
