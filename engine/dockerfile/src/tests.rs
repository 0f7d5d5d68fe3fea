//! The parser's rules, one table per rule, through the public `parse`.

use std::time::Duration;

use rstest::rstest;

use crate::*;

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn shell(text: &str) -> Command {
    Command::Shell(text.to_string())
}

fn exec(words: &[&str]) -> Command {
    Command::Exec(strings(words))
}

/// The first instruction after `FROM scratch`.
fn instruction(text: &str) -> Instruction {
    let parsed = parse(&format!("FROM scratch\n{text}")).expect("parses");
    parsed.stages[0].instructions[0].inner.clone()
}

fn error(text: &str) -> String {
    parse(text).expect_err("fails").to_string()
}

fn copy(sources: &[&str], dest: &str) -> crate::Copy {
    crate::Copy { sources: strings(sources), dest: dest.to_string(), from: None, chown: None, json_form: false }
}

#[rstest]
#[case::upper("RUN echo hi", Instruction::Run(shell("echo hi")))]
#[case::lower("run echo hi", Instruction::Run(shell("echo hi")))]
#[case::mixed("Run echo hi", Instruction::Run(shell("echo hi")))]
#[case::hash_is_an_argument(
    "RUN echo 'we are running some # of cool things'",
    Instruction::Run(shell("echo 'we are running some # of cool things'"))
)]
#[case::trailing_hash("RUN echo # not a comment", Instruction::Run(shell("echo # not a comment")))]
#[case::spacing("RUN    echo   hi   ", Instruction::Run(shell("echo   hi")))]
fn instructions_are_case_insensitive_and_keep_hashes(#[case] text: &str, #[case] expected: Instruction) {
    assert_eq!(instruction(text), expected);
}

#[test]
fn comments_blank_lines_and_continuations() {
    let text = "# Comment\n\nFROM ubuntu\n\n   # indented comment\nRUN apt-get update && \\\n    # why\n\n    apt-get install -y x\nCMD [\"x\"]\n";
    let parsed = parse(text).expect("parses");
    let stage = &parsed.stages[0];
    assert_eq!((stage.from.line, stage.from.original.as_str()), (3, "FROM ubuntu"));
    let lines: Vec<(usize, &str)> = stage.instructions.iter().map(|i| (i.line, i.original.as_str())).collect();
    assert_eq!(lines, vec![(6, "RUN apt-get update &&     apt-get install -y x"), (10, "CMD [\"x\"]")]);
}

#[rstest]
#[case::backtick("# escape=`\nFROM windows\nRUN dir c:\\ `\n  /s", '`', "RUN dir c:\\   /s")]
#[case::backslash("# escape=\\\nFROM windows\nRUN a \\\n b", '\\', "RUN a  b")]
#[case::syntax_ignored("# syntax=docker/dockerfile:1\nFROM windows\nRUN a \\\n b", '\\', "RUN a  b")]
fn escape_directive(#[case] text: &str, #[case] escape: char, #[case] original: &str) {
    let parsed = parse(text).expect("parses");
    assert_eq!(parsed.escape, escape);
    assert_eq!(parsed.stages[0].instructions[0].original, original);
}

#[test]
fn backtick_escape_splits_words_with_backslashes() {
    let parsed = parse("# escape=`\nFROM w\nCOPY c:\\a` b d:\\").expect("parses");
    let expected = Instruction::Copy(copy(&["c:\\a` b"], "d:\\"));
    assert_eq!(parsed.stages[0].instructions[0].inner, expected);
}

#[rstest]
#[case::run_first(
    "RUN echo hi\nFROM a",
    "Dockerfile line 1: the first instruction must be FROM (only ARG may come before it), found \"RUN echo hi\""
)]
#[case::after_comment(
    "# c\n\nMAINTAINER me\nFROM a",
    "Dockerfile line 3: the first instruction must be FROM (only ARG may come before it), found \"MAINTAINER me\""
)]
#[case::empty("", "Dockerfile line 1: the Dockerfile has no instructions")]
#[case::comments_only("# a\n# b\n", "Dockerfile line 2: the Dockerfile has no instructions")]
#[case::only_args("ARG A\nARG B=1", "Dockerfile line 2: the Dockerfile has no FROM instruction, only ARG")]
fn first_instruction_must_be_from(#[case] text: &str, #[case] message: &str) {
    assert_eq!(error(text), message);
}

