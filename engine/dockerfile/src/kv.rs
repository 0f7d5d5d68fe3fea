//! ENV, LABEL and ARG: names with values, in the old `ENV key value` form and the
//! `ENV k=v k2="v 2"` form.

use crate::ast::Arg;
use crate::error::ParseErrorKind;
use crate::instruction::Args;
use crate::words::first_word;

/// ENV and LABEL pairs. When the first word holds no `=`, it is the old form: the first
/// word is the key and the rest of the line, spaces and all, the value.
pub(crate) fn pairs(args: &Args, instruction: &'static str) -> Result<Vec<(String, String)>, ParseErrorKind> {
    args.no_flags(instruction)?;
    let words = args.words(instruction)?;
    match words.first() {
        None => Err(ParseErrorKind::MissingArguments(instruction)),
        Some(first) if !first.contains('=') => old_form(args.text, instruction),
        Some(_) => words.iter().map(|word| pair(word, instruction)).collect(),
    }
}

fn old_form(text: &str, instruction: &'static str) -> Result<Vec<(String, String)>, ParseErrorKind> {
    match first_word(text) {
        (key, "") => Err(ParseErrorKind::MissingValue { instruction, key: key.to_string() }),
        (key, value) => Ok(vec![(key.to_string(), value.to_string())]),
    }
}

/// One `name=value` word; the value may be empty, the name not.
fn pair(word: &str, instruction: &'static str) -> Result<(String, String), ParseErrorKind> {
    match word.split_once('=') {
        None => Err(ParseErrorKind::MissingEquals { instruction, word: word.to_string() }),
        Some(("", _)) => Err(ParseErrorKind::BlankName { instruction, word: word.to_string() }),
        Some((name, value)) => Ok((name.to_string(), value.to_string())),
    }
}

/// `ARG name` or `ARG name=default`: one word, as in moby 20.10.
pub(crate) fn arg(args: &Args) -> Result<Arg, ParseErrorKind> {
    args.no_flags("ARG")?;
    let word = match args.words("ARG")?.as_slice() {
        [] => return Err(ParseErrorKind::MissingArguments("ARG")),
        [word] => word.clone(),
        _ => {
            let args = args.text.to_string();
            return Err(ParseErrorKind::ExactlyOneArgument { instruction: "ARG", args });
        }
    };
    match word.split_once('=') {
        None => Ok(Arg { name: word, default: None }),
        Some(_) => pair(&word, "ARG").map(|(name, default)| Arg { name, default: Some(default) }),
    }
}
