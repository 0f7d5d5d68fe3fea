use super::*;
use crate::archive::testutil::*;
use crate::archive::{decompressed, write_tree, TreeOptions};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

mod hostile;

fn overlay() -> ApplyOptions {
    ApplyOptions::default()
}

fn in_place() -> ApplyOptions {
    ApplyOptions { whiteouts: Whiteouts::Apply, same_owner: true }
}

fn apply(tar: &[u8], root: &Path, opts: &ApplyOptions) -> Result<ApplyStats, ArchiveError> {
    apply_layer(Cursor::new(tar), root, opts)
}

fn tree_tar(root: &Path) -> Vec<u8> {
    let mut tar = Vec::new();
    let opts = TreeOptions { include_root: true, ..TreeOptions::default() };
    write_tree(root, &mut tar, &opts).unwrap();
    tar
}

fn sha256_id(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[test]
fn a_written_tree_applies_back_identical_in_both_modes() {
    let src = tempfile::tempdir().unwrap();
    rich_tree(src.path());
    let tar = tree_tar(src.path());
    for opts in [overlay(), in_place()] {
        let dst = tempfile::tempdir().unwrap();
        let stats = apply(&tar, dst.path(), &opts).unwrap();
        assert_same_tree(&snapshot(src.path()), &snapshot(dst.path()));
        assert_eq!(stats.bytes, tar.len() as u64);
        assert_eq!(stats.diff_id, sha256_id(&tar));
    }
}

#[test]
fn stats_count_entries_and_bytes() {
    let tar = RawTar::new().dir("a").file("a/f", b"12345").finish();
    let dst = tempfile::tempdir().unwrap();
    let stats = apply(&tar, dst.path(), &overlay()).unwrap();
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.bytes, tar.len() as u64);
    assert_eq!(stats.diff_id, sha256_id(&tar));
}

#[test]
fn the_diff_id_covers_trailing_padding() {
    let mut tar = RawTar::new().file("f", b"x").finish();
    tar.extend_from_slice(&[0; 8192]);
    let dst = tempfile::tempdir().unwrap();
    let stats = apply(&tar, dst.path(), &overlay()).unwrap();
    assert_eq!(stats.bytes, tar.len() as u64);
    assert_eq!(stats.diff_id, sha256_id(&tar));
}

#[test]
fn every_compression_applies() {
    let src = tempfile::tempdir().unwrap();
    rich_tree(src.path());
    let tar = tree_tar(src.path());
    for c in ALL_COMPRESSIONS {
        let dst = tempfile::tempdir().unwrap();
        let stream = decompressed(Cursor::new(compress(c, &tar))).unwrap();
        let stats = apply_layer(stream, dst.path(), &overlay()).unwrap();
        assert_eq!(stats.diff_id, sha256_id(&tar), "{c:?}");
        assert_same_tree(&snapshot(src.path()), &snapshot(dst.path()));
    }
}

#[test]
fn applying_twice_replaces_what_is_there() {
    let src = tempfile::tempdir().unwrap();
    rich_tree(src.path());
    let tar = tree_tar(src.path());
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &in_place()).unwrap();
    apply(&tar, dst.path(), &in_place()).unwrap();
    assert_same_tree(&snapshot(src.path()), &snapshot(dst.path()));
}

#[test]
fn overlay_whiteouts_become_devices_and_opaque_xattrs() {
    let tar = RawTar::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"n")
        .file(".wh..wh.plnk", b"")
        .finish();
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let gone = fs::symlink_metadata(dst.path().join("a/gone")).unwrap();
    assert!(gone.file_type().is_char_device());
    assert_eq!(gone.rdev(), 0);
    let opaque = xattr::get(dst.path().join("b"), OVERLAY_OPAQUE_XATTR).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert!(dst.path().join("b/new").is_file());
    assert!(!dst.path().join(".wh..wh.plnk").exists());
    assert!(!dst.path().join("a/.wh.gone").exists());
}