#[test]
fn args_may_precede_from_and_from_starts_stages() {
    let text = "ARG BASE=ubuntu\nARG TAG\nFROM $BASE:$TAG AS Build\nRUN make\nFROM --platform=linux/amd64 scratch\nCOPY --from=build /out /\n";
    let parsed = parse(text).expect("parses");
    assert_eq!(
        parsed.args_before_from,
        vec![Arg { name: "BASE".into(), default: Some("ubuntu".into()) }, Arg { name: "TAG".into(), default: None },]
    );
    let froms: Vec<&From> = parsed.stages.iter().map(|s| &s.from.inner).collect();
    assert_eq!(
        froms,
        vec![
            &From { image: "$BASE:$TAG".into(), alias: Some("build".into()), platform: None },
            &From { image: "scratch".into(), alias: None, platform: Some("linux/amd64".into()) },
        ]
    );
    assert_eq!(parsed.stages[1].from.line, 5);
    let copy_from = &parsed.stages[1].instructions[0].inner;
    assert!(matches!(copy_from, Instruction::Copy(c) if c.from.as_deref() == Some("build")));
}

#[rstest]
#[case::lower_as("FROM a as b", Some("b"))]
#[case::upper_name("FROM a AS Stage-1.x_y", Some("stage-1.x_y"))]
#[case::no_alias("FROM ubuntu:12.04", None)]
fn from_aliases(#[case] text: &str, #[case] alias: Option<&str>) {
    let parsed = parse(text).expect("parses");
    assert_eq!(parsed.stages[0].from.inner.alias.as_deref(), alias);
}

#[rstest]
#[case::alone(
    "FROM",
    "Dockerfile line 1: FROM requires either one or three arguments (FROM <image> [AS <name>]), got \"\""
)]
#[case::two(
    "FROM a b",
    "Dockerfile line 1: FROM requires either one or three arguments (FROM <image> [AS <name>]), got \"a b\""
)]
#[case::not_as(
    "FROM a to b",
    "Dockerfile line 1: FROM requires either one or three arguments (FROM <image> [AS <name>]), got \"a to b\""
)]
#[case::bad_name(
    "FROM a AS 1st",
    "Dockerfile line 1: invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
)]
#[case::bad_flag("FROM --plat=x a", "Dockerfile line 1: unknown flag for FROM: --plat")]
fn from_errors(#[case] text: &str, #[case] message: &str) {
    assert_eq!(error(text), message);
}

#[rstest]
#[case::run_exec(r#"RUN ["executable", "param1", "param2"]"#, Instruction::Run(exec(&["executable", "param1", "param2"])))]
#[case::run_shell_bracket("RUN [ -f /etc/x ] && echo yes", Instruction::Run(shell("[ -f /etc/x ] && echo yes")))]
#[case::shell_text_keeps_open_quotes("RUN echo \"it's", Instruction::Run(shell("echo \"it's")))]
#[case::run_single_quoted_is_shell("RUN ['a']", Instruction::Run(shell("['a']")))]
#[case::cmd_exec(r#"CMD ["/usr/bin/wc","--help"]"#, Instruction::Cmd(exec(&["/usr/bin/wc", "--help"])))]
#[case::cmd_params(r#"CMD ["-l", "-"]"#, Instruction::Cmd(exec(&["-l", "-"])))]
#[case::cmd_shell(r#"CMD echo "This is a test." | wc -"#, Instruction::Cmd(shell(r#"echo "This is a test." | wc -"#)))]
#[case::cmd_empty("CMD []", Instruction::Cmd(exec(&[])))]
#[case::entrypoint_exec(r#"ENTRYPOINT ["/usr/bin/wc"]"#, Instruction::Entrypoint(exec(&["/usr/bin/wc"])))]
#[case::entrypoint_shell("ENTRYPOINT wc -l -", Instruction::Entrypoint(shell("wc -l -")))]
#[case::json_escapes(r#"RUN ["echo", "a\"b\\c\u00e9"]"#, Instruction::Run(exec(&["echo", "a\"b\\c\u{e9}"])))]
#[case::shell_json(r#"SHELL ["powershell", "-command"]"#, Instruction::Shell(strings(&["powershell", "-command"])))]
#[case::volume_json(r#"VOLUME ["/data", "/var/log"]"#, Instruction::Volume(strings(&["/data", "/var/log"])))]
#[case::volume_words("VOLUME /data /var/log", Instruction::Volume(strings(&["/data", "/var/log"])))]
#[case::volume_trimmed(r#"VOLUME [" /data "]"#, Instruction::Volume(strings(&["/data"])))]
fn json_and_shell_forms(#[case] text: &str, #[case] expected: Instruction) {
    assert_eq!(instruction(text), expected);
}

