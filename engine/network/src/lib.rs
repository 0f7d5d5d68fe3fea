//! Container networking: bridge, address management, veth pairs, NAT rules, port proxy,
//! links environment and embedded DNS. Filled in by the networking issue.
