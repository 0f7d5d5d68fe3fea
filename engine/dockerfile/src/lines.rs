//! From text to logical lines: parser directives at the top, comments, blank lines and
//! line continuations, handled the way moby's line scanner handles them.

use crate::error::ParseError;

/// One instruction's text, continuation lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    /// 1-based number of the instruction's first line.
    pub line: usize,
    /// The joined text, trimmed.
    pub text: String,
}

/// The file split into instructions, with the escape character its directives chose.
#[derive(Debug)]
pub(crate) struct Source {
    pub escape: char,
    pub lines: Vec<LogicalLine>,
    /// Number of physical lines, to place errors about the file as a whole.
    pub line_count: usize,
}

/// A bad parser directive (`# escape=...`, `# syntax=...`) at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("invalid escape token {0:?} does not match ` or \\")]
    InvalidEscape(String),
    #[error("only one {0} parser directive can be used")]
    Repeated(String),
}

/// Splits `text` into logical lines.
pub(crate) fn split(text: &str) -> Result<Source, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text.lines().map(|line| line.strip_suffix('\r').unwrap_or(line)).collect();
    let escape = directives(&physical)?;
    Ok(Source { escape, lines: logical_lines(&physical, escape), line_count: physical.len() })
}

/// Reads the directives at the top of the file; the first line that is not one ends them.
fn directives(lines: &[&str]) -> Result<char, ParseError> {
    let mut escape = '\\';
    let mut seen: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            break;
        };
        if seen.contains(&key) {
            return Err(ParseError::new(index + 1, DirectiveError::Repeated(key)));
        }
        if key == "escape" {
            escape = escape_token(value).map_err(|e| ParseError::new(index + 1, e))?;
        }
        seen.push(key);
    }
    Ok(escape)
}

/// `# key=value` for a key Docker knows (`escape`, `syntax`); other comments are not directives.
fn directive(line: &str) -> Option<(String, &str)> {
    let rest = line.trim_start().strip_prefix('#')?.trim_start_matches(is_ascii_space);
    let key_end = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let (key, rest) = rest.split_at(key_end);
    let value = rest.trim_start_matches(is_ascii_space).strip_prefix('=')?.trim_matches(is_ascii_space);
    let key = key.to_ascii_lowercase();
    let known = matches!(key.as_str(), "escape" | "syntax");
    (known && !value.is_empty()).then_some((key, value))
}

fn escape_token(value: &str) -> Result<char, DirectiveError> {
    match value {
        "\\" => Ok('\\'),
        "`" => Ok('`'),
        _ => Err(DirectiveError::InvalidEscape(value.to_string())),
    }
}

/// Splits the physical lines into instructions; comment lines outside an instruction are
/// skipped, as are blank ones.
fn logical_lines(lines: &[&str], escape: char) -> Vec<LogicalLine> {
    let mut out = Vec::new();
    let mut numbered = lines.iter().enumerate();
    while let Some((index, raw)) = numbered.next() {
        let first = raw.trim_start();
        if first.starts_with('#') {
            continue;
        }
        let text = join_continuation(first, &mut numbered, escape);
        if !text.is_empty() {
            out.push(LogicalLine { line: index + 1, text });
        }
    }
    out
}

/// The instruction starting with `first`, its continuation lines joined (without the escape
/// character that continued them), trimmed. Inside a continuation, comment lines and blank
/// lines are skipped rather than ending the instruction, as moby does.
fn join_continuation<'a>(first: &str, rest: &mut impl Iterator<Item = (usize, &'a &'a str)>, escape: char) -> String {
    let (start, mut continued) = trim_continuation(first, escape);
    let mut text = start.to_string();
    while continued {
        let Some((_, raw)) = rest.next() else {
            break;
        };
        let trimmed = raw.trim_start();
        if !trimmed.starts_with('#') && !trimmed.is_empty() {
            let (part, more) = trim_continuation(raw, escape);
            text.push_str(part);
            continued = more;
        }
    }
    text.trim().to_string()
}

/// Strips a trailing escape character (spaces and tabs may follow it): the line continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(body) => (body, true),
        None => (line, false),
    }
}

/// The whitespace of Go's `\s`, which moby's directive pattern uses.
fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn texts(source: &str) -> Vec<(usize, String)> {
        let source = split(source).expect("splits");
        source.lines.into_iter().map(|l| (l.line, l.text)).collect()
    }

    #[rstest]
    #[case::comment_and_blank("# c\n\nFROM a\n", &[(3, "FROM a")])]
    #[case::hash_inside_is_kept("RUN echo # not a comment", &[(1, "RUN echo # not a comment")])]
    #[case::indented_comment("   # c\nRUN x", &[(2, "RUN x")])]
    #[case::continuation("RUN a \\\n  b", &[(1, "RUN a   b")])]
    #[case::continuation_trailing_space("RUN a \\  \t\n b", &[(1, "RUN a  b")])]
    #[case::comment_inside_continuation("RUN a && \\\n# why\n  b", &[(1, "RUN a &&   b")])]
    #[case::blank_inside_continuation("RUN a \\\n\n   \nb\nRUN c", &[(1, "RUN a b"), (5, "RUN c")])]
    #[case::continuation_at_eof("RUN a \\", &[(1, "RUN a")])]
    #[case::crlf("FROM a\r\nRUN b \\\r\n c\r\n", &[(1, "FROM a"), (2, "RUN b  c")])]
    #[case::bom("\u{feff}FROM a", &[(1, "FROM a")])]
    #[case::lone_escape_joins_on("\\\n\nFROM a", &[(1, "FROM a")])]
    fn joins_lines(#[case] source: &str, #[case] expected: &[(usize, &str)]) {
        let expected: Vec<(usize, String)> = expected.iter().map(|(n, t)| (*n, t.to_string())).collect();
        assert_eq!(texts(source), expected);
    }

    #[rstest]
    #[case::none("FROM a", '\\')]
    #[case::backtick("# escape=`\nFROM a", '`')]
    #[case::spaced("#  ESCAPE = `  \nFROM a", '`')]
    #[case::after_syntax("# syntax=docker/dockerfile:1\n# escape=`\nFROM a", '`')]
    #[case::after_blank_line_is_a_comment("\n# escape=`\nFROM a", '\\')]
    #[case::after_comment_is_a_comment("# hello\n# escape=`\nFROM a", '\\')]
    #[case::unknown_directive_ends_them("# foo=bar\n# escape=`\nFROM a", '\\')]
    fn reads_the_escape_directive(#[case] source: &str, #[case] escape: char) {
        assert_eq!(split(source).expect("splits").escape, escape);
    }

    #[test]
    fn backtick_continues_lines() {
        assert_eq!(texts("# escape=`\nRUN dir c:\\ `\n  /b"), vec![(2, "RUN dir c:\\   /b".to_string())]);
    }

    #[rstest]
    #[case::bad_escape("# escape=x\nFROM a", "Dockerfile line 1: invalid escape token \"x\" does not match ` or \\")]
    #[case::twice("# escape=`\n# escape=\\\nFROM a", "Dockerfile line 2: only one escape parser directive can be used")]
    fn rejects_bad_directives(#[case] source: &str, #[case] message: &str) {
        let err = split(source).expect_err("fails");
        assert_eq!(err.to_string(), message);
    }
}
