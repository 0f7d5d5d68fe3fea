//! The names the servers accept, checked before anything touches storage: image ids, v1
//! repository names (5.4.1 §4.3) and tags, usernames (§4.2.1), v2 repository names, tags and
//! digests (distribution spec).

use std::fmt;

/// A 2014 image id: 64 lowercase hexadecimal characters.
pub fn is_image_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A username, and so a namespace: 4 to 30 characters from `[a-z0-9_]`.
pub fn is_username(name: &str) -> bool {
    (4..=30).contains(&name.len()) && name.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// A v1 tag, as docker 0.8 checked it: `[\w][\w.-]{0,127}`.
pub fn is_v1_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    (1..=128).contains(&bytes.len()) && word(bytes[0]) && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// A v1 repository: a namespace (`library` when none is given) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    pub namespace: String,
    pub name: String,
}

/// Why a repository name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("invalid namespace {0:?}: use 4 to 30 characters from [a-z0-9_]")]
    Namespace(String),
    #[error("invalid repository name {0:?}: use characters from [a-zA-Z0-9-_.], not only dots")]
    Repository(String),
}

impl RepoName {
    /// Checks both parts; `None` as the namespace means `library`.
    pub fn parse(namespace: Option<&str>, name: &str) -> Result<RepoName, NameError> {
        let namespace = namespace.unwrap_or("library");
        if !is_username(namespace) {
            return Err(NameError::Namespace(namespace.to_string()));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if name.is_empty() || name.len() > 255 || !name.bytes().all(allowed) || name.bytes().all(|b| b == b'.') {
            return Err(NameError::Repository(name.to_string()));
        }
        Ok(RepoName { namespace: namespace.to_string(), name: name.to_string() })
    }

    /// Parses `ns/name` or `name`.
    pub fn parse_full(full: &str) -> Result<RepoName, NameError> {
        match full.split_once('/') {
            Some((namespace, name)) => RepoName::parse(Some(namespace), name),
            None => RepoName::parse(None, full),
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A v2 repository name: `/`-separated components of `[a-z0-9]+` joined by `.`, `_`, `__` or
/// runs of `-`, at most 255 characters.
pub fn is_v2_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.split('/').all(is_v2_component)
}

fn is_v2_component(component: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    bytes
        .split(alnum)
        .filter(|separator| !separator.is_empty())
        .all(|separator| matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-'))
}

/// A v2 tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn is_v2_tag(tag: &str) -> bool {
    is_v1_tag(tag)
}

/// The hash functions digests may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest such as `sha256:<64 hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Digest {
    pub fn parse(text: &str) -> Option<Digest> {
        let (algorithm, hex) = text.split_once(':')?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return None,
        };
        let lower_hex = hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (hex.len() == algorithm.hex_len() && lower_hex).then(|| Digest { algorithm, hex: hex.to_string() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids_are_64_lowercase_hex() {
        assert!(is_image_id(&"a".repeat(64)));
        assert!(!is_image_id(&"A".repeat(64)));
        assert!(!is_image_id(&"a".repeat(63)));
        assert!(!is_image_id(&format!("{}/..", "a".repeat(61))));
    }

    #[test]
    fn v1_names_follow_4_3() {
        assert_eq!(RepoName::parse_full("busybox").unwrap().to_string(), "library/busybox");
        assert_eq!(RepoName::parse_full("foobar/App-1.0_x").unwrap().to_string(), "foobar/App-1.0_x");
        assert!(RepoName::parse_full("foo/bar").is_err(), "namespace under 4 characters");
        assert!(RepoName::parse_full(&format!("{}/bar", "a".repeat(31))).is_err());
        assert!(RepoName::parse_full("Foobar/bar").is_err());
        assert!(RepoName::parse_full("foobar/..").is_err());
        assert!(RepoName::parse_full("foobar/.").is_err());
        assert!(RepoName::parse_full("foobar/a b").is_err());
        assert!(RepoName::parse_full("foobar/").is_err());
    }

    #[test]
    fn v2_names_follow_the_distribution_grammar() {
        for good in ["busybox", "team/app", "a/b/c", "my-app", "my--app", "a.b", "a__b", "a_b", "0"] {
            assert!(is_v2_name(good), "{good}");
        }
        for bad in ["", "Team/app", "a//b", "/a", "a/", "-a", "a-", "a..b", "a___b", "../etc", "a/.b", "a b", "a:b"] {
            assert!(!is_v2_name(bad), "{bad}");
        }
        assert!(!is_v2_name(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_digests() {
        assert!(is_v2_tag("latest") && is_v2_tag("1.0-rc_1") && is_v2_tag("_x"));
        assert!(!is_v2_tag(".hidden") && !is_v2_tag("-x") && !is_v2_tag("") && !is_v2_tag(&"a".repeat(129)));
        let hex = "e".repeat(64);
        assert_eq!(Digest::parse(&format!("sha256:{hex}")).unwrap().to_string(), format!("sha256:{hex}"));
        assert!(Digest::parse(&format!("sha256:{}", "E".repeat(64))).is_none());
        assert!(Digest::parse(&format!("md5:{hex}")).is_none());
        assert!(Digest::parse(&format!("sha512:{}", "0".repeat(128))).is_some());
    }
}
