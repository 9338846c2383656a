//! POSIX regular-expression matching for `~`, `!~`, `~*` and `!~*`, on the `regex` crate.
//!
//! PostgreSQL's "advanced regular expressions" and the `regex` crate agree on the syntax
//! clients use in catalog queries (`^(t)$`, `^pg_toast`, bracket expressions, `[[:alpha:]]`);
//! the word-boundary escapes `\m`, `\M`, `\y` and `[[:<:]]`/`[[:>:]]` are translated to `\b`.
//! Back-references (`\1`), which the `regex` crate cannot match, are refused with PostgreSQL's
//! error code for invalid patterns. Compiled patterns are cached per thread.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::error::{Error, Result};

/// `2201B invalid_regular_expression`.
const INVALID_REGULAR_EXPRESSION: &str = "2201B";
/// Patterns kept compiled per thread (the cache is cleared when it fills).
const CACHE_SIZE: usize = 64;

thread_local! {
    static CACHE: RefCell<HashMap<(String, Flags), regex::Regex>> = RefCell::new(HashMap::new());
}

/// The options of the regexp functions' `flags` argument that change matching (`g` is the
/// caller's business).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    /// `i`.
    pub case_insensitive: bool,
    /// `g`: every match, not just the first.
    pub global: bool,
    /// `n` (or `m`): newline-sensitive (`.` and bracket expressions skip newlines, `^`/`$`
    /// match at them).
    pub newline: bool,
    /// `x`: expanded syntax (white space and `#` comments ignored).
    pub expanded: bool,
}

impl Flags {
    /// Parses PostgreSQL's flag letters (`c` case-sensitive, `i`, `g`, `n`/`m`, `p`, `w`, `s`,
    /// `t`, `x`; `q` and `e`/`b` are refused).
    pub fn parse(flags: &str) -> Result<Flags> {
        let mut f = Flags::default();
        for c in flags.chars() {
            match c {
                'c' => f.case_insensitive = false,
                'i' => f.case_insensitive = true,
                'g' => f.global = true,
                'n' | 'm' | 'p' | 'w' => f.newline = true,
                's' => f.newline = false,
                't' => f.expanded = false,
                'x' => f.expanded = true,
                other => {
                    return Err(Error::new(
                        "22023",
                        format!("invalid regular expression option: \"{other}\""),
                    ))
                }
            }
        }
        Ok(f)
    }
}

/// `pattern` compiled with `flags` (cached per thread). `.` matches a newline unless the
/// flags say newline-sensitive, as in PostgreSQL.
pub fn compiled(pattern: &str, flags: Flags) -> Result<regex::Regex> {
    if has_back_reference(pattern) {
        return Err(Error::new(
            INVALID_REGULAR_EXPRESSION,
            "invalid regular expression: back-references are not supported",
        ));
    }
    let flags = Flags {
        global: false,
        ..flags
    };
    let key = (pattern.to_string(), flags);
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(&key) {
            return Ok(re.clone());
        }
        let re = regex::RegexBuilder::new(&translate(pattern))
            .case_insensitive(flags.case_insensitive)
            .dot_matches_new_line(!flags.newline)
            .multi_line(flags.newline)
            .ignore_whitespace(flags.expanded)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| {
                Error::new(
                    INVALID_REGULAR_EXPRESSION,
                    format!("invalid regular expression: {}", first_line(&e.to_string())),
                )
            })?;
        if cache.len() >= CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, re.clone());
        Ok(re)
    })
}

fn translate(pattern: &str) -> String {
    pattern
        .replace("[[:<:]]", "\\b")
        .replace("[[:>:]]", "\\b")
        .replace("\\m", "\\b")
        .replace("\\M", "\\b")
        .replace("\\y", "\\b")
}

/// Whether `text` matches `pattern` anywhere (`~`), ignoring case with `case_insensitive`.
pub fn matches(text: &str, pattern: &str, case_insensitive: bool) -> Result<bool> {
    let flags = Flags {
        case_insensitive,
        ..Flags::default()
    };
    Ok(compiled(pattern, flags)?.is_match(text))
}

/// Whether `pattern` has a back-reference (`\1`..`\9` after an even run of backslashes, so
/// not an escaped backslash followed by a digit).
fn has_back_reference(pattern: &str) -> bool {
    let mut slashes = 0;
    for c in pattern.chars() {
        if c == '\\' {
            slashes += 1;
            continue;
        }
        if slashes % 2 == 1 && ('1'..='9').contains(&c) {
            return true;
        }
        slashes = 0;
    }
    false
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn psql_patterns_match_like_postgres() {
        assert_eq!(matches("t", "^(t)$", false).ok(), Some(true));
        assert_eq!(matches("tt", "^(t)$", false).ok(), Some(false));
        assert_eq!(matches("pg_toast", "^pg_toast", false).ok(), Some(true));
        assert_eq!(matches("public", "^pg_", false).ok(), Some(false));
        assert_eq!(matches("Items", "^(items)$", true).ok(), Some(true));
        assert_eq!(matches("Items", "^(items)$", false).ok(), Some(false));
        assert_eq!(matches("a1", "[[:digit:]]", false).ok(), Some(true));
        assert_eq!(matches("foo bar", "\\mbar", false).ok(), Some(true));
        assert_eq!(matches("xyz", "y", false).ok(), Some(true));
    }

    #[test]
    fn back_references_are_refused_but_escaped_backslashes_are_not() {
        assert!(super::has_back_reference("(a)\\1"));
        assert!(!super::has_back_reference("a\\\\1"));
        assert!(!super::has_back_reference("\\d+"));
        assert_eq!(
            matches("x", "(x)\\1", false).err().map(|e| e.sqlstate()),
            Some("2201B")
        );
        assert_eq!(matches("a\\1", "a\\\\1", false).ok(), Some(true));
    }

    #[test]
    fn invalid_patterns_fail_with_2201b() {
        let e = matches("x", "(", false).err().map(|e| e.sqlstate());
        assert_eq!(e, Some("2201B"));
    }
}
