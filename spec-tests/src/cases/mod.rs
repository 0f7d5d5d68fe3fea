//! Every case of the suite. A case names the catalogue ids it covers, reaches the engine only
//! through [`Engine`], and ends in an [`Outcome`]; an error is a failure with its message.
//! Keep each case short: reading it should tell a newcomer what the documentation promises.

mod api_system;
mod attach;
mod build;
mod cli_system;
mod client_library;
mod compose;
mod container_api;
mod container_fs;
mod containers;
mod daemon;
mod distribution;
mod images;
mod isolation;
mod nested;
mod network;
mod registry;
mod run_options;
mod volumes;

use crate::engine::Engine;
use crate::outcome::Outcome;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Every case: the table below, then the tables other modules keep for themselves.
pub fn all() -> Vec<&'static Case> {
    ALL.iter()
        .chain(containers::CASES)
        .chain(run_options::CASES)
        .chain(attach::CASES)
        .chain(container_fs::CASES)
        .chain(container_api::CASES)
        .chain(isolation::CASES)
        .chain(client_library::CASES)
        .chain(network::CASES)
        .chain(volumes::CASES)
        .chain(compose::CASES)
        .chain(build::CASES)
        .chain(registry::CASES)
        .chain(distribution::CASES)
        .chain(nested::CASES)
        .collect()
}

pub type CaseFuture = Pin<Box<dyn Future<Output = anyhow::Result<Outcome>> + Send>>;

pub struct Case {
    pub name: &'static str,
    pub ids: &'static [&'static str],
    pub run: fn(Arc<Engine>) -> CaseFuture,
}

#[macro_export]
macro_rules! case {
    ($name:literal, [$($id:literal),+ $(,)?], $run:path) => {
        $crate::cases::Case { name: $name, ids: &[$($id),+], run: |engine| Box::pin($run(engine)) }
    };
}

