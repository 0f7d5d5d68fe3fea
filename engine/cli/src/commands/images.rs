//! Image commands: `images`, `history`, `tag`, `rmi`, `import`, `save`, `load`.

use crate::flags::{Flag, Parsed};
use crate::output::{ago, human_size, print_messages, short_id, Table};
use crate::{CliError, Session};
use berth_api::image::{DeleteItem, HistoryItem, ImageSummary};
use berth_client::{body_from_reader, ClientError};
use http::Method;
use http_body_util::BodyExt;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

/// Escapes what a name may hold that would end or confuse a URL path.
pub fn path_escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'%' | b'?' | b'#' | b' ' | b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => {
                let _ = write!(out, "%{b:02X}");
            }
            _ => out.push(b as char),
        }
    }
    out
}

/// A query string value, percent-encoded.
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub const IMAGES_FLAGS: &[Flag] = &[
    Flag::boolean(Some('a'), "all", false, "Show all images (by default intermediate images used to build are hidden)"),
    Flag::boolean(None, "no-trunc", false, "Do not truncate output"),
    Flag::boolean(Some('q'), "quiet", false, "Only show numeric IDs"),
    Flag::boolean(None, "tree", false, "Output graph in tree format"),
    Flag::boolean(None, "viz", false, "Output graph in graphviz format"),
    Flag::multi(Some('f'), "filter", "Filter output (dangling=true, reference=..., label=...)"),
];

pub fn images(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let spec = IMAGES_FLAGS;
    let (tree, viz) = (flags.bool(spec, "tree"), flags.bool(spec, "viz"));
    let all = flags.bool(spec, "all") || tree || viz;
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in flags.all("filter") {
        let (k, v) = f.split_once('=').ok_or_else(|| {
            CliError::usage(format!("bad format of filter {f:?} (expected name=value)"), Some("images"))
        })?;
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    if let Some(name) = flags.args.first() {
        filters.entry("reference".into()).or_default().push(name.clone());
    }
    let query = format!(
        "/images/json?all={}&filters={}",
        u8::from(all),
        query_escape(&serde_json::to_string(&filters).unwrap_or_default())
    );
    let client = session.client()?;
    let list: Vec<ImageSummary> = session.block_on(client.get_json(&query))?;
    let no_trunc = flags.bool(spec, "no-trunc");
    let text = if tree {
        render_tree(&list, no_trunc)
    } else if viz {
        render_viz(&list)
    } else if flags.bool(spec, "quiet") {
        render_quiet(&list, no_trunc)
    } else {
        render_images(&list, no_trunc)
    };
    write!(session.out, "{text}")?;
    Ok(0)
}

fn id_text(id: &str, no_trunc: bool) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if no_trunc {
        hex.to_string()
    } else {
        short_id(hex).to_string()
    }
}

fn names(image: &ImageSummary) -> Vec<(String, String)> {
    let tags = image.repo_tags.clone().unwrap_or_default();
    let mut out: Vec<(String, String)> = tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .map(|t| match t.rsplit_once(':') {
            Some((repo, tag)) => (repo.to_string(), tag.to_string()),
            None => (t.clone(), String::new()),
        })
        .collect();
    if out.is_empty() {
        out.push(("<none>".into(), "<none>".into()));
    }
    out
}

pub fn render_images(list: &[ImageSummary], no_trunc: bool) -> String {
    let mut table = Table::default();
    table.row(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "VIRTUAL SIZE"]);
    for image in list {
        for (repo, tag) in names(image) {
            table.row([repo, tag, id_text(&image.id, no_trunc), ago(image.created), human_size(image.virtual_size)]);
        }
    }
    table.render()
}

fn render_quiet(list: &[ImageSummary], no_trunc: bool) -> String {
    let mut seen = std::collections::HashSet::new();
    list.iter().filter(|i| seen.insert(i.id.clone())).map(|i| format!("{}\n", id_text(&i.id, no_trunc))).collect()
}

/// `--tree`: each image under its parent, with its own and virtual size and its tags.
pub fn render_tree(list: &[ImageSummary], no_trunc: bool) -> String {
    let ids: std::collections::HashSet<&str> = list.iter().map(|i| i.id.as_str()).collect();
    let mut by_parent: BTreeMap<&str, Vec<&ImageSummary>> = BTreeMap::new();
    for image in list {
        let parent = if ids.contains(image.parent_id.as_str()) { image.parent_id.as_str() } else { "" };
        by_parent.entry(parent).or_default().push(image);
    }
    let sizes: BTreeMap<&str, i64> = list.iter().map(|i| (i.id.as_str(), i.virtual_size)).collect();
    let mut out = String::new();
    walk_tree(&by_parent, "", "", &sizes, no_trunc, &mut out);
    out
}

