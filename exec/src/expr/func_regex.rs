//! The regexp functions: `regexp_replace`, `regexp_match`, `regexp_like`, `regexp_count`,
//! `regexp_split_to_array`, and the set-returning `regexp_matches` and
//! `regexp_split_to_table`, with PostgreSQL's flags (`i`, `g`, `n`, `x`, ...; see
//! `types::regex`) and results: a replacement names groups `\1`..`\9` and the whole match
//! `\&`; `regexp_match` gives the groups as text[] (the whole match without groups), NULL
//! without a match; splitting ignores empty matches at the start, at the end and right after
//! a previous match.

use crate::error::{Error, Result};
use crate::types::{regex_compiled, DataType, RegexFlags, Value};

/// A regexp function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegexFunc {
    Replace,
    Match,
    Like,
    Count,
    SplitToArray,
    /// `similar_to_escape(pattern [, escape])`: a SIMILAR TO pattern as a regular expression
    /// (what `x SIMILAR TO p` matches with `~`).
    SimilarEscape,
}

/// Resolves `name(args)` if it is one of these functions.
pub fn resolve(name: &str, args: &[DataType]) -> Option<(RegexFunc, DataType)> {
    let text_array = DataType::Array(Box::new(DataType::Text));
    Some(match (name, args.len()) {
        ("regexp_replace", 3 | 4) => (RegexFunc::Replace, DataType::Text),
        ("regexp_match", 2 | 3) => (RegexFunc::Match, text_array),
        ("regexp_like", 2 | 3) => (RegexFunc::Like, DataType::Bool),
        ("regexp_count", 2..=4) => (RegexFunc::Count, DataType::Int4),
        ("regexp_split_to_array", 2 | 3) => (RegexFunc::SplitToArray, text_array),
        ("similar_to_escape", 1 | 2) => (RegexFunc::SimilarEscape, DataType::Text),
        _ => return None,
    })
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        other => other.to_text().unwrap_or_default(),
    }
}

fn flags_at(args: &[Value], i: usize) -> Result<RegexFlags> {
    RegexFlags::parse(&args.get(i).map(text).unwrap_or_default())
}

fn text_array(items: Vec<Option<String>>) -> Value {
    Value::Array(
        Box::new(DataType::Text),
        items
            .into_iter()
            .map(|s| s.map_or(Value::Null, Value::Text))
            .collect(),
    )
}

/// Evaluates `f` (NULL in, NULL out).
pub fn call(f: RegexFunc, args: &[Value]) -> Result<Value> {
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let subject = args.first().map(text).unwrap_or_default();
    let pattern = args.get(1).map(text).unwrap_or_default();
    Ok(match f {
        RegexFunc::Replace => {
            let flags = flags_at(args, 3)?;
            let re = regex_compiled(&pattern, flags)?;
            let replacement = args.get(2).map(text).unwrap_or_default();
            Value::Text(replace(&re, &subject, &replacement, flags.global))
        }
        RegexFunc::Match => {
            let flags = flags_at(args, 2)?;
            if flags.global {
                return Err(Error::new(
                    "22023",
                    "regexp_match() does not support the \"global\" option",
                ));
            }
            let re = regex_compiled(&pattern, flags)?;
            match re.captures(&subject) {
                Some(c) => text_array(groups(&c)),
                None => Value::Null,
            }
        }
        RegexFunc::Like => {
            let re = regex_compiled(&pattern, flags_at(args, 2)?)?;
            Value::Bool(re.is_match(&subject))
        }
        RegexFunc::Count => {
            let start = match args.get(2) {
                Some(v) => v.as_i64()?.unwrap_or(1),
                None => 1,
            };
            if start < 1 {
                return Err(Error::new(
                    "22023",
                    format!("invalid value for parameter \"start\": {start}"),
                ));
            }
            let re = regex_compiled(&pattern, flags_at(args, 3)?)?;
            let from = subject
                .char_indices()
                .nth(usize::try_from(start - 1).unwrap_or(usize::MAX))
                .map_or(subject.len(), |(i, _)| i);
            let n = re
                .find_iter(subject.get(from..).unwrap_or_default())
                .count();
            Value::Int4(i32::try_from(n).unwrap_or(i32::MAX))
        }
        RegexFunc::SplitToArray => {
            let re = regex_compiled(&pattern, flags_at(args, 2)?)?;
            text_array(split(&re, &subject).into_iter().map(Some).collect())
        }
        // The pattern is the first argument here, the escape the second.
        RegexFunc::SimilarEscape => {
            let escape = match args.get(1).map(text) {
                None => Some('\\'),
                Some(e) => {
                    let mut chars = e.chars();
                    match (chars.next(), chars.next()) {
                        (None, _) => None,
                        (Some(c), None) => Some(c),
                        _ => return Err(Error::new("22025", "invalid escape string")),
                    }
                }
            };
            Value::Text(similar_to_regex(&subject, escape)?)
        }
    })
}

