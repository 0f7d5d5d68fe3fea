//! A list of strings that clients may also send as one string or null (Docker's "strslice"):
//! `"Cmd": "echo hi"` means `["echo hi"]`.

use serde::{Deserialize, Deserializer};

/// Deserializes `null`, a string, or an array of strings into `Option<Vec<String>>`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::One(s)) => Some(vec![s]),
        Some(Either::Many(v)) => Some(v),
    })
}