fn walk_tree(
    by_parent: &BTreeMap<&str, Vec<&ImageSummary>>,
    parent: &str,
    prefix: &str,
    sizes: &BTreeMap<&str, i64>,
    no_trunc: bool,
    out: &mut String,
) {
    let Some(children) = by_parent.get(parent) else { return };
    for (i, image) in children.iter().enumerate() {
        let last = i + 1 == children.len();
        let own = image.virtual_size - sizes.get(image.parent_id.as_str()).copied().unwrap_or(0);
        let _ = write!(
            out,
            "{prefix}{}{} Size: {} (virtual {})",
            if last { "└─" } else { "├─" },
            id_text(&image.id, no_trunc),
            human_size(own),
            human_size(image.virtual_size)
        );
        let tags: Vec<&String> = image.repo_tags.iter().flatten().filter(|t| *t != "<none>:<none>").collect();
        if !tags.is_empty() {
            let _ = write!(out, " Tags: {}", tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(","));
        }
        out.push('\n');
        let deeper = format!("{prefix}{}", if last { "  " } else { "│ " });
        walk_tree(by_parent, &image.id, &deeper, sizes, no_trunc, out);
    }
}

/// `--viz`: a Graphviz digraph of parent -> child edges, tagged images boxed with their tags.
pub fn render_viz(list: &[ImageSummary]) -> String {
    let ids: std::collections::HashSet<&str> = list.iter().map(|i| i.id.as_str()).collect();
    let mut out = String::from("digraph docker {\n");
    for image in list {
        if ids.contains(image.parent_id.as_str()) {
            let _ = writeln!(out, " \"{}\" -> \"{}\"", short_id(&image.parent_id), short_id(&image.id));
        } else {
            let _ = writeln!(out, " base -> \"{}\" [style=invis]", short_id(&image.id));
        }
    }
    for image in list {
        let tags: Vec<&str> =
            image.repo_tags.iter().flatten().filter(|t| *t != "<none>:<none>").map(String::as_str).collect();
        if !tags.is_empty() {
            let id = short_id(&image.id);
            let _ = writeln!(
                out,
                " \"{id}\" [label=\"{id}\\n{}\",shape=box,fillcolor=\"paleturquoise\",style=\"filled,rounded\"];",
                tags.join("\\n")
            );
        }
    }
    out.push_str(" base [style=invisible]\n}\n");
    out
}

pub const HISTORY_FLAGS: &[Flag] = &[
    Flag::boolean(None, "no-trunc", false, "Do not truncate output"),
    Flag::boolean(Some('q'), "quiet", false, "Only show numeric IDs"),
];

pub fn history(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let name = one_arg(flags, "history", "IMAGE")?;
    let client = session.client()?;
    let steps: Vec<HistoryItem> =
        session.block_on(client.get_json(&format!("/images/{}/history", path_escape(name))))?;
    let no_trunc = flags.bool(HISTORY_FLAGS, "no-trunc");
    let text = if flags.bool(HISTORY_FLAGS, "quiet") {
        steps.iter().map(|s| format!("{}\n", history_id(&s.id, no_trunc))).collect()
    } else {
        render_history(&steps, no_trunc)
    };
    write!(session.out, "{text}")?;
    Ok(0)
}

fn history_id(id: &str, no_trunc: bool) -> String {
    if id == "<missing>" {
        id.to_string()
    } else {
        id_text(id, no_trunc)
    }
}

pub fn render_history(steps: &[HistoryItem], no_trunc: bool) -> String {
    let mut table = Table::default();
    table.row(["IMAGE", "CREATED", "CREATED BY", "SIZE"]);
    for step in steps {
        let by = if no_trunc || step.created_by.chars().count() <= 45 {
            step.created_by.clone()
        } else {
            format!("{}...", step.created_by.chars().take(42).collect::<String>())
        };
        // A tagged step is shown by its names, as the 2014 CLI did.
        let image = match step.tags.as_deref() {
            Some(tags) if !tags.is_empty() => tags.join(", "),
            _ => history_id(&step.id, no_trunc),
        };
        table.row([image, ago(step.created), by, human_size(step.size)]);
    }
    table.render()
}

