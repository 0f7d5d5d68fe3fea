//! The command table: every command of 5.1 with its usage line, description and flags, and
//! the dispatch from the first word to the command's function.

mod build;
mod containers;
mod group;
mod images;
mod inspect;
mod network;
mod registry;
mod run;
mod system;
mod volume;

use crate::flags::{self, Flag, Parsed};
use crate::{CliError, Session, GLOBAL_FLAGS};
use std::fmt::Write as _;

/// Reads a streamed JSON-lines answer (build, pull, push) and hands `each` every line as it
/// arrives, the unterminated rest last. A value from `each` ends the reading early.
pub(crate) async fn each_line<T>(
    body: hyper::body::Incoming,
    mut each: impl FnMut(&[u8]) -> Result<Option<T>, CliError>,
) -> Result<Option<T>, CliError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| berth_client::ClientError::Http { host: "the daemon".into(), source: e })?;
        let Ok(data) = frame.into_data() else { continue };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(done) = each(&line)? {
                return Ok(Some(done));
            }
        }
    }
    each(&pending)
}

type Run = fn(&mut Session, &Parsed) -> Result<i32, CliError>;

/// One client command.
pub struct Command {
    pub name: &'static str,
    /// What follows `berth NAME` in the usage line.
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
    /// Whether flags may follow positional words (`rm web -f`); not for commands that pass
    /// the rest of the line on, like `run IMAGE CMD ARGS`.
    pub interspersed: bool,
    /// `None` for a command whose issue has not landed yet: it says so instead of pretending.
    pub run: Option<Run>,
}

const fn command(name: &'static str, usage: &'static str, about: &'static str) -> Command {
    Command { name, usage, about, flags: &[], interspersed: true, run: None }
}

/// Every command of 5.1.5–5.1.37, in the order `berth help` lists them.
#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    Command { run: Some(run::attach_cmd), flags: run::ATTACH_FLAGS, ..command("attach", "[OPTIONS] CONTAINER", "Attach to a running container") },
    Command { run: Some(build::build), flags: build::FLAGS, ..command("build", "[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile") },
    Command { run: Some(containers::commit), flags: containers::COMMIT_FLAGS, ..command("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes") },
    Command { run: Some(containers::cp), ..command("cp", "CONTAINER:PATH HOSTPATH", "Copy files or folders from a container's file system to the host") },
    Command { run: Some(run::create_cmd), flags: run::RUN_FLAGS, interspersed: false, ..command("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container") },
    Command { run: Some(containers::diff), ..command("diff", "CONTAINER", "Inspect changes on a container's file system") },
    Command { run: Some(containers::events), flags: containers::EVENTS_FLAGS, ..command("events", "[OPTIONS]", "Get real time events from the server") },
    Command { run: Some(run::exec_cmd), flags: run::EXEC_FLAGS, interspersed: false, ..command("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Run a command in a running container") },
    Command { run: Some(containers::export), flags: containers::EXPORT_FLAGS, ..command("export", "CONTAINER", "Stream the contents of a container as a tar archive") },
    command("help", "[COMMAND]", "Show the list of commands, or one command's usage"),
    Command { run: Some(images::history), flags: images::HISTORY_FLAGS, ..command("history", "[OPTIONS] IMAGE", "Show the history of an image") },
    Command { run: Some(images::images), flags: images::IMAGES_FLAGS, ..command("images", "[OPTIONS] [NAME]", "List images") },
    Command { run: Some(images::import), flags: images::IMPORT_FLAGS, ..command("import", "URL|- [REPOSITORY[:TAG]]", "Create a new file system image from the contents of a tarball") },
    Command { run: Some(system::info), ..command("info", "", "Display system-wide information") },
    Command { run: Some(registry::insert), ..command("insert", "IMAGE URL PATH", "Insert a file in an image") },
    Command { run: Some(inspect::inspect), flags: inspect::FLAGS, ..command("inspect", "CONTAINER|IMAGE [CONTAINER|IMAGE...]", "Return low-level information on a container or image") },
    Command { run: Some(containers::kill), flags: containers::KILL_FLAGS, ..command("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill a running container") },
    Command { run: Some(images::load), flags: images::LOAD_FLAGS, ..command("load", "", "Load an image from a tar archive on standard input") },
    Command { run: Some(registry::login), flags: registry::LOGIN_FLAGS, ..command("login", "[OPTIONS] [SERVER]", "Register or log in to a registry server") },
    Command { run: Some(registry::logout), ..command("logout", "[SERVER]", "Log out from a registry server") },
    Command { run: Some(containers::logs), flags: containers::LOGS_FLAGS, ..command("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container") },
    Command { run: Some(network::network), flags: network::FLAGS, interspersed: false, ..command("network", "COMMAND", "Manage networks") },
    Command { run: Some(containers::port), ..command("port", "CONTAINER PRIVATE_PORT", "Look up the public-facing port which is NAT-ed to PRIVATE_PORT") },
    Command { run: Some(containers::ps), flags: containers::PS_FLAGS, ..command("ps", "[OPTIONS]", "List containers") },
    Command { run: Some(registry::pull), flags: registry::PULL_FLAGS, ..command("pull", "NAME[:TAG]", "Pull an image or a repository from a registry") },
    Command { run: Some(registry::push), flags: registry::PUSH_FLAGS, ..command("push", "NAME[:TAG]", "Push an image or a repository to a registry") },
    Command { run: Some(containers::restart), flags: containers::STOP_FLAGS, ..command("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart a running container") },
    Command { run: Some(containers::rename), ..command("rename", "OLD_NAME NEW_NAME", "Rename a container") },
    Command { run: Some(containers::rm), flags: containers::RM_FLAGS, ..command("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers") },
    Command { run: Some(images::rmi), flags: images::RMI_FLAGS, ..command("rmi", "IMAGE [IMAGE...]", "Remove one or more images") },
    Command { run: Some(run::run), flags: run::RUN_FLAGS, interspersed: false, ..command("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Run a command in a new container") },
    Command { run: Some(images::save), flags: images::SAVE_FLAGS, ..command("save", "IMAGE [IMAGE...]", "Save images to a tar archive on standard output") },
    Command { run: Some(registry::search), flags: registry::SEARCH_FLAGS, ..command("search", "TERM", "Search for an image in the index") },
    Command { run: Some(run::start_cmd), flags: run::START_FLAGS, ..command("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start a stopped container") },
    Command { run: Some(containers::stop), flags: containers::STOP_FLAGS, ..command("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop a running container") },
    Command { run: Some(images::tag), flags: images::TAG_FLAGS, ..command("tag", "[OPTIONS] IMAGE [REGISTRYHOST/][USERNAME/]NAME[:TAG]", "Tag an image into a repository") },
    Command { run: Some(containers::top), interspersed: false, ..command("top", "CONTAINER [ps OPTIONS]", "Look up the running processes of a container") },
    Command { run: Some(system::version), ..command("version", "", "Show the berth version information") },
    Command { run: Some(volume::volume), flags: volume::FLAGS, interspersed: false, ..command("volume", "COMMAND", "Manage volumes") },
    Command { run: Some(containers::wait), ..command("wait", "CONTAINER [CONTAINER...]", "Block until a container stops, then print its exit code") },
];

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Runs what the global parse found: help, the version flag, or a command.
pub fn dispatch(session: &mut Session) -> Result<i32, CliError> {
    let globals = session.globals.clone();
    if globals.bool(GLOBAL_FLAGS, "version") || globals.bool(GLOBAL_FLAGS, "Version") {
        writeln!(session.out, "{}", system::version_line(&session.build))?;
        return Ok(0);
    }
    let Some((name, words)) = globals.args.split_first() else {
        write!(session.out, "{}", main_help())?;
        return Ok(0);
    };
    if globals.bool(GLOBAL_FLAGS, "help") {
        write!(session.out, "{}", main_help())?;
        return Ok(0);
    }
    if name == "help" {
        return help(session, words);
    }
    let command = find(name).ok_or_else(|| CliError::usage(format!("berth: '{name}' is not a berth command"), None))?;
    let specs = with_help_flag(command.flags);
    let parsed = flags::parse(&specs, words, command.interspersed)
        .map_err(|e| CliError::usage(e.to_string(), Some(command.name)))?;
    if parsed.bool(&specs, "help") {
        write!(session.out, "{}", command_help(command))?;
        return Ok(0);
    }
    match command.run {
        Some(run) => run(session, &parsed),
        None => Err(CliError::Failed(format!("'berth {name}' is not implemented in this build of berth yet"))),
    }
}

