//! The one error type of configuration reading: where (file, line, section,
//! key or flag) and a typed [`Problem`], rendered as one line an operator
//! can act on.

use super::denied::Denied;
use super::value::Cap;
use super::Program;
use std::fmt;
use std::path::PathBuf;

/// What kind of problem a [`ConfigError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read (missing, no permission).
    Unreadable,
    /// The file is not valid ini syntax.
    Syntax,
    /// A value is not what the key needs.
    Invalid,
    /// A key the program needs is absent.
    Missing,
}

/// What is wrong, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file could not be read: the OS error's text.
    Unreadable(String),
    /// The account running us may not read the file (boxed: it is rare
    /// and large, and `Problem` travels in every `Result` of the reader).
    Denied(Box<Denied>),
    /// The ini parser's complaint about a line (shown without its line
    /// number, which the [`ConfigError`] names).
    Syntax(crate::ini::IniError),
    /// `key` stands without `=` or `:`.
    NoValue {
        key: &'static str,
        expected: &'static str,
    },
    /// The value does not parse as the key's type.
    Invalid {
        value: Box<str>,
        expected: &'static str,
    },
    /// The value parses but is above the key's cap.
    TooLarge {
        value: Box<str>,
        expected: &'static str,
        cap: &'static Cap,
    },
    /// A key `program` needs is absent; `no_section`: the whole
    /// `section` is.
    Missing {
        program: Program,
        section: &'static str,
        no_section: bool,
        expected: &'static str,
    },
}

impl Problem {
    /// The [`ErrorKind`] this problem is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Problem::Unreadable(_) | Problem::Denied(_) => ErrorKind::Unreadable,
            Problem::Syntax(_) => ErrorKind::Syntax,
            Problem::NoValue { .. } | Problem::Invalid { .. } | Problem::TooLarge { .. } => {
                ErrorKind::Invalid
            }
            Problem::Missing { .. } => ErrorKind::Missing,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(e) => write!(
                f,
                "cannot read: {e} (expected a readable config.ini; use --config PATH)"
            ),
            Problem::Denied(d) => write!(f, "{d}"),
            Problem::Syntax(e) => write!(f, "{}", e.what()),
            Problem::NoValue { key, expected } => {
                write!(f, "has no value; expected {key} = {expected}")
            }
            Problem::Invalid { value, expected } => {
                write!(f, "{value:?} is not valid; expected {expected}")
            }
            Problem::TooLarge {
                value,
                expected,
                cap,
            } => write!(f, "{value:?} is too large; expected {expected}, {cap}"),
            Problem::Missing {
                program,
                section,
                no_section,
                expected,
            } => {
                write!(f, "missing, {} needs it", program.name())?;
                if *no_section {
                    write!(f, " (the file has no [{section}] section)")?;
                }
                write!(f, "; expected {expected}")
            }
        }
    }
}

/// One configuration problem; `Display` is one line naming the file, line,
/// section, key, the problem and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Always `problem.kind()`; a field so callers can match on it.
    pub kind: ErrorKind,
    /// The file, or `command line` for a flag's value.
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<&'static str>,
    /// The key, or the flag (`--check-period`) for a command-line value.
    pub key: Option<&'static str>,
    /// What is wrong and what was expected (boxed: errors travel in
    /// `Result`s, which stay small).
    pub problem: Box<Problem>,
}

impl ConfigError {
    /// An error of `problem` at the given place.
    pub(crate) fn new(
        file: PathBuf,
        line: Option<usize>,
        section: Option<&'static str>,
        key: Option<&'static str>,
        problem: Problem,
    ) -> ConfigError {
        ConfigError {
            kind: problem.kind(),
            file,
            line,
            section,
            key,
            problem: Box::new(problem),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        match (&self.section, &self.key) {
            (Some(s), Some(k)) => write!(f, "[{s}] {k}: ")?,
            (Some(s), None) => write!(f, "[{s}]: ")?,
            (None, Some(k)) => write!(f, "{k}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for ConfigError {}
