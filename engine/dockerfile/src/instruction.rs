//! One logical line to one instruction: the keyword, its flags and its arguments, with
//! each instruction's argument rules (JSON or shell form, word counts, flags it takes).

use crate::ast::{self, Command, Instruction, Located};
use crate::error::{ParseError, ParseErrorKind};
use crate::flags::{self, FlagError, Flags};
use crate::lines::LogicalLine;
use crate::ports::check_port;
use crate::substitute::substitute;
use crate::words::{first_word, json_array, split_closed_words};
use crate::{healthcheck, kv};

/// What a line holds: a `FROM`, which starts a stage, or an instruction within one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    From(ast::From),
    Instruction(Instruction),
}

/// Every keyword Docker knows, for matching regardless of case.
const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "EXPOSE",
    "ENV",
    "LABEL",
    "ARG",
    "ADD",
    "COPY",
    "VOLUME",
    "USER",
    "WORKDIR",
    "MAINTAINER",
    "STOPSIGNAL",
    "SHELL",
    "HEALTHCHECK",
    "ONBUILD",
];

/// An instruction's arguments: the flag words before them, the rest of the line, and the
/// escape character in force.
pub(crate) struct Args<'a> {
    pub flags: Vec<String>,
    pub text: &'a str,
    pub escape: char,
}

impl Args<'_> {
    /// For instructions that take no flags.
    pub(crate) fn no_flags(&self, instruction: &'static str) -> Result<(), FlagError> {
        Flags::parse(instruction, &self.flags, &[]).map(|_| ())
    }

    pub(crate) fn flags(&self, instruction: &'static str, allowed: &[&str]) -> Result<Flags, FlagError> {
        Flags::parse(instruction, &self.flags, allowed)
    }

    /// The JSON array form's strings, or `None` for the shell form.
    pub(crate) fn json(&self, instruction: &'static str) -> Result<Option<Vec<String>>, ParseErrorKind> {
        json_array(self.text).map_err(|_| ParseErrorKind::NotStringArray { instruction, args: self.text.to_string() })
    }

    /// The arguments split into words; a quote left open is an error.
    pub(crate) fn words(&self, instruction: &'static str) -> Result<Vec<String>, ParseErrorKind> {
        split_closed_words(self.text, self.escape).map_err(|quote| {
            let args = self.text.to_string();
            ParseErrorKind::UnterminatedQuote { instruction, quote, args }
        })
    }
}

/// Parses one logical line.
pub(crate) fn parse_line(line: &LogicalLine, escape: char) -> Result<Located<Parsed>, ParseError> {
    let inner = parse_text(&line.text, escape, line.line).map_err(|kind| ParseError::new(line.line, kind))?;
    Ok(Located { line: line.line, original: line.text.clone(), inner })
}

fn parse_text(text: &str, escape: char, line: usize) -> Result<Parsed, ParseErrorKind> {
    let (word, rest) = first_word(text);
    let keyword = KEYWORDS
        .iter()
        .find(|k| k.eq_ignore_ascii_case(word))
        .ok_or_else(|| ParseErrorKind::UnknownInstruction(word.to_uppercase()))?;
    let (flags, rest) = flags::extract(rest);
    let args = Args { flags, text: rest.trim(), escape };
    match *keyword {
        "FROM" => from(&args).map(Parsed::From),
        keyword => instruction(keyword, &args, line).map(Parsed::Instruction),
    }
}

fn instruction(keyword: &'static str, args: &Args, line: usize) -> Result<Instruction, ParseErrorKind> {
    use Instruction as I;
    Ok(match keyword {
        "RUN" => I::Run(run(args)?),
        "CMD" => I::Cmd(command(args, "CMD")?),
        "ENTRYPOINT" => I::Entrypoint(command(args, "ENTRYPOINT")?),
        "EXPOSE" => I::Expose(expose(args)?),
        "ENV" => I::Env(kv::pairs(args, "ENV")?),
        "LABEL" => I::Label(kv::pairs(args, "LABEL")?),
        "ARG" => I::Arg(kv::arg(args)?),
        "ADD" => I::Add(copy(args, "ADD", &["chown"])?),
        "COPY" => I::Copy(copy(args, "COPY", &["chown", "from"])?),
        "VOLUME" => I::Volume(volume(args)?),
        "USER" => I::User(one_word(args, "USER")?),
        "STOPSIGNAL" => I::Stopsignal(one_word(args, "STOPSIGNAL")?),
        "WORKDIR" => I::Workdir(rest_of_line(args, "WORKDIR")?),
        "MAINTAINER" => I::Maintainer(rest_of_line(args, "MAINTAINER")?),
        "SHELL" => I::Shell(shell(args)?),
        "HEALTHCHECK" => I::Healthcheck(healthcheck::parse(&args.flags, args.text)?),
        "ONBUILD" => I::Onbuild(Box::new(onbuild(args, line)?)),
        _ => return Err(ParseErrorKind::UnknownInstruction(keyword.to_string())),
    })
}

/// `FROM [--platform=...] image [AS name]`.
fn from(args: &Args) -> Result<ast::From, ParseErrorKind> {
    let flags = args.flags("FROM", &["platform"])?;
    let words = args.words("FROM")?;
    let (image, alias) = match words.as_slice() {
        [image] => (image.clone(), None),
        [image, as_, name] if as_.eq_ignore_ascii_case("as") => (image.clone(), Some(stage_name(name)?)),
        _ => return Err(ParseErrorKind::FromArguments(args.text.to_string())),
    };
    Ok(ast::From { image, alias, platform: flags.non_empty("platform") })
}

