//! [`Firewall`] through the `iptables` program (`-w` waits for the xtables lock) and the
//! `/proc/sys` files for forwarding.

use std::path::Path;
use std::process::Command;

use super::{Firewall, FirewallError, Rule, Table};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

/// Runs `iptables` (by default found on `PATH`).
#[derive(Debug, Clone)]
pub struct Iptables {
    program: String,
}

impl Default for Iptables {
    fn default() -> Self {
        Self { program: "iptables".into() }
    }
}

impl Iptables {
    /// Uses the given program instead of `iptables`.
    pub fn with_program(program: impl Into<String>) -> Self {
        Self { program: program.into() }
    }

    /// Runs iptables; `Ok(false)` when it exited non-zero with `tolerated` in its error.
    fn run(&self, args: &[&str], tolerated: &[&str]) -> Result<bool, FirewallError> {
        let out = Command::new(&self.program)
            .arg("-w")
            .args(args)
            .output()
            .map_err(|source| FirewallError::Spawn { program: self.program.clone(), source })?;
        if out.status.success() {
            return Ok(true);
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if tolerated.iter().any(|t| stderr.contains(t)) {
            return Ok(false);
        }
        Err(FirewallError::Command { args: args.join(" "), stderr })
    }

    fn rule_args<'a>(op: &'a str, rule: &'a Rule) -> Vec<&'a str> {
        let mut args = vec!["-t", rule.table.as_str(), op, rule.chain.as_str()];
        args.extend(rule.args.iter().map(String::as_str));
        args
    }
}

const MISSING_CHAIN: &[&str] = &["No chain/target/match by that name", "does not exist"];
const MISSING_RULE: &[&str] =
    &["does a matching rule exist", "Bad rule", "No chain/target/match by that name", "does not exist"];

fn write_one(path: &str) -> Result<(), FirewallError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1\n").map_err(|source| FirewallError::Sysctl { path: path.to_string(), source })
}

impl Firewall for Iptables {
    fn new_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        if !self.run(&["-t", table.as_str(), "-N", chain], &["Chain already exists", "File exists"])? {
            self.run(&["-t", table.as_str(), "-F", chain], &[])?;
        }
        Ok(())
    }

    fn delete_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        if self.run(&["-t", table.as_str(), "-F", chain], MISSING_CHAIN)? {
            self.run(&["-t", table.as_str(), "-X", chain], MISSING_CHAIN)?;
        }
        Ok(())
    }

    fn flush_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        self.run(&["-t", table.as_str(), "-F", chain], MISSING_CHAIN).map(drop)
    }

    fn exists(&self, rule: &Rule) -> Result<bool, FirewallError> {
        self.run(&Self::rule_args("-C", rule), MISSING_RULE)
    }

    fn append(&self, rule: &Rule) -> Result<(), FirewallError> {
        self.run(&Self::rule_args("-A", rule), &[]).map(drop)
    }

    fn insert(&self, rule: &Rule) -> Result<(), FirewallError> {
        self.run(&Self::rule_args("-I", rule), &[]).map(drop)
    }

    fn delete(&self, rule: &Rule) -> Result<(), FirewallError> {
        self.run(&Self::rule_args("-D", rule), MISSING_RULE).map(drop)
    }

    fn enable_ip_forward(&self) -> Result<(), FirewallError> {
        write_one(IP_FORWARD)
    }

    fn enable_bridge_netfilter(&self) -> Result<(), FirewallError> {
        if !Path::new(BRIDGE_NF_CALL_IPTABLES).exists() {
            // Built as a module on most distributions; a missing modprobe is reported below.
            let _ = Command::new("modprobe").arg("br_netfilter").status();
        }
        write_one(BRIDGE_NF_CALL_IPTABLES)
    }
}
