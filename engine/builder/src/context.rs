//! The build context: the request body unpacked into a directory (a tar, compressed or not),
//! or a Dockerfile alone (`docker build - < Dockerfile`), or a git repository cloned; then the
//! Dockerfile read and the `.dockerignore` exclusions removed.

use crate::ignore::{clean, Ignore};
use crate::BuildError;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// A context on disk, ready for `ADD` and `COPY`.
#[derive(Debug)]
pub struct Context {
    pub dir: PathBuf,
    pub dockerfile: String,
}

/// The Dockerfile name when the request names none.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Unpacks a request body into `dir` (which must exist and be empty).
pub fn from_body<R: Read + Send + 'static>(body: R, dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    let mut body = berth_image::archive::decompressed(body).map_err(BuildError::io("read the build context"))?;
    let mut head = Vec::with_capacity(512);
    (&mut body).take(512).read_to_end(&mut head).map_err(BuildError::io("read the build context"))?;
    if !is_tar(&head) {
        let mut text = head;
        body.read_to_end(&mut text).map_err(BuildError::io("read the Dockerfile"))?;
        let text = String::from_utf8(text).map_err(|_| {
            BuildError::Invalid("the build context is neither a tar archive nor a text Dockerfile".into())
        })?;
        if text.trim().is_empty() {
            return Err(BuildError::Invalid("the Dockerfile (the request body) is empty".into()));
        }
        return Ok(Context { dir: dir.to_path_buf(), dockerfile: text });
    }
    unpack(Cursor::new(head).chain(body), dir)?;
    finish(dir, dockerfile)
}

/// Clones a git repository (`file://`, a local path, or any URL git reaches) into `dir`.
/// A `#ref:subdir` fragment picks the branch or tag and the context directory.
pub fn from_git(url: &str, dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    let (repo, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let mut git = std::process::Command::new("git");
    git.args(["clone", "--quiet", "--recursive"]);
    // Git's dumb http transport cannot make shallow clones.
    if !(repo.starts_with("http://") || repo.starts_with("https://")) {
        git.args(["--depth", "1"]);
    }
    if !reference.is_empty() {
        git.args(["--branch", reference]);
    }
    let repo = repo.strip_prefix("git://").filter(|r| r.starts_with('/')).unwrap_or(repo);
    let output = git
        .arg("--")
        .arg(repo)
        .arg(dir.join("repo"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(BuildError::io("run git"))?;
    if !output.status.success() {
        return Err(BuildError::Invalid(format!(
            "error fetching the git repository {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let root = dir.join("repo").join(clean(subdir));
    let _ = std::fs::remove_dir_all(dir.join("repo/.git"));
    finish(&root, dockerfile)
}

/// Whether a 512-byte block is a tar header: ustar magic, or a valid checksum (old tars).
fn is_tar(head: &[u8]) -> bool {
    if head.len() < 512 {
        return false;
    }
    if &head[257..262] == b"ustar" {
        return true;
    }
    let stored = std::str::from_utf8(&head[148..156])
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok());
    let sum: u32 = head.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { u32::from(*b) }).sum();
    stored == Some(sum)
}

fn unpack(tar: impl Read, dir: &Path) -> Result<(), BuildError> {
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(BuildError::io("read the build context"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BuildError::Invalid(format!("the build context is not a valid tar: {e}")))?;
        // `unpack_in` refuses names that climb out of `dir` (`..`, absolute links).
        entry.unpack_in(dir).map_err(|e| BuildError::Invalid(format!("cannot unpack the build context: {e}")))?;
    }
    Ok(())
}

/// Reads the Dockerfile, then removes what `.dockerignore` leaves out.
fn finish(dir: &Path, dockerfile: &str) -> Result<Context, BuildError> {
    let name = clean(dockerfile);
    let path = dir.join(&name);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) if name == DEFAULT_DOCKERFILE => match std::fs::read(dir.join("dockerfile")) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Err(missing(dockerfile)),
        },
        Err(_) => return Err(missing(dockerfile)),
    };
    if let Ok(patterns) = std::fs::read_to_string(dir.join(".dockerignore")) {
        let ignore = Ignore::parse(&patterns);
        if !ignore.is_empty() {
            remove_ignored(dir, dir, &ignore)?;
        }
    }
    Ok(Context { dir: dir.to_path_buf(), dockerfile: text })
}

fn missing(name: &str) -> BuildError {
    BuildError::Invalid(format!(
        "Cannot locate specified Dockerfile: {name}: the build context has no file of that name"
    ))
}

fn remove_ignored(root: &Path, dir: &Path, ignore: &Ignore) -> Result<(), BuildError> {
    let entries = std::fs::read_dir(dir).map_err(BuildError::io(format!("read {}", dir.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if ignore.excludes(&relative) {
            // An exception (`!dir/keep`) may keep something inside an excluded directory.
            if is_dir {
                remove_ignored(root, &path, ignore)?;
                let _ = std::fs::remove_dir(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        } else if is_dir {
            remove_ignored(root, &path, ignore)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data.as_bytes()).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn a_tar_body_is_unpacked_and_dockerignore_applied() {
        let dir = tempfile::tempdir().unwrap();
        let body =
            tar_of(&[("Dockerfile", "FROM busybox\n"), (".dockerignore", "*.log\n"), ("a.log", "x"), ("b", "y")]);
        let context = from_body(Cursor::new(body), dir.path(), DEFAULT_DOCKERFILE).unwrap();
        assert_eq!(context.dockerfile, "FROM busybox\n");
        assert!(!dir.path().join("a.log").exists());
        assert!(dir.path().join("b").exists());
    }

    #[test]
    fn a_plain_body_is_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let context = from_body(Cursor::new(b"FROM busybox\nRUN true\n".to_vec()), dir.path(), "x").unwrap();
        assert_eq!(context.dockerfile, "FROM busybox\nRUN true\n");
    }

    #[test]
    fn a_missing_dockerfile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = from_body(Cursor::new(tar_of(&[("x", "y")])), dir.path(), "Other.df").unwrap_err();
        assert!(err.to_string().contains("Other.df"), "{err}");
    }
}