#[rstest]
#[case::run_alone("RUN", "RUN requires at least one argument")]
#[case::run_empty_exec("RUN []", "RUN requires at least one argument")]
#[case::cmd_alone("CMD", "CMD requires at least one argument")]
#[case::entrypoint_alone("ENTRYPOINT   ", "ENTRYPOINT requires at least one argument")]
#[case::not_strings("CMD [1, 2]", "when using JSON array syntax, arrays must be comprised of strings only: CMD [1, 2]")]
#[case::copy_not_strings(
    r#"COPY ["a", null]"#,
    "when using JSON array syntax, arrays must be comprised of strings only: COPY [\"a\", null]"
)]
#[case::shell_not_json("SHELL powershell -command", "SHELL requires the arguments to be in JSON form, like SHELL [\"executable\", \"param\"], got \"powershell -command\"")]
#[case::shell_empty("SHELL []", "SHELL requires at least one argument")]
#[case::volume_alone("VOLUME", "VOLUME requires at least one argument")]
#[case::volume_empty_path(r#"VOLUME ["/a", " "]"#, "VOLUME specified can not be an empty string: [\"/a\", \" \"]")]
#[case::run_flag("RUN --mount=type=cache,target=/x make", "unknown flag for RUN: --mount")]
fn command_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::old_form("ENV PATH /usr/local/bin:$PATH", &[("PATH", "/usr/local/bin:$PATH")])]
#[case::old_form_spaces("ENV GREETING hello   big world", &[("GREETING", "hello   big world")])]
#[case::new_form(r#"ENV k=v k2="v 2" k3=v\ 3"#, &[("k", "v"), ("k2", "\"v 2\""), ("k3", "v\\ 3")])]
#[case::empty_value("ENV k= x=1", &[("k", ""), ("x", "1")])]
#[case::equals_in_value("ENV k=a=b", &[("k", "a=b")])]
fn env_forms(#[case] text: &str, #[case] expected: &[(&str, &str)]) {
    assert_eq!(instruction(text), Instruction::Env(pairs(expected)));
}

#[rstest]
#[case::label_one(r#"LABEL version="1.0""#, &[("version", "\"1.0\"")])]
#[case::label_many(r#"LABEL a=1 "com.example.b"=2 c="x y""#, &[("a", "1"), ("\"com.example.b\"", "2"), ("c", "\"x y\"")])]
#[case::label_old_form("LABEL description some text", &[("description", "some text")])]
fn label_forms(#[case] text: &str, #[case] expected: &[(&str, &str)]) {
    assert_eq!(instruction(text), Instruction::Label(pairs(expected)));
}

#[rstest]
#[case::name("ARG VERSION", "VERSION", None)]
#[case::default("ARG VERSION=1.2", "VERSION", Some("1.2"))]
#[case::empty_default("ARG VERSION=", "VERSION", Some(""))]
#[case::quoted_default(r#"ARG V="a b""#, "V", Some("\"a b\""))]
fn arg_forms(#[case] text: &str, #[case] name: &str, #[case] default: Option<&str>) {
    let expected = Arg { name: name.to_string(), default: default.map(str::to_string) };
    assert_eq!(instruction(text), Instruction::Arg(expected));
}