#[test]
fn apply_mode_removes_whited_out_paths_and_empties_opaque_dirs() {
    let dst = tempfile::tempdir().unwrap();
    let root = dst.path();
    for dir in ["a", "b/olddir", "c/deep"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    for file in ["a/gone", "a/keep", "b/old", "b/olddir/x", "c/deep/y"] {
        fs::write(root.join(file), "lower").unwrap();
    }
    let tar = RawTar::new()
        .file("a/.wh.gone", b"")
        .file("b/early", b"written before the marker")
        .dir("b/sub")
        .file("b/sub/f", b"")
        .file("b/.wh..wh..opq", b"")
        .file("b/new", b"n")
        .file(".wh.c", b"")
        .file("missing/.wh.nothing", b"")
        .finish();
    apply(&tar, root, &in_place()).unwrap();
    assert!(!root.join("a/gone").exists());
    assert!(root.join("a/keep").exists());
    let mut b: Vec<_> =
        fs::read_dir(root.join("b")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    b.sort();
    assert_eq!(b, ["early", "new", "sub"]);
    assert!(root.join("b/sub/f").exists());
    assert!(!root.join("c").exists());
    assert!(!root.join("missing").exists());
}

#[test]
fn entries_replace_existing_files_of_another_type() {
    let dst = tempfile::tempdir().unwrap();
    let root = dst.path();
    fs::create_dir_all(root.join("x/inner")).unwrap();
    fs::write(root.join("y"), "file").unwrap();
    fs::create_dir(root.join("d")).unwrap();
    fs::write(root.join("d/old"), "kept").unwrap();
    std::os::unix::fs::symlink("/nowhere", root.join("l")).unwrap();
    let tar = RawTar::new()
        .file("x", b"now a file")
        .dir("y")
        .file("y/z", b"")
        .dir("d")
        .file("d/new", b"")
        .file("l", b"no longer a symlink")
        .finish();
    apply(&tar, root, &in_place()).unwrap();
    assert_eq!(fs::read(root.join("x")).unwrap(), b"now a file");
    assert!(root.join("y/z").is_file());
    assert!(root.join("d/old").is_file() && root.join("d/new").is_file());
    assert!(fs::symlink_metadata(root.join("l")).unwrap().is_file());
}

#[test]
fn missing_parents_are_created_root_owned_0755() {
    let tar = RawTar::new().file("a/b/c/file", b"deep").finish();
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let meta = fs::metadata(dst.path().join("a/b")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert_eq!(fs::read(dst.path().join("a/b/c/file")).unwrap(), b"deep");
}

#[test]
fn dot_entries_and_prefixes_are_accepted() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut root = tar::Header::new_gnu();
    root.set_entry_type(EntryType::Directory);
    root.set_mode(0o711);
    root.set_mtime(1_234_567_890);
    root.set_size(0);
    tar.append_data(&mut root, "./", io::empty()).unwrap();
    let mut file = tar::Header::new_gnu();
    file.set_mode(0o600);
    file.set_size(2);
    tar.append_data(&mut file, "./etc/hosts", &b"hi"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let meta = fs::metadata(dst.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o711);
    assert_eq!(meta.mtime(), 1_234_567_890);
    assert_eq!(fs::read(dst.path().join("etc/hosts")).unwrap(), b"hi");
}

#[test]
fn directory_times_survive_their_contents() {
    let tar = RawTar::new().dir("d").file("d/a", b"").file("d/b", b"").finish();
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    assert_eq!(fs::metadata(dst.path().join("d")).unwrap().mtime(), 1_600_000_000);
}

#[test]
fn pax_times_and_xattrs_are_applied_but_not_overlay_xattrs() {
    let mut tar = tar::Builder::new(Vec::new());
    let records: [(&str, &[u8]); 4] = [
        ("mtime", b"1700000000.25"),
        ("atime", b"1700000100.5"),
        ("SCHILY.xattr.user.kept", b"v"),
        ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
    ];
    tar.append_pax_extensions(records).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(0);
    tar.append_data(&mut header, "f", io::empty()).unwrap();
    let tar = tar.into_inner().unwrap();
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let f = dst.path().join("f");
    let meta = fs::metadata(&f).unwrap();
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_700_000_000, 250_000_000));
    assert_eq!((meta.atime(), meta.atime_nsec()), (1_700_000_100, 500_000_000));
    assert_eq!(xattr::get(&f, "user.kept").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(xattr::get(&f, "trusted.overlay.redirect").unwrap(), None);
}

#[test]
fn pax_time_parsing() {
    assert_eq!(pax_time(b"12"), Some(TimeSpec::new(12, 0)));
    assert_eq!(pax_time(b"12.5"), Some(TimeSpec::new(12, 500_000_000)));
    assert_eq!(pax_time(b"12.1234567891"), Some(TimeSpec::new(12, 123_456_789)));
    assert_eq!(pax_time(b"-1.25"), Some(TimeSpec::new(-2, 750_000_000)));
    assert_eq!(pax_time(b"x"), None);
    assert_eq!(pax_time(b"1.x"), None);
    assert_eq!(pax_time(b"1.-5"), None);
}

#[test]
fn without_same_owner_files_belong_to_the_caller() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_uid(1234);
    header.set_gid(5678);
    header.set_size(0);
    tar.append_data(&mut header, "f", io::empty()).unwrap();
    let tar = tar.into_inner().unwrap();
    let opts = ApplyOptions { whiteouts: Whiteouts::Overlay, same_owner: false };
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &opts).unwrap();
    let meta = fs::metadata(dst.path().join("f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let dst = tempfile::tempdir().unwrap();
    apply(&tar, dst.path(), &overlay()).unwrap();
    let meta = fs::metadata(dst.path().join("f")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
}

#[test]
fn hard_links_reach_files_already_in_the_root() {
    let dst = tempfile::tempdir().unwrap();
    fs::create_dir(dst.path().join("lib")).unwrap();
    fs::write(dst.path().join("lib/libc.so"), "elf").unwrap();
    let tar = RawTar::new().hardlink("libc-link", "lib/libc.so").hardlink("lib/libc.so", "./lib/libc.so").finish();
    apply(&tar, dst.path(), &in_place()).unwrap();
    let a = fs::metadata(dst.path().join("lib/libc.so")).unwrap();
    let b = fs::metadata(dst.path().join("libc-link")).unwrap();
    assert_eq!(a.ino(), b.ino());
}

#[test]
fn a_missing_hard_link_target_is_an_error_naming_the_entry() {
    let tar = RawTar::new().hardlink("l", "nothing/here").finish();
    let dst = tempfile::tempdir().unwrap();
    let err = apply(&tar, dst.path(), &overlay()).unwrap_err();
    assert!(err.to_string().contains("\"l\""), "{err}");
}

#[test]
fn unsupported_entry_types_are_errors() {
    let tar = RawTar::new().entry(b"weird", EntryType::new(b'Z'), b"", b"").finish();
    let dst = tempfile::tempdir().unwrap();
    let err = apply(&tar, dst.path(), &overlay()).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsupportedType { kind: 'Z', .. }), "{err}");
}

#[test]
fn an_empty_stream_is_an_empty_layer() {
    let dst = tempfile::tempdir().unwrap();
    let stats = apply(b"", dst.path(), &overlay()).unwrap();
    assert_eq!((stats.entries, stats.bytes), (0, 0));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let dst = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 256) as u8).collect();
    assert!(apply(&garbage, dst.path(), &overlay()).is_err());
}
