//! COPY FROM STDIN: records to rows. Each record's fields are read by the column types' input
//! functions and the row is written the way INSERT writes one (defaults for columns not
//! listed, serial included; NOT NULL, CHECK; a duplicate primary key is 23505), in the
//! caller's transaction, as the data arrives.

use sqlparser::ast;

use super::csv::Csv;
use super::lines::Lines;
use super::{printout, text, CopyOptions, Format};
use crate::error::{code, Error, Result};
use crate::exec::write::NewRows;
use crate::exec::Ctx;
use crate::types::Value;

/// A COPY FROM in progress.
pub struct CopyFrom {
    lines: Lines,
    rows: Rows,
}

/// Everything but the splitter (so a record borrowed from it can be processed).
struct Rows {
    writer: NewRows,
    /// The table column each field goes to.
    targets: Vec<usize>,
    options: CopyOptions,
    /// Input line number of the current record (PostgreSQL counts from 1, header included).
    line: u64,
    header_pending: bool,
    /// The end marker was seen: the rest of the input is ignored.
    ended: bool,
    count: u64,
    fields: Vec<Option<String>>,
}

/// The column indexes `columns` names in `table` (all columns when empty), as INSERT checks
/// them.
pub(crate) fn target_columns(
    table: &crate::catalog::TableDef,
    columns: &[ast::Ident],
) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        let n = crate::expr::ident_name(c);
        let i = table.column_index(&n).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_COLUMN,
                format!(
                    "column \"{n}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        if out.contains(&i) {
            return Err(Error::new(
                code::DUPLICATE_COLUMN,
                format!("column \"{n}\" specified more than once"),
            ));
        }
        out.push(i);
    }
    Ok(out)
}

impl CopyFrom {
    /// Starts `COPY table (columns) FROM STDIN` with `options`: resolves the table and the
    /// columns in the statement's transaction.
    pub fn start(
        ctx: &mut Ctx<'_>,
        table: &ast::ObjectName,
        columns: &[ast::Ident],
        options: CopyOptions,
    ) -> Result<CopyFrom> {
        let table = ctx.resolve_table(table)?;
        crate::exec::ddl_matview::refuse_copy(&table, "to")?;
        let targets = target_columns(&table, columns)?;
        let lines = match options.format {
            Format::Text => Lines::text(),
            Format::Csv => Lines::csv(options.quote, options.escape),
        };
        Ok(CopyFrom {
            lines,
            rows: Rows {
                writer: NewRows::new(&table)?,
                targets,
                header_pending: options.header,
                options,
                line: 0,
                ended: false,
                count: 0,
                fields: Vec::new(),
            },
        })
    }

    /// How many columns each row has (CopyInResponse tells the client).
    pub fn columns(&self) -> usize {
        self.rows.targets.len()
    }

    /// Rows written so far.
    pub fn count(&self) -> u64 {
        self.rows.count
    }

    /// Takes a chunk of input and writes the rows it completes.
    pub fn feed(&mut self, ctx: &mut Ctx<'_>, data: &[u8]) -> Result<()> {
        if self.rows.ended {
            return Ok(());
        }
        self.lines.push(data)?;
        while let Some(record) = self.lines.next_record() {
            self.rows.record(ctx, record)?;
            if self.rows.ended {
                break;
            }
        }
        Ok(())
    }

    /// The input ended (CopyDone): writes a last record without a newline; returns the row
    /// count.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) -> Result<u64> {
        if !self.rows.ended {
            if let Some(record) = self.lines.finish() {
                self.rows.record(ctx, record)?;
            }
        }
        Ok(self.rows.count)
    }
}

impl Rows {
    fn table_name(&self) -> &str {
        &self.writer.table().name
    }

    /// CONTEXT for an error about the whole record.
    fn line_context(&self, record: &[u8]) -> String {
        format!(
            "COPY {}, line {}: \"{}\"",
            self.table_name(),
            self.line,
            printout(&String::from_utf8_lossy(record))
        )
    }

    fn record(&mut self, ctx: &mut Ctx<'_>, record: &[u8]) -> Result<()> {
        self.line += 1;
        if self.options.format == Format::Csv && self.line > 1 {
            // A quoted field may hold newlines: PostgreSQL counts those lines too, except in
            // the first record (it does not know the line-end style yet).
            self.line += record.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        if std::mem::take(&mut self.header_pending) {
            return Ok(());
        }
        let null = self.options.null.as_bytes();
        let decoded = match self.options.format {
            Format::Text => text::decode(record, self.options.delimiter, null, &mut self.fields),
            Format::Csv => {
                if Csv::is_end_marker(record) {
                    self.ended = true;
                    return Ok(());
                }
                let csv = Csv {
                    delimiter: self.options.delimiter,
                    quote: self.options.quote,
                    escape: self.options.escape,
                };
                csv.decode(record, null, &mut self.fields)
                    .map(|()| text::Decoded {
                        row: true,
                        end: false,
                    })
            }
        };
        let decoded = decoded.map_err(|e| e.with_context(self.line_context(record)))?;
        self.ended = decoded.end;
        if !decoded.row {
            return Ok(());
        }
        self.write_row(ctx)
            .map_err(|e| e.with_context(self.line_context(record)))
    }

    /// Converts the record's fields and writes the row.
    fn write_row(&mut self, ctx: &mut Ctx<'_>) -> Result<()> {
        let table = self.writer.table();
        if self.fields.len() > self.targets.len() {
            return Err(Error::new(
                code::BAD_COPY_FILE_FORMAT,
                "extra data after last expected column",
            ));
        }
        if let Some(&missing) = self.targets.get(self.fields.len()) {
            let name = table.columns.get(missing).map_or("?", |c| c.name.as_str());
            return Err(Error::new(
                code::BAD_COPY_FILE_FORMAT,
                format!("missing data for column \"{name}\""),
            ));
        }
        let mut row: Vec<Option<Value>> = vec![None; table.columns.len()];
        for (field, &col) in self.fields.drain(..).zip(&self.targets) {
            let (Some(slot), Some(c)) = (row.get_mut(col), table.columns.get(col)) else {
                continue;
            };
            *slot = Some(match field {
                None => Value::Null,
                Some(s) => Value::parse_text(&c.ty, &s).map_err(|e| {
                    e.with_context(format!(
                        "COPY {}, line {}, column {}: \"{}\"",
                        table.name,
                        self.line,
                        c.name,
                        printout(&s)
                    ))
                })?,
            });
        }
        let full = self.writer.complete(ctx, row)?;
        self.writer.check(ctx, &full)?;
        self.writer.insert(ctx, &full)?;
        self.count += 1;
        Ok(())
    }
}
