//! The berth command line: the global flags (which in 2014 also carried the daemon's), the
//! command table, and each client command. Commands talk to a daemon only through
//! `berth-client`; output is rendered by pure functions so it can be snapshot-tested.

pub mod commands;
pub mod flags;
pub mod output;
pub mod stream;
pub mod template;

use berth_api::host::DEFAULT_UNIX_SOCKET;
use berth_api::{ApiVersion, BuildInfo};
use berth_client::{Client, ClientError};
use flags::{Flag, Parsed};
use std::io::Write;
use std::path::Path;

/// The flags before the command word. The daemon's flags of 5.1.4 share this set, as they did
/// in 2014 (`berth -d -H unix:///x.sock -g /srv/berth`).
pub static GLOBAL_FLAGS: &[Flag] = &[
    Flag::multi(Some('H'), "host", "tcp://host:port or unix://path/to/socket to bind to in daemon mode or connect to as a client; repeatable for the daemon"),
    Flag::boolean(Some('D'), "debug", false, "Enable debug output"),
    Flag::boolean(Some('d'), "daemon", false, "Run as the daemon"),
    Flag::boolean(Some('v'), "version", false, "Print version information and quit"),
    Flag::boolean(Some('V'), "Version", false, "Print version information and quit (5.1.1 spelling)"),
    Flag::boolean(Some('h'), "help", false, "Print this help text"),
    Flag::boolean(None, "api-enable-cors", false, "Send CORS headers in the remote API"),
    Flag::value(Some('b'), "bridge", "", "Attach containers to this existing bridge; 'none' disables container networking"),
    Flag::value(None, "bip", "", "Address in CIDR notation for berth's own bridge (not with -b)"),
    Flag::multi(None, "dns", "DNS server for every container"),
    Flag::value(Some('g'), "graph", "/var/lib/berth", "Root of the daemon's state: images, containers, volumes"),
    Flag::boolean(None, "icc", true, "Allow inter-container communication"),
    Flag::value(None, "ip", "0.0.0.0", "Default address to bind published container ports to"),
    Flag::boolean(None, "iptables", true, "Let the daemon add iptables rules"),
    Flag::value(Some('p'), "pidfile", "/var/run/berth.pid", "Where the daemon writes its pid"),
    Flag::boolean(Some('r'), "restart", true, "Restart containers that were running when the daemon stopped"),
    Flag::value(Some('s'), "storage-driver", "", "Use this storage driver (overlay or vfs)"),
    Flag::value(None, "mtu", "0", "MTU of containers' network interfaces; 0 follows the default route's interface"),
    Flag::value(None, "index", "", "Default index (http://HOST:PORT) for names with no registry host; BERTH_INDEX sets it too"),
];

/// What the command line asks for.
pub enum Invocation {
    /// `berth -d` or `berth daemon`: the global flags hold the daemon's settings.
    Daemon(Parsed),
    /// `berth registry ...` / `berth index ...`: the servers, with their own arguments.
    Server { name: &'static str, args: Vec<String> },
    /// Anything else: a client command (or help, or the version flag).
    Client(Parsed),
}

/// Sorts out the command line. A flag error is reported the way [`run`] reports it.
pub fn invocation(words: &[String]) -> Result<Invocation, CliError> {
    let globals = flags::parse(GLOBAL_FLAGS, words, false).map_err(|e| CliError::usage(e.to_string(), None))?;
    if globals.bool(GLOBAL_FLAGS, "daemon") {
        return Ok(Invocation::Daemon(globals));
    }
    match globals.args.first().map(String::as_str) {
        Some("daemon") => {
            let rest = &globals.args[1..];
            let mut daemon =
                flags::parse(GLOBAL_FLAGS, rest, true).map_err(|e| CliError::usage(e.to_string(), Some("daemon")))?;
            merge_globals(&globals, &mut daemon);
            if !daemon.args.is_empty() {
                return Err(CliError::usage(
                    format!("the daemon takes no arguments, got {:?}", daemon.args[0]),
                    Some("daemon"),
                ));
            }
            Ok(Invocation::Daemon(daemon))
        }
        Some("registry") => Ok(Invocation::Server { name: "registry", args: globals.args[1..].to_vec() }),
        Some("index") => Ok(Invocation::Server { name: "index", args: globals.args[1..].to_vec() }),
        _ => Ok(Invocation::Client(globals)),
    }
}

/// Flags given before `daemon` still count (`berth -D daemon`).
fn merge_globals(before: &Parsed, after: &mut Parsed) {
    let mut merged = before.clone();
    merged.args.clear();
    merged.extend_from(after);
    *after = merged;
}

/// An error that ends a command, with the exit status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{message}")]
    Usage { message: String, command: Option<&'static str> },
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Failed(String),
    /// A failure with the exit status it must give (125 before a container runs, 126/127
    /// when its command cannot run).
    #[error("{message}")]
    Exit { code: i32, message: String },
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> CliError {
        CliError::Client(ClientError::Json(e))
    }
}

impl CliError {
    pub fn usage(message: impl Into<String>, command: Option<&'static str>) -> CliError {
        CliError::Usage { message: message.into(), command }
    }

    /// Exit status: 125 for a command line berth cannot use (as the docker CLI), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage { .. } => 125,
            CliError::Exit { code, .. } => *code,
            _ => 1,
        }
    }

    /// The text for standard error.
    pub fn report(&self) -> String {
        match self {
            CliError::Usage { message, command: Some(cmd) } => match commands::find(cmd) {
                // As the docker CLI: the problem, where to read more, the usage line.
                Some(c) => {
                    format!("{message}\nSee 'berth {cmd} --help'.\n\nUsage:  berth {cmd} {}\n\n{}", c.usage, c.about)
                }
                None => format!("{message}\nSee 'berth {cmd} --help'."),
            },
            CliError::Usage { message, command: None } => format!("{message}\nSee 'berth --help'."),
            CliError::Client(ClientError::Api { message, .. }) => {
                format!("Error response from daemon: {message}")
            }
            CliError::Exit { message, .. } => message.clone(),
            other => format!("Error: {other}"),
        }
    }
}

/// One client run: the global flags, how to reach the daemon, and where output goes.
pub struct Session {
    pub globals: Parsed,
    pub build: BuildInfo,
    pub out: Box<dyn Write>,
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl Session {
    pub fn new(globals: Parsed, build: BuildInfo, out: Box<dyn Write>) -> Result<Session, CliError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(Session { globals, build, out, runtime, client: None })
    }

    /// Runs a future to completion on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The client for the daemon named by `-H` or `DOCKER_HOST`, with the API version both
    /// sides speak (asked of the daemon once per run).
    pub fn client(&mut self) -> Result<Client, CliError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = Client::from_flags(self.globals.all("host"), Path::new(DEFAULT_UNIX_SOCKET))?;
        let client = self.runtime.block_on(client.negotiate())?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// `-D` on the client side.
    pub fn debug(&self) -> bool {
        self.globals.bool(GLOBAL_FLAGS, "debug")
    }
}

/// Runs a client invocation and returns the process exit status.
pub fn run(globals: Parsed, build: BuildInfo) -> i32 {
    let mut session = match Session::new(globals, build, Box::new(std::io::stdout())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", e.report());
            return 1;
        }
    };
    let status = match commands::dispatch(&mut session) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    };
    let _ = session.out.flush();
    status
}

/// The API version this client asks for when the daemon speaks it.
pub const CLIENT_API_VERSION: ApiVersion = ApiVersion::CURRENT;
