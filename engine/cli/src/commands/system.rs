//! `version` and `info`.

use crate::flags::Parsed;
use crate::{CliError, Session, CLIENT_API_VERSION};
use berth_api::system::{Info, Version};
use berth_api::BuildInfo;
use std::fmt::Write as _;

/// The one line `berth -v` prints.
pub fn version_line(build: &BuildInfo) -> String {
    format!("Berth version {}, build {}", build.version, build.git_commit)
}

pub fn version(session: &mut Session, _flags: &Parsed) -> Result<i32, CliError> {
    write!(session.out, "{}", client_version(&session.build))?;
    session.out.flush()?;
    let client = session.client()?;
    let server: Version = session.block_on(client.get_json("/version"))?;
    write!(session.out, "{}", server_version(&server, client.version().map(|v| v.to_string())))?;
    Ok(0)
}

/// The client half of `version`, which needs no daemon.
pub fn client_version(build: &BuildInfo) -> String {
    format!(
        "Client version: {}\nClient API version: {}\nGo version (client): {}\nGit commit (client): {}\n",
        build.version, CLIENT_API_VERSION, build.rustc, build.git_commit
    )
}

/// The server half of `version`. An API 1.9 daemon does not say its API version; the one
/// agreed on stands in.
pub fn server_version(server: &Version, agreed: Option<String>) -> String {
    let api = if server.api_version.is_empty() { agreed.unwrap_or_default() } else { server.api_version.clone() };
    format!(
        "Server version: {}\nServer API version: {}\nGit commit (server): {}\nGo version (server): {}\n",
        server.version, api, server.git_commit, server.go_version
    )
}

pub fn info(session: &mut Session, _flags: &Parsed) -> Result<i32, CliError> {
    let client = session.client()?;
    let info: Info = session.block_on(client.get_json("/info"))?;
    write!(session.out, "{}", render_info(&info, session.debug()))?;
    Ok(0)
}

/// `info` in the layout of 5.1.15.
pub fn render_info(info: &Info, client_debug: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Containers: {}", info.containers);
    let _ = writeln!(out, "Images: {}", info.images);
    let _ = writeln!(out, "Storage Driver: {}", info.driver);
    for [key, value] in &info.driver_status {
        let _ = writeln!(out, " {key}: {value}");
    }
    if !info.execution_driver.is_empty() {
        let _ = writeln!(out, "Execution Driver: {}", info.execution_driver);
    }
    let _ = writeln!(out, "Kernel Version: {}", info.kernel_version);
    let _ = writeln!(out, "Debug mode (server): {}", info.debug);
    let _ = writeln!(out, "Debug mode (client): {client_debug}");
    let _ = writeln!(out, "Fds: {}", info.n_fd);
    let _ = writeln!(out, "Goroutines: {}", info.n_goroutines);
    let _ = writeln!(out, "EventsListeners: {}", info.n_events_listener);
    if !info.docker_root_dir.is_empty() {
        let _ = writeln!(out, "Root Dir: {}", info.docker_root_dir);
    }
    for warning in info_warnings(info) {
        let _ = writeln!(out, "{warning}");
    }
    out
}

/// The daemon's own warnings; an API 1.9 daemon sends none, so they are derived from its flags.
fn info_warnings(info: &Info) -> Vec<String> {
    if !info.warnings.is_empty() || !info.id.is_empty() {
        return info.warnings.clone();
    }
    let mut warnings = Vec::new();
    if !info.memory_limit {
        warnings.push("WARNING: No memory limit support".to_string());
    }
    if !info.swap_limit {
        warnings.push("WARNING: No swap limit support".to_string());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build() -> BuildInfo {
        BuildInfo {
            version: "0.1.0".into(),
            git_commit: "abc1234".into(),
            rustc: "rustc 1.95.0".into(),
            build_time: String::new(),
        }
    }

    #[test]
    fn version_layout() {
        let server = Version {
            version: "0.1.0".into(),
            api_version: "1.41".into(),
            git_commit: "abc1234".into(),
            go_version: "rustc 1.95.0".into(),
            ..Default::default()
        };
        insta::assert_snapshot!(format!("{}{}", client_version(&build()), server_version(&server, None)));
        assert_eq!(version_line(&build()), "Berth version 0.1.0, build abc1234");
    }

    #[test]
    fn info_layout() {
        let info = Info {
            id: "x".into(),
            containers: 2,
            images: 3,
            driver: "overlay".into(),
            driver_status: vec![["Backing Filesystem".into(), "extfs".into()]],
            execution_driver: "berth-0.1.0".into(),
            kernel_version: "6.1.0".into(),
            n_fd: 10,
            n_goroutines: 4,
            warnings: vec!["WARNING: No swap limit support".into()],
            ..Default::default()
        };
        insta::assert_snapshot!(render_info(&info, true));
    }

    #[test]
    fn old_daemons_get_warnings_from_their_flags() {
        let info = Info { memory_limit: true, swap_limit: false, ..Default::default() };
        assert!(render_info(&info, false).ends_with("WARNING: No swap limit support\n"));
    }
}
