use super::*;
use crate::archive::testutil::*;
use crate::archive::{apply_layer, ApplyOptions, Whiteouts};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};

fn tree_tar(root: &Path, opts: &TreeOptions) -> Vec<u8> {
    let mut tar = Vec::new();
    let size = write_tree(root, &mut tar, opts).unwrap();
    assert_eq!(size, tar.len() as u64);
    tar
}

fn names(tar: &[u8]) -> Vec<String> {
    entry_names(tar).into_iter().map(|(name, _)| name).collect()
}

fn small_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("b/c")).unwrap();
    fs::write(dir.path().join("b/c/f"), "f").unwrap();
    fs::write(dir.path().join("a"), "a").unwrap();
    fs::write(dir.path().join("b/-dash"), "").unwrap();
    dir
}

#[test]
fn entries_are_sorted_with_directories_before_their_contents() {
    let dir = small_tree();
    let tar = tree_tar(dir.path(), &TreeOptions::default());
    assert_eq!(names(&tar), ["a", "b/", "b/-dash", "b/c/", "b/c/f"]);
}

#[test]
fn the_root_entry_and_rebase_prefix_names() {
    let dir = small_tree();
    let opts = TreeOptions { include_root: true, ..TreeOptions::default() };
    assert_eq!(names(&tree_tar(dir.path(), &opts))[..2], ["./", "a"]);
    let opts = TreeOptions { include_root: true, rebase: Some("rootfs".into()), ..TreeOptions::default() };
    assert_eq!(names(&tree_tar(dir.path(), &opts))[..3], ["rootfs/", "rootfs/a", "rootfs/b/"]);
}

#[test]
fn a_single_path_is_named_from_its_base_name() {
    let dir = small_tree();
    let only = |only: &str, rebase: Option<&str>| TreeOptions {
        only: Some(only.into()),
        rebase: rebase.map(String::from),
        include_root: false,
    };
    assert_eq!(names(&tree_tar(dir.path(), &only("/b/c/f", None))), ["f"]);
    assert_eq!(names(&tree_tar(dir.path(), &only("b/c/f", Some("g")))), ["g"]);
    assert_eq!(names(&tree_tar(dir.path(), &only("/b/c", None))), ["c/", "c/f"]);
    assert_eq!(names(&tree_tar(dir.path(), &only("b/c/", Some("d")))), ["d/", "d/f"]);
    assert_eq!(names(&tree_tar(dir.path(), &only("/", None)))[..2], ["./", "a"]);
}

#[test]
fn a_single_path_through_a_symlink_or_above_the_root_is_an_error() {
    let dir = small_tree();
    symlink("/etc", dir.path().join("evil")).unwrap();
    for path in ["evil/passwd", "../x", "b/../../x"] {
        let opts = TreeOptions { only: Some(path.into()), ..TreeOptions::default() };
        let err = write_tree(dir.path(), Vec::new(), &opts).unwrap_err();
        assert!(err.to_string().contains(path), "{err}");
    }
}

#[test]
fn hard_links_are_written_once_then_linked() {
    let dir = tempfile::tempdir().unwrap();
    rich_tree(dir.path());
    let tar = tree_tar(dir.path(), &TreeOptions::default());
    let mut archive = tar::Archive::new(&tar[..]);
    let mut links = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        if name.starts_with("data/") && name != "data/" {
            let target = entry.link_name().unwrap().map(|l| l.display().to_string());
            links.push((name, entry.header().entry_type(), target));
        }
    }
    assert_eq!(
        links,
        [
            ("data/a".into(), EntryType::Regular, None),
            ("data/b".into(), EntryType::Link, Some("data/a".into())),
            ("data/c".into(), EntryType::Link, Some("data/a".into())),
        ]
    );
}

