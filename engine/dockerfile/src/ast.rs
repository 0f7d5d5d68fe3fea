//! The parsed shape of a Dockerfile: stages, instructions and their arguments.
//!
//! Arguments are kept as written (quotes, escapes and `$VAR` references intact) wherever
//! Docker substitutes variables at build time; the builder passes them through
//! [`crate::substitute`], which expands variables and removes quotes the way moby does.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A whole Dockerfile: its build stages, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dockerfile {
    /// One stage per `FROM`; never empty.
    pub stages: Vec<Stage>,
    /// `ARG` instructions before the first `FROM`: they may be used in any `FROM` line.
    pub args_before_from: Vec<Arg>,
    /// The escape character: `\` unless a `# escape=` directive chose a backtick.
    pub escape: char,
}

/// The instructions from one `FROM` up to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// The `FROM` that starts the stage; located, since it is a build step of its own.
    pub from: Located<From>,
    pub instructions: Vec<Located<Instruction>>,
}

/// A parsed item with where it came from in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located<T> {
    /// 1-based number of the instruction's first line.
    pub line: usize,
    /// The instruction as written, continuation lines joined (without the escape character
    /// that continued them) and surrounding whitespace trimmed: what `Step N : ...` prints
    /// and what the build cache keys on. For an `ONBUILD` trigger it is the trigger text,
    /// `ADD . /app/src`, as the image config records it.
    pub original: String,
    pub inner: T,
}

/// Every instruction that may follow `FROM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Instruction {
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    /// Port specs as written (`80`, `53/udp`, `8000-8010`, `$PORT`).
    Expose(Vec<String>),
    /// Key/value pairs as written; keys and values both go through substitution.
    Env(Vec<(String, String)>),
    Add(Copy),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    /// The trigger, parsed; its `original` is the trigger text the image config stores.
    Onbuild(Box<Located<Instruction>>),
    Maintainer(String),
    Arg(Arg),
    Label(Vec<(String, String)>),
    Healthcheck(Healthcheck),
    Stopsignal(String),
    /// The shell used by the shell forms of later instructions; always JSON form.
    Shell(Vec<String>),
}

/// The two ways to write a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The JSON array form, run without a shell.
    Exec(Vec<String>),
    /// Anything else: the text is handed to the shell (`/bin/sh -c`) as written.
    Shell(String),
}

/// The arguments of `ADD` and `COPY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
    /// `COPY --from=<stage or image>`.
    pub from: Option<String>,
    /// `--chown=<user>[:<group>]`.
    pub chown: Option<String>,
    /// Written as a JSON array (`COPY ["a b", "/c/"]`).
    pub json_form: bool,
}

/// `FROM [--platform=<platform>] <image> [AS <name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct From {
    /// The image as written; it may hold `$VAR` references to the ARGs before FROM.
    pub image: String,
    /// The stage name, lower-cased as Docker does.
    pub alias: Option<String>,
    pub platform: Option<String>,
}

/// `ARG <name>[=<default>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arg {
    pub name: String,
    pub default: Option<String>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [OPTIONS] CMD <command>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Healthcheck {
    /// Disable any health check inherited from the base image.
    None,
    /// Options left out are `None`, so the builder can apply Docker's defaults.
    Check {
        test: Command,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        retries: Option<u32>,
    },
}

impl Instruction {
    /// The instruction's keyword, upper case, as Docker prints it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Shell(_) => "SHELL",
        }
    }
}
