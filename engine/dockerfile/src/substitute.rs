//! Variable substitution in one word, with quote removal: what the builder applies to the
//! arguments of ENV, LABEL, ARG, ADD, COPY, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL and
//! FROM, following moby's shell-word rules rather than a shell's.

/// A word whose quotes or `${...}` do not close, or that uses a form Docker lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    #[error("syntax error: missing '}}' in {0:?}")]
    MissingBrace(String),
    #[error("syntax error: bad substitution in {0:?}")]
    BadSubstitution(String),
    #[error("unsupported modifier {modifier:?} in substitution in {word:?}: use ${{VAR:-default}}, ${{VAR:+alternative}}, ${{VAR-default}} or ${{VAR+alternative}}")]
    UnsupportedModifier { modifier: char, word: String },
    #[error("unexpected end of {word:?} while looking for the matching {quote} quote")]
    UnterminatedQuote { quote: char, word: String },
}

/// Expands `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alternative}`, `${VAR-default}`
/// and `${VAR+alternative}` in `word`, and removes its quotes and escapes. Single quotes
/// keep everything literal; inside double quotes variables expand and the escape character
/// escapes only `"`, `$` and itself; `\$` stays a literal `$`. Unset variables expand to
/// nothing. `lookup` answers a variable's value, `None` when it is unset.
pub fn substitute(word: &str, lookup: &dyn Fn(&str) -> Option<String>, escape: char) -> Result<String, SubstError> {
    let mut lexer = Lexer { word, chars: word.chars().collect(), pos: 0, escape, lookup };
    lexer.until(None)
}

