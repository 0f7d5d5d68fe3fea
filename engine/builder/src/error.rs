//! What can stop a build, and how the API reports it.

/// A build that could not go on. `Invalid` errors come from the user's input (Dockerfile,
/// context, options) and are answered with 400 when nothing has been streamed yet.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("dockerfile parse error line {line}: {message}")]
    Parse { line: usize, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("The command '{command}' returned a non-zero code: {code}")]
    CommandFailed { command: String, code: i64 },
    #[error("{0}")]
    Engine(String),
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}

impl BuildError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
        let what = what.into();
        move |source| BuildError::Io { what, source }
    }

    /// Whether the error is the user's (HTTP 400) rather than the engine's.
    pub fn is_invalid(&self) -> bool {
        matches!(self, BuildError::Parse { .. } | BuildError::Invalid(_))
    }

    /// The exit code of a failed `RUN`, which the error message of the stream carries.
    pub fn exit_code(&self) -> Option<i64> {
        match self {
            BuildError::CommandFailed { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<berth_dockerfile::ParseError> for BuildError {
    fn from(e: berth_dockerfile::ParseError) -> BuildError {
        BuildError::Parse { line: e.line, message: e.kind.to_string() }
    }
}

impl From<berth_dockerfile::SubstError> for BuildError {
    fn from(e: berth_dockerfile::SubstError) -> BuildError {
        BuildError::Invalid(e.to_string())
    }
}
