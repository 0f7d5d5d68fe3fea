//! The daemon's settings, as the flags of 5.1.4 give them, checked before anything starts.

use berth_api::host::DEFAULT_UNIX_SOCKET;
use berth_api::Host;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_GRAPH: &str = "/var/lib/berth";
pub const DEFAULT_PIDFILE: &str = "/var/run/berth.pid";
pub const DEFAULT_BRIDGE: &str = "berth0";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where to listen; empty means the default unix socket.
    pub hosts: Vec<Host>,
    pub graph: PathBuf,
    pub pidfile: PathBuf,
    pub debug: bool,
    /// Restart containers that were running when the daemon last stopped.
    pub restart: bool,
    /// A storage driver forced by `-s`; chosen automatically when `None`.
    pub storage_driver: Option<String>,
    /// `-b`: an existing bridge, `none`, or `None` for berth's own.
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub icc: bool,
    pub ip: IpAddr,
    pub iptables: bool,
    pub dns: Vec<IpAddr>,
    pub mtu: u32,
    pub api_enable_cors: bool,
    /// `--index` (or `BERTH_INDEX`): the default index for names with no registry host.
    pub index: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hosts: Vec::new(),
            graph: DEFAULT_GRAPH.into(),
            pidfile: DEFAULT_PIDFILE.into(),
            debug: false,
            restart: true,
            storage_driver: None,
            bridge: None,
            bip: None,
            icc: true,
            ip: IpAddr::from([0, 0, 0, 0]),
            iptables: true,
            dns: Vec::new(),
            mtu: 0,
            api_enable_cors: false,
            index: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Host(#[from] berth_api::HostError),
    #[error(
        "--bip and -b cannot be used together: -b names an existing bridge, --bip sets the address of berth's own"
    )]
    BipWithBridge,
    #[error("invalid --bip {0:?}: expected an address in CIDR form, such as 10.20.0.1/24")]
    Bip(String),
    #[error("invalid --ip {0:?}: expected an IP address")]
    Ip(String),
    #[error("invalid --dns {0:?}: expected an IP address")]
    Dns(String),
    #[error("invalid --mtu {0:?}: expected a number of bytes")]
    Mtu(String),
    #[error("invalid --index {0:?}: expected http://HOST:PORT")]
    Index(String),
    #[error("unknown storage driver {0:?}: choose overlay or vfs")]
    StorageDriver(String),
}

/// The raw flag values, as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub hosts: Vec<String>,
    pub graph: Option<String>,
    pub pidfile: Option<String>,
    pub debug: bool,
    pub restart: bool,
    pub storage_driver: Option<String>,
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub icc: bool,
    pub ip: Option<String>,
    pub iptables: bool,
    pub dns: Vec<String>,
    pub mtu: Option<String>,
    pub api_enable_cors: bool,
    pub index: Option<String>,
}

pub const STORAGE_DRIVERS: &[&str] = &["overlay", "vfs"];

impl Config {
    /// Checks every flag and builds the settings, or says which flag is wrong.
    pub fn from_flags(flags: Flags) -> Result<Config, ConfigError> {
        let default_unix = Path::new(DEFAULT_UNIX_SOCKET);
        let hosts = flags.hosts.iter().map(|h| Host::parse(h, default_unix)).collect::<Result<_, _>>()?;
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let bridge = nonempty(flags.bridge);
        let bip = nonempty(flags.bip);
        if bridge.is_some() && bip.is_some() {
            return Err(ConfigError::BipWithBridge);
        }
        if let Some(bip) = &bip {
            check_cidr(bip).ok_or_else(|| ConfigError::Bip(bip.clone()))?;
        }
        let storage_driver = nonempty(flags.storage_driver);
        if let Some(driver) = &storage_driver {
            if !STORAGE_DRIVERS.contains(&driver.as_str()) {
                return Err(ConfigError::StorageDriver(driver.clone()));
            }
        }
        let ip = match nonempty(flags.ip) {
            Some(ip) => ip.parse().map_err(|_| ConfigError::Ip(ip))?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let dns =
            flags.dns.iter().map(|d| d.parse().map_err(|_| ConfigError::Dns(d.clone()))).collect::<Result<_, _>>()?;
        let mtu = match nonempty(flags.mtu) {
            Some(m) => m.parse().map_err(|_| ConfigError::Mtu(m))?,
            None => 0,
        };
        let index = nonempty(flags.index).or_else(|| std::env::var("BERTH_INDEX").ok().filter(|i| !i.is_empty()));
        if let Some(index) = &index {
            if !index.starts_with("http://") || index.len() <= "http://".len() {
                return Err(ConfigError::Index(index.clone()));
            }
        }
        let defaults = Config::default();
        Ok(Config {
            hosts,
            graph: nonempty(flags.graph).map_or(defaults.graph, PathBuf::from),
            pidfile: nonempty(flags.pidfile).map_or(defaults.pidfile, PathBuf::from),
            debug: flags.debug,
            restart: flags.restart,
            storage_driver,
            bridge,
            bip,
            icc: flags.icc,
            ip,
            iptables: flags.iptables,
            dns,
            mtu,
            api_enable_cors: flags.api_enable_cors,
            index,
        })
    }

    /// The endpoints to listen on: the `-H` values, or the default socket.
    pub fn listen_hosts(&self) -> Vec<Host> {
        if self.hosts.is_empty() {
            return vec![Host::Unix(DEFAULT_UNIX_SOCKET.into())];
        }
        self.hosts.clone()
    }
}

fn check_cidr(text: &str) -> Option<()> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags { restart: true, icc: true, iptables: true, ..Default::default() }
    }

    #[test]
    fn defaults_are_berths_own() {
        let c = Config::from_flags(flags()).unwrap();
        assert_eq!(c.graph, Path::new("/var/lib/berth"));
        assert_eq!(c.pidfile, Path::new("/var/run/berth.pid"));
        assert_eq!(c.listen_hosts(), [Host::Unix("/var/run/berth.sock".into())]);
    }

    #[test]
    fn empty_host_means_default_socket() {
        let c = Config::from_flags(Flags { hosts: vec!["".into()], ..flags() }).unwrap();
        assert_eq!(c.listen_hosts(), [Host::Unix("/var/run/berth.sock".into())]);
    }

    #[test]
    fn bip_and_bridge_exclude_each_other() {
        let f = Flags { bridge: Some("br0".into()), bip: Some("10.20.0.1/24".into()), ..flags() };
        assert_eq!(Config::from_flags(f), Err(ConfigError::BipWithBridge));
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            Flags { bip: Some("10.0.0.1".into()), ..flags() },
            Flags { ip: Some("nowhere".into()), ..flags() },
            Flags { dns: vec!["8.8.8".into()], ..flags() },
            Flags { mtu: Some("big".into()), ..flags() },
            Flags { storage_driver: Some("aufs".into()), ..flags() },
            Flags { hosts: vec!["tcp://x:port".into()], ..flags() },
        ];
        for f in cases {
            let err = Config::from_flags(f.clone()).unwrap_err().to_string();
            assert!(err.starts_with("invalid") || err.starts_with("unknown"), "{err}");
        }
    }
}
