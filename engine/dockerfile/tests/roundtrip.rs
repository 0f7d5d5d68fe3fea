//! Properties: any instruction renders to text that parses back to it, and no input,
//! however mangled, makes the parser panic.

use std::time::Duration;

use berth_dockerfile::{
    parse, split_words, substitute, to_text, Arg, Command, Copy, Healthcheck, Instruction, Located,
};
use proptest::prelude::*;

/// Round-trip instructions sit on line 2, after `FROM scratch`; ONBUILD triggers carry it.
const LINE: usize = 2;

/// A word `split_words` keeps whole: plain, double-quoted with spaces, or a variable.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_./:@][a-zA-Z0-9_./:@+=-]{0,11}",
        "\"[a-z0-9 ./]{0,8}\"",
        "'[a-z0-9 $]{0,8}'",
        "\\$[A-Z_]{1,6}",
        "\\$\\{[A-Z_]{1,6}:-[a-z0-9]{0,4}\\}",
        "[a-z]{1,4}\\\\ [a-z]{1,4}",
        "--[a-z]{1,5}",
    ]
}

/// The rest of a line: starts with no `[` or `#`, ends with no space or escape; it may
/// start with `--`, which the renderer must keep from reading as a flag.
fn text() -> impl Strategy<Value = String> {
    "(--)?[a-zA-Z0-9_./:@][a-zA-Z0-9_./:@ |&;=$'\"#-]{0,30}[a-zA-Z0-9_.]"
}

fn any_line() -> impl Strategy<Value = String> {
    any::<String>()
}

fn trimmed_nonempty() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.trim().to_string()).prop_filter("non-empty", |s| !s.is_empty())
}

fn command(allow_empty_exec: bool) -> impl Strategy<Value = Command> {
    let min = usize::from(!allow_empty_exec);
    prop_oneof![prop::collection::vec(any_line(), min..4).prop_map(Command::Exec), text().prop_map(Command::Shell),]
}

fn key() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.]{0,8}"
}

/// Pairs in `k=v` form, or one pair whose value is the rest of the line (whose quotes
/// must close, since the builder expands it as a word).
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let rest_of_line = "[a-zA-Z0-9_./:@][a-zA-Z0-9_./:@ |&;=$#-]{0,30}[a-zA-Z0-9_.]( \"[a-z ]{0,5}\")?";
    prop_oneof![
        prop::collection::vec((key(), prop_oneof![word(), Just(String::new())]), 1..4),
        (key(), rest_of_line).prop_map(|pair| vec![pair]),
    ]
}

fn flag_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[^\n\r]{1,10}")
}

fn copy() -> impl Strategy<Value = Copy> {
    let words = (prop::collection::vec(word(), 1..4), word(), Just(false));
    let json = (prop::collection::vec(any_line(), 1..4), any_line(), Just(true));
    (prop_oneof![words, json], flag_value(), flag_value()).prop_map(|((sources, dest, json_form), from, chown)| Copy {
        sources,
        dest,
        from,
        chown,
        json_form,
    })
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u16>().prop_map(|p| p.to_string()),
        (any::<u16>(), prop_oneof![Just("tcp"), Just("udp"), Just("sctp")])
            .prop_map(|(p, proto)| format!("{p}/{proto}")),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        Just("$PORT".to_string()),
    ]
}

fn duration() -> impl Strategy<Value = Option<Duration>> {
    prop::option::of((1_000_000u64..1_000_000_000_000_000).prop_map(Duration::from_nanos))
}

fn healthcheck() -> impl Strategy<Value = Healthcheck> {
    let check = (command(false), duration(), duration(), duration(), prop::option::of(1..=i32::MAX as u32)).prop_map(
        |(test, interval, timeout, start_period, retries)| Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            retries,
        },
    );
    prop_oneof![Just(Healthcheck::None), check]
}

fn arg() -> impl Strategy<Value = Arg> {
    ("[A-Za-z_][A-Za-z0-9_]{0,8}", prop::option::of(prop_oneof![word(), Just(String::new())]))
        .prop_map(|(name, default)| Arg { name, default })
}