fn one_arg<'a>(flags: &'a Parsed, command: &'static str, what: &str) -> Result<&'a str, CliError> {
    match flags.args.as_slice() {
        [one] => Ok(one),
        _ => Err(CliError::usage(format!("\"berth {command}\" requires exactly one argument: {what}"), Some(command))),
    }
}

pub const TAG_FLAGS: &[Flag] =
    &[Flag::boolean(Some('f'), "force", false, "Force: move the tag even if it names another image")];

/// Splits `repo:tag` at the last colon after the last slash (a registry port is not a tag).
pub fn split_repo_tag(name: &str) -> (&str, Option<&str>) {
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None => (name, None),
    }
}

pub fn tag(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [image, target] = flags.args.as_slice() else {
        return Err(CliError::usage(
            "\"berth tag\" requires exactly 2 arguments: IMAGE and [REGISTRYHOST/][USERNAME/]NAME[:TAG]",
            Some("tag"),
        ));
    };
    let (repo, tag) = split_repo_tag(target);
    let mut path = format!(
        "/images/{}/tag?repo={}&force={}",
        path_escape(image),
        query_escape(repo),
        u8::from(flags.bool(TAG_FLAGS, "force"))
    );
    if let Some(tag) = tag {
        let _ = write!(path, "&tag={}", query_escape(tag));
    }
    // API 1.25 dropped `force` (a tag always moves); ask in 1.24 terms to keep 2014's `-f`.
    let client = session.client()?;
    let client = match client.version() {
        Some(v) if v > berth_api::ApiVersion::new(1, 24) => client.with_version(berth_api::ApiVersion::new(1, 24)),
        _ => client,
    };
    session.block_on(client.call(Method::POST, &path, None)).and_then(berth_client::check)?;
    Ok(0)
}

pub const RMI_FLAGS: &[Flag] = &[
    Flag::boolean(Some('f'), "force", false, "Force removal of the image"),
    Flag::boolean(None, "no-prune", false, "Do not delete untagged parents"),
];

pub fn rmi(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(CliError::usage("\"berth rmi\" requires at least one argument: IMAGE", Some("rmi")));
    }
    let client = session.client()?;
    let mut failed = false;
    for name in &flags.args {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            path_escape(name),
            u8::from(flags.bool(RMI_FLAGS, "force")),
            u8::from(flags.bool(RMI_FLAGS, "no-prune"))
        );
        let result = session.block_on(client.call(Method::DELETE, &path, None)).and_then(berth_client::check);
        match result.and_then(|r| Ok(r.json::<Vec<DeleteItem>>()?)) {
            Ok(items) => {
                for item in items {
                    match item {
                        DeleteItem::Untagged(what) => writeln!(session.out, "Untagged: {what}")?,
                        DeleteItem::Deleted(what) => writeln!(session.out, "Deleted: {what}")?,
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("{}", CliError::from(e).report());
            }
        }
    }
    if failed {
        return Err(CliError::Failed("failed to remove one or more images".into()));
    }
    Ok(0)
}

pub const IMPORT_FLAGS: &[Flag] =
    &[Flag::value(Some('m'), "message", "", "Set a commit message for the imported image")];

pub fn import(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let (source, target) = match flags.args.as_slice() {
        [source] => (source.as_str(), None),
        [source, target] => (source.as_str(), Some(target.as_str())),
        _ => {
            return Err(CliError::usage(
                "\"berth import\" requires 1 or 2 arguments: URL|- [REPOSITORY[:TAG]]",
                Some("import"),
            ))
        }
    };
    let mut path = format!("/images/create?fromSrc={}", query_escape(source));
    if let Some((repo, tag)) = target.map(split_repo_tag) {
        let _ = write!(path, "&repo={}", query_escape(repo));
        if let Some(tag) = tag {
            let _ = write!(path, "&tag={}", query_escape(tag));
        }
    }
    if let Some(message) = flags.last("message").filter(|m| !m.is_empty()) {
        let _ = write!(path, "&message={}", query_escape(message));
    }
    let body = if source == "-" {
        body_from_reader(std::io::stdin())
    } else {
        berth_client::body_from_bytes(Default::default())
    };
    let client = session.client()?;
    let reply = session.block_on(async {
        let response = client.stream(Method::POST, &path, body, Some("application/x-tar")).await?;
        collect(response).await
    })?;
    print_messages(&reply, &mut session.out)?;
    Ok(0)
}

async fn collect(response: http::Response<hyper::body::Incoming>) -> Result<bytes::Bytes, ClientError> {
    let body =
        response.into_body().collect().await.map_err(|e| ClientError::Http { host: "the daemon".into(), source: e })?;
    Ok(body.to_bytes())
}

