//! Where a repository lives: `host:port/name` names a registry of its own (3.2.7); any other
//! name lives at the daemon's default index, `library/` for names with no namespace.

use super::DistributionError;
use berth_image::Reference;

/// A repository as the engine talks about it remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The name the local store knows it by (`host:port/repo`, `user/app`, `busybox`).
    pub local: String,
    /// `host:port` of a private registry, `None` for the default index.
    pub registry: Option<String>,
    /// The repository path on the registry: v1 index requests use it as is (the index puts
    /// `centos` under `library/`); v2 requests use [`Remote::v2_path`].
    pub path: String,
}

impl Remote {
    /// Splits a normalized repository name.
    pub fn parse(repository: &str) -> Result<Remote, DistributionError> {
        let reference = Reference::parse(repository).map_err(|e| DistributionError::Invalid(e.to_string()))?;
        let local = reference.repository.clone();
        let (registry, path) = match reference.registry_host() {
            Some(host) => (Some(host.to_string()), local[host.len() + 1..].to_string()),
            None => (None, local.clone()),
        };
        Ok(Remote { local, registry, path })
    }

    /// The v2 repository name: official images live under `library/` on the default registry.
    pub fn v2_path(&self) -> String {
        if self.registry.is_none() && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        }
    }

    /// The name a user reads in messages.
    pub fn display(&self) -> &str {
        &self.local
    }
}

/// `name[:tag]` as pull and push are given it: the repository and the tag, if any.
pub fn split(name: &str, tag: Option<&str>) -> Result<(Remote, Option<String>), DistributionError> {
    let reference = Reference::parse(name).map_err(|e| DistributionError::Invalid(e.to_string()))?;
    if reference.digest.is_some() {
        return Err(DistributionError::Invalid(format!(
            "{name}: pulling or pushing by digest is not supported; give a tag"
        )));
    }
    let tag = tag.filter(|t| !t.is_empty()).map(String::from).or(reference.tag.clone());
    if let Some(tag) = &tag {
        Reference::parse(&format!("{}:{tag}", reference.repository))
            .map_err(|e| DistributionError::Invalid(e.to_string()))?;
    }
    Ok((Remote::parse(&reference.repository)?, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let r = Remote::parse("busybox").unwrap();
        assert_eq!(
            (r.registry.clone(), r.path.as_str(), r.v2_path()),
            (None, "busybox", "library/busybox".to_string())
        );
        let r = Remote::parse("127.0.0.1:5000/team/app").unwrap();
        assert_eq!((r.registry.as_deref(), r.path.as_str()), (Some("127.0.0.1:5000"), "team/app"));
        assert_eq!(r.v2_path(), "team/app");
        let r = Remote::parse("myname/app").unwrap();
        assert_eq!((r.registry.clone(), r.v2_path()), (None, "myname/app".to_string()));
        let (r, tag) = split("localhost:5000/x:1.0", None).unwrap();
        assert_eq!((r.local.as_str(), tag.as_deref()), ("localhost:5000/x", Some("1.0")));
        assert!(split("Bad Name", None).is_err());
    }
}
