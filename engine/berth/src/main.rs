//! `berth`: picks the daemon, a server or the client from the command line, sets up logging,
//! and hands over to the library that does the work.

use berth_api::BuildInfo;
use berth_cli::flags::Parsed;
use berth_cli::{Invocation, GLOBAL_FLAGS};
use std::process::ExitCode;

mod servers;

fn build_info() -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("BERTH_GIT_COMMIT").to_string(),
        rustc: env!("BERTH_RUSTC_VERSION").to_string(),
        // The commit's time, so that a build is reproducible.
        build_time: env!("BERTH_BUILD_TIME").to_string(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // The hidden mode the daemon re-executes this binary in: one container's monitor.
    if args.get(1).map(String::as_str) == Some(berth_runtime::monitor::MODE) {
        let status = berth_runtime::monitor::main(args);
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    let words: Vec<String> = args.into_iter().skip(1).collect();
    let status = match berth_cli::invocation(&words) {
        Ok(Invocation::Daemon(flags)) => daemon(&flags),
        Ok(Invocation::Server { name, args }) => servers::main(name, &args),
        Ok(Invocation::Client(globals)) => berth_cli::run(globals, build_info()),
        Err(e) => {
            eprintln!("{}", e.report());
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

fn daemon(flags: &Parsed) -> i32 {
    if flags.bool(GLOBAL_FLAGS, "version") || flags.bool(GLOBAL_FLAGS, "Version") {
        println!("Berth version {}, build {}", env!("CARGO_PKG_VERSION"), env!("BERTH_GIT_COMMIT"));
        return 0;
    }
    if flags.bool(GLOBAL_FLAGS, "help") {
        print!("{}", berth_cli::commands::main_help());
        return 0;
    }
    let debug = flags.bool(GLOBAL_FLAGS, "debug");
    init_logging(debug);
    let bool_flag = |name| flags.bool(GLOBAL_FLAGS, name);
    let value = |name| flags.last(name).map(String::from);
    let daemon_flags = berth_daemon::Flags {
        hosts: flags.all("host").to_vec(),
        graph: value("graph"),
        pidfile: value("pidfile"),
        debug,
        restart: bool_flag("restart"),
        storage_driver: value("storage-driver"),
        bridge: value("bridge"),
        bip: value("bip"),
        icc: bool_flag("icc"),
        ip: value("ip"),
        iptables: bool_flag("iptables"),
        dns: flags.all("dns").to_vec(),
        mtu: value("mtu"),
        api_enable_cors: bool_flag("api-enable-cors"),
        index: value("index"),
    };
    let result = berth_daemon::Config::from_flags(daemon_flags)
        .map_err(|e| e.to_string())
        .and_then(|config| berth_daemon::run(config, build_info()).map_err(|e| e.to_string()));
    match result {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

fn init_logging(debug: bool) {
    let level = if debug { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| level.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}