#[rustfmt::skip]
pub static ALL: &[Case] = &[
    case!("api ping", ["modern.api.ping"], api_system::ping),
    case!("api version", ["api.version"], api_system::version),
    case!("api info", ["api.info"], api_system::info),
    case!("api v1.9 paths", ["api.version.current"], api_system::v1_9_paths),
    case!("api unversioned alias", ["api.version.unversioned-alias"], api_system::unversioned_alias),
    case!("api older prefix", ["api.version.prefix-old"], api_system::older_prefix),
    case!("api version bounds", ["modern.api.version-bounds"], api_system::version_bounds),
    case!("api errors", ["modern.api.error-json"], api_system::errors),
    case!("cli version", ["cli.version.output"], cli_system::version),
    case!("cli info", ["cli.info.basic"], cli_system::info_basic),
    case!("cli info fields", ["cli.info.fields"], cli_system::info_fields),
    case!("cli info swap warning", ["cli.info.swap-warning"], cli_system::info_swap_warning),
    case!("cli -H", ["cli.opt.host.client", "cli.global.opt.host"], cli_system::host_flag),
    case!("cli help flag", ["cli.global.opt.help"], cli_system::help_flag),
    case!("cli no args", ["cli.help.noargs"], cli_system::no_args),
    case!("cli help", ["cli.help.subcommand"], cli_system::help_list),
    case!("cli help command", ["cli.help.command"], cli_system::help_command),
    case!("cli version flag", ["cli.global.opt.version"], cli_system::version_flag),
    case!("cli bad input", ["modern.cli.bad-input"], cli_system::bad_input),
    case!("daemon version flag", ["daemon.opt.version"], daemon::version_flag),
    case!("daemon serves until signalled", ["daemon.opt.daemon"], daemon::serves_until_signalled),
    case!("daemon socket when ready", ["daemon.socket.ready-file"], daemon::socket_when_ready),
    case!("daemon -H unix", ["daemon.opt.host.unix", "daemon.opt.host"], daemon::host_unix),
    case!("daemon -H tcp", ["daemon.opt.host.tcp-full", "daemon.opt.host"], daemon::host_tcp),
    case!("daemon tcp default port", ["daemon.tcp.default-port"], daemon::tcp_default_port),
    case!("daemon -H host:port", ["daemon.opt.host.short-hostport"], daemon::host_short_form),
    case!("daemon -H twice", ["daemon.opt.host.multiple"], daemon::host_multiple),
    case!("daemon default socket", ["daemon.socket.default", "daemon.opt.host.empty", "api.transport.unix-default"], daemon::default_socket),
    case!("daemon pid file", ["daemon.opt.pidfile"], daemon::pidfile),
    case!("daemon pid file guard", ["daemon.opt.pidfile-exists"], daemon::pidfile_guard),
    case!("daemon -D", ["daemon.opt.debug"], daemon::debug_flag),
    case!("daemon cors", ["daemon.opt.api-enable-cors", "api.cors.preflight"], daemon::cors),
    case!("daemon needs root", ["daemon.root.required"], daemon::needs_root),
    case!("daemon --bip with -b", ["daemon.opt.bip-with-b"], daemon::bip_with_bridge),
    case!("images columns", ["cli.images.columns"], images::columns),
    case!("images one row per tag", ["cli.images.one-row-per-tag", "cli.tag.basic"], images::one_row_per_tag),
    case!("tag default latest", ["cli.tag.default-latest"], images::tag_default_latest),
    case!("tag conflict and -f", ["cli.tag.conflict", "cli.tag.opt.force"], images::tag_conflict),
    case!("api image tag", ["api.images.tag"], images::api_tag),
    case!("rmi last name", ["cli.rmi.by-name", "cli.rmi.last-tag-deletes"], images::rmi_last_name),
    case!("rmi short id", ["cli.rmi.by-short-id"], images::rmi_by_short_id),
    case!("rmi long id", ["cli.rmi.by-long-id"], images::rmi_by_long_id),
    case!("rmi several repositories", ["cli.rmi.conflict-multi-tag"], images::rmi_conflict),
    case!("rmi untag", ["cli.rmi.untag"], images::rmi_untag),
    case!("rmi several", ["cli.rmi.multiple"], images::rmi_multiple),
    case!("rmi unknown", ["cli.rmi.unknown"], images::rmi_unknown),
    case!("api image delete", ["api.images.delete"], images::api_delete),
    case!("history", ["cli.history.basic"], images::history_basic),
    case!("history -q", ["cli.history.opt.quiet"], images::history_quiet),
    case!("history --no-trunc", ["cli.history.opt.no-trunc"], images::history_no_trunc),
    case!("history tags", ["cli.history.tag-shown"], images::history_tags),
    case!("api image history", ["api.images.history"], images::api_history),
    case!("import stdin", ["cli.import.stdin-tag", "cli.import.format.tar", "cli.import.no-parent", "fs.image.base"], images::import_stdin),
    case!("import compressed", ["cli.import.format.gzip", "cli.import.format.bzip2", "cli.import.format.xz"], images::import_compressed),
    case!("import bad source", ["cli.import.url-scheme"], images::import_bad_source),
    case!("import from a URL", ["cli.import.url"], images::import_url),
    case!("api import", ["api.images.create-import"], images::api_import),
    case!("save layout", ["cli.save.stdout"], images::save_layout),
    case!("save all tags", ["cli.save.all-tags"], images::save_all_tags),
    case!("load restores", ["cli.load.stdin"], images::load_restores),
    case!("api image get", ["api.images.get"], images::api_get),
    case!("api image load", ["api.images.load"], images::api_load),
    case!("api image list", ["api.images.list", "api.v1-7.images-repotags"], images::api_list),
    case!("api image inspect", ["api.images.inspect"], images::api_inspect),
    case!("ids 64 hex", ["fs.ids.image-64hex"], images::ids_64hex),
    case!("ids short", ["fs.ids.short-12"], images::ids_short),
    case!("ids ambiguous", ["fs.ids.ambiguous"], images::ids_ambiguous),
    case!("images -a", ["cli.images.opt.all"], images::images_all),
    case!("images untagged", ["cli.images.untagged"], images::images_untagged),
    case!("images --no-trunc -q", ["cli.images.opt.no-trunc", "cli.images.opt.quiet"], images::images_no_trunc_quiet),
    case!("images NAME", ["cli.images.filter-name"], images::images_filter_name),
    case!("images --tree", ["cli.images.opt.tree"], images::images_tree),
    case!("images --viz", ["cli.images.opt.viz"], images::images_viz),
    case!("api delete with parents", ["api.v1-2.image-delete-untag-parents", "cli.rmi.parents"], images::api_delete_parents),
    case!("api legacy listings", ["api.v1-7.images-legacy-format", "api.images.viz", "api.images.format-legacy"], images::api_images_legacy),
    case!("api viz removed", ["api.v1-7.images-viz-removed"], images::api_viz_removed),
    case!("inspect array", ["cli.inspect.json-array"], images::inspect_array),
    case!("inspect not found", ["cli.inspect.not-found"], images::inspect_not_found),
    case!("inspect bad template", ["cli.inspect.format-invalid"], images::inspect_bad_template),
    case!("daemon socket activation", ["daemon.opt.host.fd", "daemon.opt.host.fd-n", "daemon.opt.host.fd-missing"], daemon::socket_activation),
    case!("daemon socket without its group", ["daemon.socket.owner-root"], daemon::socket_owner_root),
    case!("daemon socket group", ["daemon.socket.group-docker"], daemon::socket_group),
    case!("client -H :port", ["daemon.opt.host.short-port"], daemon::client_short_port),
    case!("daemon -g", ["daemon.opt.graph"], daemon::graph_root),
    case!("daemon -r=true", ["daemon.opt.restart-true"], daemon::restart_true),
    case!("daemon -r=false", ["daemon.opt.restart-false"], daemon::restart_false),
    case!("daemon -s", ["daemon.opt.storage-driver"], daemon::storage_driver),
    case!("cli DOCKER_HOST", ["cli.env.docker-host"], cli_system::docker_host_env),
    case!("cli global -q", ["cli.global.opt.quiet"], cli_system::global_quiet),
    case!("cli global -v", ["cli.global.opt.verbose"], cli_system::global_verbose),
    case!("cli boolean flags", ["cli.flags.bool-default"], cli_system::bool_flags),
    case!("cli repeated flags", ["cli.flags.multi"], cli_system::multi_flags),
    case!("cli string and integer flags", ["cli.flags.string-int"], cli_system::string_int_flags),
    case!("cli single-dash long flags", ["cli.flags.single-dash-long"], cli_system::single_dash_long),
    case!("ids short prefix", ["fs.ids.short-prefix"], images::ids_short_prefix),
    case!("import a rootfs directory", ["cli.import.stdin-dir", "fs.baseimage.import-rootfs"], images::import_rootfs_dir),
    case!("import ownership", ["cli.import.ownership"], images::import_ownership),
    case!("rmi in use", ["cli.rmi.in-use"], images::rmi_in_use),
    case!("save and load round trip", ["flow.save-load"], images::save_load_round_trip),
    case!("api json stream", ["api.v1-1.json-stream"], images::api_json_stream),
    case!("api progress detail", ["api.v1-8.progress-detail"], images::api_progress_detail),
    case!("api error in stream", ["api.v1-1.error-in-stream"], images::api_error_in_stream),
];

/// Every command of 5.1; help output must name them.
pub const COMMANDS_2014: &[&str] = &[
    "attach", "build", "commit", "cp", "diff", "events", "export", "history", "images", "import", "info", "inspect",
    "kill", "load", "login", "logs", "port", "ps", "pull", "push", "restart", "rm", "rmi", "run", "save", "search",
    "start", "stop", "tag", "top", "version", "wait",
];
