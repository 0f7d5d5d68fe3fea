//! Packet filtering and NAT behind the narrow [`Firewall`] trait: [`Iptables`] runs the
//! `iptables` program (whatever backend it is), [`FakeFirewall`] keeps chains in memory and
//! records every call. [`rules`] turns networks, published ports and links into rules.

mod fake;
mod iptables;
pub mod rules;

use std::fmt;

pub use fake::{FakeFirewall, FirewallCall};
pub use iptables::Iptables;

/// Why a firewall change failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("couldn't run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`iptables {args}` failed: {stderr}")]
    Command { args: String, stderr: String },
    #[error("couldn't write {path}: {source}")]
    Sysctl {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An iptables table berth uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Filter,
    Nat,
}

impl Table {
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }
}

/// One rule: its table, chain and the match and target arguments as iptables takes them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub table: Table,
    pub chain: String,
    pub args: Vec<String>,
}

impl Rule {
    /// Builds a rule from whitespace-separated arguments (none of which contain spaces).
    pub fn new(table: Table, chain: &str, args: &str) -> Self {
        Self { table, chain: chain.to_string(), args: args.split_whitespace().map(String::from).collect() }
    }
}

impl fmt::Display for Rule {
    /// The rule as `iptables -S` would print it, with its table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-t {} -A {} {}", self.table.as_str(), self.chain, self.args.join(" "))
    }
}

/// The packet filter operations berth performs.
pub trait Firewall: Send + Sync {
    /// Creates a chain, or empties it if it exists.
    fn new_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError>;
    /// Empties a chain and deletes it; a missing chain is not an error.
    fn delete_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError>;
    /// Empties a chain; a missing chain is not an error.
    fn flush_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError>;
    /// Whether the rule exists.
    fn exists(&self, rule: &Rule) -> Result<bool, FirewallError>;
    /// Appends the rule at the end of its chain.
    fn append(&self, rule: &Rule) -> Result<(), FirewallError>;
    /// Inserts the rule at the top of its chain.
    fn insert(&self, rule: &Rule) -> Result<(), FirewallError>;
    /// Deletes the rule; a missing rule is not an error.
    fn delete(&self, rule: &Rule) -> Result<(), FirewallError>;
    /// Turns on IPv4 forwarding (`net.ipv4.ip_forward=1`).
    fn enable_ip_forward(&self) -> Result<(), FirewallError>;
    /// Makes bridged traffic go through iptables (`net.bridge.bridge-nf-call-iptables=1`),
    /// which `--icc=false` needs.
    fn enable_bridge_netfilter(&self) -> Result<(), FirewallError>;
}

/// Appends `rule` unless it is there already.
pub fn ensure_appended(fw: &dyn Firewall, rule: &Rule) -> Result<(), FirewallError> {
    if fw.exists(rule)? {
        return Ok(());
    }
    fw.append(rule)
}

/// Inserts `rule` at the top unless it is there already.
pub fn ensure_inserted(fw: &dyn Firewall, rule: &Rule) -> Result<(), FirewallError> {
    if fw.exists(rule)? {
        return Ok(());
    }
    fw.insert(rule)
}
