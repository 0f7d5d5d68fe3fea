//! Per-engine defaults (socket, graph root, bridge, ports, how to start its daemon), so that
//! cases state behaviour and the profile supplies the engine's own names for things.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub name: String,
    pub default_socket: String,
    pub tcp_port: u16,
    /// The bridge the daemon makes and plugs containers into by default.
    #[serde(default)]
    pub bridge: String,
    /// The lowest host port the engine picks for `-p PORT`.
    #[serde(default)]
    pub first_dynamic_port: u16,
    /// Where the daemon keeps its state when no graph root is given.
    #[serde(default)]
    pub graph_root: String,
    /// The group the daemon hands its unix sockets to when that group exists.
    #[serde(default = "docker_group")]
    pub socket_group: String,
    pub daemon: Vec<String>,
    pub launch: Launch,
}

/// How a case starts a daemon of its own.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Launch {
    pub args: Vec<String>,
    /// Files to write in the case's directory first, by name.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
    /// Arguments that keep a case's daemon off the host's network (no bridge, no iptables);
    /// left out when the case gives its daemon a network namespace of its own.
    #[serde(default)]
    pub network: Vec<String>,
}

fn docker_group() -> String {
    "docker".into()
}

const BUILT_IN: &[(&str, &str)] =
    &[("berth", include_str!("../profiles/berth.toml")), ("moby", include_str!("../profiles/moby.toml"))];

impl Profile {
    /// A built-in profile by engine name, or a profile file by path.
    pub fn load(name_or_path: &str) -> anyhow::Result<Profile> {
        let text = match BUILT_IN.iter().find(|(name, _)| *name == name_or_path) {
            Some((_, text)) => text.to_string(),
            None => std::fs::read_to_string(name_or_path).map_err(|e| {
                anyhow::anyhow!("no built-in profile {name_or_path:?} (known: berth, moby) and no such file: {e}")
            })?,
        };
        Ok(toml::from_str(&text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        for (name, _) in BUILT_IN {
            assert_eq!(Profile::load(name).unwrap().name, *name);
        }
        assert!(Profile::load("no-such-engine").is_err());
    }
}
