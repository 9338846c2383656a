//! LIKE on stored text's bytes, for the patterns the column-batch filter takes
//! (`batch_filter`): literal characters and `%` only.

/// A LIKE pattern of literal characters and `%`: its literal runs, and whether it begins and
/// ends with a literal run (anchored there). Matched on the text's bytes: a run of valid UTF-8
/// found in valid UTF-8 starts and ends on character boundaries, so byte matching is
/// character matching here (`_`, which matches one character, and escapes are not taken).
#[derive(Debug)]
pub(crate) struct Pattern {
    /// The whole pattern, when it has no `%`: the text must equal it.
    exact: Option<Vec<u8>>,
    first: Vec<u8>,
    last: Vec<u8>,
    middle: Vec<memchr::memmem::Finder<'static>>,
}

impl Pattern {
    /// The pattern `p`, if it has only literal characters and `%`.
    pub(crate) fn new(p: &str) -> Option<Pattern> {
        if p.contains(['_', '\\']) {
            return None;
        }
        let runs: Vec<&str> = p.split('%').collect();
        if runs.len() == 1 {
            return Some(Pattern {
                exact: Some(p.as_bytes().to_vec()),
                first: Vec::new(),
                last: Vec::new(),
                middle: Vec::new(),
            });
        }
        let (first, last) = (runs.first()?, runs.last()?);
        let middle = runs
            .get(1..runs.len() - 1)?
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| memchr::memmem::Finder::new(r.as_bytes()).into_owned())
            .collect();
        Some(Pattern {
            exact: None,
            first: first.as_bytes().to_vec(),
            last: last.as_bytes().to_vec(),
            middle,
        })
    }

    /// Whether `s` matches: the first run at its start, the last at its end, and the runs
    /// between them in order in what is left (leftmost first, which finds a match if any).
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        if let Some(e) = &self.exact {
            return s == e.as_slice();
        }
        let Some(end) = s.len().checked_sub(self.last.len()) else {
            return false;
        };
        // A pattern starting or ending with `%` has an empty run there: not compared (a
        // call per row to compare nothing).
        if end < self.first.len()
            || (!self.first.is_empty() && !s.starts_with(&self.first))
            || (!self.last.is_empty() && !s.ends_with(&self.last))
        {
            return false;
        }
        let mut at = self.first.len();
        for f in &self.middle {
            match s.get(at..end).and_then(|rest| f.find(rest)) {
                Some(i) => at += i + f.needle().len(),
                None => return false,
            }
        }
        true
    }
}