fn help(session: &mut Session, words: &[String]) -> Result<i32, CliError> {
    let text = match words.first() {
        None => main_help(),
        Some(name) => command_help(
            find(name).ok_or_else(|| CliError::usage(format!("berth: '{name}' is not a berth command"), None))?,
        ),
    };
    write!(session.out, "{text}")?;
    Ok(0)
}

fn with_help_flag(specs: &[Flag]) -> Vec<Flag> {
    let mut all = specs.to_vec();
    all.push(Flag::boolean(None, "help", false, "Print usage"));
    all
}

/// `berth`, `berth help`, `berth --help`.
pub fn main_help() -> String {
    let mut out = String::from("Usage: berth [OPTIONS] COMMAND [arg...]\n\n");
    out.push_str(&flags::render_help(GLOBAL_FLAGS));
    out.push_str("\nA self-sufficient runtime for linux containers.\n\nCommands:\n");
    for c in COMMANDS {
        let _ = writeln!(out, "    {:<10}{}", c.name, c.about);
    }
    out.push_str("\nRun 'berth COMMAND --help' for more information on a command.\n");
    out
}

/// `berth help CMD`, `berth CMD --help`.
pub fn command_help(command: &Command) -> String {
    let usage = format!("berth {} {}", command.name, command.usage);
    let mut out = format!("\nUsage: {}\n\n{}\n\n", usage.trim_end(), command.about);
    out.push_str(&flags::render_help(&with_help_flag(command.flags)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_command_is_listed_once() {
        let documented = [
            "attach", "build", "commit", "cp", "diff", "events", "export", "history", "images", "import", "info",
            "insert", "inspect", "kill", "load", "login", "logs", "port", "ps", "pull", "push", "restart", "rm", "rmi",
            "run", "save", "search", "start", "stop", "tag", "top", "version", "wait",
        ];
        for name in documented {
            assert_eq!(COMMANDS.iter().filter(|c| c.name == name).count(), 1, "{name}");
        }
        let help = main_help();
        assert!(documented.iter().all(|name| help.contains(&format!("    {name:<10}"))));
    }

    #[test]
    fn command_help_shows_usage_and_flags() {
        insta::assert_snapshot!(command_help(find("version").unwrap()));
    }
}
