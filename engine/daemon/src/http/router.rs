//! Path patterns and the route table lookup. A pattern is a `/`-separated list of literals,
//! `{name}` (one segment) and at most one `{name*}` (one or more segments, for image names
//! such as `localhost:5000/team/app`).

use super::query::decode;

/// Path parameters captured by a pattern, percent-decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// Matches `path` against `pattern`, returning the captured parameters.
pub fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    let pat: Vec<&'static str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    let mut params = Vec::new();
    let Some(star) = pat.iter().position(|p| p.ends_with("*}")) else {
        if pat.len() != segs.len() {
            return None;
        }
        for (p, s) in pat.iter().zip(&segs) {
            capture(p, s, &mut params)?;
        }
        return Some(Params(params));
    };
    let tail = pat.len() - star - 1;
    if segs.len() < pat.len() {
        return None;
    }
    for (p, s) in pat[..star].iter().zip(&segs[..star]) {
        capture(p, s, &mut params)?;
    }
    for (p, s) in pat[star + 1..].iter().zip(&segs[segs.len() - tail..]) {
        capture(p, s, &mut params)?;
    }
    let middle = segs[star..segs.len() - tail].join("/");
    if middle.is_empty() {
        return None;
    }
    let name = &pat[star][1..pat[star].len() - 2];
    params.push((name, decode(&middle)));
    Some(Params(params))
}

fn capture(pattern: &'static str, seg: &str, params: &mut Vec<(&'static str, String)>) -> Option<()> {
    match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
        Some(name) if !seg.is_empty() => {
            params.push((name, decode(seg)));
            Some(())
        }
        Some(_) => None,
        None => (pattern == seg).then_some(()),
    }
}

/// Splits `/v1.9/rest` into the version text and the rest; `None` for unversioned paths.
pub fn split_version(path: &str) -> (Option<&str>, &str) {
    let Some(rest) = path.strip_prefix("/v") else {
        return (None, path);
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        (Some(version), &rest[end..])
    } else {
        (None, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_single_segments() {
        let p = match_path("/containers/{id}/json", "/containers/abc/json").unwrap();
        assert_eq!(p.get("id"), Some("abc"));
        assert!(match_path("/containers/{id}/json", "/containers//json").is_none());
        assert!(match_path("/containers/{id}/json", "/containers/a/b/json").is_none());
        assert!(match_path("/containers/json", "/containers/json/").is_none());
    }

    #[test]
    fn star_takes_slashes() {
        let p = match_path("/images/{name*}/json", "/images/localhost:5000/team/app/json").unwrap();
        assert_eq!(p.get("name"), Some("localhost:5000/team/app"));
        let p = match_path("/images/{name*}", "/images/busybox").unwrap();
        assert_eq!(p.get("name"), Some("busybox"));
        assert!(match_path("/images/{name*}/json", "/images/json").is_none());
    }

    #[test]
    fn params_are_decoded() {
        let p = match_path("/images/{name*}/json", "/images/a%2Fb%3Alatest/json").unwrap();
        assert_eq!(p.get("name"), Some("a/b:latest"));
    }

    #[test]
    fn versions_are_split_off() {
        assert_eq!(split_version("/v1.9/version"), (Some("1.9"), "/version"));
        assert_eq!(split_version("/v1.41/_ping"), (Some("1.41"), "/_ping"));
        assert_eq!(split_version("/v1/info"), (Some("1"), "/info"));
        assert_eq!(split_version("/version"), (None, "/version"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
        assert_eq!(split_version("/v1.9"), (Some("1.9"), ""));
    }
}
