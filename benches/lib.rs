//! Shared helpers for the benchmarks; the benches themselves are added with the code they measure.
