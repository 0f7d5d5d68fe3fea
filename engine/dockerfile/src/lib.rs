//! The Dockerfile parser: text to instructions, with errors naming the line. Pure: no I/O.
//! Filled in by the builder issue.
