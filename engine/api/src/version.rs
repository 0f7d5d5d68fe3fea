//! Remote API versions: `1.9` style numbers, their order, and the range berth serves.

use std::fmt;
use std::str::FromStr;

/// A Remote API version such as `1.9` or `1.41`. Ordered numerically, so `1.9 < 1.10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    pub const fn new(major: u16, minor: u16) -> Self {
        ApiVersion { major, minor }
    }

    /// The oldest version berth answers: the one the 2014 documentation describes.
    pub const MIN: ApiVersion = ApiVersion::new(1, 9);
    /// The newest version berth answers, and the meaning of an unversioned path.
    pub const CURRENT: ApiVersion = ApiVersion::new(1, 41);

    /// True when `self` is `major.minor` or newer.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self >= ApiVersion::new(major, minor)
    }

    /// True when `self` is older than `major.minor`.
    pub fn before(self, major: u16, minor: u16) -> bool {
        self < ApiVersion::new(major, minor)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid API version {0:?}: expected MAJOR.MINOR, such as 1.41")]
pub struct VersionError(pub String);

impl FromStr for ApiVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let number = |part: &str| -> Result<u16, VersionError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        Ok(ApiVersion::new(number(major)?, number(minor)?))
    }
}

impl serde::Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("1.9", ApiVersion::new(1, 9))]
    #[case("1.41", ApiVersion::new(1, 41))]
    #[case("2.0", ApiVersion::new(2, 0))]
    fn parses(#[case] text: &str, #[case] want: ApiVersion) {
        assert_eq!(text.parse::<ApiVersion>().unwrap(), want);
    }

    #[rstest]
    #[case("")]
    #[case("1")]
    #[case("1.")]
    #[case(".9")]
    #[case("1.9.1")]
    #[case("v1.9")]
    #[case("1.-9")]
    #[case("1.+9")]
    #[case("99999.1")]
    fn rejects(#[case] text: &str) {
        let err = text.parse::<ApiVersion>().unwrap_err();
        assert!(err.to_string().contains("invalid API version"), "{err}");
    }

    #[test]
    fn orders_numerically_not_lexically() {
        assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 10));
        assert!(ApiVersion::new(1, 41) > ApiVersion::new(1, 9));
        assert!(ApiVersion::MIN.before(1, 10));
        assert!(ApiVersion::CURRENT.at_least(1, 41));
    }

    proptest! {
        #[test]
        fn display_round_trips(major in 0u16..100, minor in 0u16..1000) {
            let v = ApiVersion::new(major, minor);
            prop_assert_eq!(v.to_string().parse::<ApiVersion>().unwrap(), v);
        }
    }
}
