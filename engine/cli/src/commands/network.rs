//! `berth network`: user-defined networks (create, ls, inspect, rm, connect, disconnect,
//! prune), printed as today's docker CLI prints them.

use super::group;
use super::images::{path_escape, query_escape};
use crate::flags::{Flag, Parsed};
use crate::output::Table;
use crate::template::Template;
use crate::{CliError, Session};
use http::Method;
use serde_json::{json, Map, Value};
use std::io::Write;

pub static FLAGS: &[Flag] = &[];

const USAGE: &str = "\
Usage:  berth network COMMAND

Manage networks

Commands:
  connect     Connect a container to a network
  create      Create a network
  disconnect  Disconnect a container from a network
  inspect     Display detailed information on one or more networks
  ls          List networks
  prune       Remove all unused networks
  rm          Remove one or more networks

Run 'berth network COMMAND --help' for more information on a command.
";

static CREATE: &[Flag] = &[
    Flag::value(Some('d'), "driver", "bridge", "Driver to manage the Network"),
    Flag::boolean(None, "internal", false, "Restrict external access to the network"),
    Flag::boolean(None, "attachable", false, "Enable manual container attachment"),
    Flag::multi(None, "subnet", "Subnet in CIDR format that represents a network segment"),
    Flag::multi(None, "gateway", "IPv4 Gateway for the master subnet"),
    Flag::multi(None, "ip-range", "Allocate container ip from a sub-range"),
    Flag::multi(None, "label", "Set metadata on a network"),
    Flag::multi(Some('o'), "opt", "Set driver specific options"),
    Flag::boolean(None, "ipv6", false, "Enable IPv6 networking"),
];
static LS: &[Flag] = &[
    Flag::boolean(Some('q'), "quiet", false, "Only display network IDs"),
    Flag::boolean(None, "no-trunc", false, "Do not truncate the output"),
    Flag::multi(Some('f'), "filter", "Provide filter values (e.g. 'driver=bridge')"),
    Flag::value(None, "format", "", "Pretty-print networks using a Go template"),
];
static INSPECT: &[Flag] = &[Flag::value(Some('f'), "format", "", "Format the output using the given Go template")];
static CONNECT: &[Flag] = &[
    Flag::multi(None, "alias", "Add network-scoped alias for the container"),
    Flag::value(None, "ip", "", "IPv4 address (e.g., 172.30.100.104)"),
];
static DISCONNECT: &[Flag] =
    &[Flag::boolean(Some('f'), "force", false, "Force the container to disconnect from a network")];
static PRUNE: &[Flag] = &[
    Flag::boolean(Some('f'), "force", false, "Do not prompt for confirmation"),
    Flag::multi(None, "filter", "Provide filter values (e.g. 'label=<key>=<value>')"),
];
static RM: &[Flag] = &[];

fn usage(sub: &str, message: impl Into<String>) -> CliError {
    group::usage("network", sub, message)
}

/// `berth network SUBCOMMAND ...`.
pub fn network(session: &mut Session, parsed: &Parsed) -> Result<i32, CliError> {
    let Some((sub, flags, specs)) = group::pick(session, parsed, "network", USAGE, |sub| {
        Some(match sub {
            "create" => CREATE,
            "ls" | "list" => LS,
            "inspect" => INSPECT,
            "connect" => CONNECT,
            "disconnect" => DISCONNECT,
            "prune" => PRUNE,
            "rm" | "remove" => RM,
            _ => return None,
        })
    })?
    else {
        return Ok(0);
    };
    match sub.as_str() {
        "create" => create(session, &flags, &specs),
        "ls" | "list" => list(session, &flags, &specs),
        "inspect" => inspect(session, &flags),
        "connect" => connect(session, &flags),
        "disconnect" => disconnect(session, &flags, &specs),
        "prune" => prune(session, &flags, &specs),
        _ => remove(session, &flags),
    }
}

