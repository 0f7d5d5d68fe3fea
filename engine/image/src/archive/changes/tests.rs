use super::*;
use crate::archive::testutil::*;
use crate::archive::{apply_layer, write_tree, ApplyOptions, TreeOptions, Whiteouts};
use nix::sys::stat::SFlag;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{symlink, PermissionsExt};

fn vfs() -> ApplyOptions {
    ApplyOptions { whiteouts: Whiteouts::Apply, same_owner: true }
}

/// `dst` becomes an exact copy of `src`, times included.
fn copy_tree(src: &Path, dst: &Path) {
    let mut tar = Vec::new();
    let opts = TreeOptions { include_root: true, ..TreeOptions::default() };
    write_tree(src, &mut tar, &opts).unwrap();
    apply_layer(Cursor::new(tar), dst, &vfs()).unwrap();
}

fn listing(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            let letter = match c.kind {
                ChangeKind::Modified => 'C',
                ChangeKind::Added => 'A',
                ChangeKind::Deleted => 'D',
            };
            format!("{letter} {}", c.path)
        })
        .collect()
}

/// An image tree and a container tree made from it with one change of every kind.
fn image_and_container() -> (tempfile::TempDir, tempfile::TempDir) {
    let image = tempfile::tempdir().unwrap();
    let i = image.path();
    for dir in ["etc", "bin", "var/log/old", "usr/share/doc"] {
        fs::create_dir_all(i.join(dir)).unwrap();
    }
    for file in ["etc/passwd", "etc/hosts", "bin/busybox", "var/log/old/a.log", "usr/share/doc/x"] {
        fs::write(i.join(file), format!("image {file}")).unwrap();
    }
    symlink("busybox", i.join("bin/sh")).unwrap();
    set_all_times(i);
    let container = tempfile::tempdir().unwrap();
    let c = container.path();
    copy_tree(i, c);
    fs::write(c.join("etc/passwd"), "a longer passwd than before").unwrap();
    fs::write(c.join("etc/new"), "new").unwrap();
    fs::remove_file(c.join("bin/sh")).unwrap();
    symlink("other", c.join("bin/sh")).unwrap();
    xattr::set(c.join("bin/busybox"), "user.x", b"1").unwrap();
    fs::remove_dir_all(c.join("var/log/old")).unwrap();
    fs::set_permissions(c.join("usr/share/doc/x"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::create_dir_all(c.join("opt/app/bin")).unwrap();
    fs::write(c.join("opt/app/bin/tool"), "tool").unwrap();
    (image, container)
}

const EXPECTED: [&str; 17] = [
    "C /bin",
    "C /bin/busybox",
    "C /bin/sh",
    "C /etc",
    "A /etc/new",
    "C /etc/passwd",
    "A /opt",
    "A /opt/app",
    "A /opt/app/bin",
    "A /opt/app/bin/tool",
    "C /usr",
    "C /usr/share",
    "C /usr/share/doc",
    "C /usr/share/doc/x",
    "C /var",
    "C /var/log",
    "D /var/log/old",
];

#[test]
fn changes_dirs_lists_what_docker_diff_lists() {
    let (image, container) = image_and_container();
    let changes = changes_dirs(image.path(), container.path()).unwrap();
    assert_eq!(listing(&changes), EXPECTED);
}

#[test]
fn identical_trees_have_no_changes() {
    let image = tempfile::tempdir().unwrap();
    rich_tree(image.path());
    let container = tempfile::tempdir().unwrap();
    copy_tree(image.path(), container.path());
    assert_eq!(listing(&changes_dirs(image.path(), container.path()).unwrap()), [""; 0]);
}

#[test]
fn content_changes_with_the_same_metadata_are_not_seen_as_docker() {
    let image = tempfile::tempdir().unwrap();
    fs::write(image.path().join("f"), "aaaa").unwrap();
    set_all_times(image.path());
    let container = tempfile::tempdir().unwrap();
    copy_tree(image.path(), container.path());
    fs::write(container.path().join("f"), "bbbb").unwrap();
    set_mtime(&container.path().join("f"), 1_500_001_000);
    assert!(changes_dirs(image.path(), container.path()).unwrap().is_empty());
}

#[test]
fn a_type_change_is_a_modification_and_new_contents_are_added() {
    let image = tempfile::tempdir().unwrap();
    fs::create_dir(image.path().join("was-dir")).unwrap();
    fs::write(image.path().join("was-dir/x"), "").unwrap();
    fs::write(image.path().join("was-file"), "").unwrap();
    let container = tempfile::tempdir().unwrap();
    copy_tree(image.path(), container.path());
    let c = container.path();
    fs::remove_dir_all(c.join("was-dir")).unwrap();
    fs::write(c.join("was-dir"), "").unwrap();
    fs::remove_file(c.join("was-file")).unwrap();
    fs::create_dir(c.join("was-file")).unwrap();
    fs::write(c.join("was-file/y"), "").unwrap();
    let changes = changes_dirs(image.path(), c).unwrap();
    assert_eq!(listing(&changes), ["C /was-dir", "C /was-file", "A /was-file/y"]);
}

#[test]
fn diff_dirs_writes_the_changes_as_a_layer() {
    let (image, container) = image_and_container();
    let mut tar = Vec::new();
    let digest = diff_dirs(image.path(), container.path(), &mut tar).unwrap();
    assert_eq!(digest.size, tar.len() as u64);
    assert!(digest.diff_id.starts_with("sha256:") && digest.diff_id.len() == 71);
    let names: Vec<String> = entry_names(&tar).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "bin/",
            "bin/busybox",
            "bin/sh",
            "etc/",
            "etc/new",
            "etc/passwd",
            "opt/",
            "opt/app/",
            "opt/app/bin/",
            "opt/app/bin/tool",
            "usr/",
            "usr/share/",
            "usr/share/doc/",
            "usr/share/doc/x",
            "var/",
            "var/log/",
            "var/log/.wh.old",
        ]
    );
    // The image with the layer applied is the container.
    let rebuilt = tempfile::tempdir().unwrap();
    copy_tree(image.path(), rebuilt.path());
    apply_layer(Cursor::new(&tar), rebuilt.path(), &vfs()).unwrap();
    let (mut want, mut got) = (snapshot(container.path()), snapshot(rebuilt.path()));
    want.remove("");
    got.remove("");
    assert_same_tree(&want, &got);
}

