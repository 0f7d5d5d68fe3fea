//! Container networking for berth: the bridge, address management, veth pairs, iptables
//! rules, published ports with a userland proxy, links, user-defined networks and their
//! embedded DNS, all persisted so a restarted daemon re-adopts running containers.
//!
//! # Using it from the daemon
//!
//! ```no_run
//! use berth_network::{AttachRequest, BridgeMode, Config, Controller, PortMapping};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let runtime = tokio::runtime::Runtime::new()?;
//! // From the daemon's flags (-b, --bip, --mtu, --iptables, --icc, --ip).
//! let mut config = Config::new("/var/lib/berth/network");
//! config.bridge = BridgeMode::from_flag("", "berth0");
//! let net = Controller::open_host(config, runtime.handle().clone())?;
//!
//! // Container start: the runtime made the namespace; attach, publish, link.
//! let ep = net.attach(&AttachRequest::default_bridge("c0ffee", "/proc/4242/ns/net"))?;
//! println!("{} {}/{} via {:?}, {}", ep.interface, ep.ip, ep.prefix, ep.gateway, ep.mac);
//! let bindings = net.publish("c0ffee", &["127.0.0.1::8080".parse::<PortMapping>()?])?;
//! println!("{}", bindings[0]); // 127.0.0.1:49153
//!
//! // Container stop, then daemon stop (keep everything for the next start).
//! net.detach_all("c0ffee")?;
//! net.shutdown();
//! # Ok(()) }
//! ```
//!
//! [`Controller`] is the whole API; its methods block (call them from `spawn_blocking`) and
//! proxies and DNS servers run on the tokio handle given to [`Controller::open`]:
//!
//! | method | does |
//! | --- | --- |
//! | [`Controller::open`] / [`Controller::open_host`] | bridge from `-b`/`--bip` (`berth0` created on a free range, an existing bridge used as is, or none), MTU, chains and jumps, `ip_forward`; re-adopts persisted networks, endpoints, ports and links |
//! | [`Controller::attach`] / [`Controller::detach`] / [`Controller::detach_all`] | veth pair, address, MAC, MTU, routes, DNS names / the reverse |
//! | [`Controller::loopback_only`] | `lo` up for `-n=false` and `-b none` |
//! | [`Controller::publish`], [`Controller::publish_all`] / [`Controller::unpublish`] | `-p` / `-P`: host socket, proxy, DNAT and ACCEPT |
//! | [`Controller::link`] / [`Controller::unlink`] | `--link` under `--icc=false`: the exposed ports only |
//! | [`Controller::create_network`], [`Controller::remove_network`], [`Controller::network`], [`Controller::networks`] | user-defined networks |
//! | [`Controller::set_names`], [`Controller::dns_address`] | names for the embedded DNS; the `nameserver` to write |
//! | [`Controller::endpoints`] | what exists, for reconciliation after a restart |
//! | [`Controller::shutdown`] / [`Controller::teardown`] | stop tasks and keep state / remove everything berth made |
//!
//! Errors are [`NetworkError`]; [`NetworkError::kind`] gives the HTTP status class.
//!
//! # Design
//!
//! - **Kernel boundary.** Links, addresses and routes go through NETLINK_ROUTE directly
//!   ([`netlink::RtNetlink`], no `ip` processes); the container end of a veth pair is created
//!   inside the namespace with its final name (`eth0`) by IFLA_NET_NS_FD, and the
//!   configuration inside the namespace uses a netlink socket opened there by a short-lived
//!   thread that called `setns` ([`netns::run_in`]), never a tokio worker. iptables is run as
//!   a program ([`firewall::Iptables`]). Both sit behind narrow traits with recording fakes.
//! - **Packet path.** [`firewall::rules`] documents every chain. With `--iptables` berth
//!   turns on `net.ipv4.ip_forward` (as Docker does) and, for `--icc=false`,
//!   `net.bridge.bridge-nf-call-iptables`; neither is turned back off. With
//!   `--iptables=false` no rule is added at all and the userland proxy alone serves
//!   published ports.
//! - **Published ports.** The host socket is bound by berth itself (so a busy port fails
//!   with "port is already allocated" before anything else changes) and served by the
//!   userland proxy ([`proxy`]); DNAT in berth's nat chain takes outside traffic and traffic
//!   to the host's own non-loopback addresses straight to the container; 127.0.0.1 goes
//!   through the proxy.
//! - **Internal networks** (as moby's bridge driver): no MASQUERADE, traffic leaving or
//!   entering the subnet through the bridge dropped, and containers get no default route
//!   (moby sets no gateway for internal networks), so connecting outside fails at once with
//!   "network unreachable". The bridge keeps the gateway address, on which the DNS answers.
//! - **Embedded DNS** ([`dns`]) listens on each user network's gateway address, port 53, in
//!   the host namespace, instead of Docker's 127.0.0.11 inside each container: the daemon
//!   writes `nameserver <gateway>` into those containers' resolv.conf.
//! - **State** ([`state`]) is one JSON file in the state directory, written atomically after
//!   every change, so a restart never hands out a leased address twice.

pub mod config;
pub mod controller;
pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod ipnet;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod proxy;
pub mod resolvconf;
pub mod state;
pub mod subnet;
mod util;

pub use config::{BridgeMode, Config, ConfigError};
pub use controller::{AttachRequest, Controller, ErrorKind, NetworkCreate, NetworkError, NetworkInfo, DEFAULT_NETWORK};
pub use ipnet::Ipv4Net;
pub use ports::{ExposedPort, PortBinding, PortMapping, Proto};
pub use state::{Endpoint, NetworkMeta};