#[rstest]
#[case::env_alone("ENV", "ENV requires at least one argument")]
#[case::env_only_key(
    "ENV onlykey",
    "ENV must have two arguments: \"onlykey\" has no value (write ENV onlykey <value> or ENV onlykey=<value>)"
)]
#[case::env_blank_name("ENV =value", "ENV names can not be blank: \"=value\"")]
#[case::env_missing_equals("ENV a=1 b", "ENV syntax error - can't find = in \"b\". Must be of the form: name=value")]
#[case::label_only_key(
    "LABEL key",
    "LABEL must have two arguments: \"key\" has no value (write LABEL key <value> or LABEL key=<value>)"
)]
#[case::label_blank("LABEL =x", "LABEL names can not be blank: \"=x\"")]
#[case::arg_alone("ARG", "ARG requires at least one argument")]
#[case::arg_two("ARG A B", "ARG requires exactly one argument, got \"A B\"")]
#[case::arg_blank("ARG =1", "ARG names can not be blank: \"=1\"")]
fn key_value_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::ports("EXPOSE 80 443/tcp 53/udp 8000-8010", Instruction::Expose(strings(&["80", "443/tcp", "53/udp", "8000-8010"])))]
#[case::variable("EXPOSE $PORT ${OTHER:-80}/udp", Instruction::Expose(strings(&["$PORT", "${OTHER:-80}/udp"])))]
#[case::quoted(r#"EXPOSE "5900""#, Instruction::Expose(strings(&["\"5900\""])))]
#[case::maintainer("MAINTAINER Guillaume J. Charmes <guillaume@dotcloud.com>", Instruction::Maintainer("Guillaume J. Charmes <guillaume@dotcloud.com>".into()))]
#[case::user_name("USER daemon", Instruction::User("daemon".into()))]
#[case::user_uid("USER 1000", Instruction::User("1000".into()))]
#[case::user_uid_gid("USER 1000:1000", Instruction::User("1000:1000".into()))]
#[case::user_variable("USER ${APP_USER}", Instruction::User("${APP_USER}".into()))]
#[case::workdir("WORKDIR /path/to/workdir", Instruction::Workdir("/path/to/workdir".into()))]
#[case::workdir_spaces("WORKDIR /My Documents", Instruction::Workdir("/My Documents".into()))]
#[case::stopsignal("STOPSIGNAL SIGKILL", Instruction::Stopsignal("SIGKILL".into()))]
#[case::stopsignal_number("STOPSIGNAL 9", Instruction::Stopsignal("9".into()))]
fn simple_instructions(#[case] text: &str, #[case] expected: Instruction) {
    assert_eq!(instruction(text), expected);
}

#[rstest]
#[case::expose_alone("EXPOSE", "EXPOSE requires at least one argument")]
#[case::expose_name(
    "EXPOSE http",
    "invalid port \"http\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010"
)]
#[case::expose_mapping(
    "EXPOSE 80 8080:80",
    "invalid port \"8080:80\" in EXPOSE: expected <port>[/tcp|udp|sctp] or a range like 8000-8010"
)]
#[case::expose_proto("EXPOSE 80/http", "invalid protocol \"http\" in EXPOSE \"80/http\": expected tcp, udp or sctp")]
#[case::maintainer_alone("MAINTAINER", "MAINTAINER requires exactly one argument, got \"\"")]
#[case::user_alone("USER", "USER requires exactly one argument, got \"\"")]
#[case::user_two("USER a b", "USER requires exactly one argument, got \"a b\"")]
#[case::workdir_alone("WORKDIR", "WORKDIR requires exactly one argument, got \"\"")]
#[case::stopsignal_alone("STOPSIGNAL", "STOPSIGNAL requires exactly one argument, got \"\"")]
#[case::unknown("FOO bar", "unknown instruction: FOO")]
#[case::unknown_lower("frm ubuntu", "unknown instruction: FRM")]
fn simple_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::none("HEALTHCHECK NONE", Healthcheck::None)]
#[case::shell("HEALTHCHECK CMD curl -f http://localhost/ || exit 1", Healthcheck::Check { test: shell("curl -f http://localhost/ || exit 1"), interval: None, timeout: None, start_period: None, retries: None })]
#[case::exec(r#"HEALTHCHECK cmd ["/bin/check", "-q"]"#, Healthcheck::Check { test: exec(&["/bin/check", "-q"]), interval: None, timeout: None, start_period: None, retries: None })]
#[case::options("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=5s --retries=3 CMD true", Healthcheck::Check { test: shell("true"), interval: Some(Duration::from_secs(90)), timeout: Some(Duration::from_millis(500)), start_period: Some(Duration::from_secs(5)), retries: Some(3) })]
#[case::spaced_option("HEALTHCHECK --interval 30s CMD true", Healthcheck::Check { test: shell("true"), interval: Some(Duration::from_secs(30)), timeout: None, start_period: None, retries: None })]
#[case::empty_option("HEALTHCHECK --timeout= CMD true", Healthcheck::Check { test: shell("true"), interval: None, timeout: None, start_period: None, retries: None })]
fn healthcheck_forms(#[case] text: &str, #[case] expected: Healthcheck) {
    assert_eq!(instruction(text), Instruction::Healthcheck(expected));
}

