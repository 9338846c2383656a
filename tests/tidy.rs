//! Repository hygiene, checked by `cargo test`: every source file opens with a `//!` header,
//! stays under `MAX_LINES` lines, has a `// SAFETY:` comment just above each `unsafe`, and has
//! no leftover `todo!`, `dbg!` or `FIXME`. Test files (`tests/`) are exempt from the size rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// A non-test source file longer than this should be split by purpose.
const MAX_LINES: usize = 800;
/// Files allowed past `MAX_LINES` for now. This list may only shrink.
const ALLOW_LONG: &[&str] = &[];
/// How far above an `unsafe` its `// SAFETY:` comment may start.
const SAFETY_WINDOW: usize = 8;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "fixtures" | "orbit-data" | "orbit-bench"
            ) {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(root, &mut files);
    assert!(
        files.len() > 10,
        "the tidy check found too few files to mean anything"
    );
    files
}

#[test]
fn every_source_file_is_tidy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let me = Path::new(file!()).file_name().unwrap();
    let mut problems = Vec::new();
    for path in sources() {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let is_test_file = rel.split('/').any(|part| part == "tests");
        if !lines.first().is_some_and(|l| l.starts_with("//!")) {
            problems.push(format!(
                "{rel}: does not open with a //! header saying what it owns"
            ));
        }
        if !is_test_file && lines.len() > MAX_LINES && !ALLOW_LONG.contains(&rel.as_str()) {
            problems.push(format!(
                "{rel}: {} lines (limit {MAX_LINES}): split it by purpose",
                lines.len()
            ));
        }
        if path.file_name() == Some(me) {
            continue;
        }
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for banned in ["todo!(", "dbg!(", "unimplemented!("] {
                if code.contains(banned) {
                    problems.push(format!("{rel}:{}: {banned}", i + 1));
                }
            }
            if line.contains("FIXME") {
                problems.push(format!("{rel}:{}: FIXME left behind", i + 1));
            }
            if code.contains("unsafe {")
                || code.contains("unsafe fn")
                || code.contains("unsafe impl")
            {
                let from = i.saturating_sub(SAFETY_WINDOW);
                if !lines[from..i].iter().any(|l| l.contains("SAFETY:")) {
                    problems.push(format!(
                        "{rel}:{}: unsafe without a // SAFETY: comment above it",
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "tidy problems:\n{}",
        problems.join("\n")
    );
}
