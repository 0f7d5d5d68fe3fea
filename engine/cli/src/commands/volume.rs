//! `berth volume`: create, ls, inspect, rm and prune, printed as today's docker CLI prints
//! them (its aligned table, `--format` templates with `table`, four-space JSON).

use super::group;
use super::images::{path_escape, query_escape};
use crate::flags::{Flag, Parsed};
use crate::template::Template;
use crate::{CliError, Session};
use berth_api::volume::{ListResponse, PruneResponse, Volume};
use http::Method;
use serde_json::{json, Map, Value};
use std::io::Write;

pub static FLAGS: &[Flag] = &[];

const USAGE: &str = "\
Usage:  berth volume COMMAND

Manage volumes

Commands:
  create      Create a volume
  inspect     Display detailed information on one or more volumes
  ls          List volumes
  prune       Remove all unused local volumes
  rm          Remove one or more volumes

Run 'berth volume COMMAND --help' for more information on a command.
";

static CREATE: &[Flag] = &[
    Flag::value(Some('d'), "driver", "local", "Specify volume driver name"),
    Flag::multi(None, "label", "Set metadata for a volume"),
    Flag::value(None, "name", "", "Specify volume name"),
    Flag::multi(Some('o'), "opt", "Set driver specific options"),
];
static LS: &[Flag] = &[
    Flag::boolean(Some('q'), "quiet", false, "Only display volume names"),
    Flag::multi(Some('f'), "filter", "Provide filter values (e.g. 'dangling=true')"),
    Flag::value(None, "format", "", "Pretty-print volumes using a Go template"),
];
static INSPECT: &[Flag] = &[Flag::value(Some('f'), "format", "", "Format the output using the given Go template")];
static RM: &[Flag] = &[Flag::boolean(Some('f'), "force", false, "Force the removal of one or more volumes")];
static PRUNE: &[Flag] = &[
    Flag::boolean(Some('f'), "force", false, "Do not prompt for confirmation"),
    Flag::multi(None, "filter", "Provide filter values (e.g. 'label=<label>')"),
];

fn usage(sub: &str, message: impl Into<String>) -> CliError {
    group::usage("volume", sub, message)
}

/// `berth volume SUBCOMMAND ...`.
pub fn volume(session: &mut Session, parsed: &Parsed) -> Result<i32, CliError> {
    let Some((sub, flags, specs)) = group::pick(session, parsed, "volume", USAGE, |sub| {
        Some(match sub {
            "create" => CREATE,
            "ls" | "list" => LS,
            "inspect" => INSPECT,
            "rm" | "remove" => RM,
            "prune" => PRUNE,
            _ => return None,
        })
    })?
    else {
        return Ok(0);
    };
    match sub.as_str() {
        "create" => create(session, &flags),
        "ls" | "list" => list(session, &flags, &specs),
        "inspect" => inspect(session, &flags),
        "prune" => prune(session, &flags, &specs),
        _ => remove(session, &flags, &specs),
    }
}

/// `--filter k=v` flags as the API's JSON (`{"k": {"v": true}}`), for a query string.
fn filters_query(values: &[String], sub: &str) -> Result<String, CliError> {
    let mut filters: Map<String, Value> = Map::new();
    for f in values {
        let (k, v) =
            f.split_once('=').ok_or_else(|| usage(sub, format!("bad format of filter {f:?} (expected name=value)")))?;
        let entry = filters.entry(k.to_string()).or_insert_with(|| json!({}));
        if let Some(map) = entry.as_object_mut() {
            map.insert(v.to_string(), json!(true));
        }
    }
    Ok(if filters.is_empty() {
        String::new()
    } else {
        format!("?filters={}", query_escape(&Value::Object(filters).to_string()))
    })
}

fn create(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let name = match (flags.args.as_slice(), flags.last("name").filter(|n| !n.is_empty())) {
        ([], name) => name.unwrap_or("").to_string(),
        ([arg], None) => arg.clone(),
        ([arg], Some(name)) if arg == name => arg.clone(),
        ([_], Some(_)) => {
            return Err(usage(
                "create",
                "conflicting options: either specify --name or provide positional arg, not both",
            ))
        }
        _ => return Err(usage("create", "\"berth volume create\" requires at most 1 argument: [VOLUME]")),
    };
    let body = json!({
        "Name": name, "Driver": flags.last("driver").unwrap_or("local"),
        "DriverOpts": group::key_values(flags.all("opt")), "Labels": group::key_values(flags.all("label")),
    });
    let volume: Volume = serde_json::from_slice(&group::call(session, Method::POST, "/volumes/create", Some(body))?)?;
    writeln!(session.out, "{}", volume.name)?;
    Ok(0)
}

