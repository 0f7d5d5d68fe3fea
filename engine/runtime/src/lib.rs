//! The container runtime: namespaces, mounts, pivot_root, capabilities, cgroups and the
//! per-container monitor. Filled in by the container issue.
