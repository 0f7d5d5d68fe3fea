//! The parse error: what was wrong, on which line.

use crate::flags::FlagError;
use crate::healthcheck::HealthcheckError;
use crate::lines::DirectiveError;
use crate::ports::PortError;

/// A Dockerfile that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile line {line}: {kind}")]
pub struct ParseError {
    /// 1-based number of the first line of the offending instruction.
    pub line: usize,
    pub kind: ParseErrorKind,
}

impl ParseError {
    pub(crate) fn new(line: usize, kind: impl Into<ParseErrorKind>) -> Self {
        ParseError { line, kind: kind.into() }
    }
}

/// What was wrong with the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("the Dockerfile has no instructions")]
    NoInstructions,
    #[error("the Dockerfile has no FROM instruction, only ARG")]
    NoFrom,
    #[error("the first instruction must be FROM (only ARG may come before it), found {0:?}")]
    FirstNotFrom(String),
    #[error("unknown instruction: {0}")]
    UnknownInstruction(String),
    #[error(transparent)]
    Directive(#[from] DirectiveError),
    #[error(transparent)]
    Flag(#[from] FlagError),
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Healthcheck(#[from] HealthcheckError),
    #[error("{0} requires at least one argument")]
    MissingArguments(&'static str),
    #[error("{instruction} requires exactly one argument, got {args:?}")]
    ExactlyOneArgument { instruction: &'static str, args: String },
    #[error("FROM requires either one or three arguments (FROM <image> [AS <name>]), got {0:?}")]
    FromArguments(String),
    #[error("invalid name for build stage: {0:?}, name can't start with a number or contain symbols")]
    InvalidStageName(String),
    #[error("when using JSON array syntax, arrays must be comprised of strings only: {instruction} {args}")]
    NotStringArray { instruction: &'static str, args: String },
    #[error("{instruction} requires the arguments to be in JSON form, like {instruction} [\"executable\", \"param\"], got {args:?}")]
    NotJson { instruction: &'static str, args: String },
    #[error("{instruction} must have two arguments: {key:?} has no value (write {instruction} {key} <value> or {instruction} {key}=<value>)")]
    MissingValue { instruction: &'static str, key: String },
    #[error("{instruction} names can not be blank: {word:?}")]
    BlankName { instruction: &'static str, word: String },
    #[error("{instruction} syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    MissingEquals { instruction: &'static str, word: String },
    #[error("{instruction} requires at least two arguments, but only one was provided. Destination could not be determined: {args:?}")]
    MissingDestination { instruction: &'static str, args: String },
    #[error("unexpected end of {instruction} arguments while looking for the matching {quote} quote: {args:?}")]
    UnterminatedQuote { instruction: &'static str, quote: char, args: String },
    #[error("VOLUME specified can not be an empty string: {0}")]
    EmptyVolume(String),
    #[error("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
    OnbuildChain,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
}
