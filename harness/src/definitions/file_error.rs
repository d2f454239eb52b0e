//! Turning TOML and validation errors into messages that name the file,
//! line and column and say what was expected.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// An error in a definition file (machine or scenario), with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => {
                write!(f, "{}:{line}:{col}: {}", self.path.display(), self.message)
            }
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

impl FileError {
    /// An error at `span` of `text` in `path`.
    pub fn at(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Self {
        FileError {
            path: path.to_path_buf(),
            position: span.map(|s| line_col(text, s.start)),
            message: message.into(),
        }
    }

    /// A TOML parse or schema error.
    pub fn from_toml(path: &Path, text: &str, e: toml::de::Error) -> Self {
        let message = e.message().trim().to_string();
        FileError::at(path, text, e.span(), message)
    }

    /// An error about the whole file (I/O).
    pub fn io(path: &Path, e: std::io::Error) -> Self {
        FileError {
            path: path.to_path_buf(),
            position: None,
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 8), (2, 3));
    }
}

/// Why a JSON file the harness wrote (a reproducer, a soak shard) cannot be
/// read back; each names the file, and the line and column of bad JSON.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {message}", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

impl ReadError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> ReadError {
        ReadError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Bad JSON in `path` at `line` (the error's own column).
    pub fn json(path: &Path, line: usize, e: &serde_json::Error) -> ReadError {
        ReadError::Json {
            path: path.to_path_buf(),
            line,
            column: e.column(),
            message: e.to_string(),
        }
    }
}
