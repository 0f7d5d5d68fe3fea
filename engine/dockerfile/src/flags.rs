//! Builder flags: the `--name=value` words between an instruction and its arguments
//! (`COPY --from=build`, `FROM --platform=linux/amd64`, `HEALTHCHECK --interval=5s`).

/// A flag an instruction does not accept, or one written wrongly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("unknown flag for {instruction}: --{flag}")]
    Unknown { instruction: &'static str, flag: String },
    #[error("duplicate flag specified for {instruction}: --{flag}")]
    Duplicate { instruction: &'static str, flag: String },
    #[error("missing a value on flag --{flag} of {instruction} (write --{flag}=<value>)")]
    MissingValue { instruction: &'static str, flag: String },
}

/// The flags of one instruction, by name, in the order written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Flags(Vec<(String, String)>);

impl Flags {
    /// Checks the extracted flag words (`--name=value`) against the names `allowed`.
    pub(crate) fn parse(instruction: &'static str, words: &[String], allowed: &[&str]) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        for word in words {
            let (name, value) = split_flag(instruction, word)?;
            if !allowed.contains(&name) {
                let flag = name.to_string();
                return Err(FlagError::Unknown { instruction, flag });
            }
            if flags.get(name).is_some() {
                let flag = name.to_string();
                return Err(FlagError::Duplicate { instruction, flag });
            }
            flags.0.push((name.to_string(), value.to_string()));
        }
        Ok(flags)
    }

    /// The flag's value as written, empty when written `--name=`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The flag's value, with `--name=` taken as not given (moby's empty default).
    pub(crate) fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn split_flag<'a>(instruction: &'static str, word: &'a str) -> Result<(&'a str, &'a str), FlagError> {
    let word = word.strip_prefix("--").unwrap_or(word);
    word.split_once('=').ok_or_else(|| FlagError::MissingValue { instruction, flag: word.to_string() })
}

/// Takes the flag words off the front of an instruction's arguments; returns them (quotes
/// removed, `\` escapes applied, as moby does) and the arguments that follow. A flag
/// written without `=` takes the next word as its value (`--chown 1:1`); a lone `--`
/// ends the flags.
pub(crate) fn extract(args: &str) -> (Vec<String>, &str) {
    let mut flags: Vec<String> = Vec::new();
    let mut rest = args.trim_start();
    let mut wants_value = false;
    while !rest.is_empty() && (wants_value || rest.starts_with("--")) {
        let (word, after) = flag_word(rest);
        rest = after.trim_start();
        match flags.last_mut() {
            Some(flag) if wants_value => {
                flag.push('=');
                flag.push_str(&word);
                wants_value = false;
            }
            _ if word == "--" => break,
            _ => {
                wants_value = !word.contains('=');
                flags.push(word);
            }
        }
    }
    (flags, rest)
}

/// One word up to unquoted whitespace, with quotes removed and `\` escapes applied.
fn flag_word(text: &str) -> (String, &str) {
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => return (word, &text[index..]),
            (_, '\\') => word.extend(chars.next().map(|(_, next)| next)),
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (_, c) => word.push(c),
        }
    }
    (word, "")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::none("a b", &[], "a b")]
    #[case::one("--from=build /a /b", &["--from=build"], "/a /b")]
    #[case::two("--chown=1:1  --from=x a b", &["--chown=1:1", "--from=x"], "a b")]
    #[case::quoted(r#"--chown="a b" c d"#, &["--chown=a b"], "c d")]
    #[case::escaped(r"--chown=a\ b c", &["--chown=a b"], "c")]
    #[case::spaced_value("--chown 1:1 a b", &["--chown=1:1"], "a b")]
    #[case::double_dash_ends("-- --x y", &[], "--x y")]
    #[case::single_dash_is_an_argument("-x y", &[], "-x y")]
    #[case::only_flags("--interval=5s", &["--interval=5s"], "")]
    #[case::missing_value_at_end("--from", &["--from"], "")]
    fn extracts_flags(#[case] args: &str, #[case] flags: &[&str], #[case] rest: &str) {
        assert_eq!(extract(args), (flags.iter().map(|f| f.to_string()).collect(), rest));
    }

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn parses_known_flags() {
        let flags = Flags::parse("COPY", &words(&["--from=a", "--chown="]), &["from", "chown"]);
        let flags = flags.expect("parses");
        assert_eq!(flags.get("from"), Some("a"));
        assert_eq!(flags.non_empty("chown"), None);
        assert_eq!(flags.get("platform"), None);
    }

    #[rstest]
    #[case::unknown(&["--platfrom=x"], "unknown flag for FROM: --platfrom")]
    #[case::duplicate(&["--platform=a", "--platform=b"], "duplicate flag specified for FROM: --platform")]
    #[case::no_value(&["--platform"], "missing a value on flag --platform of FROM (write --platform=<value>)")]
    fn rejects_bad_flags(#[case] given: &[&str], #[case] message: &str) {
        let err = Flags::parse("FROM", &words(given), &["platform"]).expect_err("fails");
        assert_eq!(err.to_string(), message);
    }
}