/// Every instruction but ONBUILD, whose trigger is one of these.
fn simple_instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        command(false).prop_map(Instruction::Run),
        command(true).prop_map(Instruction::Cmd),
        command(true).prop_map(Instruction::Entrypoint),
        prop::collection::vec(port(), 1..4).prop_map(Instruction::Expose),
        pairs().prop_map(Instruction::Env),
        pairs().prop_map(Instruction::Label),
        copy().prop_map(Instruction::Add),
        copy().prop_map(Instruction::Copy),
        prop::collection::vec(trimmed_nonempty(), 1..4).prop_map(Instruction::Volume),
        word().prop_map(Instruction::User),
        text().prop_map(Instruction::Workdir),
        text().prop_map(Instruction::Maintainer),
        arg().prop_map(Instruction::Arg),
        healthcheck().prop_map(Instruction::Healthcheck),
        word().prop_map(Instruction::Stopsignal),
        prop::collection::vec(any_line(), 1..4).prop_map(Instruction::Shell),
    ]
}

fn instruction() -> impl Strategy<Value = Instruction> {
    let trigger = simple_instruction()
        .prop_filter("MAINTAINER is no trigger", |i| !matches!(i, Instruction::Maintainer(_)))
        .prop_map(|inner| Instruction::Onbuild(Box::new(Located { line: LINE, original: to_text(&inner), inner })));
    prop_oneof![4 => simple_instruction(), 1 => trigger]
}

/// ADD has no `--from`.
fn parseable(instruction: Instruction) -> Instruction {
    match instruction {
        Instruction::Add(copy) => Instruction::Add(Copy { from: None, ..copy }),
        Instruction::Onbuild(mut trigger) => {
            trigger.inner = parseable(trigger.inner);
            trigger.original = to_text(&trigger.inner);
            Instruction::Onbuild(trigger)
        }
        other => other,
    }
}

/// Fragments that exercise every path of the line scanner and the instruction parsers.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "FROM a",
            "FROM a AS b",
            "RUN",
            "CMD",
            "ENTRYPOINT",
            "ENV",
            "LABEL",
            "ARG",
            "ADD",
            "COPY",
            "VOLUME",
            "USER",
            "WORKDIR",
            "MAINTAINER",
            "EXPOSE",
            "ONBUILD",
            "SHELL",
            "HEALTHCHECK",
            "STOPSIGNAL",
            "CMD",
            "NONE",
            "--from=",
            "--interval=",
            "--",
            "\n",
            "\r\n",
            " ",
            "\t",
            "\\",
            "`",
            "#",
            "# escape=`\n",
            "[",
            "]",
            "\"",
            "'",
            ",",
            "=",
            "$",
            "${",
            "}",
            ":-",
            ":+",
            "1m30s",
            "80/tcp",
            "\u{feff}",
            "é",
            "\u{85}",
        ])
        .prop_map(str::to_string),
        "[a-z0-9]{1,4}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn instructions_round_trip(instruction in instruction().prop_map(parseable)) {
        let text = to_text(&instruction);
        let parsed = parse(&format!("FROM scratch\n{text}"));
        let parsed = parsed.map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let located = &parsed.stages[0].instructions[0];
        prop_assert_eq!(&located.inner, &instruction, "text: {:?}", text);
        prop_assert_eq!(&located.original, &text);
        prop_assert_eq!(located.line, LINE);
    }

    #[test]
    fn parse_never_panics_on_fragments(parts in prop::collection::vec(fragment(), 0..40)) {
        let text = parts.concat();
        if let Ok(parsed) = parse(&text) {
            for located in parsed.stages.iter().flat_map(|s| &s.instructions) {
                let _ = parse(&format!("FROM a\n{}", to_text(&located.inner)));
            }
        }
    }

    #[test]
    fn parse_never_panics_on_anything(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn word_helpers_never_panic(text in any::<String>(), backtick in any::<bool>()) {
        let escape = if backtick { '`' } else { '\\' };
        let _ = split_words(&text, escape);
        let _ = substitute(&text, &|name| Some(name.to_string()), escape);
    }
}
