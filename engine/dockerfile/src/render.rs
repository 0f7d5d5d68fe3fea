//! Instructions back to Dockerfile text: what the parser reads back as the same
//! instruction. Used for round-trip tests and wherever an instruction built in code must be
//! written out.

use std::time::Duration;

use crate::ast::{Arg, Command, Copy, Healthcheck, Instruction};
use crate::words::split_closed_words;

/// Renders `instruction` as one Dockerfile line for a file with the default `\` escape.
/// Whatever the parser produced renders back to text that parses to the same instruction,
/// except a line that would end in the escape character or in whitespace escaped by it
/// (only a file's last line can produce those). Values built in code that no Dockerfile
/// could produce (a shell command with a newline, a key holding a space) render as closely
/// as the syntax allows.
pub fn to_text(instruction: &Instruction) -> String {
    to_text_with_escape(instruction, '\\')
}

/// [`to_text`] for a Dockerfile whose `# escape=` directive chose `escape`.
pub fn to_text_with_escape(instruction: &Instruction, escape: char) -> String {
    let args = match instruction {
        Instruction::Run(c) | Instruction::Cmd(c) | Instruction::Entrypoint(c) => command(c),
        Instruction::Expose(words) => words.join(" "),
        Instruction::Env(pairs) | Instruction::Label(pairs) => key_values(pairs, escape),
        Instruction::Add(copy) | Instruction::Copy(copy) => copy_args(copy),
        Instruction::Volume(words) | Instruction::Shell(words) => json(words),
        Instruction::User(text)
        | Instruction::Workdir(text)
        | Instruction::Maintainer(text)
        | Instruction::Stopsignal(text) => text.clone(),
        Instruction::Onbuild(trigger) => to_text_with_escape(&trigger.inner, escape),
        Instruction::Arg(arg) => arg_text(arg),
        Instruction::Healthcheck(check) => healthcheck(check),
    };
    let args = match instruction {
        Instruction::Add(_) | Instruction::Copy(_) | Instruction::Healthcheck(_) => args,
        _ => ends_flags(args),
    };
    format!("{} {args}", instruction.keyword())
}

/// Arguments that start with `--` would be read as flags: a lone `--` before them ends the
/// flags, as Docker reads it.
fn ends_flags(args: String) -> String {
    match args.starts_with("--") {
        true => format!("-- {args}"),
        false => args,
    }
}

fn command(command: &Command) -> String {
    match command {
        Command::Exec(words) => json(words),
        Command::Shell(text) => text.clone(),
    }
}

