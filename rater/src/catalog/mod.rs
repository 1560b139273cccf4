//! The tariff catalog: a TOML file, checked and compiled into [`Tables`].
//!
//! Checking and compiling are one pass: every name is resolved once, and
//! every problem found on the way is reported as `file:line:col: message`.
//! A catalog with any problem is refused whole.

mod compile;
pub mod model;

use std::path::Path;

use thiserror::Error;

use crate::tables::Tables;

/// One problem in a file, at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, naming the offending value.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at a byte offset of `text`.
    #[must_use]
    pub fn at(text: &str, offset: usize, message: String) -> Self {
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Self { line, col, message }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Why a file could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file has problems; each is listed.
    #[error("{}", render(path, diagnostics))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found.
        diagnostics: Vec<Diagnostic>,
    },
}

fn render(path: &str, diagnostics: &[Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("{path}:{}:{}: {}", d.line, d.col, d.message)).collect::<Vec<_>>().join("\n")
}

/// Reads, checks and compiles a catalog file.
pub fn load(path: &Path) -> Result<Tables, LoadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: name.clone(), source })?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => parse(text, &name),
        Err(e) => {
            // Valid up to there, so the position is a line and column too.
            let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
            let message = "the file is not UTF-8".to_string();
            Err(LoadError::Invalid { path: name, diagnostics: vec![Diagnostic::at(&valid, valid.len(), message)] })
        }
    }
}

/// Checks and compiles catalog text; `name` is used in messages.
pub fn parse(text: &str, name: &str) -> Result<Tables, LoadError> {
    let file: model::CatalogFile = toml::from_str(text).map_err(|e| LoadError::Invalid {
        path: name.to_string(),
        diagnostics: vec![Diagnostic::at(
            text,
            e.span().map_or(0, |s| s.start),
            e.message().trim_end().replace('\n', " "),
        )],
    })?;
    compile::compile(text, &file).map_err(|diagnostics| LoadError::Invalid { path: name.to_string(), diagnostics })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_lines_and_columns() {
        let text = "a = 1\nbé = 2\n";
        let d = Diagnostic::at(text, text.find('2').unwrap(), "x".into());
        assert_eq!((d.line, d.col), (2, 6));
    }
}
