//! The Dockerfile parser: text to build stages and instructions, with errors naming the
//! line. Pure: no I/O. It follows the 2014 Dockerfile reference and, where that is silent,
//! moby 20.10's classic builder; variable substitution is left to the builder, which calls
//! [`substitute`] on each argument Docker expands.

mod ast;
mod duration;
mod error;
mod flags;
mod healthcheck;
mod instruction;
mod kv;
mod lines;
mod ports;
mod render;
mod substitute;
mod words;

pub use ast::{Arg, Command, Copy, Dockerfile, From, Healthcheck, Instruction, Located, Stage};
pub use duration::DurationError;
pub use error::{ParseError, ParseErrorKind};
pub use flags::FlagError;
pub use healthcheck::HealthcheckError;
pub use lines::DirectiveError;
pub use ports::{check_port, PortError};
pub use render::{to_text, to_text_with_escape};
pub use substitute::{substitute, SubstError};
pub use words::split_words;

use instruction::Parsed;

/// Parses a whole Dockerfile. The first instruction must be `FROM` (only `ARG` may come
/// before it); each `FROM` starts a stage.
///
/// ```
/// use berth_dockerfile::{parse, substitute, Command, Instruction};
///
/// let dockerfile = parse("FROM ubuntu\nENV DIR $HOME/srv\nRUN echo hi > $DIR/greeting\n")?;
/// let steps = &dockerfile.stages[0].instructions;
/// assert_eq!(steps[1].original, "RUN echo hi > $DIR/greeting");
/// assert_eq!(steps[1].inner, Instruction::Run(Command::Shell("echo hi > $DIR/greeting".into())));
/// let Instruction::Env(pairs) = &steps[0].inner else { unreachable!() };
/// let lookup = |name: &str| (name == "HOME").then(|| "/root".to_string());
/// assert_eq!(substitute(&pairs[0].1, &lookup, dockerfile.escape)?, "/root/srv");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let source = lines::split(text)?;
    let mut stages = Stages::default();
    for line in &source.lines {
        stages.push(instruction::parse_line(line, source.escape)?)?;
    }
    stages.finish(source.escape, source.line_count)
}

/// Parses an `ONBUILD` trigger as the image config stores it (`ADD . /app/src`), for the
/// build that uses the image as its base. `ONBUILD`, `FROM` and `MAINTAINER` are refused.
pub fn parse_trigger(text: &str, escape: char) -> Result<Located<Instruction>, ParseError> {
    instruction::trigger(text.trim(), escape, 1).map_err(|kind| ParseError::new(1, kind))
}

/// Stages as they are read, with the ARGs before the first FROM.
#[derive(Default)]
struct Stages {
    args_before_from: Vec<Arg>,
    stages: Vec<Stage>,
    last_line: usize,
}

impl Stages {
    fn push(&mut self, located: Located<Parsed>) -> Result<(), ParseError> {
        let Located { line, original, inner } = located;
        self.last_line = line;
        match (inner, self.stages.last_mut()) {
            (Parsed::From(from), _) => {
                self.stages.push(Stage { from: Located { line, original, inner: from }, instructions: Vec::new() })
            }
            (Parsed::Instruction(inner), Some(stage)) => {
                stage.instructions.push(Located { line, original, inner });
            }
            (Parsed::Instruction(Instruction::Arg(arg)), None) => self.args_before_from.push(arg),
            (Parsed::Instruction(_), None) => {
                return Err(ParseError::new(line, ParseErrorKind::FirstNotFrom(original)));
            }
        }
        Ok(())
    }

    fn finish(self, escape: char, line_count: usize) -> Result<Dockerfile, ParseError> {
        if self.stages.is_empty() {
            return Err(match self.args_before_from.is_empty() {
                true => ParseError::new(line_count.max(1), ParseErrorKind::NoInstructions),
                false => ParseError::new(self.last_line, ParseErrorKind::NoFrom),
            });
        }
        Ok(Dockerfile { stages: self.stages, args_before_from: self.args_before_from, escape })
    }
}

#[cfg(test)]
mod tests;