#[test]
fn diff_dirs_keeps_hard_links_among_what_it_writes() {
    let image = tempfile::tempdir().unwrap();
    let container = tempfile::tempdir().unwrap();
    fs::write(container.path().join("a"), "x").unwrap();
    fs::hard_link(container.path().join("a"), container.path().join("b")).unwrap();
    let mut tar = Vec::new();
    diff_dirs(image.path(), container.path(), &mut tar).unwrap();
    let entries = entry_names(&tar);
    assert_eq!(entries[1], ("b".to_string(), tar::EntryType::Link));
}

#[test]
fn changes_overlay_reads_a_real_overlay() {
    let base = tempfile::tempdir().unwrap();
    let (lower, upper, _) = overlay_scenario(base.path());
    let changes = changes_overlay(&upper, &[&lower]).unwrap();
    assert_eq!(
        listing(&changes),
        [
            "D /delete-me",
            "C /modify",
            "A /new",
            "C /replace",
            "D /replace/a",
            "D /replace/b",
            "A /replace/c",
            "C /sub",
            "D /sub/x",
        ]
    );
}

#[test]
fn changes_overlay_follows_whiteouts_and_opaque_dirs_of_lower_layers() {
    let base = tempfile::tempdir().unwrap();
    let [bottom, top, upper] = ["bottom", "top", "upper"].map(|d| {
        let p = base.path().join(d);
        fs::create_dir(&p).unwrap();
        p
    });
    fs::create_dir(bottom.join("d")).unwrap();
    for f in ["f1", "d/x", "d/y", "kept"] {
        fs::write(bottom.join(f), "bottom").unwrap();
    }
    // The top lower layer deletes f1 and makes d opaque, with only z in it.
    mknod(&top.join("f1"), SFlag::S_IFCHR, 0, 0);
    fs::create_dir(top.join("d")).unwrap();
    xattr::set(top.join("d"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
    fs::write(top.join("d/z"), "top").unwrap();
    // The container adds f1 and d/x again, changes d/z and the bottom's kept.
    fs::write(upper.join("f1"), "again").unwrap();
    fs::create_dir(upper.join("d")).unwrap();
    fs::write(upper.join("d/x"), "again").unwrap();
    fs::write(upper.join("d/z"), "changed").unwrap();
    fs::write(upper.join("kept"), "changed").unwrap();
    let changes = changes_overlay(&upper, &[&top, &bottom]).unwrap();
    assert_eq!(listing(&changes), ["C /d", "A /d/x", "C /d/z", "A /f1", "C /kept"]);
}

#[test]
fn missing_directories_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = changes_dirs(&missing, dir.path()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let err = changes_overlay(dir.path(), &[&missing]).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
