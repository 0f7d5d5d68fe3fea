//! Image references: `[host[:port]/][namespace/]name[:tag]`, `name@sha256:...`, and ids.
//! Names follow the registry rules of 5.4.1 §4.3 (namespace `[a-z0-9_]` of 4 to 30 characters,
//! name `[a-zA-Z0-9-_.]`) with the `host:port/` prefix of private registries (3.2.7).

use std::fmt;

pub const DEFAULT_TAG: &str = "latest";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference {0:?}: empty name")]
    Empty(String),
    #[error("invalid namespace {namespace:?} in {reference:?}: only [a-z0-9_] are allowed, 4 to 30 characters")]
    Namespace { reference: String, namespace: String },
    #[error("invalid repository name {name:?} in {reference:?}: only [a-zA-Z0-9-_.] are allowed")]
    Name { reference: String, name: String },
    #[error("invalid tag {tag:?} in {reference:?}: a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -")]
    Tag { reference: String, tag: String },
    #[error("invalid digest {digest:?} in {reference:?}: expected sha256: and 64 hex characters")]
    Digest { reference: String, digest: String },
    #[error("invalid registry host {host:?} in {reference:?}")]
    Host { reference: String, host: String },
    #[error("invalid reference {0:?}: too many path components (expected [host/][namespace/]name)")]
    Depth(String),
}

/// A parsed repository name plus an optional tag or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]/namespace/name`, normalized (no `docker.io/`, no `library/`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses a reference as users write it. `library/x` and `docker.io/library/x` are `x`.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => (r, Some(check_digest(text, d)?)),
            None => (text, None),
        };
        let (repo, tag) = split_tag(rest);
        if let Some(tag) = tag {
            check_tag(text, tag)?;
        }
        let repository = normalize(text, repo)?;
        Ok(Reference { repository, tag: tag.map(String::from), digest })
    }

    /// Parses a repository name alone (no tag), as `tag`'s `repo` parameter gives it.
    pub fn repository(text: &str) -> Result<String, ReferenceError> {
        normalize(text, text)
    }

    /// The tag, or `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// The registry host this repository lives on, if it names one.
    pub fn registry_host(&self) -> Option<&str> {
        let (first, _) = self.repository.split_once('/')?;
        is_host(first).then_some(first)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `repo:tag` splits at the last colon after the last slash (a port is not a tag).
fn split_tag(text: &str) -> (&str, Option<&str>) {
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    match text[last_slash..].rfind(':') {
        Some(i) => (&text[..last_slash + i], Some(&text[last_slash + i + 1..])),
        None => (text, None),
    }
}

fn is_host(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

fn normalize(reference: &str, repo: &str) -> Result<String, ReferenceError> {
    if repo.is_empty() {
        return Err(ReferenceError::Empty(reference.to_string()));
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    let host = if parts.len() > 1 && is_host(parts[0]) { Some(parts.remove(0)) } else { None };
    let host = match host {
        Some("docker.io" | "index.docker.io" | "registry-1.docker.io") => None,
        Some(h) => Some(check_host(reference, h)?),
        None => None,
    };
    if host.is_none() && parts.len() == 2 && parts[0] == "library" {
        parts.remove(0);
    }
    let name = match parts[..] {
        [name] => check_name(reference, name)?,
        [namespace, name] => format!("{}/{}", check_namespace(reference, namespace)?, check_name(reference, name)?),
        _ => return Err(ReferenceError::Depth(reference.to_string())),
    };
    Ok(match host {
        Some(h) => format!("{h}/{name}"),
        None => name,
    })
}

fn check_host<'a>(reference: &str, host: &'a str) -> Result<&'a str, ReferenceError> {
    let (name, port) = host.split_once(':').map_or((host, None), |(n, p)| (n, Some(p)));
    let name_ok = !name.is_empty()
        && name.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if name_ok && port_ok {
        Ok(host)
    } else {
        Err(ReferenceError::Host { reference: reference.to_string(), host: host.to_string() })
    }
}

fn check_namespace(reference: &str, namespace: &str) -> Result<String, ReferenceError> {
    let ok = (4..=30).contains(&namespace.len())
        && namespace.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(namespace.to_string())
    } else {
        Err(ReferenceError::Namespace { reference: reference.to_string(), namespace: namespace.to_string() })
    }
}

fn check_name(reference: &str, name: &str) -> Result<String, ReferenceError> {
    let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(name.to_string())
    } else {
        Err(ReferenceError::Name { reference: reference.to_string(), name: name.to_string() })
    }
}

fn check_tag(reference: &str, tag: &str) -> Result<(), ReferenceError> {
    let ok = (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag { reference: reference.to_string(), tag: tag.to_string() })
    }
}

fn check_digest(reference: &str, digest: &str) -> Result<String, ReferenceError> {
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    if is_hex_id(hex) {
        Ok(digest.to_string())
    } else {
        Err(ReferenceError::Digest { reference: reference.to_string(), digest: digest.to_string() })
    }
}

/// 64 lower-case hex characters.
pub fn is_hex_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn r(repository: &str, tag: Option<&str>) -> Reference {
        Reference { repository: repository.into(), tag: tag.map(String::from), digest: None }
    }

    #[rstest]
    #[case("busybox", r("busybox", None))]
    #[case("busybox:latest", r("busybox", Some("latest")))]
    #[case("library/busybox:1.2", r("busybox", Some("1.2")))]
    #[case("docker.io/library/busybox", r("busybox", None))]
    #[case("shykes/myapp:v1", r("shykes/myapp", Some("v1")))]
    #[case("localhost:5000/myapp", r("localhost:5000/myapp", None))]
    #[case("127.0.0.1:5000/team/app:x", r("127.0.0.1:5000/team/app", Some("x")))]
    #[case("registry.example.com/app", r("registry.example.com/app", None))]
    #[case("My.App-1_x", r("My.App-1_x", None))]
    fn parses(#[case] text: &str, #[case] want: Reference) {
        assert_eq!(Reference::parse(text).unwrap(), want);
    }

    #[rstest]
    #[case("", "empty name")]
    #[case("abc/app", "namespace")]
    #[case("UPPER/app", "namespace")]
    #[case("a_very_long_namespace_over_thirty_chars/app", "namespace")]
    #[case("bad name", "repository name")]
    #[case("app:-x", "tag")]
    #[case("app:", "tag")]
    #[case("a/b/c/d", "too many")]
    #[case("app@sha256:zz", "digest")]
    #[case("host:99999/app", "registry host")]
    fn rejects(#[case] text: &str, #[case] what: &str) {
        let err = Reference::parse(text).unwrap_err().to_string();
        assert!(err.contains(what), "{err:?} should mention {what:?}");
    }

    #[test]
    fn digests_and_hosts() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let parsed = Reference::parse(&format!("busybox@{digest}")).unwrap();
        assert_eq!(parsed.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(Reference::parse("localhost:5000/x").unwrap().registry_host(), Some("localhost:5000"));
        assert_eq!(Reference::parse("team/x").unwrap().registry_host(), None);
    }

    proptest! {
        #[test]
        fn display_round_trips(ns in "[a-z0-9_]{4,12}", name in "[a-zA-Z0-9][a-zA-Z0-9._-]{0,10}", tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,10}") {
            let parsed = Reference::parse(&format!("{ns}/{name}:{tag}")).unwrap();
            prop_assert_eq!(Reference::parse(&parsed.to_string()).unwrap(), parsed);
        }

        #[test]
        fn never_panics(text in ".{0,40}") {
            let _ = Reference::parse(&text);
        }
    }
}
