//! The index's tokens as they travel in headers:
//! `signature=...,repository="ns/repo",access=read|write|delete` (5.4.1 §2, §6).

use std::fmt;

/// Bytes from the kernel's random source, for token signatures, session ids, salts and uuids.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without the kernel's random source no token could be trusted: stopping is the only safe answer.
    getrandom::fill(&mut bytes).expect("the kernel's random source (getrandom) is unavailable");
    bytes
}

/// `N` random bytes as lowercase hexadecimal.
pub(crate) fn random_hex<const N: usize>() -> String {
    hex(&random_bytes::<N>())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a token allows on its repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
    Delete,
}

impl Access {
    pub fn parse(text: &str) -> Option<Access> {
        match text {
            "read" => Some(Access::Read),
            "write" => Some(Access::Write),
            "delete" => Some(Access::Delete),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    }

    /// Whether a session granted `self` may do what needs `needed`: a write session may also
    /// read; a delete session may only delete.
    pub fn allows(self, needed: Access) -> bool {
        matches!((self, needed), (Access::Read | Access::Write, Access::Read) | (Access::Write, Access::Write))
            || (self, needed) == (Access::Delete, Access::Delete)
    }
}

/// A token issued by the index for one repository and one kind of access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub signature: String,
    pub repository: String,
    pub access: Access,
}

impl Token {
    /// Reads the header form, with or without the leading `Token ` (as `Authorization` carries it).
    pub fn parse(text: &str) -> Option<Token> {
        let text = text.trim();
        let text = text.strip_prefix("Token ").unwrap_or(text);
        let (mut signature, mut repository, mut access) = (None, None, None);
        for pair in text.split(',') {
            let (name, value) = pair.trim().split_once('=')?;
            let value = value.trim().trim_matches('"');
            match name.trim() {
                "signature" => signature = Some(value.to_string()),
                "repository" => repository = Some(value.to_string()),
                "access" => access = Access::parse(value),
                _ => {}
            }
        }
        let signature = signature.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))?;
        Some(Token { signature, repository: repository?, access: access? })
    }
}

impl fmt::Display for Token {
    /// The `X-Docker-Token` form: docker clients put `Token ` in front when they send it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signature={},repository=\"{}\",access={}", self.signature, self.repository, self.access.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_header_form() {
        let token = Token { signature: "123abc".into(), repository: "foo/bar".into(), access: Access::Write };
        assert_eq!(token.to_string(), r#"signature=123abc,repository="foo/bar",access=write"#);
        assert_eq!(Token::parse(&format!("Token {token}")), Some(token.clone()));
        assert_eq!(Token::parse(&token.to_string()), Some(token));
    }

    #[test]
    fn refuses_incomplete_or_odd_tokens() {
        assert_eq!(Token::parse(r#"signature=1,repository="foo/bar""#), None);
        assert_eq!(Token::parse(r#"signature=1,repository="foo/bar",access=admin"#), None);
        assert_eq!(Token::parse(r#"signature=a/b,repository="foo/bar",access=read"#), None);
        assert_eq!(Token::parse("garbage"), None);
    }

    #[test]
    fn access_levels() {
        assert!(Access::Write.allows(Access::Read));
        assert!(!Access::Read.allows(Access::Write));
        assert!(!Access::Write.allows(Access::Delete));
        assert!(!Access::Delete.allows(Access::Read));
        assert!(Access::Delete.allows(Access::Delete));
    }
}
