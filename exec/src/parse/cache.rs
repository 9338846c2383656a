//! A per-thread cache of parse trees by text shape (`shape`): clients send the same
//! statements again and again with other literals (pgbench's `... WHERE aid = 4711` over the
//! simple query protocol, ORMs that inline values), and tokenizing and parsing them is a fifth
//! of a point query's CPU. A cached shape's tree has its literal values filled in: in place
//! when no earlier use still holds it ([`super::parse_shared`]), else in a copy.
//!
//! Invariant: a cached parse is equal (`==`) to what sqlparser returns for the text. It holds
//! because
//! - texts of one shape have the same tokens but for the contents of plain number and string
//!   tokens, and the parser never looks into those contents (it copies them into values);
//! - a template is made from the shape with each literal replaced by a distinct sentinel, so
//!   where each literal lands in the tree is known exactly (visit order to literal index); a
//!   shape whose literals do not each land in exactly one value (a type modifier like
//!   `varchar(10)`, a string read as an option or a name) is never cached;
//! - the template filled with the literals of the text that made it must equal that text's
//!   own parse, or the shape is never cached.
//!
//! A template is made at a shape's second sighting, so one-off statements pay nothing but the
//! scan. Parse errors are never cached. The cache holds at most `MAX_ENTRIES` shapes of at
//! most `MAX_TEXT` bytes, `MAX_KEY_BYTES` in all, and is
//! emptied when full.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::Arc;

use sqlparser::ast::{Statement, Value, ValueWithSpan, VisitMut, VisitorMut};

use super::shape::{shape, Literal};
use crate::error::Result;

/// Shapes kept per thread before the cache is emptied.
const MAX_ENTRIES: usize = 1024;
/// Longer texts (bulk INSERTs) are parsed as they come.
const MAX_TEXT: usize = 4 * 1024;
/// Text of the shapes kept per thread before the cache is emptied (their trees take a
/// few times as much).
const MAX_KEY_BYTES: usize = 1 << 20;
/// Texts with more literals are parsed as they come.
const MAX_LITERALS: usize = 256;
/// Integer sentinels are this plus the literal's index (no literal is left in the sentinel
/// text, so no other number can look like one).
const SENTINEL: u64 = 9_000_000_000_000_000_000;
/// Decimal sentinels end with this fraction.
const SENTINEL_FRACTION: &str = ".25";
/// String sentinels start with this (control characters never occur in a shaped text).
const SENTINEL_MARK: char = '\u{1}';

#[derive(Clone)]
enum Entry {
    /// Seen once: a template is made if the shape comes again.
    Seen,
    /// The shape's parse cannot be rebuilt from a template.
    Uncacheable,
    Template(Rc<Template>),
}

/// A shape's parse with sentinel values, and for each value in visit order the index of the
/// literal it takes (`None`: a value the text spells with a keyword, kept as is).
struct Template {
    /// Filled in place for each use when no earlier use still holds it.
    statements: RefCell<Arc<Vec<Statement>>>,
    slots: Vec<Option<usize>>,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Entry>> = RefCell::new(HashMap::new());
    /// Bytes of the keys in `CACHE` (an overwritten key counts twice until the next reset).
    static KEY_BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Parses `sql` through the cache; `parse` is the uncached parser.
pub(super) fn parse(
    sql: &str,
    parse: fn(&str) -> Result<Vec<Statement>>,
) -> Result<Arc<Vec<Statement>>> {
    let fresh = |sql| parse(sql).map(Arc::new);
    if sql.len() > MAX_TEXT {
        return fresh(sql);
    }
    let Some(shape) = shape(sql) else {
        return fresh(sql);
    };
    if shape.literals.len() > MAX_LITERALS {
        return fresh(sql);
    }
    let entry = CACHE.with(|c| c.borrow().get(&shape.key).cloned());
    match entry {
        Some(Entry::Template(template)) => match template.fill(&shape.literals) {
            Some(statements) => Ok(statements),
            // Not for a template built here; parse as usual.
            None => fresh(sql),
        },
        Some(Entry::Uncacheable) => fresh(sql),
        None => {
            let statements = fresh(sql)?;
            remember(shape.key, Entry::Seen);
            Ok(statements)
        }
        Some(Entry::Seen) => {
            let statements = parse(sql)?;
            let built = Template::build(sql, &shape.spans, &shape.literals, &statements, parse);
            let entry = match built {
                Some(t) => Entry::Template(Rc::new(t)),
                None => Entry::Uncacheable,
            };
            remember(shape.key, entry);
            Ok(Arc::new(statements))
        }
    }
}

fn remember(key: String, entry: Entry) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let full = c.len() >= MAX_ENTRIES || KEY_BYTES.get() + key.len() > MAX_KEY_BYTES;
        if full && !c.contains_key(&key) {
            c.clear();
            KEY_BYTES.set(0);
        }
        KEY_BYTES.set(KEY_BYTES.get() + key.len());
        c.insert(key, entry);
    });
}