/// A call whose answer is JSON, or nothing (Null).
fn call(session: &mut Session, method: Method, path: &str, body: Option<Value>) -> Result<Value, CliError> {
    let body = group::call(session, method, path, body)?;
    Ok(serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn create(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    let [name] = flags.args.as_slice() else {
        return Err(usage("create", "\"berth network create\" requires exactly 1 argument: NETWORK"));
    };
    let subnets = flags.all("subnet");
    let gateways = flags.all("gateway");
    if gateways.len() > subnets.len() {
        return Err(usage("create", "every --gateway needs a --subnet"));
    }
    let config: Vec<Value> = subnets
        .iter()
        .enumerate()
        .map(|(i, subnet)| {
            let mut entry = json!({"Subnet": subnet});
            if let Some(gateway) = gateways.get(i) {
                entry["Gateway"] = json!(gateway);
            }
            if let Some(range) = flags.all("ip-range").get(i) {
                entry["IPRange"] = json!(range);
            }
            entry
        })
        .collect();
    let body = json!({
        "Name": name, "CheckDuplicate": true, "Driver": flags.last("driver").unwrap_or("bridge"),
        "Internal": flags.bool(specs, "internal"), "Attachable": flags.bool(specs, "attachable"),
        "EnableIPv6": flags.bool(specs, "ipv6"),
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        "Options": group::key_values(flags.all("opt")), "Labels": group::key_values(flags.all("label")),
    });
    let reply = call(session, Method::POST, "/networks/create", Some(body))?;
    writeln!(session.out, "{}", reply["Id"].as_str().unwrap_or_default())?;
    Ok(0)
}

fn list(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    let mut filters: Map<String, Value> = Map::new();
    for f in flags.all("filter") {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| usage("ls", format!("bad format of filter {f:?} (expected name=value)")))?;
        filters
            .entry(k.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(v.into(), json!(true)));
    }
    let path = if filters.is_empty() {
        "/networks".to_string()
    } else {
        format!("/networks?filters={}", query_escape(&Value::Object(filters).to_string()))
    };
    let mut networks = call(session, Method::GET, &path, None)?.as_array().cloned().unwrap_or_default();
    networks.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    let no_trunc = flags.bool(specs, "no-trunc");
    let id = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or_default().to_string();
        if no_trunc {
            id
        } else {
            id.chars().take(12).collect()
        }
    };
    if flags.bool(specs, "quiet") {
        for n in &networks {
            writeln!(session.out, "{}", id(n))?;
        }
        return Ok(0);
    }
    if let Some(format) = flags.last("format").filter(|f| !f.is_empty()) {
        let template = Template::parse(format).map_err(|e| CliError::Failed(e.to_string()))?;
        for n in &networks {
            let mut row = n.clone();
            row["ID"] = json!(id(n));
            writeln!(session.out, "{}", template.render(&row).map_err(|e| CliError::Failed(e.to_string()))?)?;
        }
        return Ok(0);
    }
    let mut table = Table::default();
    table.row(["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    for n in &networks {
        let text = |k: &str| n[k].as_str().unwrap_or_default().to_string();
        table.row([id(n), text("Name"), text("Driver"), text("Scope")]);
    }
    write!(session.out, "{}", table.render())?;
    Ok(0)
}

fn inspect(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(usage("inspect", "\"berth network inspect\" requires at least 1 argument: NETWORK"));
    }
    let template = match flags.last("format").filter(|f| !f.is_empty()) {
        Some(text) => Some(Template::parse(text).map_err(|e| CliError::Failed(e.to_string()))?),
        None => None,
    };
    let mut found = Vec::new();
    let mut failed = false;
    for name in &flags.args {
        match call(session, Method::GET, &format!("/networks/{}", path_escape(name)), None) {
            Ok(value) => found.push(value),
            Err(e) => {
                failed = true;
                eprintln!("Error: {e}");
            }
        }
    }
    match template {
        Some(template) => {
            for value in &found {
                writeln!(session.out, "{}", template.render(value).map_err(|e| CliError::Failed(e.to_string()))?)?;
            }
        }
        None => writeln!(
            session.out,
            "{}",
            serde_json::to_string_pretty(&Value::Array(found)).map_err(|e| CliError::Failed(e.to_string()))?
        )?,
    }
    Ok(if failed { 1 } else { 0 })
}

fn remove(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    if flags.args.is_empty() {
        return Err(usage("rm", "\"berth network rm\" requires at least 1 argument: NETWORK"));
    }
    let mut failed = false;
    for name in &flags.args {
        match call(session, Method::DELETE, &format!("/networks/{}", path_escape(name)), None) {
            Ok(_) => writeln!(session.out, "{name}")?,
            Err(e) => {
                failed = true;
                eprintln!("Error: {e}");
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn connect(session: &mut Session, flags: &Parsed) -> Result<i32, CliError> {
    let [network, container] = flags.args.as_slice() else {
        return Err(usage("connect", "\"berth network connect\" requires exactly 2 arguments: NETWORK CONTAINER"));
    };
    let ip = flags.last("ip").filter(|ip| !ip.is_empty());
    let body = json!({
        "Container": container,
        "EndpointConfig": {"Aliases": flags.all("alias"), "IPAMConfig": ip.map(|ip| json!({"IPv4Address": ip}))},
    });
    call(session, Method::POST, &format!("/networks/{}/connect", path_escape(network)), Some(body))?;
    Ok(0)
}

fn disconnect(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    let [network, container] = flags.args.as_slice() else {
        return Err(usage(
            "disconnect",
            "\"berth network disconnect\" requires exactly 2 arguments: NETWORK CONTAINER",
        ));
    };
    let body = json!({"Container": container, "Force": flags.bool(specs, "force")});
    call(session, Method::POST, &format!("/networks/{}/disconnect", path_escape(network)), Some(body))?;
    Ok(0)
}

fn prune(session: &mut Session, flags: &Parsed, specs: &[Flag]) -> Result<i32, CliError> {
    if !flags.bool(specs, "force") {
        write!(
            session.out,
            "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
        )?;
        session.out.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(0);
        }
    }
    let mut filters: Map<String, Value> = Map::new();
    for f in flags.all("filter") {
        let (k, v) = f.split_once('=').unwrap_or((f, ""));
        filters
            .entry(k.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(v.into(), json!(true)));
    }
    let path = if filters.is_empty() {
        "/networks/prune".to_string()
    } else {
        format!("/networks/prune?filters={}", query_escape(&Value::Object(filters).to_string()))
    };
    let reply = call(session, Method::POST, &path, None)?;
    let deleted: Vec<&str> =
        reply["NetworksDeleted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !deleted.is_empty() {
        writeln!(session.out, "Deleted Networks:")?;
        for name in deleted {
            writeln!(session.out, "{name}")?;
        }
    }
    Ok(0)
}
