//! Command-line flags in both spellings Docker has used: the 2014 single-dash long form
//! (`-name=foo`, `-d=false`) and today's (`--name foo`, `-it`). A single-dash word that names
//! a long flag is that flag; otherwise it is a cluster of one-letter flags.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-d`, `-d=true`, `-d=false`; never takes the next word.
    Bool,
    /// Takes one value (`-name foo`, `--name=foo`); given twice, the last one wins.
    Value,
    /// May be repeated; every value is kept in order (`-a stdin -a stdout`).
    Multi,
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub short: Option<char>,
    pub long: &'static str,
    pub kind: Kind,
    /// The default as the help text shows it (`false`, `""`, `[]`, `0`).
    pub default: &'static str,
    pub usage: &'static str,
}

impl Flag {
    pub const fn boolean(short: Option<char>, long: &'static str, default: bool, usage: &'static str) -> Flag {
        let default = if default { "true" } else { "false" };
        Flag { short, long, kind: Kind::Bool, default, usage }
    }

    pub const fn value(short: Option<char>, long: &'static str, default: &'static str, usage: &'static str) -> Flag {
        Flag { short, long, kind: Kind::Value, default, usage }
    }

    pub const fn multi(short: Option<char>, long: &'static str, usage: &'static str) -> Flag {
        Flag { short, long, kind: Kind::Multi, default: "[]", usage }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("unknown flag: {0}")]
    Unknown(String),
    #[error("unknown shorthand flag: '{0}' in {1}")]
    UnknownShort(char, String),
    #[error("flag needs an argument: {0}")]
    MissingValue(String),
    #[error("invalid boolean value {value:?} for {flag}: use true or false")]
    NotBool { flag: String, value: String },
}

/// What a parse found: each flag's values (by long name) and the positional words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    /// The flag's value as a boolean, or its default when not given.
    pub fn bool(&self, specs: &[Flag], long: &str) -> bool {
        match self.last(long) {
            Some(v) => parse_bool(v).unwrap_or(false),
            None => specs.iter().any(|f| f.long == long && f.default == "true"),
        }
    }

    /// The last value given for the flag.
    pub fn last(&self, long: &str) -> Option<&str> {
        self.values.get(long).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value given for the flag, in order.
    pub fn all(&self, long: &str) -> &[String] {
        self.values.get(long).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Adds another parse's values after this one's (later values win for single flags).
    pub fn extend_from(&mut self, other: &Parsed) {
        for (name, values) in &other.values {
            self.values.entry(name).or_default().extend(values.iter().cloned());
        }
        self.args.extend(other.args.iter().cloned());
    }

    /// True when the flag appeared on the command line.
    pub fn given(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }
}

/// Go's strconv.ParseBool, which Docker's flags use.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `words`. With `interspersed`, flags may follow positional words (`rm foo -f`);
/// without it the first positional word ends the flags (`run IMAGE CMD -x` keeps `-x` for CMD).
pub fn parse(specs: &[Flag], words: &[String], interspersed: bool) -> Result<Parsed, FlagError> {
    let mut parsed = Parsed::default();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        if word == "--" {
            parsed.args.extend(rest.by_ref().cloned());
            break;
        }
        if !word.starts_with('-') || word == "-" {
            parsed.args.push(word.clone());
            if !interspersed {
                parsed.args.extend(rest.by_ref().cloned());
                break;
            }
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            take_long(specs, word, long, &mut rest, &mut parsed)?;
        } else {
            let body = &word[1..];
            let name = body.split('=').next().unwrap_or(body);
            if name.chars().count() > 1 && find_long(specs, name).is_some() {
                take_long(specs, word, body, &mut rest, &mut parsed)?;
            } else {
                take_cluster(specs, word, body, &mut rest, &mut parsed)?;
            }
        }
    }
    Ok(parsed)
}

fn find_long<'a>(specs: &'a [Flag], name: &str) -> Option<&'a Flag> {
    specs.iter().find(|f| f.long == name)
}

fn find_short(specs: &[Flag], c: char) -> Option<&Flag> {
    specs.iter().find(|f| f.short == Some(c))
}

fn take_long<'a>(
    specs: &[Flag],
    word: &str,
    body: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), FlagError> {
    let (name, inline) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let flag = find_long(specs, name).ok_or_else(|| FlagError::Unknown(word.to_string()))?;
    let shown = word.split('=').next().unwrap_or(word);
    let value = flag_value(flag, shown, inline, rest)?;
    parsed.values.entry(flag.long).or_default().push(value);
    Ok(())
}

fn take_cluster<'a>(
    specs: &[Flag],
    word: &str,
    body: &str,
    rest: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), FlagError> {
    for (at, c) in body.char_indices() {
        let flag = find_short(specs, c).ok_or_else(|| FlagError::UnknownShort(c, word.to_string()))?;
        let tail = &body[at + c.len_utf8()..];
        let inline = match (flag.kind, tail) {
            (_, t) if t.starts_with('=') => Some(&t[1..]),
            (Kind::Bool, _) => None,
            (_, "") => None,
            (_, t) => Some(t),
        };
        let value = flag_value(flag, &format!("-{c}"), inline, rest)?;
        parsed.values.entry(flag.long).or_default().push(value);
        if inline.is_some() {
            break;
        }
    }
    Ok(())
}