/// Stage names are lower-cased and must match `^[a-z][a-z0-9-_.]*$`, as in moby.
fn stage_name(name: &str) -> Result<String, ParseErrorKind> {
    let lower = name.to_lowercase();
    let mut chars = lower.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    match valid {
        true => Ok(lower),
        false => Err(ParseErrorKind::InvalidStageName(name.to_string())),
    }
}

/// RUN, CMD and ENTRYPOINT: the JSON form if the arguments are a JSON array, else the
/// shell form (so `[ -f x ] && ...` is a shell command).
fn command(args: &Args, instruction: &'static str) -> Result<Command, ParseErrorKind> {
    args.no_flags(instruction)?;
    if args.text.is_empty() {
        return Err(ParseErrorKind::MissingArguments(instruction));
    }
    Ok(match args.json(instruction)? {
        Some(words) => Command::Exec(words),
        None => Command::Shell(args.text.to_string()),
    })
}

/// `CMD []` clears the command, but `RUN []` has nothing to run.
fn run(args: &Args) -> Result<Command, ParseErrorKind> {
    match command(args, "RUN")? {
        Command::Exec(words) if words.is_empty() => Err(ParseErrorKind::MissingArguments("RUN")),
        command => Ok(command),
    }
}

/// Port specs, checked now unless they hold a variable that only the builder can expand.
fn expose(args: &Args) -> Result<Vec<String>, ParseErrorKind> {
    args.no_flags("EXPOSE")?;
    let ports = args.words("EXPOSE")?;
    if ports.is_empty() {
        return Err(ParseErrorKind::MissingArguments("EXPOSE"));
    }
    for port in ports.iter().filter(|port| !port.contains('$')) {
        let plain = substitute(port, &|_| None, args.escape).unwrap_or_else(|_| port.clone());
        check_port(&plain)?;
    }
    Ok(ports)
}

/// ADD and COPY: sources then the destination, in JSON form or as words.
fn copy(args: &Args, instruction: &'static str, allowed: &[&str]) -> Result<ast::Copy, ParseErrorKind> {
    let flags = args.flags(instruction, allowed)?;
    let json = args.json(instruction)?;
    let json_form = json.is_some();
    let mut words = match json {
        Some(words) => words,
        None => args.words(instruction)?,
    };
    let (Some(dest), false) = (words.pop(), words.is_empty()) else {
        let args = args.text.to_string();
        return Err(ParseErrorKind::MissingDestination { instruction, args });
    };
    Ok(ast::Copy { sources: words, dest, from: flags.non_empty("from"), chown: flags.non_empty("chown"), json_form })
}

/// VOLUME: JSON form or words; each path trimmed, none empty.
fn volume(args: &Args) -> Result<Vec<String>, ParseErrorKind> {
    args.no_flags("VOLUME")?;
    let paths = match args.json("VOLUME")? {
        Some(paths) => paths,
        None => args.words("VOLUME")?,
    };
    if paths.is_empty() {
        return Err(ParseErrorKind::MissingArguments("VOLUME"));
    }
    paths
        .into_iter()
        .map(|path| match path.trim() {
            "" => Err(ParseErrorKind::EmptyVolume(args.text.to_string())),
            trimmed => Ok(trimmed.to_string()),
        })
        .collect()
}

/// USER and STOPSIGNAL take one word (quotes allowed).
fn one_word(args: &Args, instruction: &'static str) -> Result<String, ParseErrorKind> {
    args.no_flags(instruction)?;
    match args.words(instruction)?.as_slice() {
        [word] => Ok(word.clone()),
        _ => Err(ParseErrorKind::ExactlyOneArgument { instruction, args: args.text.to_string() }),
    }
}

/// WORKDIR and MAINTAINER take the rest of the line, spaces included.
fn rest_of_line(args: &Args, instruction: &'static str) -> Result<String, ParseErrorKind> {
    args.no_flags(instruction)?;
    match args.text {
        "" => Err(ParseErrorKind::ExactlyOneArgument { instruction, args: String::new() }),
        text => Ok(text.to_string()),
    }
}

/// SHELL only has the JSON form.
fn shell(args: &Args) -> Result<Vec<String>, ParseErrorKind> {
    args.no_flags("SHELL")?;
    match args.json("SHELL")? {
        Some(words) if !words.is_empty() => Ok(words),
        Some(_) => Err(ParseErrorKind::MissingArguments("SHELL")),
        None if args.text.is_empty() => Err(ParseErrorKind::MissingArguments("SHELL")),
        None => Err(ParseErrorKind::NotJson { instruction: "SHELL", args: args.text.to_string() }),
    }
}

/// ONBUILD: the trigger is parsed now, so mistakes show at once, and kept as text for the
/// image config.
fn onbuild(args: &Args, line: usize) -> Result<Located<Instruction>, ParseErrorKind> {
    args.no_flags("ONBUILD")?;
    if args.text.is_empty() {
        return Err(ParseErrorKind::MissingArguments("ONBUILD"));
    }
    trigger(args.text, args.escape, line)
}

/// Parses an ONBUILD trigger; ONBUILD, FROM and MAINTAINER cannot be triggers.
pub(crate) fn trigger(text: &str, escape: char, line: usize) -> Result<Located<Instruction>, ParseErrorKind> {
    let keyword = first_word(text).0.to_ascii_uppercase();
    match keyword.as_str() {
        "ONBUILD" => return Err(ParseErrorKind::OnbuildChain),
        "FROM" | "MAINTAINER" => return Err(ParseErrorKind::OnbuildTrigger(keyword)),
        _ => {}
    }
    match parse_text(text, escape, line)? {
        Parsed::Instruction(inner) => Ok(Located { line, original: text.to_string(), inner }),
        Parsed::From(_) => Err(ParseErrorKind::OnbuildTrigger(keyword)),
    }
}
