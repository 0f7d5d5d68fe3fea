//! Resolves `docker run -u` (`name`, `uid`, `uid:gid`, `name:group`) against the container's
//! /etc/passwd and /etc/group, with runc's rules: supplementary groups only when no group is
//! named, numeric ids need no entry, names must have one.

/// The ids and home a container process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from /etc/group (empty when the spec named a group).
    pub sgids: Vec<u32>,
    /// From the passwd entry; "/" without one, as 2014 Docker.
    pub home: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("uids and gids must be in range 0-2147483647: {0}")]
    OutOfRange(String),
}

/// One /etc/passwd entry.
struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

/// One /etc/group entry.
struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// Resolves `spec` given the text of /etc/passwd and /etc/group (`None` when missing).
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<ExecUser, UserError> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let entry = passwd.and_then(|text| find_user(text, user_arg));
    let mut user = match (&entry, parse_id(user_arg)?) {
        (Some(p), _) => ExecUser { uid: p.uid, gid: p.gid, sgids: Vec::new(), home: p.home.to_string() },
        (None, Some(uid)) => ExecUser { uid, gid: 0, sgids: Vec::new(), home: "/".into() },
        (None, None) => return Err(UserError::NoUser(user_arg.to_string())),
    };
    let groups: Vec<Group> = group.map(|text| text.lines().filter_map(parse_group).collect()).unwrap_or_default();
    match group_arg.filter(|g| !g.is_empty()) {
        Some(arg) => user.gid = resolve_group(arg, &groups)?,
        None => {
            let name = entry.as_ref().map(|p| p.name).unwrap_or_default();
            user.sgids = groups.iter().filter(|g| g.members.contains(&name)).map(|g| g.gid).collect();
        }
    }
    Ok(user)
}

fn find_user<'a>(text: &'a str, arg: &str) -> Option<Passwd<'a>> {
    let uid = arg.parse::<u32>().ok();
    text.lines().filter_map(parse_passwd).find(|p| match uid {
        Some(uid) => p.uid == uid,
        None => p.name == arg,
    })
}

fn resolve_group(arg: &str, groups: &[Group]) -> Result<u32, UserError> {
    let gid = parse_id(arg)?;
    let found = groups.iter().find(|g| match gid {
        Some(gid) => g.gid == gid,
        None => g.name == arg,
    });
    found.map(|g| g.gid).or(gid).ok_or_else(|| UserError::NoGroup(arg.to_string()))
}

/// `Some(id)` for a number in range, `None` for a name.
fn parse_id(arg: &str) -> Result<Option<u32>, UserError> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match arg.parse::<u32>() {
        Ok(id) if id <= i32::MAX as u32 => Ok(Some(id)),
        _ => Err(UserError::OutOfRange(arg.to_string())),
    }
}

fn parse_passwd(line: &str) -> Option<Passwd<'_>> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 6 || line.starts_with('#') {
        return None;
    }
    Some(Passwd { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5] })
}

fn parse_group(line: &str) -> Option<Group<'_>> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 3 || line.starts_with('#') {
        return None;
    }
    let members = f.get(3).map(|m| m.split(',').filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    Some(Group { name: f[0], gid: f[2].parse().ok()?, members })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\n\
        berthuser:x:1000:1000:berthuser:/home/berthuser:/bin/sh\n";
    const GROUP: &str = "root:x:0:root\nberthuser:x:1000:\nextra:x:1001:berthuser\nwheel:x:10:root,berthuser\n";

    fn user(uid: u32, gid: u32, sgids: &[u32], home: &str) -> ExecUser {
        ExecUser { uid, gid, sgids: sgids.to_vec(), home: home.into() }
    }

    #[rstest]
    #[case("", user(0, 0, &[0, 10], "/root"))]
    #[case("root", user(0, 0, &[0, 10], "/root"))]
    #[case("berthuser", user(1000, 1000, &[1001, 10], "/home/berthuser"))]
    #[case("1000", user(1000, 1000, &[1001, 10], "/home/berthuser"))]
    #[case("1000:1001", user(1000, 1001, &[], "/home/berthuser"))]
    #[case("berthuser:extra", user(1000, 1001, &[], "/home/berthuser"))]
    #[case("4242", user(4242, 0, &[], "/"))]
    #[case("4242:4343", user(4242, 4343, &[], "/"))]
    #[case("berthuser:", user(1000, 1000, &[1001, 10], "/home/berthuser"))]
    fn resolves(#[case] spec: &str, #[case] want: ExecUser) {
        assert_eq!(resolve(spec, Some(PASSWD), Some(GROUP)), Ok(want));
    }

    #[rstest]
    #[case("nobody", UserError::NoUser("nobody".into()))]
    #[case("root:nogroup", UserError::NoGroup("nogroup".into()))]
    #[case("99999999999", UserError::OutOfRange("99999999999".into()))]
    fn refuses(#[case] spec: &str, #[case] want: UserError) {
        assert_eq!(resolve(spec, Some(PASSWD), Some(GROUP)), Err(want));
    }

    #[test]
    fn unknown_user_message_is_dockers() {
        let err = resolve("ghost", None, None).unwrap_err();
        assert_eq!(err.to_string(), "unable to find user ghost: no matching entries in passwd file");
    }

    #[test]
    fn missing_files_still_allow_numeric_ids() {
        assert_eq!(resolve("5:6", None, None), Ok(user(5, 6, &[], "/")));
    }
}