/// What `ls --format` sees for a volume, with the docker CLI's field names.
fn row(v: &Volume) -> Value {
    json!({
        "Name": v.name, "Driver": v.driver, "Scope": v.scope, "Mountpoint": v.mountpoint,
        "Labels": labels_text(v), "Links": "N/A", "Size": "N/A", "Group": "N/A", "Availability": "N/A", "Status": "N/A",
    })
}

fn labels_text(v: &Volume) -> String {
    v.labels.iter().flatten().map(|(k, val)| format!("{k}={val}")).collect::<Vec<_>>().join(",")
}

/// The column title of a `{{.Field}}` in a `table` format.
fn header(field: &str) -> String {
    match field {
        "Name" => "VOLUME NAME".into(),
        other => other.to_uppercase(),
    }
}

fn list(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    let path = format!("/volumes{}", filters_query(flags.all("filter"), "ls")?);
    let mut volumes = serde_json::from_slice::<ListResponse>(&group::call(session, Method::GET, &path, None)?)?.volumes;
    volumes.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    if flags.bool(specs, "quiet") {
        for v in &volumes {
            writeln!(session.out, "{}", v.name)?;
        }
        return Ok(0);
    }
    let format = flags.last("format").filter(|f| !f.is_empty()).unwrap_or("table {{.Driver}}\t{{.Name}}");
    let rows: Vec<Value> = volumes.iter().map(row).collect();
    write!(session.out, "{}", render_rows(format, &rows)?)?;
    Ok(0)
}

/// Renders each row through `format`; a `table` format gets a header line and aligned
/// columns (Go's tabwriter with minimum width 10 and padding 3, as the docker CLI).
pub fn render_rows(format: &str, rows: &[Value]) -> Result<String, CliError> {
    let (table, body) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim_start().to_string()),
        None => (false, format.to_string()),
    };
    let body = body.replace("\\t", "\t");
    let template = Template::parse(&body).map_err(|e| CliError::Failed(e.to_string()))?;
    let mut lines: Vec<String> = Vec::new();
    if table {
        let fields = Template::parse(&body_headers(&body)).map_err(|e| CliError::Failed(e.to_string()))?;
        lines.push(fields.render(&Value::Null).map_err(|e| CliError::Failed(e.to_string()))?);
    }
    for r in rows {
        lines.push(template.render(r).map_err(|e| CliError::Failed(e.to_string()))?);
    }
    if !table {
        return Ok(lines.iter().map(|l| format!("{l}\n")).collect());
    }
    Ok(align(&lines))
}

