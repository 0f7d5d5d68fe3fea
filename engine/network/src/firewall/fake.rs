//! An in-memory [`Firewall`] for unit tests: chains hold rules in order, every change is
//! recorded.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{Firewall, FirewallError, Rule, Table};

/// A change [`FakeFirewall`] was asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirewallCall {
    NewChain(Table, String),
    DeleteChain(Table, String),
    FlushChain(Table, String),
    Append(Rule),
    Insert(Rule),
    Delete(Rule),
    IpForward,
    BridgeNetfilter,
}

#[derive(Debug, Default)]
struct State {
    chains: BTreeMap<(Table, String), Vec<Rule>>,
    calls: Vec<FirewallCall>,
}

/// Chains and rules in memory; the standard chains exist from the start.
#[derive(Debug)]
pub struct FakeFirewall {
    state: Mutex<State>,
}

impl Default for FakeFirewall {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeFirewall {
    pub fn new() -> Self {
        let mut state = State::default();
        for chain in ["INPUT", "FORWARD", "OUTPUT"] {
            state.chains.insert((Table::Filter, chain.into()), Vec::new());
        }
        for chain in ["PREROUTING", "OUTPUT", "POSTROUTING"] {
            state.chains.insert((Table::Nat, chain.into()), Vec::new());
        }
        Self { state: Mutex::new(state) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every change asked for so far, in order.
    pub fn calls(&self) -> Vec<FirewallCall> {
        self.state().calls.clone()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.state().calls.clear();
    }

    /// The rules of a chain in order (empty if it does not exist).
    pub fn chain(&self, table: Table, chain: &str) -> Vec<Rule> {
        self.state().chains.get(&(table, chain.to_string())).cloned().unwrap_or_default()
    }

    /// Every chain's name.
    pub fn chain_names(&self) -> Vec<(Table, String)> {
        self.state().chains.keys().cloned().collect()
    }

    /// Every rule of every chain, as `iptables -S` lines with the table.
    pub fn dump(&self) -> Vec<String> {
        self.state().chains.values().flatten().map(ToString::to_string).collect()
    }

    fn with_chain(&self, rule: &Rule, call: FirewallCall, f: impl FnOnce(&mut Vec<Rule>)) -> Result<(), FirewallError> {
        let mut state = self.state();
        state.calls.push(call);
        match state.chains.get_mut(&(rule.table, rule.chain.clone())) {
            Some(rules) => {
                f(rules);
                Ok(())
            }
            None => Err(FirewallError::Command { args: rule.to_string(), stderr: "No chain by that name".into() }),
        }
    }
}

impl Firewall for FakeFirewall {
    fn new_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        let mut state = self.state();
        state.calls.push(FirewallCall::NewChain(table, chain.into()));
        state.chains.insert((table, chain.into()), Vec::new());
        Ok(())
    }

    fn delete_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        let mut state = self.state();
        state.calls.push(FirewallCall::DeleteChain(table, chain.into()));
        state.chains.remove(&(table, chain.to_string()));
        Ok(())
    }

    fn flush_chain(&self, table: Table, chain: &str) -> Result<(), FirewallError> {
        let mut state = self.state();
        state.calls.push(FirewallCall::FlushChain(table, chain.into()));
        if let Some(rules) = state.chains.get_mut(&(table, chain.to_string())) {
            rules.clear();
        }
        Ok(())
    }

    fn exists(&self, rule: &Rule) -> Result<bool, FirewallError> {
        Ok(self.state().chains.get(&(rule.table, rule.chain.clone())).is_some_and(|r| r.contains(rule)))
    }

    fn append(&self, rule: &Rule) -> Result<(), FirewallError> {
        self.with_chain(rule, FirewallCall::Append(rule.clone()), |rules| rules.push(rule.clone()))
    }

    fn insert(&self, rule: &Rule) -> Result<(), FirewallError> {
        self.with_chain(rule, FirewallCall::Insert(rule.clone()), |rules| rules.insert(0, rule.clone()))
    }

    fn delete(&self, rule: &Rule) -> Result<(), FirewallError> {
        let mut state = self.state();
        state.calls.push(FirewallCall::Delete(rule.clone()));
        if let Some(rules) = state.chains.get_mut(&(rule.table, rule.chain.clone())) {
            if let Some(at) = rules.iter().position(|r| r == rule) {
                rules.remove(at);
            }
        }
        Ok(())
    }

    fn enable_ip_forward(&self) -> Result<(), FirewallError> {
        self.state().calls.push(FirewallCall::IpForward);
        Ok(())
    }

    fn enable_bridge_netfilter(&self) -> Result<(), FirewallError> {
        self.state().calls.push(FirewallCall::BridgeNetfilter);
        Ok(())
    }
}