pub const SAVE_FLAGS: &[Flag] = &[Flag::value(Some('o'), "output", "", "Write to a file instead of standard output")];

pub fn save(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(CliError::usage("\"berth save\" requires at least one argument: IMAGE", Some("save")));
    }
    let output = flags.last("output").filter(|o| !o.is_empty());
    if output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Failed(
            "refusing to write an image archive to a terminal: use -o FILE or redirect standard output".into(),
        ));
    }
    let names: Vec<String> = flags.args.iter().map(|n| format!("names={}", query_escape(n))).collect();
    let path = format!("/images/get?{}", names.join("&"));
    let client = session.client()?;
    let mut sink: Box<dyn Write> = match output {
        Some(file) => Box::new(std::io::BufWriter::new(std::fs::File::create(file)?)),
        None => Box::new(std::io::stdout().lock()),
    };
    session.block_on(async {
        let response =
            client.stream(Method::GET, &path, berth_client::body_from_bytes(Default::default()), None).await?;
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| CliError::Failed(format!("the archive was cut short: {e}")))?;
            if let Some(data) = frame.data_ref() {
                sink.write_all(data)?;
            }
        }
        sink.flush()?;
        Ok::<(), CliError>(())
    })?;
    Ok(0)
}

pub const LOAD_FLAGS: &[Flag] = &[
    Flag::value(Some('i'), "input", "", "Read from a tar archive file instead of standard input"),
    Flag::boolean(Some('q'), "quiet", false, "Suppress the load output"),
];

pub fn load(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let body = match flags.last("input").filter(|i| !i.is_empty()) {
        Some(file) => body_from_reader(
            std::fs::File::open(file).map_err(|e| CliError::Failed(format!("cannot open {file}: {e}")))?,
        ),
        None if std::io::stdin().is_terminal() => {
            return Err(CliError::Failed(
                "requested load from standard input, but it is a terminal: use -i FILE or redirect".into(),
            ))
        }
        None => body_from_reader(std::io::stdin()),
    };
    let path = format!("/images/load?quiet={}", u8::from(flags.bool(LOAD_FLAGS, "quiet")));
    let client = session.client()?;
    let reply = session.block_on(async {
        let response = client.stream(Method::POST, &path, body, Some("application/x-tar")).await?;
        collect(response).await
    })?;
    print_messages(&reply, &mut session.out)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, parent: &str, tags: &[&str], size: i64) -> ImageSummary {
        ImageSummary {
            id: format!("sha256:{id:0<64}"),
            parent_id: if parent.is_empty() { String::new() } else { format!("sha256:{parent:0<64}") },
            repo_tags: Some(tags.iter().map(|t| t.to_string()).collect()),
            virtual_size: size,
            size,
            ..Default::default()
        }
    }

    #[test]
    fn tree_nests_children_under_parents() {
        let list = [
            image("aa", "", &["base:latest"], 1000),
            image("bb", "aa", &["<none>:<none>"], 3000),
            image("cc", "bb", &["app:1", "app:2"], 3500),
            image("dd", "aa", &[], 1200),
        ];
        insta::assert_snapshot!(render_tree(&list, false));
    }

    #[test]
    fn viz_is_a_digraph() {
        let list = [image("aa", "", &["base:latest"], 1), image("bb", "aa", &[], 2)];
        let viz = render_viz(&list);
        assert!(viz.starts_with("digraph docker {\n"));
        assert!(viz.contains(" \"aa0000000000\" -> \"bb0000000000\"\n"));
        assert!(viz.contains(" base -> \"aa0000000000\" [style=invis]\n"));
        assert!(viz.contains("label=\"aa0000000000\\nbase:latest\""));
        assert!(viz.ends_with(" base [style=invisible]\n}\n"));
    }

    #[test]
    fn repo_tag_split_keeps_ports() {
        assert_eq!(split_repo_tag("localhost:5000/app"), ("localhost:5000/app", None));
        assert_eq!(split_repo_tag("localhost:5000/app:v1"), ("localhost:5000/app", Some("v1")));
        assert_eq!(split_repo_tag("app:v1"), ("app", Some("v1")));
    }

    #[test]
    fn escapes() {
        assert_eq!(path_escape("a b?c"), "a%20b%3Fc");
        assert_eq!(path_escape("localhost:5000/x:y"), "localhost:5000/x:y");
        assert_eq!(query_escape("{\"a\":[\"b\"]}"), "%7B%22a%22:%5B%22b%22%5D%7D");
    }
}