#[rstest]
#[case::alone("HEALTHCHECK", "HEALTHCHECK requires at least one argument")]
#[case::unknown_type("HEALTHCHECK PING x", "unknown type \"PING\" in HEALTHCHECK (try CMD or NONE)")]
#[case::none_args("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments, got \"x\"")]
#[case::none_options(
    "HEALTHCHECK --interval=5s NONE",
    "HEALTHCHECK NONE takes no options like --interval; they belong to HEALTHCHECK CMD"
)]
#[case::no_command("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD")]
#[case::empty_exec("HEALTHCHECK CMD []", "missing command after HEALTHCHECK CMD")]
#[case::bad_duration(
    "HEALTHCHECK --interval=30 CMD true",
    "HEALTHCHECK --interval: missing unit in duration \"30\": use ns, us, ms, s, m or h"
)]
#[case::bad_unit(
    "HEALTHCHECK --timeout=3d CMD true",
    "HEALTHCHECK --timeout: unknown unit \"d\" in duration \"3d\": use ns, us, ms, s, m or h"
)]
#[case::too_short(
    "HEALTHCHECK --start-period=10us CMD true",
    "HEALTHCHECK --start-period=10us cannot be less than 1ms"
)]
#[case::zero_retries(
    "HEALTHCHECK --retries=0 CMD true",
    "HEALTHCHECK --retries must be a whole number of at least 1, got \"0\""
)]
#[case::word_retries(
    "HEALTHCHECK --retries=many CMD true",
    "HEALTHCHECK --retries must be a whole number of at least 1, got \"many\""
)]
#[case::unknown_option("HEALTHCHECK --every=5s CMD true", "unknown flag for HEALTHCHECK: --every")]
fn healthcheck_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::add("ADD . /app/src", Instruction::Add(copy(&["."], "/app/src")))]
#[case::add_url("ADD http://example.com/foobar /", Instruction::Add(copy(&["http://example.com/foobar"], "/")))]
#[case::copy_many("COPY a b c /dest/", Instruction::Copy(copy(&["a", "b", "c"], "/dest/")))]
#[case::copy_json(r#"COPY ["my file", "/dir with space/"]"#, Instruction::Copy(crate::Copy { json_form: true, ..copy(&["my file"], "/dir with space/") }))]
#[case::copy_flags("COPY --chown=app:app --from=build /out /app", Instruction::Copy(crate::Copy { chown: Some("app:app".into()), from: Some("build".into()), ..copy(&["/out"], "/app") }))]
#[case::add_chown("ADD --chown=1000 a /b", Instruction::Add(crate::Copy { chown: Some("1000".into()), ..copy(&["a"], "/b") }))]
#[case::copy_quoted_words(r#"COPY "a b" /c"#, Instruction::Copy(copy(&["\"a b\""], "/c")))]
fn add_and_copy(#[case] text: &str, #[case] expected: Instruction) {
    assert_eq!(instruction(text), expected);
}