fn flag_value<'a>(
    flag: &Flag,
    shown: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = &'a String>,
) -> Result<String, FlagError> {
    match (flag.kind, inline) {
        (Kind::Bool, None) => Ok("true".into()),
        (Kind::Bool, Some(v)) => match parse_bool(v) {
            Some(b) => Ok(b.to_string()),
            None => Err(FlagError::NotBool { flag: shown.into(), value: v.into() }),
        },
        (_, Some(v)) => Ok(v.to_string()),
        (_, None) => rest.next().cloned().ok_or_else(|| FlagError::MissingValue(shown.into())),
    }
}

/// The option list as `berth CMD --help` prints it, one line per flag in the 2014 layout:
/// `  -d, --detach=false: Detached mode`.
pub fn render_help(specs: &[Flag]) -> String {
    let mut out = String::new();
    for flag in specs {
        let names = match flag.short {
            Some(c) => format!("-{c}, --{}", flag.long),
            None => format!("--{}", flag.long),
        };
        let default = match flag.kind {
            Kind::Value if flag.default.parse::<i64>().is_err() => format!("{:?}", flag.default),
            _ => flag.default.to_string(),
        };
        let _ = writeln!(out, "  {names}={default}: {}", flag.usage);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    const SPECS: &[Flag] = &[
        Flag::boolean(Some('d'), "detach", false, "Detached mode"),
        Flag::boolean(Some('i'), "interactive", false, "Keep stdin open"),
        Flag::boolean(Some('t'), "tty", false, "Allocate a pseudo-tty"),
        Flag::boolean(None, "sig-proxy", true, "Proxy signals"),
        Flag::value(None, "name", "", "Container name"),
        Flag::value(Some('p'), "publish", "", "Publish a port"),
        Flag::multi(Some('e'), "env", "Set environment variables"),
        Flag::multi(Some('a'), "attach", "Attach to stdin, stdout or stderr"),
    ];

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(String::from).collect()
    }

    fn run(text: &str) -> Parsed {
        parse(SPECS, &words(text), false).unwrap()
    }

    #[rstest]
    #[case("-d", true)]
    #[case("-d=true", true)]
    #[case("-d=false", false)]
    #[case("--detach", true)]
    #[case("--detach=false", false)]
    #[case("-detach", true)]
    #[case("-detach=0", false)]
    #[case("", false)]
    fn booleans(#[case] text: &str, #[case] want: bool) {
        assert_eq!(run(text).bool(SPECS, "detach"), want);
    }

    #[test]
    fn defaults_true_until_turned_off() {
        assert!(run("").bool(SPECS, "sig-proxy"));
        assert!(!run("-sig-proxy=false").bool(SPECS, "sig-proxy"));
        assert!(!run("--sig-proxy=false").bool(SPECS, "sig-proxy"));
    }

    #[rstest]
    #[case("-name web")]
    #[case("-name=web")]
    #[case("--name web")]
    #[case("--name=web")]
    fn long_values_in_every_spelling(#[case] text: &str) {
        assert_eq!(run(text).last("name"), Some("web"));
    }

    #[test]
    fn clusters_of_short_flags() {
        let p = run("-it busybox sh");
        assert!(p.bool(SPECS, "interactive") && p.bool(SPECS, "tty"));
        assert_eq!(p.args, words("busybox sh"));
    }

    #[test]
    fn short_value_attached_or_next() {
        assert_eq!(run("-p80:80").last("publish"), Some("80:80"));
        assert_eq!(run("-p 80:80").last("publish"), Some("80:80"));
        assert_eq!(run("-p=80").last("publish"), Some("80"));
        assert_eq!(run("-dp 80").last("publish"), Some("80"));
    }

    #[test]
    fn multi_keeps_order() {
        let p = run("-a stdin -a stdout -e A=1 --env B=2 -eC=3");
        assert_eq!(p.all("attach"), ["stdin", "stdout"]);
        assert_eq!(p.all("env"), ["A=1", "B=2", "C=3"]);
    }

    #[test]
    fn stops_at_first_positional_unless_interspersed() {
        let p = run("-d busybox ls -d");
        assert_eq!(p.args, words("busybox ls -d"));
        let p = parse(SPECS, &words("web -d"), true).unwrap();
        assert!(p.bool(SPECS, "detach"));
        assert_eq!(p.args, ["web"]);
    }

    #[test]
    fn double_dash_ends_flags() {
        assert_eq!(parse(SPECS, &words("-- -d"), true).unwrap().args, ["-d"]);
    }

    #[rstest]
    #[case("--bogus", "unknown flag: --bogus")]
    #[case("-bogus", "unknown shorthand flag: 'b' in -bogus")]
    #[case("-dx", "unknown shorthand flag: 'x' in -dx")]
    #[case("--name", "flag needs an argument: --name")]
    #[case("-p", "flag needs an argument: -p")]
    #[case("-d=maybe", "invalid boolean value \"maybe\" for -d")]
    fn errors_name_the_problem(#[case] text: &str, #[case] want: &str) {
        let err = parse(SPECS, &words(text), false).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err:?} should start with {want:?}");
    }

    #[test]
    fn help_lists_every_flag() {
        let help = render_help(SPECS);
        assert!(help.contains("  -d, --detach=false: Detached mode\n"));
        assert!(help.contains("  --name=\"\": Container name\n"));
        assert_eq!(help.lines().count(), SPECS.len());
    }

    proptest! {
        #[test]
        fn never_panics(ws in proptest::collection::vec("-{0,2}[a-z=:0-9]{0,6}", 0..6)) {
            let _ = parse(SPECS, &ws, true);
        }
    }
}
