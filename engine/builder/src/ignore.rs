//! `.dockerignore` patterns and the glob matching they and `ADD`/`COPY` sources share: Go's
//! `filepath.Match` (`*`, `?`, `[...]`, `\` escapes) plus `**` for any number of directories,
//! with `!` exceptions where the last matching pattern wins, as moby reads them.

/// The parsed patterns of a `.dockerignore` file.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<(String, bool)>,
}

impl Ignore {
    /// Reads the file's text: one pattern a line, `#` comments, blank lines skipped.
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (negated, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                (clean(pattern), negated)
            })
            .filter(|(p, _)| !p.is_empty())
            .collect();
        Ignore { patterns }
    }

    /// Whether a context path (relative, `/`-separated) is left out: a pattern matches the
    /// path or one of its parent directories.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        for (pattern, negated) in &self.patterns {
            if excluded != *negated {
                continue;
            }
            let hit = glob_match(pattern, &path) || parents(&path).any(|parent| glob_match(pattern, parent));
            if hit {
                excluded = !*negated;
            }
        }
        excluded
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `a/b/c` gives `a` and `a/b`.
fn parents(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

pub use berth_image::fsutil::clean_relative as clean;

/// Matches a whole `/`-separated path against a pattern.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    matches(&p, &s)
}

fn matches(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            // `**/` also matches no directory at all.
            let rest = &p[2..];
            let after_slash = rest.strip_prefix(&['/']).unwrap_or(rest);
            if rest.first() == Some(&'/') && matches(after_slash, s) {
                return true;
            }
            (0..=s.len()).any(|i| matches(rest, &s[i..]))
        }
        Some('*') => {
            let rest = &p[1..];
            for i in 0..=s.len() {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if s.get(i) == Some(&'/') {
                    break;
                }
            }
            false
        }
        Some('?') => s.first().is_some_and(|c| *c != '/') && matches(&p[1..], &s[1..]),
        Some('[') => match (class(&p[1..]), s.first()) {
            (Some((hit, used)), Some(c)) if *c != '/' => hit(*c) && matches(&p[1 + used..], &s[1..]),
            _ => false,
        },
        Some('\\') if p.len() > 1 => s.first() == Some(&p[1]) && matches(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && matches(&p[1..], &s[1..]),
    }
}

type ClassTest = Box<dyn Fn(char) -> bool>;

/// A `[...]` class after its `[`: the test and how many pattern characters it used.
fn class(p: &[char]) -> Option<(ClassTest, usize)> {
    let (negated, start) = match p.first() {
        Some('^') | Some('!') => (true, 1),
        _ => (false, 0),
    };
    let end = start + p[start..].iter().skip(1).position(|c| *c == ']')? + 1;
    let body: Vec<char> = p[start..end].to_vec();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let lo = body[i];
        if body.get(i + 1) == Some(&'-') && i + 2 < body.len() {
            ranges.push((lo, body[i + 2]));
            i += 3;
        } else {
            ranges.push((lo, lo));
            i += 1;
        }
    }
    let test = move |c: char| ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != negated;
    Some((Box::new(test), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_go_rules() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "dir/a.txt"));
        assert!(glob_match("*/a.txt", "dir/a.txt"));
        assert!(glob_match("**/a.txt", "a.txt"));
        assert!(glob_match("**/a.txt", "x/y/a.txt"));
        assert!(glob_match("a?c", "abc"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("dir/**", "dir/x/y"));
    }

    #[test]
    fn dockerignore_excludes_paths_and_their_contents() {
        let ignore = Ignore::parse("# comment\n*.log\n/secret\ndocs\n!docs/keep.md\n");
        assert!(ignore.excludes("app.log"));
        assert!(!ignore.excludes("sub/app.log"));
        assert!(ignore.excludes("secret/key"));
        assert!(ignore.excludes("docs/other.md"));
        assert!(!ignore.excludes("docs/keep.md"));
        assert!(!ignore.excludes("main.c"));
    }
}

/// Visits every path under `dir`, relative to it with `/` separators, sorted, parents before
/// their contents; symlinks are reported, not followed. The build context's tar (the CLI) and
/// `ADD`/`COPY` sources (the builder) walk a directory the same way.
pub fn walk(dir: &std::path::Path, visit: &mut dyn FnMut(&str, &std::fs::Metadata)) -> std::io::Result<()> {
    walk_under(dir, "", visit)
}

fn walk_under(
    dir: &std::path::Path,
    prefix: &str,
    visit: &mut dyn FnMut(&str, &std::fs::Metadata),
) -> std::io::Result<()> {
    let read =
        std::fs::read_dir(dir).map_err(|e| std::io::Error::new(e.kind(), format!("read {}: {e}", dir.display())))?;
    let mut entries: Vec<_> = read.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        visit(&rel, &meta);
        if meta.is_dir() {
            walk_under(&entry.path(), &format!("{rel}/"), visit)?;
        }
    }
    Ok(())
}
