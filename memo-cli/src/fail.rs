//! Why a command failed, and its exit code.

use std::fmt;

/// A failure of memo itself, with the exit code the README documents.
#[derive(Debug)]
pub(crate) enum Fail {
    /// No such record (1).
    NotFound(String),
    /// A bad store URL, a file that is not a memo cache, a bad argument value (3).
    Config(String),
    /// The store is unreachable or failing (4).
    Down(String),
    /// The store cannot do what was asked (5).
    Unsupported(String),
}

impl Fail {
    /// The exit code of an inspection command that failed this way.
    pub(crate) fn code(&self) -> i32 {
        match self {
            Fail::NotFound(_) => 1,
            Fail::Config(_) => 3,
            Fail::Down(_) => 4,
            Fail::Unsupported(_) => 5,
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::NotFound(m) | Fail::Config(m) | Fail::Down(m) | Fail::Unsupported(m) => {
                f.write_str(m)
            }
        }
    }
}

impl From<memo::Error> for Fail {
    fn from(error: memo::Error) -> Self {
        match error {
            memo::Error::Config(m) => Fail::Config(m),
            memo::Error::NotFound { key } => Fail::NotFound(format!("no record under {key:?}")),
            e @ memo::Error::Unsupported { .. } => Fail::Unsupported(e.to_string()),
            e => Fail::Down(error_chain(&e)),
        }
    }
}

/// An error and its sources, joined with `: `.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}