fn value_of(literal: Literal<'_>) -> Value {
    match literal {
        Literal::Integer(s) | Literal::Decimal(s) => Value::Number(s.to_string(), false),
        Literal::String(s) => Value::SingleQuotedString(s.replace("''", "'")),
    }
}

/// The literal index a sentinel value stands for, if it is one of `literals`' sentinels.
fn sentinel_index(value: &Value, literals: &[Literal<'_>]) -> Option<usize> {
    let i = match value {
        Value::Number(s, false) => {
            let (digits, decimal) = match s.strip_suffix(SENTINEL_FRACTION) {
                Some(d) => (d, true),
                None => (s.as_str(), false),
            };
            let i = usize::try_from(digits.parse::<u64>().ok()?.checked_sub(SENTINEL)?).ok()?;
            let matches = match literals.get(i)? {
                Literal::Integer(_) => !decimal,
                Literal::Decimal(_) => decimal,
                Literal::String(_) => false,
            };
            matches.then_some(i)?
        }
        Value::SingleQuotedString(s) => {
            let i = s.strip_prefix(SENTINEL_MARK)?.parse::<usize>().ok()?;
            matches!(literals.get(i)?, Literal::String(_)).then_some(i)?
        }
        _ => return None,
    };
    Some(i)
}

impl Template {
    /// The template of the shape of `sql` (whose parse is `actual`), or `None` when the shape
    /// cannot be cached.
    fn build(
        sql: &str,
        spans: &[(usize, usize)],
        literals: &[Literal<'_>],
        actual: &[Statement],
        parse: fn(&str) -> Result<Vec<Statement>>,
    ) -> Option<Template> {
        let mut text = String::with_capacity(sql.len() + 24 * literals.len());
        let mut at = 0;
        for (i, (&(start, end), literal)) in spans.iter().zip(literals).enumerate() {
            text.push_str(sql.get(at..start)?);
            match literal {
                Literal::Integer(_) => text.push_str(&(SENTINEL + i as u64).to_string()),
                Literal::Decimal(_) => {
                    text.push_str(&(SENTINEL + i as u64).to_string());
                    text.push_str(SENTINEL_FRACTION);
                }
                Literal::String(_) => {
                    text.push('\'');
                    text.push(SENTINEL_MARK);
                    text.push_str(&i.to_string());
                    text.push('\'');
                }
            }
            at = end;
        }
        text.push_str(sql.get(at..)?);
        let mut statements = parse(&text).ok()?;
        let mut collect = Collect {
            literals,
            slots: Vec::new(),
            taken: vec![false; literals.len()],
            stray: false,
        };
        let _ = statements.visit(&mut collect);
        if collect.stray || collect.taken.iter().any(|t| !t) {
            return None;
        }
        let template = Template {
            statements: RefCell::new(Arc::new(statements)),
            slots: collect.slots,
        };
        let same = template.fill(literals)?.as_slice() == actual;
        same.then_some(template)
    }

    /// The template's statements with `literals` filled in: the template's own when no
    /// earlier use still holds them (no copy), else a copy.
    fn fill(&self, literals: &[Literal<'_>]) -> Option<Arc<Vec<Statement>>> {
        let mut current = self.statements.borrow_mut();
        if let Some(statements) = Arc::get_mut(&mut current) {
            // Every slot is overwritten, so what an earlier fill left does not matter.
            return self
                .fill_into(statements, literals)
                .then(|| Arc::clone(&current));
        }
        let mut statements = Vec::clone(&current);
        self.fill_into(&mut statements, literals)
            .then(|| Arc::new(statements))
    }

    fn fill_into(&self, statements: &mut Vec<Statement>, literals: &[Literal<'_>]) -> bool {
        let mut fill = Fill {
            slots: &self.slots,
            literals,
            next: 0,
        };
        !statements.visit(&mut fill).is_break() && fill.next == self.slots.len()
    }
}

/// Records which literal each value of a sentinel parse takes.
struct Collect<'a, 'b> {
    literals: &'a [Literal<'b>],
    slots: Vec<Option<usize>>,
    taken: Vec<bool>,
    /// A sentinel (or part of one) turned up somewhere other than as a whole value.
    stray: bool,
}

impl VisitorMut for Collect<'_, '_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        match sentinel_index(&value.value, self.literals) {
            Some(i) => match self.taken.get_mut(i) {
                Some(t) if !*t => {
                    *t = true;
                    self.slots.push(Some(i));
                }
                _ => self.stray = true,
            },
            None => {
                let text = value.value.to_string();
                if text.contains(SENTINEL_MARK) || text.contains(&SENTINEL.to_string()[..6]) {
                    self.stray = true;
                }
                self.slots.push(None);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Puts literals into a template's values.
struct Fill<'a, 'b> {
    slots: &'a [Option<usize>],
    literals: &'a [Literal<'b>],
    next: usize,
}

impl VisitorMut for Fill<'_, '_> {
    type Break = ();

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        let Some(slot) = self.slots.get(self.next) else {
            return ControlFlow::Break(());
        };
        self.next += 1;
        if let Some(i) = slot {
            let Some(&literal) = self.literals.get(*i) else {
                return ControlFlow::Break(());
            };
            value.value = value_of(literal);
        }
        ControlFlow::Continue(())
    }
}

/// What the cache holds for the shape of `sql` (tests).
#[cfg(test)]
fn state(sql: &str) -> &'static str {
    let Some(shape) = shape(sql) else {
        return "no shape";
    };
    CACHE.with(|c| match c.borrow().get(&shape.key) {
        None => "new",
        Some(Entry::Seen) => "seen",
        Some(Entry::Uncacheable) => "uncacheable",
        Some(Entry::Template(_)) => "template",
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{parse as cached, parse_uncached};
    use super::*;

    /// Statement forms, `{i}` an integer, `{d}` a decimal, `{s}` a string literal.
    const FORMS: &[&str] = &[
        "SELECT abalance FROM pgbench_accounts WHERE aid = {i}",
        "UPDATE pgbench_accounts SET abalance = abalance + -{i} WHERE aid = {i}",
        "INSERT INTO h (tid, bid, aid, delta, mtime) VALUES ({i}, {i}, {i}, {i}, CURRENT_TIMESTAMP)",
        "INSERT INTO t VALUES ({i}, {s}, {d}), ({i}, {s}, NULL) ON CONFLICT (a) DO UPDATE SET b = {s}",
        "SELECT a, {s} AS x FROM t WHERE b IN ({i}, {i}, {i}) AND c BETWEEN {d} AND {d} ORDER BY 1 LIMIT {i} OFFSET {i}",
        "SELECT CASE WHEN a > {i} THEN {s} ELSE {s}::text END, ARRAY[{i},{i}][{i}] FROM t",
        "SELECT INTERVAL {s}, DATE {s}, TIMESTAMP {s}, {s}::date + {i} FROM t",
        "SELECT x::varchar(10), {i} FROM t WHERE y = {s}",
        "SELECT numeric(10, 2) FROM t WHERE y = {i}",
        "SELECT {i}; SELECT {s}; DELETE FROM t WHERE a = {d} RETURNING *",
        "SELECT \"A 1\", t2.c FROM t2 WHERE t2.c LIKE {s} AND true AND d IS NOT NULL",
        "SET search_path = {s}",
        "SELECT {i} = ANY({s}), jsonb_build_object({s}, {i}) -> {s} FROM t WHERE $1 = {i}",
        "COPY t FROM STDIN WITH (FORMAT csv, DELIMITER {s})",
    ];

    fn literal() -> impl Strategy<Value = (u64, String, String)> {
        (
            any::<u64>(),
            "[0-9]{1,5}\\.[0-9]{1,4}",
            "[a-z '\u{e9}\u{1f600}%_-]{0,12}",
        )
    }

    fn fill(form: &str, lits: &[(u64, String, String)]) -> String {
        let mut out = String::new();
        let mut rest = form;
        let mut k = 0;
        while let Some(at) = rest.find('{') {
            out.push_str(&rest[..at]);
            let (i, d, s) = &lits[k % lits.len()];
            k += 1;
            match &rest[at + 1..at + 2] {
                "i" => out.push_str(&i.to_string()),
                "d" => out.push_str(d),
                _ => {
                    out.push('\'');
                    out.push_str(&s.replace('\'', "''"));
                    out.push('\'');
                }
            }
            rest = &rest[at + 3..];
        }
        out.push_str(rest);
        out
    }

    fn same(sql: &str) {
        match (cached(sql), parse_uncached(sql)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{sql}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{sql}"),
            (a, b) => panic!("{sql}: cached {a:?}, uncached {b:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the cache holds, a parse through it equals sqlparser's own.
        #[test]
        fn cached_parses_equal_fresh_ones(
            form in 0..FORMS.len(),
            texts in proptest::collection::vec(proptest::collection::vec(literal(), 1..4), 3..6),
        ) {
            for lits in &texts {
                same(&fill(FORMS[form], lits));
            }
        }
    }

    #[test]
    fn a_shape_is_cached_at_its_second_sighting() {
        let q = |n: u32| format!("SELECT abalance FROM a WHERE aid = {n} AND b = 'x{n}'");
        assert_eq!(state(&q(1)), "new");
        same(&q(1));
        assert_eq!(state(&q(2)), "seen");
        same(&q(2));
        assert_eq!(state(&q(3)), "template");
        for n in 3..20 {
            same(&q(n));
        }
    }

    #[test]
    fn literals_that_are_not_values_keep_a_shape_out() {
        for sql in [
            "SELECT x::varchar(10) FROM t WHERE a = 5",
            "COPY t FROM STDIN WITH (DELIMITER ';')",
            "CREATE TABLE t (a varchar(10) DEFAULT 'x')",
        ] {
            same(sql);
            same(sql);
            assert_eq!(state(sql), "uncacheable", "{sql}");
            same(sql);
        }
    }

    #[test]
    fn literals_land_in_their_own_places() {
        // Equal literals when the template is made must not fix which goes where.
        same("SELECT 1, 1, 'a', 'a' FROM t WHERE x BETWEEN 1 AND 1");
        same("SELECT 1, 1, 'a', 'a' FROM t WHERE x BETWEEN 1 AND 1");
        let sql = "SELECT 7, 8, 'b', 'c' FROM t WHERE x BETWEEN 9 AND 10";
        assert_eq!(state(sql), "template");
        same(sql);
    }

    #[test]
    fn shared_parses_are_filled_in_place_only_when_unheld() {
        use super::super::parse_shared;
        let q = |n: u32| format!("SELECT v FROM t WHERE k = {n}");
        for n in 0..3 {
            same(&q(n));
        }
        assert_eq!(state(&q(3)), "template");
        let first = parse_shared(&q(10)).unwrap();
        let first_ptr = Arc::as_ptr(&first);
        // Held: the next parse of the shape is a copy, and the held one keeps its literal.
        let second = parse_shared(&q(20)).unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(*first, parse_uncached(&q(10)).unwrap());
        assert_eq!(*second, parse_uncached(&q(20)).unwrap());
        drop(first);
        drop(second);
        // Unheld: the template itself is filled again, no copy.
        let third = parse_shared(&q(30)).unwrap();
        assert_eq!(Arc::as_ptr(&third), first_ptr);
        assert_eq!(*third, parse_uncached(&q(30)).unwrap());
    }

    #[test]
    fn errors_are_not_cached() {
        for _ in 0..3 {
            same("SELECT 1 FROM WHERE 2");
        }
        assert_eq!(state("SELECT 1 FROM WHERE 2"), "new");
    }

    #[test]
    fn the_cache_stays_bounded() {
        for n in 0..MAX_ENTRIES + 10 {
            same(&format!("SELECT c{n} FROM t WHERE a = 1"));
        }
        assert!(CACHE.with(|c| c.borrow().len()) <= MAX_ENTRIES);
        // Long texts: the byte budget empties the cache before the entry count would.
        let pad = "x".repeat(3000);
        for n in 0..(MAX_KEY_BYTES / 3000) + 10 {
            same(&format!("SELECT c{n} AS {pad} FROM t WHERE a = 1"));
            assert!(KEY_BYTES.get() <= MAX_KEY_BYTES);
        }
        assert!(CACHE.with(|c| c.borrow().len()) < MAX_KEY_BYTES / 3000);
    }
}
