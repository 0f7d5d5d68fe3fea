//! Archives that try to write outside the root: each is refused with an error naming the
//! entry, and nothing beside the root changes.

use super::*;

/// Applies `tar` in both whiteout modes, each into a fresh sandbox prepared by `prepare`,
/// and returns the error messages after checking nothing outside the root changed.
fn refused_in_both_modes(tar: &[u8], prepare: impl Fn(&Sandbox)) -> Vec<String> {
    [overlay(), in_place()]
        .iter()
        .map(|opts| {
            let sandbox = Sandbox::new();
            prepare(&sandbox);
            let result = apply(tar, &sandbox.root, opts);
            sandbox.assert_outside_unchanged();
            match result {
                Err(e) => e.to_string(),
                Ok(stats) => panic!("applied with {opts:?}: {stats:?}"),
            }
        })
        .collect()
}

fn assert_refused(tar: &[u8], entry: &str) {
    assert_refused_with(tar, entry, |_| {});
}

fn assert_refused_with(tar: &[u8], entry: &str, prepare: impl Fn(&Sandbox)) {
    for message in refused_in_both_modes(tar, prepare) {
        assert!(message.contains(&format!("{entry:?}")), "{message} does not name {entry:?}");
    }
}

#[test]
fn parent_dir_components_are_refused() {
    assert_refused(&RawTar::new().file("../escape", b"x").finish(), "../escape");
    assert_refused(&RawTar::new().file("a/../../x", b"x").finish(), "a/../../x");
    assert_refused(&RawTar::new().dir("..").finish(), "..");
}

#[test]
fn absolute_paths_are_refused() {
    assert_refused(&RawTar::new().file("/abs", b"x").finish(), "/abs");
    assert_refused(&RawTar::new().file("//x/y", b"x").finish(), "//x/y");
}

#[test]
fn escaping_hard_links_are_refused() {
    assert_refused(&RawTar::new().hardlink("l", "/etc/passwd").finish(), "l");
    assert_refused(&RawTar::new().hardlink("l", "../../x").finish(), "l");
    assert_refused(&RawTar::new().hardlink("l", "../sentinel/passwd").finish(), "l");
}

#[test]
fn escaping_relative_symlinks_are_refused_and_absolute_ones_kept() {
    let tar = RawTar::new().symlink("s", "../../..").file("s/x", b"x").finish();
    assert_refused(&tar, "s");
    let tar = RawTar::new().dir("a").symlink("a/s", "../..").finish();
    assert_refused(&tar, "a/s");
    let dst = tempfile::tempdir().unwrap();
    let tar = RawTar::new().dir("bin").symlink("bin/sh", "/bin/busybox").finish();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let target = fs::read_link(dst.path().join("bin/sh")).unwrap();
    assert_eq!(target, Path::new("/bin/busybox"));
}

#[test]
fn entries_through_a_symlink_from_the_archive_are_refused() {
    // Each sandbox's sentinel stands in for /etc: the same code path, without betting the
    // host's /etc/passwd on it.
    for opts in [overlay(), in_place()] {
        let sandbox = Sandbox::new();
        let tar = RawTar::new()
            .symlink("evil", &sandbox.sentinel().display().to_string())
            .file("evil/passwd", b"pwned::0:0::/:/bin/sh\n")
            .finish();
        let err = apply(&tar, &sandbox.root, &opts).unwrap_err().to_string();
        sandbox.assert_outside_unchanged();
        assert!(err.contains("\"evil/passwd\""), "{err}");
    }
    let tar = RawTar::new().symlink("evil", "/etc").dir("evil/berth-test").finish();
    assert_refused(&tar, "evil/berth-test");
    assert!(!Path::new("/etc/berth-test").exists());
}

#[test]
fn entries_through_a_symlink_already_in_the_root_are_refused() {
    let prepare = |s: &Sandbox| std::os::unix::fs::symlink(s.sentinel(), s.root.join("lib")).unwrap();
    let tar = RawTar::new().file("lib/passwd", b"pwned").finish();
    assert_refused_with(&tar, "lib/passwd", prepare);
    let tar = RawTar::new().dir("lib/sub").finish();
    assert_refused_with(&tar, "lib/sub", prepare);
    let tar = RawTar::new().hardlink("stolen", "lib/passwd").finish();
    assert_refused_with(&tar, "stolen", prepare);
    // Whiteouts and opaque markers must not reach through it either.
    let tar = RawTar::new().file("lib/.wh.passwd", b"").finish();
    assert_refused_with(&tar, "lib/.wh.passwd", prepare);
    let tar = RawTar::new().file("lib/.wh..wh..opq", b"").finish();
    assert_refused_with(&tar, "lib/.wh..wh..opq", prepare);
}

#[test]
fn a_symlink_in_the_root_is_replaced_not_followed() {
    let sandbox = Sandbox::new();
    std::os::unix::fs::symlink(sandbox.sentinel().join("passwd"), sandbox.root.join("f")).unwrap();
    let tar = RawTar::new().file("f", b"inside").finish();
    apply(&tar, &sandbox.root, &in_place()).unwrap();
    sandbox.assert_outside_unchanged();
    assert_eq!(fs::read(sandbox.root.join("f")).unwrap(), b"inside");
}

#[test]
fn a_file_then_a_directory_of_the_same_name_is_refused() {
    assert_refused(&RawTar::new().file("x", b"").dir("x").finish(), "x");
    assert_refused(&RawTar::new().dir("x").file("x/y", b"").file("x", b"").finish(), "x");
}

#[test]
fn a_truncated_archive_with_a_huge_size_fails_fast() {
    let start = std::time::Instant::now();
    for present in [0, 100, 5000] {
        let tar = RawTar::new().dir("d").truncated("d/huge", 1 << 40, present);
        let messages = refused_in_both_modes(&tar, |_| {});
        for message in messages {
            assert!(message.contains("d/huge"), "{message}");
        }
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn whiteouts_naming_parents_are_refused() {
    assert_refused(&RawTar::new().file("a/.wh..", b"").finish(), "a/.wh..");
    assert_refused(&RawTar::new().file(".wh.", b"").finish(), ".wh.");
}

#[test]
fn a_non_directory_root_entry_is_refused() {
    assert_refused(&RawTar::new().symlink(".", "/etc").finish(), ".");
    assert_refused(&RawTar::new().file("./", b"").finish(), ".");
}