/// The header of a table format: each `{{.Field}}` becomes its column title.
fn body_headers(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else { break };
        let action = rest[start + 2..start + end].trim();
        let field = action.strip_prefix('.').unwrap_or(action);
        out.push_str(&header(field.split_whitespace().next().unwrap_or(field)));
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

fn align(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            let widest = cells.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0);
            (widest + 3).max(10)
        })
        .collect();
    let mut out = String::new();
    for row in &cells {
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

/// Names in the docker CLI's order: runs of digits compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (ca, cb) = match (a.chars().next(), b.chars().next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, _) => return std::cmp::Ordering::Less,
            (_, None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => (x, y),
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (na, nb) = (a[..da].trim_start_matches('0'), b[..db].trim_start_matches('0'));
            let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if order != std::cmp::Ordering::Equal {
                return order;
            }
            (a, b) = (&a[da..], &b[db..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

fn inspect(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(usage("inspect", "\"berth volume inspect\" requires at least 1 argument: VOLUME"));
    }
    let template = match flags.last("format").filter(|f| !f.is_empty()) {
        Some(text) => Some(Template::parse(text).map_err(|e| CliError::Failed(e.to_string()))?),
        None => None,
    };
    let mut found = Vec::new();
    let mut failed = false;
    for name in &flags.args {
        match group::call(session, Method::GET, &format!("/volumes/{}", path_escape(name)), None) {
            Ok(body) => found.push(serde_json::from_slice::<Value>(&body)?),
            Err(e) => {
                failed = true;
                eprintln!("{}", e.report());
            }
        }
    }
    match template {
        Some(template) => {
            for value in &found {
                writeln!(session.out, "{}", template.render(value).map_err(|e| CliError::Failed(e.to_string()))?)?;
            }
        }
        None => writeln!(session.out, "{}", pretty(&Value::Array(found))?)?,
    }
    Ok(if failed { 1 } else { 0 })
}

/// JSON indented by four spaces, as the docker CLI prints it.
fn pretty(value: &Value) -> Result<String, CliError> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(value, &mut serializer).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn remove(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(usage("rm", "\"berth volume rm\" requires at least 1 argument: VOLUME"));
    }
    let force = u8::from(flags.bool(specs, "force"));
    let mut failed = false;
    for name in &flags.args {
        match group::call(session, Method::DELETE, &format!("/volumes/{}?force={force}", path_escape(name)), None) {
            Ok(_) => writeln!(session.out, "{name}")?,
            Err(e) => {
                failed = true;
                eprintln!("{}", e.report());
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    if !flags.bool(specs, "force") {
        write!(
            session.out,
            "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
        )?;
        session.out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(0);
        }
    }
    let path = format!("/volumes/prune{}", filters_query(flags.all("filter"), "prune")?);
    let pruned: PruneResponse = serde_json::from_slice(&group::call(session, Method::POST, &path, None)?)?;
    write!(session.out, "{}", prune_report(&pruned))?;
    Ok(0)
}

fn prune_report(pruned: &PruneResponse) -> String {
    let mut out = String::new();
    let deleted = pruned.volumes_deleted.as_deref().unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for name in deleted {
            out.push_str(name);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!("Total reclaimed space: {}\n", human_size(pruned.space_reclaimed)));
    out
}

/// Today's size wording: four significant digits, decimal units, no space (`12.35kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    let digits = if size == 0.0 { 0 } else { 3 - size.log10().floor() as i32 }.max(0) as usize;
    let text = format!("{size:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    format!("{text}{}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            driver: "local".into(),
            scope: "local".into(),
            mountpoint: format!("/g/volumes/{name}/_data"),
            labels: (!labels.is_empty()).then(|| labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn the_default_table_matches_the_docker_cli() {
        let rows: Vec<Value> = [volume("data", &[]), volume("2e548390cb9e", &[])].iter().map(row).collect();
        insta::assert_snapshot!(render_rows("table {{.Driver}}\t{{.Name}}", &rows).unwrap(), @r"
        DRIVER    VOLUME NAME
        local     data
        local     2e548390cb9e
        ");
    }

    #[test]
    fn custom_tables_and_plain_formats() {
        let rows: Vec<Value> =
            [volume("ok3", &[("a", "b"), ("c", "d")]), volume("foo1", &[])].iter().map(row).collect();
        insta::assert_snapshot!(render_rows("table {{.Name}}\\t{{.Labels}}\\t{{.Driver}}", &rows).unwrap(), @r"
        VOLUME NAME   LABELS    DRIVER
        ok3           a=b,c=d   local
        foo1                    local
        ");
        assert_eq!(render_rows("{{.Name}}:{{.Scope}}", &rows).unwrap(), "ok3:local\nfoo1:local\n");
    }

    #[test]
    fn names_sort_naturally() {
        let mut names = vec!["named1", "9e32", "35ab", "foo1", "2e54", "named10", "named2"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(names, ["2e54", "9e32", "35ab", "foo1", "named1", "named2", "named10"]);
    }

    #[test]
    fn prune_reports_like_the_docker_cli() {
        let none = PruneResponse { volumes_deleted: None, space_reclaimed: 0 };
        assert_eq!(prune_report(&none), "Total reclaimed space: 0B\n");
        let some = PruneResponse { volumes_deleted: Some(vec!["a1".into(), "b2".into()]), space_reclaimed: 12_345 };
        assert_eq!(prune_report(&some), "Deleted Volumes:\na1\nb2\n\nTotal reclaimed space: 12.35kB\n");
    }

    #[test]
    fn sizes_in_todays_wording() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1_000), "1kB");
        assert_eq!(human_size(1_986_000), "1.986MB");
    }
}