struct Lexer<'a> {
    word: &'a str,
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    /// Processes up to `stop` (consumed), or to the end of the word when `stop` is `None`.
    fn until(&mut self, stop: Option<char>) -> Result<String, SubstError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            match c {
                _ if Some(c) == stop => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.pos += 1;
                    // An escape takes the next character literally; a trailing one vanishes.
                    let literal = if c == self.escape { self.next() } else { Some(c) };
                    out.extend(literal);
                }
            }
        }
        match stop {
            Some(_) => Err(SubstError::MissingBrace(self.word.to_string())),
            None => Ok(out),
        }
    }

    fn single_quoted(&mut self) -> Result<String, SubstError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err(self.unterminated('\'')),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, SubstError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    out.push(self.escaped_in_double_quotes(c));
                }
                None => return Err(self.unterminated('"')),
            }
        }
    }

    /// Inside double quotes the escape character only escapes `"`, `$` and itself.
    fn escaped_in_double_quotes(&mut self, c: char) -> char {
        let escape = self.escape;
        match self.peek() {
            Some(next) if c == escape && (matches!(next, '"' | '$') || next == escape) => {
                self.pos += 1;
                next
            }
            _ => c,
        }
    }

    fn unterminated(&self, quote: char) -> SubstError {
        let word = self.word.to_string();
        SubstError::UnterminatedQuote { quote, word }
    }

    /// `$NAME` or `${...}`; a `$` before anything else is literal.
    fn dollar(&mut self) -> Result<String, SubstError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(match name.is_empty() {
                true => "$".to_string(),
                false => self.value(&name).unwrap_or_default(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(SubstError::MissingBrace(self.word.to_string())),
            Some('{' | '}' | ':') => return Err(self.bad()),
            Some(_) => {}
        }
        let name = self.name();
        if name.is_empty() {
            return Err(self.bad());
        }
        self.braced(&name)
    }

    /// The rest of `${NAME...}` after the name.
    fn braced(&mut self, name: &str) -> Result<String, SubstError> {
        let value = self.value(name);
        match self.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = self.next().ok_or_else(|| self.missing_brace())?;
                let word = self.until(Some('}'))?;
                let set_and_not_empty = value.clone().filter(|v| !v.is_empty());
                self.apply(modifier, set_and_not_empty, word)
            }
            Some(modifier @ ('-' | '+')) => {
                let word = self.until(Some('}'))?;
                self.apply(modifier, value, word)
            }
            None => Err(self.missing_brace()),
            Some(_) => Err(self.bad()),
        }
    }

    /// `-`: the value, else the word; `+`: the word if there is a value, else nothing.
    fn apply(&self, modifier: char, value: Option<String>, word: String) -> Result<String, SubstError> {
        match modifier {
            '-' => Ok(value.unwrap_or(word)),
            '+' => Ok(value.map(|_| word).unwrap_or_default()),
            _ => Err(SubstError::UnsupportedModifier { modifier, word: self.word.to_string() }),
        }
    }

    /// A variable name: letters, digits and `_`; or a positional (`$1`) or special (`$@`)
    /// parameter, which the builder never sets, so they expand to nothing.
    fn name(&mut self) -> String {
        let Some(first) = self.peek() else {
            return String::new();
        };
        if first.is_ascii_digit() {
            return self.take_while(|c| c.is_ascii_digit());
        }
        if matches!(first, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
            self.pos += 1;
            return first.to_string();
        }
        self.take_while(|c| c.is_alphanumeric() || c == '_')
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn value(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn bad(&self) -> SubstError {
        SubstError::BadSubstitution(self.word.to_string())
    }

    fn missing_brace(&self) -> SubstError {
        SubstError::MissingBrace(self.word.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".to_string()),
            "EMPTY" => Some(String::new()),
            "SPACED" => Some("a b".to_string()),
            _ => None,
        }
    }

    #[rstest]
    #[case::plain("abc", "abc")]
    #[case::variable("$HOME/x", "/root/x")]
    #[case::braces("${HOME}x", "/rootx")]
    #[case::unset("a$NOPE-b", "a-b")]
    #[case::lone_dollar("cost $ 5", "cost $ 5")]
    #[case::dollar_at_end("a$", "a$")]
    #[case::escaped_dollar(r"\$HOME", "$HOME")]
    #[case::escaped_space(r"v\ 3", "v 3")]
    #[case::trailing_escape(r"a\", "a")]
    #[case::single_quotes("'$HOME \\x'", "$HOME \\x")]
    #[case::double_quotes(r#""$HOME \$HOME \x \\ \"""#, r#"/root $HOME \x \ ""#)]
    #[case::quotes_joined(r#"a"b c"'d'"#, "ab cd")]
    #[case::default_unset("${NOPE:-dflt}", "dflt")]
    #[case::default_empty("${EMPTY:-dflt}", "dflt")]
    #[case::default_set("${HOME:-dflt}", "/root")]
    #[case::alt_set("${HOME:+alt}", "alt")]
    #[case::alt_empty("${EMPTY:+alt}", "")]
    #[case::alt_unset("${NOPE:+alt}", "")]
    #[case::dash_unset("${NOPE-dflt}", "dflt")]
    #[case::dash_empty("${EMPTY-dflt}", "")]
    #[case::plus_empty("${EMPTY+alt}", "alt")]
    #[case::plus_unset("${NOPE+alt}", "")]
    #[case::nested_default("${NOPE:-$HOME/x}", "/root/x")]
    #[case::quoted_brace_in_default(r#"${NOPE:-"}"}"#, "}")]
    #[case::positional("$1x", "x")]
    #[case::special("a$@b", "ab")]
    #[case::value_not_split("$SPACED", "a b")]
    #[case::unicode_name("$HOMEé", "")]
    fn substitutes(#[case] word: &str, #[case] expected: &str) {
        assert_eq!(substitute(word, &env, '\\').as_deref(), Ok(expected));
    }

    #[test]
    fn backtick_escape() {
        assert_eq!(substitute(r"c:\dir `$HOME", &env, '`').as_deref(), Ok(r"c:\dir $HOME"));
    }

    #[rstest]
    #[case::missing_brace("${HOME", "syntax error: missing '}' in \"${HOME\"")]
    #[case::missing_brace_after_default("${HOME:-x", "syntax error: missing '}' in \"${HOME:-x\"")]
    #[case::empty_braces("${}", "syntax error: bad substitution in \"${}\"")]
    #[case::colon_first("${:x}", "syntax error: bad substitution in \"${:x}\"")]
    #[case::space_in_name("${A B}", "syntax error: bad substitution in \"${A B}\"")]
    #[case::modifier("${A:?x}", "unsupported modifier '?' in substitution in \"${A:?x}\": use ${VAR:-default}, ${VAR:+alternative}, ${VAR-default} or ${VAR+alternative}")]
    #[case::single_quote("it's", "unexpected end of \"it's\" while looking for the matching ' quote")]
    #[case::double_quote("\"abc", "unexpected end of \"\\\"abc\" while looking for the matching \" quote")]
    fn rejects(#[case] word: &str, #[case] message: &str) {
        let err = substitute(word, &env, '\\').expect_err("fails");
        assert_eq!(err.to_string(), message);
    }
}
