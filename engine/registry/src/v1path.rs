//! The `/v1/...` paths the registry and the index share, parsed into what they name. Ids, names
//! and tags are checked here, before any handler or storage sees them.

use crate::names::{is_image_id, is_username, is_v1_tag, NameError, RepoName};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V1Path {
    Ping,
    Image {
        id: String,
        part: ImagePart,
    },
    Repository {
        repo: RepoName,
        action: RepoAction,
    },
    Users,
    User(String),
    /// The link of a confirmation mail: `/v1/users/<name>/confirm`.
    UserConfirm(String),
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagePart {
    Json,
    Layer,
    Ancestry,
    Checksum,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoAction {
    /// `/v1/repositories/<ns>/<repo>/`: the repository itself.
    Itself,
    Images,
    Auth,
    Tags,
    Tag(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("no such endpoint")]
    NotFound,
    #[error("invalid image id {0:?}: an image id is 64 lowercase hexadecimal characters")]
    ImageId(String),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("invalid tag {0:?}: use up to 128 characters from [A-Za-z0-9_.-], not starting with . or -")]
    Tag(String),
    #[error("invalid username {0:?}: use 4 to 30 characters from [a-z0-9_]")]
    Username(String),
}

pub fn parse(path: &str) -> Result<V1Path, PathError> {
    let rest = path.strip_prefix("/v1/").ok_or(PathError::NotFound)?;
    match rest {
        "_ping" | "_ping/" => return Ok(V1Path::Ping),
        "users" | "users/" => return Ok(V1Path::Users),
        "search" | "search/" => return Ok(V1Path::Search),
        _ => {}
    }
    if let Some(image) = rest.strip_prefix("images/") {
        return parse_image(image);
    }
    if let Some(user) = rest.strip_prefix("users/") {
        return parse_user(user);
    }
    if let Some(repository) = rest.strip_prefix("repositories/") {
        return parse_repository(repository);
    }
    Err(PathError::NotFound)
}

fn parse_image(rest: &str) -> Result<V1Path, PathError> {
    let (id, part) = rest.split_once('/').ok_or(PathError::NotFound)?;
    if !is_image_id(id) {
        return Err(PathError::ImageId(id.to_string()));
    }
    let part = match part.trim_end_matches('/') {
        "json" => ImagePart::Json,
        "layer" => ImagePart::Layer,
        "ancestry" => ImagePart::Ancestry,
        "checksum" => ImagePart::Checksum,
        _ => return Err(PathError::NotFound),
    };
    Ok(V1Path::Image { id: id.to_string(), part })
}

fn parse_user(rest: &str) -> Result<V1Path, PathError> {
    let (name, confirm) = match rest.trim_end_matches('/').split_once('/') {
        None => (rest.trim_end_matches('/'), false),
        Some((name, "confirm")) => (name, true),
        Some(_) => return Err(PathError::NotFound),
    };
    if !is_username(name) {
        return Err(PathError::Username(name.to_string()));
    }
    Ok(if confirm { V1Path::UserConfirm(name.to_string()) } else { V1Path::User(name.to_string()) })
}

/// `<ns>/<repo>/` or `<repo>/` (the repository), then `.../images`, `.../auth`, `.../tags` and
/// `.../tags/<tag>`; a name without a namespace is in `library`.
fn parse_repository(rest: &str) -> Result<V1Path, PathError> {
    let trailing_slash = rest.ends_with('/');
    let segments: Vec<&str> = rest.strip_suffix('/').unwrap_or(rest).split('/').collect();
    let (name_segments, action) = match segments.as_slice() {
        _ if trailing_slash => (&segments[..], RepoAction::Itself),
        [name @ .., "tags"] => (name, RepoAction::Tags),
        [name @ .., "tags", tag] => {
            if !is_v1_tag(tag) {
                return Err(PathError::Tag(tag.to_string()));
            }
            (name, RepoAction::Tag(tag.to_string()))
        }
        [name @ .., "images"] => (name, RepoAction::Images),
        [name @ .., "auth"] => (name, RepoAction::Auth),
        _ => (&segments[..], RepoAction::Itself),
    };
    let repo = match name_segments {
        [name] => RepoName::parse(None, name)?,
        [namespace, name] => RepoName::parse(Some(namespace), name)?,
        _ => return Err(PathError::NotFound),
    };
    Ok(V1Path::Repository { repo, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(full: &str, action: RepoAction) -> V1Path {
        V1Path::Repository { repo: RepoName::parse_full(full).unwrap(), action }
    }

    #[test]
    fn repository_paths() {
        assert_eq!(parse("/v1/repositories/foobar/bar/"), Ok(repo("foobar/bar", RepoAction::Itself)));
        assert_eq!(parse("/v1/repositories/foobar/bar"), Ok(repo("foobar/bar", RepoAction::Itself)));
        assert_eq!(parse("/v1/repositories/busybox/"), Ok(repo("busybox", RepoAction::Itself)));
        assert_eq!(parse("/v1/repositories/busybox/images"), Ok(repo("busybox", RepoAction::Images)));
        assert_eq!(parse("/v1/repositories/foobar/bar/images"), Ok(repo("foobar/bar", RepoAction::Images)));
        assert_eq!(parse("/v1/repositories/foobar/bar/auth"), Ok(repo("foobar/bar", RepoAction::Auth)));
        assert_eq!(parse("/v1/repositories/foobar/bar/tags"), Ok(repo("foobar/bar", RepoAction::Tags)));
        assert_eq!(parse("/v1/repositories/busybox/tags/1.0"), Ok(repo("busybox", RepoAction::Tag("1.0".into()))));
        assert_eq!(
            parse("/v1/repositories/foobar/bar/tags/latest"),
            Ok(repo("foobar/bar", RepoAction::Tag("latest".into())))
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        assert!(matches!(parse("/v1/repositories/foobar/../"), Err(PathError::Name(_))));
        assert!(matches!(parse("/v1/repositories/foobar/bar/tags/..x"), Err(PathError::Tag(_))));
        assert!(matches!(parse("/v1/repositories/a/b/c/d/"), Err(PathError::NotFound)));
        assert!(matches!(parse("/v1/repositories/foobar//"), Err(PathError::Name(_))));
        assert!(matches!(parse("/v1/images/abc/json"), Err(PathError::ImageId(_))));
        assert!(matches!(parse(&format!("/v1/images/{}/../json", "a".repeat(64))), Err(PathError::NotFound)));
        assert!(matches!(parse("/v1/users/AB/"), Err(PathError::Username(_))));
    }

    #[test]
    fn other_paths() {
        let id = "0".repeat(64);
        assert_eq!(parse(&format!("/v1/images/{id}/layer")), Ok(V1Path::Image { id, part: ImagePart::Layer }));
        assert_eq!(parse("/v1/_ping"), Ok(V1Path::Ping));
        assert_eq!(parse("/v1/users/"), Ok(V1Path::Users));
        assert_eq!(parse("/v1/users/foobar/"), Ok(V1Path::User("foobar".into())));
        assert_eq!(parse("/v1/users/foobar/confirm"), Ok(V1Path::UserConfirm("foobar".into())));
        assert_eq!(parse("/v2/"), Err(PathError::NotFound));
    }
}