#[rstest]
#[case::add_one(
    "ADD foo",
    "ADD requires at least two arguments, but only one was provided. Destination could not be determined: \"foo\""
)]
#[case::copy_none(
    "COPY",
    "COPY requires at least two arguments, but only one was provided. Destination could not be determined: \"\""
)]
#[case::copy_json_one(r#"COPY ["a"]"#, "COPY requires at least two arguments, but only one was provided. Destination could not be determined: \"[\\\"a\\\"]\"")]
#[case::add_from("ADD --from=build a b", "unknown flag for ADD: --from")]
#[case::copy_chown_no_value("COPY --chown", "missing a value on flag --chown of COPY (write --chown=<value>)")]
#[case::copy_twice("COPY --from=a --from=b x y", "duplicate flag specified for COPY: --from")]
fn add_and_copy_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[test]
fn onbuild_keeps_trigger_text_and_parsed_trigger() {
    let parsed = parse("FROM a\nONBUILD ADD . /app/src\nonbuild   RUN /usr/local/bin/python-build --dir /app/src")
        .expect("parses");
    let triggers: Vec<(usize, &str, &Instruction)> = parsed.stages[0]
        .instructions
        .iter()
        .map(|i| match &i.inner {
            Instruction::Onbuild(t) => (t.line, t.original.as_str(), &t.inner),
            other => panic!("not ONBUILD: {other:?}"),
        })
        .collect();
    let run = Instruction::Run(shell("/usr/local/bin/python-build --dir /app/src"));
    assert_eq!(
        triggers,
        vec![
            (2, "ADD . /app/src", &Instruction::Add(copy(&["."], "/app/src"))),
            (3, "RUN /usr/local/bin/python-build --dir /app/src", &run),
        ]
    );
}

#[rstest]
#[case::alone("ONBUILD", "ONBUILD requires at least one argument")]
#[case::chain("ONBUILD ONBUILD RUN x", "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")]
#[case::from("ONBUILD FROM ubuntu", "FROM isn't allowed as an ONBUILD trigger")]
#[case::maintainer("ONBUILD maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger")]
#[case::bad_trigger(
    "ONBUILD COPY x",
    "COPY requires at least two arguments, but only one was provided. Destination could not be determined: \"x\""
)]
#[case::unknown_trigger("ONBUILD FOO x", "unknown instruction: FOO")]
fn onbuild_errors(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::add("ADD . /app/src", Instruction::Add(copy(&["."], "/app/src")))]
#[case::run("  RUN make  ", Instruction::Run(shell("make")))]
fn parses_stored_triggers(#[case] text: &str, #[case] expected: Instruction) {
    let trigger = parse_trigger(text, '\\').expect("parses");
    assert_eq!((trigger.original.as_str(), trigger.inner), (text.trim(), expected));
}

#[test]
fn stored_trigger_errors_name_line_one() {
    let err = parse_trigger("FROM x", '\\').expect_err("fails");
    assert_eq!(err.to_string(), "Dockerfile line 1: FROM isn't allowed as an ONBUILD trigger");
}

#[rstest]
#[case::after_continuation("FROM a\nRUN a \\\n  b\n\n# c\nFOO x", 6)]
#[case::continued_instruction("FROM a\nRUN ok\nCOPY \\\n  onlyone", 3)]
#[case::after_comments_in_continuation("FROM a\nRUN a \\\n# c\n  b\nUSER", 5)]
fn errors_name_the_first_line_of_the_instruction(#[case] text: &str, #[case] line: usize) {
    assert_eq!(parse(text).expect_err("fails").line, line);
}

#[rstest]
#[case::env(r#"ENV a="b c"#, "unexpected end of ENV arguments while looking for the matching \" quote: \"a=\\\"b c\"")]
#[case::env_old_form(
    "ENV a it's",
    "unexpected end of ENV arguments while looking for the matching ' quote: \"a it's\""
)]
#[case::copy(
    r#"COPY "a b /c"#,
    "unexpected end of COPY arguments while looking for the matching \" quote: \"\\\"a b /c\""
)]
#[case::user("USER 'x", "unexpected end of USER arguments while looking for the matching ' quote: \"'x\"")]
fn quotes_must_close_in_words(#[case] text: &str, #[case] problem: &str) {
    assert_eq!(error(&format!("FROM a\n{text}")), format!("Dockerfile line 2: {problem}"));
}

#[rstest]
#[case::double_dash_ends_flags("RUN -- --version", Instruction::Run(shell("--version")))]
#[case::double_dash_before_sources("COPY --from=x -- --a /b", Instruction::Copy(crate::Copy { from: Some("x".into()), ..copy(&["--a"], "/b") }))]
fn flags_end_at_double_dash(#[case] text: &str, #[case] expected: Instruction) {
    assert_eq!(instruction(text), expected);
}
