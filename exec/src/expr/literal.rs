//! Literals: the value and type of a number, string, boolean or NULL as written in SQL
//! (an integer literal is int4, then int8, then numeric; a string is of unknown type until
//! its context types it).

use sqlparser::ast;

use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// The value and type of a literal.
pub(crate) fn literal(v: &ast::Value) -> Result<(Value, DataType)> {
    Ok(match v {
        ast::Value::Number(text, _) => number(text)?,
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::UnicodeStringLiteral(s)
        | ast::Value::NationalStringLiteral(s) => (Value::Text(s.clone()), DataType::Unknown),
        ast::Value::DollarQuotedString(s) => (Value::Text(s.value.clone()), DataType::Unknown),
        ast::Value::Boolean(b) => (Value::Bool(*b), DataType::Bool),
        ast::Value::Null => (Value::Null, DataType::Unknown),
        other => {
            return Err(Error::syntax(format!(
                "syntax error at or near \"{other}\""
            )))
        }
    })
}

fn number(text: &str) -> Result<(Value, DataType)> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i32>() {
            return Ok((Value::Int4(i), DataType::Int4));
        }
        if let Ok(i) = text.parse::<i64>() {
            return Ok((Value::Int8(i), DataType::Int8));
        }
    }
    let ty = DataType::Numeric(None);
    Ok((Value::parse_text(&ty, text)?, ty))
}