/// A SIMILAR TO pattern as a regular expression matching whole strings, as PostgreSQL's
/// `similar_to_escape` makes it: `%` is `.*`, `_` is `.`, `|`, `*`, `+`, `?`, `{m,n}`,
/// parentheses and bracket expressions keep their meaning, `.`, `^`, `$` and `\` are
/// literal, and the escape character makes the next one literal.
pub fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    out.push_str("^(?:");
    let mut after_escape = false;
    let mut in_class = false;
    for c in pattern.chars() {
        if after_escape {
            // Escaped double quotes mark SUBSTRING's part; they match nothing themselves.
            if c != '"' {
                out.push('\\');
                out.push(c);
            }
            after_escape = false;
        } else if Some(c) == escape {
            after_escape = true;
        } else if in_class {
            if c == '\\' {
                out.push('\\');
            }
            out.push(c);
            in_class = c != ']';
        } else {
            match c {
                '[' => {
                    in_class = true;
                    out.push('[');
                }
                '%' => out.push_str(".*"),
                '_' => out.push('.'),
                '.' | '^' | '$' | '\\' => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    if after_escape {
        return Err(Error::new(
            "2201B",
            "invalid regular expression: SIMILAR TO pattern ends with the escape character",
        ));
    }
    out.push_str(")$");
    Ok(out)
}

/// The capture groups of a match (the whole match when the pattern has none).
fn groups(c: &regex::Captures<'_>) -> Vec<Option<String>> {
    if c.len() == 1 {
        return vec![c.get(0).map(|m| m.as_str().to_string())];
    }
    (1..c.len())
        .map(|i| c.get(i).map(|m| m.as_str().to_string()))
        .collect()
}

/// Replaces the first match (every match with `global`): `\1`..`\9` are groups, `\&` the
/// match, `\\` a backslash.
fn replace(re: &regex::Regex, subject: &str, replacement: &str, global: bool) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut last = 0;
    for c in re.captures_iter(subject) {
        let Some(m) = c.get(0) else { continue };
        out.push_str(subject.get(last..m.start()).unwrap_or_default());
        let mut chars = replacement.chars().peekable();
        while let Some(ch) = chars.next() {
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    let i = d as usize - '0' as usize;
                    out.push_str(c.get(i).map_or("", |g| g.as_str()));
                }
                Some('&') => {
                    chars.next();
                    out.push_str(m.as_str());
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            }
        }
        last = m.end();
        if !global {
            break;
        }
    }
    out.push_str(subject.get(last..).unwrap_or_default());
    out
}

/// `regexp_split_to_array`'s pieces.
fn split(re: &regex::Regex, subject: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_end: Option<usize> = None;
    for m in re.find_iter(subject) {
        if m.start() == m.end()
            && (m.start() == 0 || m.start() == subject.len() || prev_end == Some(m.start()))
        {
            continue;
        }
        out.push(
            subject
                .get(start..m.start())
                .unwrap_or_default()
                .to_string(),
        );
        start = m.end();
        prev_end = Some(m.end());
    }
    out.push(subject.get(start..).unwrap_or_default().to_string());
    out
}

/// The rows of the set-returning forms (`None`: not one of them): `regexp_matches` (a text[]
/// per match; every match with `g`) and `regexp_split_to_table`.
pub fn table_rows(name: &str, args: &[Value]) -> Option<Result<Vec<Vec<Value>>>> {
    let run = || -> Result<Vec<Vec<Value>>> {
        let subject = args.first().map(text).unwrap_or_default();
        let pattern = args.get(1).map(text).unwrap_or_default();
        let flags = flags_at(args, 2)?;
        let re = regex_compiled(&pattern, flags)?;
        Ok(if name == "regexp_matches" {
            let mut rows = Vec::new();
            for c in re.captures_iter(&subject) {
                rows.push(vec![text_array(groups(&c))]);
                if !flags.global {
                    break;
                }
            }
            rows
        } else {
            split(&re, &subject)
                .into_iter()
                .map(|s| vec![Value::Text(s)])
                .collect()
        })
    };
    matches!(name, "regexp_matches" | "regexp_split_to_table").then(run)
}

/// The result columns of the set-returning forms.
pub fn table_columns(name: &str, args: &[DataType]) -> Option<Vec<(String, DataType)>> {
    if !(2..=3).contains(&args.len()) {
        return None;
    }
    match name {
        "regexp_matches" => Some(vec![(
            name.to_string(),
            DataType::Array(Box::new(DataType::Text)),
        )]),
        "regexp_split_to_table" => Some(vec![(name.to_string(), DataType::Text)]),
        _ => None,
    }
}