/// `["a", "b"]`, the spacing Docker's documentation uses.
fn json(words: &[String]) -> String {
    let items: Vec<String> = words.iter().map(|word| serde_json::Value::from(word.as_str()).to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `k=v k2=v2` as parsed, or the old `k value` form for one pair whose value has spaces.
fn key_values(pairs: &[(String, String)], escape: char) -> String {
    match pairs {
        [(key, value)] if !value.is_empty() && !is_one_word(&format!("{key}={value}"), escape) => {
            format!("{key} {value}")
        }
        _ => pairs.iter().map(|(key, value)| key_value(key, value, escape)).collect::<Vec<_>>().join(" "),
    }
}

/// `k=v` as it was written when that reads back as one word, else with the value quoted.
fn key_value(key: &str, value: &str, escape: char) -> String {
    let word = format!("{key}={value}");
    match is_one_word(&word, escape) {
        true => word,
        false => format!("{key}={}", quoted(value, escape)),
    }
}

/// Whether `text` reads back as itself, one word.
fn is_one_word(text: &str, escape: char) -> bool {
    matches!(split_closed_words(text, escape).as_deref(), Ok([word]) if word == text)
}

/// Double quotes, with `escape` before `"` and `escape`: read back as the same text by the
/// flag reader (with `\`) and by substitution.
fn quoted(value: &str, escape: char) -> String {
    let mut out = String::from('"');
    for c in value.chars() {
        if c == '"' || c == escape {
            out.push(escape);
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn copy_args(copy: &Copy) -> String {
    let mut parts = Vec::new();
    let flags = [("chown", &copy.chown), ("from", &copy.from)];
    for (name, value) in flags {
        if let Some(value) = value {
            parts.push(format!("--{name}={}", flag_value(value)));
        }
    }
    let mut paths = copy.sources.clone();
    paths.push(copy.dest.clone());
    parts.push(match copy.json_form {
        true => json(&paths),
        false => ends_flags(paths.join(" ")),
    });
    parts.join(" ")
}

fn flag_value(value: &str) -> String {
    let plain = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\'));
    match plain {
        true => value.to_string(),
        false => quoted(value, '\\'),
    }
}

fn arg_text(arg: &Arg) -> String {
    match &arg.default {
        Some(default) => format!("{}={default}", arg.name),
        None => arg.name.clone(),
    }
}

fn healthcheck(check: &Healthcheck) -> String {
    let Healthcheck::Check { test, interval, timeout, start_period, retries } = check else {
        return "NONE".to_string();
    };
    let durations = [("interval", interval), ("timeout", timeout), ("start-period", start_period)];
    let mut parts: Vec<String> =
        durations.iter().filter_map(|(name, value)| value.map(|d| format!("--{name}={}", duration(d)))).collect();
    parts.extend(retries.map(|n| format!("--retries={n}")));
    parts.push(format!("CMD {}", command(test)));
    parts.join(" ")
}

/// The largest unit that holds the duration exactly: `30s`, `1500ms`, `7ns`.
fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    let units = [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")];
    units
        .iter()
        .find(|(size, _)| nanos % size == 0)
        .map(|(size, unit)| format!("{}{unit}", nanos / size))
        .unwrap_or_else(|| format!("{nanos}ns"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Located;
    use rstest::rstest;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[rstest]
    #[case::exec(Instruction::Cmd(Command::Exec(strings(&["a", "b \"c\""]))), r#"CMD ["a", "b \"c\""]"#)]
    #[case::shell(Instruction::Run(Command::Shell("echo hi".into())), "RUN echo hi")]
    #[case::env_one(Instruction::Env(vec![("A".into(), "b c".into())]), "ENV A b c")]
    #[case::env_many(Instruction::Env(vec![("A".into(), "b".into()), ("C".into(), "".into())]), "ENV A=b C=")]
    #[case::env_quoted(Instruction::Env(vec![("A".into(), "b c".into()), ("D".into(), "e".into())]), r#"ENV A="b c" D=e"#)]
    #[case::copy(Instruction::Copy(Copy { sources: strings(&["a"]), dest: "/b".into(), from: Some("x".into()), chown: Some("1 2".into()), json_form: false }), r#"COPY --chown="1 2" --from=x a /b"#)]
    #[case::add_json(Instruction::Add(Copy { sources: strings(&["a b"]), dest: "/c".into(), from: None, chown: None, json_form: true }), r#"ADD ["a b", "/c"]"#)]
    #[case::dashes_source(Instruction::Copy(Copy { sources: strings(&["--a"]), dest: "/b".into(), from: Some("x".into()), chown: None, json_form: false }), "COPY --from=x -- --a /b")]
    #[case::dashes_command(Instruction::Run(Command::Shell("--version".into())), "RUN -- --version")]
    #[case::arg(Instruction::Arg(Arg { name: "V".into(), default: Some("1".into()) }), "ARG V=1")]
    #[case::none(Instruction::Healthcheck(Healthcheck::None), "HEALTHCHECK NONE")]
    #[case::check(Instruction::Healthcheck(Healthcheck::Check { test: Command::Shell("true".into()), interval: Some(Duration::from_secs(90)), timeout: None, start_period: Some(Duration::from_millis(1500)), retries: Some(3) }), "HEALTHCHECK --interval=90s --start-period=1500ms --retries=3 CMD true")]
    #[case::onbuild(Instruction::Onbuild(Box::new(Located { line: 1, original: "ADD . /app".into(), inner: Instruction::Add(Copy { sources: strings(&["."]), dest: "/app".into(), from: None, chown: None, json_form: false }) })), "ONBUILD ADD . /app")]
    fn renders(#[case] instruction: Instruction, #[case] text: &str) {
        assert_eq!(to_text(&instruction), text);
    }

    #[rstest]
    #[case(Duration::from_secs(30), "30s")]
    #[case(Duration::from_millis(500), "500ms")]
    #[case(Duration::from_micros(5), "5us")]
    #[case(Duration::from_nanos(1_000_001), "1000001ns")]
    fn renders_durations(#[case] d: Duration, #[case] text: &str) {
        assert_eq!(duration(d), text);
    }
}
