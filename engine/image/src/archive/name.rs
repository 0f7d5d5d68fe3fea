//! Names of tar entries and link targets, checked and normalised before anything is written:
//! relative, without `..`, and classified as a file, a whiteout or an opaque marker.

use super::{WHITEOUT_OPAQUE, WHITEOUT_PREFIX};

/// Why a name cannot be used inside the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadName {
    Absolute,
    ParentDir,
    Nul,
}

impl BadName {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            BadName::Absolute => "it is an absolute path",
            BadName::ParentDir => "it has a `..` component",
            BadName::Nul => "it contains a NUL byte",
        }
    }
}

/// `raw` as a path relative to the root: components joined by `/`, without empty or `.`
/// components; empty for the root itself (`.` or `./`). Absolute names and `..` are refused.
pub(crate) fn normalize(raw: &[u8]) -> Result<Vec<u8>, BadName> {
    if raw.first() == Some(&b'/') {
        return Err(BadName::Absolute);
    }
    if raw.contains(&0) {
        return Err(BadName::Nul);
    }
    let mut out = Vec::with_capacity(raw.len());
    for component in raw.split(|b| *b == b'/') {
        match component {
            b"" | b"." => continue,
            b".." => return Err(BadName::ParentDir),
            _ => {}
        }
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(component);
    }
    Ok(out)
}

/// The parent (empty for the root) and last component of a normalised, non-empty path.
pub(crate) fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// `parent/name`, or `name` when the parent is the root.
pub(crate) fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(parent.len() + 1 + name.len());
    if !parent.is_empty() {
        path.extend_from_slice(parent);
        path.push(b'/');
    }
    path.extend_from_slice(name);
    path
}

/// Whether a relative symlink target climbs above the root when resolved lexically from the
/// directory of the link at `link` (normalised). Absolute targets stay in the container: they
/// are resolved against its root, never followed here.
pub(crate) fn symlink_escapes(link: &[u8], target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut depth = split(link).0.split(|b| *b == b'/').filter(|c| !c.is_empty()).count();
    for component in target.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." if depth == 0 => return true,
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

/// What an entry stands for, from its last component.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Role<'a> {
    /// A file, directory, link or device to write.
    Plain,
    /// `.wh.<name>`: `<name>` in the same directory was deleted.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq`: the directory hides what lower layers had in it.
    Opaque,
    /// Other `.wh..wh.` names (aufs bookkeeping): ignored, as Docker does.
    Internal,
    /// A whiteout whose name cannot be a file name (`.wh.`, `.wh..`, `.wh...`).
    BadWhiteout,
}

pub(crate) fn role(name: &[u8]) -> Role<'_> {
    let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) else {
        return Role::Plain;
    };
    if name == WHITEOUT_OPAQUE.as_bytes() {
        return Role::Opaque;
    }
    if deleted.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        return Role::Internal;
    }
    match deleted {
        b"" | b"." | b".." => Role::BadWhiteout,
        _ => Role::Whiteout(deleted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b".", b""),
            (b"./", b""),
            (b"./etc/", b"etc"),
            (b"etc//passwd", b"etc/passwd"),
            (b"./a/./b", b"a/b"),
            (b"a..b/..c", b"a..b/..c"),
            (b"", b""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).unwrap(), want, "{:?}", display(raw));
        }
    }

    fn display(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    #[test]
    fn escaping_names_are_refused() {
        assert_eq!(normalize(b"/etc/passwd"), Err(BadName::Absolute));
        assert_eq!(normalize(b"../x"), Err(BadName::ParentDir));
        assert_eq!(normalize(b"a/../../x"), Err(BadName::ParentDir));
        assert_eq!(normalize(b"a/.."), Err(BadName::ParentDir));
        assert_eq!(normalize(b"a\0b"), Err(BadName::Nul));
    }

    #[test]
    fn symlink_targets_are_checked_from_the_link_directory() {
        assert!(!symlink_escapes(b"bin/sh", b"/bin/busybox"));
        assert!(!symlink_escapes(b"usr/lib/x", b"../../etc/x"));
        assert!(symlink_escapes(b"usr/lib/x", b"../../../etc"));
        assert!(symlink_escapes(b"s", b"../../.."));
        assert!(symlink_escapes(b"s", b".."));
        assert!(!symlink_escapes(b"a/s", b"b/../../c"));
        assert!(symlink_escapes(b"a/s", b"b/../../../c"));
        assert!(!symlink_escapes(b"s", b"./x/."));
    }

    #[test]
    fn whiteout_roles() {
        assert_eq!(role(b"passwd"), Role::Plain);
        assert_eq!(role(b".wh.passwd"), Role::Whiteout(b"passwd"));
        assert_eq!(role(b".wh..wh..opq"), Role::Opaque);
        assert_eq!(role(b".wh..wh.plnk"), Role::Internal);
        assert_eq!(role(b".wh.."), Role::BadWhiteout);
        assert_eq!(role(b".wh."), Role::BadWhiteout);
        assert_eq!(role(b".wh..hidden"), Role::Whiteout(b".hidden"));
    }

    #[test]
    fn split_and_join() {
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
        assert_eq!(join(b"", b"c"), b"c");
        assert_eq!(join(b"a/b", b"c"), b"a/b/c");
    }
}
