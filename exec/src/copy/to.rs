//! COPY TO STDOUT: the rows of a table (or of a query) as lines of text or CSV. The rows come
//! from the ordinary query path (`exec::run` of a SELECT); the protocol layer encodes them one
//! CopyData message per row with [`Encoder`].

use sqlparser::ast;

use super::csv::Csv;
use super::{text, CopyOptions, Format};
use crate::error::{Error, Result};
use crate::exec::{self, Ctx, Outcome};
use crate::types::Value;

/// Turns rows into COPY output lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    options: CopyOptions,
}

impl Encoder {
    pub fn new(options: CopyOptions) -> Encoder {
        Encoder { options }
    }

    fn record(&self, fields: &[Option<&str>], out: &mut Vec<u8>) {
        let o = &self.options;
        match o.format {
            Format::Text => text::encode_record(fields, o.delimiter, &o.null, out),
            Format::Csv => Csv {
                delimiter: o.delimiter,
                quote: o.quote,
                escape: o.escape,
            }
            .encode_record(fields, &o.null, out),
        }
    }

    /// Appends the header line (the column names) if the options ask for one.
    pub fn header(&self, names: &[String], out: &mut Vec<u8>) {
        if self.options.header {
            let fields: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
            self.record(&fields, out);
        }
    }

    /// Appends one row's line.
    pub fn row(&self, row: &[Value], out: &mut Vec<u8>) {
        let texts: Vec<Option<String>> = row.iter().map(Value::to_text).collect();
        let fields: Vec<Option<&str>> = texts.iter().map(Option::as_deref).collect();
        self.record(&fields, out);
    }
}

/// Double-quotes an identifier for SQL text.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs COPY ... TO STDOUT: `Outcome::CopyOut` with the rows to send.
pub fn run(ctx: &mut Ctx<'_>, source: &ast::CopySource, options: CopyOptions) -> Result<Outcome> {
    let query = match source {
        ast::CopySource::Query(q) => ast::Statement::Query(q.clone()),
        ast::CopySource::Table {
            table_name,
            columns,
        } => {
            let table = ctx.resolve_table(table_name)?;
            crate::exec::ddl_matview::refuse_copy(&table, "from")?;
            let targets = super::from::target_columns(&table, columns)?;
            let list: Vec<String> = targets
                .iter()
                .filter_map(|&i| table.columns.get(i))
                .map(|c| quote_ident(&c.name))
                .collect();
            let sql = format!(
                "SELECT {} FROM {}.{}",
                list.join(", "),
                quote_ident(&table.schema),
                quote_ident(&table.name)
            );
            let mut parsed = crate::parse::parse(&sql)?;
            match parsed.pop() {
                Some(stmt) if parsed.is_empty() => stmt,
                _ => return Err(Error::syntax(format!("cannot read table {}", table.name))),
            }
        }
    };
    match exec::run(ctx, &query, false)? {
        Outcome::Rows { columns, rows, .. } => Ok(Outcome::CopyOut {
            names: columns.into_iter().map(|c| c.name).collect(),
            rows,
            encoder: Encoder::new(options),
        }),
        _ => Err(Error::unsupported(
            "COPY (query) TO needs a query returning rows",
        )),
    }
}
