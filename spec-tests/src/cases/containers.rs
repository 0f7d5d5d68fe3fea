//! Containers: `run` and the container lifecycle commands (3.1, 4.2, 5.1, 5.3).

use super::Case;

#[rustfmt::skip]
pub static CASES: &[Case] = &[];