#[test]
fn xattrs_are_pax_records_but_overlay_ones_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    xattr::set(dir.path().join("d"), "user.kept", b"1").unwrap();
    xattr::set(dir.path().join("d"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
    let tar = tree_tar(dir.path(), &TreeOptions::default());
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entries = archive.entries().unwrap();
    let mut entry = entries.next().unwrap().unwrap();
    let keys: Vec<String> =
        entry.pax_extensions().unwrap().unwrap().map(|r| r.unwrap().key().unwrap().to_string()).collect();
    assert_eq!(keys, ["SCHILY.xattr.user.kept"]);
    // Outside diff_overlay, an opaque xattr is not turned into a marker either.
    assert!(entries.next().is_none());
}

#[test]
fn sockets_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    fs::write(dir.path().join("z"), "").unwrap();
    assert_eq!(names(&tree_tar(dir.path(), &TreeOptions::default())), ["z"]);
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let err = write_tree(Path::new("/nonexistent/berth"), Vec::new(), &TreeOptions::default()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/berth"), "{err}");
}

#[test]
fn diff_overlay_turns_overlay_whiteouts_into_docker_entries() {
    let base = tempfile::tempdir().unwrap();
    let (lower, upper, merged) = overlay_scenario(base.path());
    let mut tar = Vec::new();
    let digest = diff_overlay(&upper, &mut tar).unwrap();
    assert_eq!(digest.size, tar.len() as u64);
    let hex: String = Sha256::digest(&tar).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digest.diff_id, format!("sha256:{hex}"));
    assert_eq!(
        names(&tar),
        [".wh.delete-me", "modify", "new", "replace/", "replace/.wh..wh..opq", "replace/c", "sub/", "sub/.wh.x",]
    );
    let mut again = Vec::new();
    diff_overlay(&upper, &mut again).unwrap();
    assert_eq!(tar, again, "diff_overlay must be deterministic");

    // Applied on a copy of the lower layer, the layer gives the merged view.
    let copy = tempfile::tempdir().unwrap();
    let lower_tar = tree_tar(&lower, &TreeOptions::default());
    let vfs = ApplyOptions { whiteouts: Whiteouts::Apply, same_owner: true };
    apply_layer(Cursor::new(lower_tar), copy.path(), &vfs).unwrap();
    apply_layer(Cursor::new(&tar), copy.path(), &vfs).unwrap();
    let (mut want, mut got) = (merged, snapshot(copy.path()));
    want.remove("");
    got.remove("");
    assert_same_tree(&want, &got);

    // Extracted for the overlay driver, it gives the upper directory's whiteouts back.
    let layer = tempfile::tempdir().unwrap();
    apply_layer(Cursor::new(&tar), layer.path(), &ApplyOptions::default()).unwrap();
    for whiteout in ["delete-me", "sub/x"] {
        let meta = fs::symlink_metadata(layer.path().join(whiteout)).unwrap();
        assert!(meta.file_type().is_char_device() && meta.rdev() == 0, "{whiteout}");
    }
    let opaque = xattr::get(layer.path().join("replace"), OVERLAY_OPAQUE_XATTR).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read(layer.path().join("replace/c")).unwrap(), b"c");
}

/// One path of a random tree: components from a small alphabet so paths collide and nest.
fn arb_entry() -> impl Strategy<Value = (Vec<&'static str>, u8, Vec<u8>, u32)> {
    (
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "d.e", "ü"]), 1..4),
        0u8..4,
        prop::collection::vec(any::<u8>(), 0..300),
        prop::sample::select(vec![0o644, 0o755, 0o600, 0o4755, 0o1777, 0o000]),
    )
}

/// Builds a tree from random entries, skipping the ones whose place is taken.
fn build(root: &Path, entries: &[(Vec<&'static str>, u8, Vec<u8>, u32)]) {
    use std::os::unix::fs::PermissionsExt;
    for (components, kind, content, mode) in entries {
        let path = components.iter().fold(root.to_path_buf(), |p, c| p.join(c));
        if fs::symlink_metadata(&path).is_ok() || fs::create_dir_all(path.parent().unwrap()).is_err() {
            continue;
        }
        match kind {
            0 => fs::write(&path, content).unwrap(),
            1 => fs::create_dir(&path).unwrap(),
            2 => symlink(String::from_utf8_lossy(content).replace(['\0', '/'], "_") + "t", &path).unwrap(),
            _ => {
                let first = root.join("first");
                if !first.exists() {
                    fs::write(&first, content).unwrap();
                }
                fs::hard_link(&first, &path).unwrap();
            }
        }
        if *kind < 2 {
            fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
        }
    }
    set_all_times(root);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_trees_round_trip(entries in prop::collection::vec(arb_entry(), 0..24)) {
        let src = tempfile::tempdir().unwrap();
        build(src.path(), &entries);
        let opts = TreeOptions { include_root: true, ..TreeOptions::default() };
        let tar = tree_tar(src.path(), &opts);
        for whiteouts in [Whiteouts::Overlay, Whiteouts::Apply] {
            let dst = tempfile::tempdir().unwrap();
            let apply = ApplyOptions { whiteouts, same_owner: true };
            apply_layer(Cursor::new(&tar), dst.path(), &apply).unwrap();
            assert_same_tree(&snapshot(src.path()), &snapshot(dst.path()));
        }
    }
}
