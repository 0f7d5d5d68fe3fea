//! Splitting arguments: into words that honour quotes, at whitespace, and recognising the
//! JSON array form.

/// Splits `text` into words at unquoted whitespace, the way moby splits `ENV`/`LABEL`/`ARG`
/// arguments. Quotes and escapes stay in the words (`a "b c"` gives `a` and `"b c"`):
/// [`crate::substitute`] removes them when the builder expands each word. Inside single
/// quotes the escape character is an ordinary character; a trailing escape is dropped.
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let (words, _) = split(text, escape);
    words
}

/// Like [`split_words`], but a quote left open at the end is an error: the quote character.
/// Docker would only fail on it when the builder expands the word; the parser says so at once.
pub(crate) fn split_closed_words(text: &str, escape: char) -> Result<Vec<String>, char> {
    match split(text, escape) {
        (words, None) => Ok(words),
        (_, Some(quote)) => Err(quote),
    }
}

/// The words, and the quote still open at the end if any.
fn split(text: &str, escape: char) -> (Vec<String>, Option<char>) {
    let mut splitter = WordSplitter::default();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == escape && splitter.quote != Some('\'') {
            // A trailing escape is dropped; a quote it sits in stays open, since the word
            // lacks its close.
            if let Some(next) = chars.next() {
                splitter.push_escaped(c, next);
            }
        } else {
            splitter.push(c);
        }
    }
    splitter.finish()
}

#[derive(Default)]
struct WordSplitter {
    words: Vec<String>,
    word: String,
    in_word: bool,
    quote: Option<char>,
}

impl WordSplitter {
    fn push(&mut self, c: char) {
        match self.quote {
            Some(q) if c == q => self.quote = None,
            Some(_) => {}
            None if c.is_whitespace() => return self.end_word(),
            None if c == '"' || c == '\'' => self.quote = Some(c),
            None => {}
        }
        self.in_word = true;
        self.word.push(c);
    }

    fn push_escaped(&mut self, escape: char, c: char) {
        self.in_word = true;
        self.word.push(escape);
        self.word.push(c);
    }

    fn end_word(&mut self) {
        if self.in_word {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.in_word = false;
    }

    fn finish(mut self) -> (Vec<String>, Option<char>) {
        self.end_word();
        (self.words, self.quote)
    }
}

/// Splits off the first word at the whitespace moby's `[\t\v\f\r ]+` pattern matches:
/// the text before it and the rest, trimmed at the start.
pub(crate) fn first_word(text: &str) -> (&str, &str) {
    match text.split_once(is_separator) {
        Some((first, rest)) => (first, rest.trim_start_matches(is_separator)),
        None => (text, ""),
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Arguments that look like a JSON array but hold something other than strings; moby
/// rejects these rather than falling back to the shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotStringArray;

/// The strings of a JSON array, or `None` when `args` is not a JSON array at all (then
/// it is the shell form).
pub(crate) fn json_array(args: &str) -> Result<Option<Vec<String>>, NotStringArray> {
    let args = args.trim_start();
    if !args.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(args) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NotStringArray),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("a b  c", &["a", "b", "c"])]
    #[case::empty("", &[])]
    #[case::only_spaces(" \t ", &[])]
    #[case::double_quotes(r#"k="v 2" x"#, &[r#"k="v 2""#, "x"])]
    #[case::single_quotes("'a b' c", &["'a b'", "c"])]
    #[case::escaped_space(r"k3=v\ 3 z", &[r"k3=v\ 3", "z"])]
    #[case::escaped_quote(r#"a\"b c"#, &[r#"a\"b"#, "c"])]
    #[case::escape_in_double_quotes(r#""a\"b" c"#, &[r#""a\"b""#, "c"])]
    #[case::escape_in_single_quotes(r"'a\' b", &[r"'a\'", "b"])]
    #[case::empty_quotes(r#"a="" b"#, &[r#"a="""#, "b"])]
    #[case::trailing_escape(r"a b\", &["a", "b"])]
    #[case::unterminated_quote(r#"a "b c"#, &["a", r#""b c"#])]
    fn splits_words(#[case] text: &str, #[case] words: &[&str]) {
        assert_eq!(split_words(text, '\\'), words);
    }

    #[rstest]
    #[case::closed(r#"a "b c" 'd'"#, Ok(vec!["a".to_string(), "\"b c\"".to_string(), "'d'".to_string()]))]
    #[case::open_double(r#"a "b c"#, Err('"'))]
    #[case::open_single("a 'b", Err('\''))]
    #[case::trailing_escape_leaves_it_open(r#"a "b\"#, Err('"'))]
    fn finds_open_quotes(#[case] text: &str, #[case] expected: Result<Vec<String>, char>) {
        assert_eq!(split_closed_words(text, '\\'), expected);
    }

    #[test]
    fn backtick_escape_leaves_backslashes_alone() {
        assert_eq!(split_words(r"c:\dir a` b", '`'), vec![r"c:\dir", "a` b"]);
    }

    #[rstest]
    #[case::array(r#"["a", "b c"]"#, Ok(Some(vec!["a".to_string(), "b c".to_string()])))]
    #[case::leading_space(r#"  ["a"]  "#, Ok(Some(vec!["a".to_string()])))]
    #[case::empty_array("[]", Ok(Some(vec![])))]
    #[case::shell("echo hi", Ok(None))]
    #[case::bracket_but_not_json("[ -f x ] && echo", Ok(None))]
    #[case::single_quotes("['a']", Ok(None))]
    #[case::trailing_text(r#"["a"] b"#, Ok(None))]
    #[case::number("[1]", Err(NotStringArray))]
    #[case::nested(r#"["a", ["b"]]"#, Err(NotStringArray))]
    fn recognises_json(#[case] args: &str, #[case] expected: Result<Option<Vec<String>>, NotStringArray>) {
        assert_eq!(json_array(args), expected);
    }

    #[test]
    fn first_word_splits_once() {
        assert_eq!(first_word("RUN  echo  hi"), ("RUN", "echo  hi"));
        assert_eq!(first_word("RUN"), ("RUN", ""));
    }
}
