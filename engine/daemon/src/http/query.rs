//! Query strings: `?all=1&filters=...`, percent-decoded, with Docker's boolean spellings.

use super::response::ApiError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value given for `name`, in order (`?names=a&names=b`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// A boolean parameter: absent or empty is `default`; `1`, `true`, `True`, `0`, `false`…
    /// otherwise; anything else is a 400 naming the parameter.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "t" | "yes" => Ok(true),
                "0" | "false" | "f" | "no" => Ok(false),
                _ => Err(ApiError::bad_request(format!(
                    "invalid value {v:?} for query parameter {name}: use 1/true or 0/false"
                ))),
            },
        }
    }

    /// An integer parameter, or a 400 naming it.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value {v:?} for query parameter {name}: expected an integer"))
            }),
        }
    }
}

/// Percent-decoding of one URL component (`+` is a space, as in forms); bad escapes are kept.
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex =
                    std::str::from_utf8(&bytes[i + 1..i + 3]).ok().filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_components() {
        assert_eq!(decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%+1"), "% 1");
    }

    #[test]
    fn last_value_wins_and_booleans_are_checked() {
        let q = Query::parse(Some("all=0&all=1&size=True&bad=maybe&n=12"));
        assert_eq!(q.get("all"), Some("1"));
        assert!(q.bool("all", false).unwrap());
        assert!(q.bool("size", false).unwrap());
        assert!(q.bool("missing", true).unwrap());
        assert_eq!(q.bool("bad", false).unwrap_err().status, http::StatusCode::BAD_REQUEST);
        assert_eq!(q.int("n").unwrap(), Some(12));
        assert!(q.int("bad").is_err());
    }
}
