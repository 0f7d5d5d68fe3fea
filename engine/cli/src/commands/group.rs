//! What the commands made of subcommands (`berth network`, `berth volume`) share: picking the
//! subcommand and parsing its flags, `--help`, usage errors, `k=v` options and API calls.

use crate::flags::{self, Flag, Parsed};
use crate::{CliError, Session};
use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use std::io::Write;

/// A usage error of `berth GROUP SUB`, pointing at its help.
pub fn usage(group: &str, sub: &str, message: impl Into<String>) -> CliError {
    CliError::Usage { message: format!("{}\nSee 'berth {group} {sub} --help'.", message.into()), command: None }
}

/// The subcommand `parsed` names first, with its flags parsed by the table `flags_of` gives for
/// it (and `--help`). None when there was nothing more to do: no subcommand (the group's
/// `usage_text` is printed) or `--help` (the subcommand's flags are).
pub fn pick(
    session: &mut Session,
    parsed: &Parsed,
    group: &str,
    usage_text: &str,
    flags_of: impl Fn(&str) -> Option<&'static [Flag]>,
) -> Result<Option<(String, Parsed, Vec<Flag>)>, CliError> {
    let Some((sub, words)) = parsed.args.split_first() else {
        write!(session.out, "{usage_text}")?;
        return Ok(None);
    };
    let Some(spec) = flags_of(sub) else {
        return Err(CliError::usage(format!("berth {group}: '{sub}' is not a {group} command"), None));
    };
    let mut specs = spec.to_vec();
    specs.push(Flag::boolean(None, "help", false, "Print usage"));
    let flags = flags::parse(&specs, words, true).map_err(|e| usage(group, sub, e.to_string()))?;
    if flags.bool(&specs, "help") {
        write!(session.out, "\nUsage:  berth {group} {sub} [OPTIONS]\n\n{}", flags::render_help(&specs))?;
        return Ok(None);
    }
    Ok(Some((sub.clone(), flags, specs)))
}

/// `k=v` flags (`--label`, `--opt`) as a JSON object of strings; `k` alone is `k=`.
pub fn key_values(values: &[String]) -> Map<String, Value> {
    values
        .iter()
        .map(|v| {
            let (k, val) = v.split_once('=').unwrap_or((v, ""));
            (k.to_string(), Value::String(val.to_string()))
        })
        .collect()
}

/// One API call with an optional JSON body; the answer's body, or the API's error.
pub fn call(session: &mut Session, method: Method, path: &str, body: Option<Value>) -> Result<Bytes, CliError> {
    let client = session.client()?;
    let body = body.map(|b| Bytes::from(b.to_string()));
    Ok(session.block_on(client.call(method, path, body)).and_then(berth_client::check)?.body)
}
