//! Configuration errors that always carry a file position, so a user sees
//! `package.yaml:12:5: …` instead of a bare message.

use std::fmt;

/// A 1-based line and column in the build file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Why a build file was rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The build file's name as the user gave it.
    pub file: String,
    /// Where in the file the problem is.
    pub pos: Pos,
    /// What is wrong, in the user's terms.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line == 0 {
            // Whole-file problems (options, missing environment) have no position.
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.pos, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// A position-tagged message before the file name is known; `in_file` adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file the position is in, when it is not the build file (a
    /// pipeline loaded by `uses:`).
    pub file: Option<String>,
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// The scalar's raw text before the offending spot, when the error is
    /// inside a scalar that starts at `pos`: [`Located::place`] turns it
    /// into the spot's own line and column.
    pub within: Option<String>,
}

impl Located {
    /// Build an error at `pos`.
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Located {
            file: None,
            pos,
            message: message.into(),
            within: None,
        }
    }

    /// Build an error at byte `offset` of `text`'s raw value (the spot of a
    /// `${{` or of a bad character); the scalar's start until placed.
    pub fn inside(text: &super::model::Text, offset: usize, message: impl Into<String>) -> Self {
        let mut error = Located::new(text.pos, message);
        error.within = text.value.get(..offset).map(str::to_string);
        error
    }

    /// Move an error inside a scalar of the build file to its exact line
    /// and column, reading `source` (the build file's text). Errors in
    /// other files, and spots whose column cannot be known for sure (an
    /// escape or a folded line before them), keep the scalar's start.
    pub fn place(mut self, source: &str) -> Self {
        if let (None, Some(within)) = (&self.file, self.within.take()) {
            if let Some(pos) = super::locate::spot(source, self.pos, &within) {
                self.pos = pos;
            }
        }
        self
    }

    /// Place the error in `file` unless it already names one (errors from
    /// nested pipeline files keep the innermost file).
    pub fn in_pipeline(mut self, file: &str) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_string());
        }
        self
    }

    /// Attach the build file's name for display (kept if another file was
    /// already named).
    pub fn in_file(self, file: &str) -> ConfigError {
        ConfigError {
            file: self.file.unwrap_or_else(|| file.to_string()),
            pos: self.pos,
            message: self.message,
        }
    }
}

/// Result type of the config layer before the file name is attached.
pub type LResult<T> = Result<T, Located>;
