//! The image store end to end, on both drivers: layers, images, names, removal, recovery after
//! a crash, save/load, and container roots. Needs root (owners, overlay mounts).

use berth_api::image::{ImageConfig, RootFs};
use berth_image::save;
use berth_image::store::{ContainerUse, Store, StoreError};
use rstest::rstest;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// A layer tar with the given files (path, content).
fn layer(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_400_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, content.as_bytes()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// Stores layers on top of each other and an image config naming them.
fn image(store: &Store, layers: &[Vec<u8>], parent: Option<&str>, created: &str) -> Arc<berth_image::Image> {
    let mut chain: Option<String> = None;
    let mut diff_ids = Vec::new();
    let mut pinned = Vec::new();
    for tar in layers {
        let stored = store.add_layer(chain.as_deref(), &mut &tar[..], None).unwrap();
        diff_ids.push(stored.diff_id.clone());
        chain = Some(stored.chain_id.clone());
        pinned.push(stored);
    }
    let config = ImageConfig {
        created: created.into(),
        architecture: "amd64".into(),
        os: "linux".into(),
        parent: parent.map(|p| format!("sha256:{p}")).unwrap_or_default(),
        rootfs: Some(RootFs { kind: "layers".into(), diff_ids }),
        ..Default::default()
    };
    store.add_image(&serde_json::to_vec(&config).unwrap()).unwrap()
}

fn open(dir: &Path, driver: &str) -> Store {
    Store::open(dir, Some(driver)).unwrap()
}

fn no_use(_: &str) -> Option<ContainerUse> {
    None
}

#[rstest]
fn lookup_by_every_kind_of_name(#[values("vfs", "overlay")] driver: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), driver);
    let img = image(&store, &[layer(&[("a", "1")])], None, "2014-01-01T00:00:00Z");
    store.tag(&img.id, "team/app", "v1", false).unwrap();
    store.tag(&img.id, "base", "latest", false).unwrap();
    for name in ["team/app:v1", "base", "base:latest", &img.id, &img.id[..12], &format!("sha256:{}", img.id)] {
        assert_eq!(store.lookup(name).unwrap().id, img.id, "{name}");
    }
    assert!(matches!(store.lookup("team/app"), Err(StoreError::NoSuchImage(_))), "no latest tag");
    assert!(matches!(store.lookup("nothing"), Err(StoreError::NoSuchImage(_))));
}

#[test]
fn ambiguous_prefixes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(image(&store, &[layer(&[("f", "x")])], None, &format!("2014-01-01T00:00:{i:02}Z")).id.clone());
    }
    let shared = (b'0'..=b'f').map(char::from).find(|c| ids.iter().filter(|i| i.starts_with(*c)).count() > 1).unwrap();
    let err = store.lookup(&shared.to_string()).unwrap_err().to_string();
    assert!(err.contains("ambiguous"), "{err}");
}

#[rstest]
fn a_layer_loaded_twice_at_once_is_stored_once(#[values("vfs", "overlay")] driver: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path(), driver));
    let tar = layer(&[("big", &"x".repeat(1 << 20)), ("small", "y")]);
    // Every loader holds its layer (pinned) until all have loaded and the count is taken.
    let loaded = Arc::new(std::sync::Barrier::new(5));
    let counted = Arc::new(std::sync::Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, tar, loaded, counted) = (store.clone(), tar.clone(), loaded.clone(), counted.clone());
            std::thread::spawn(move || {
                let pinned = store.add_layer(None, &mut &tar[..], None).unwrap();
                loaded.wait();
                counted.wait();
                pinned.chain_id.clone()
            })
        })
        .collect();
    loaded.wait();
    let stored = std::fs::read_dir(dir.path().join(driver).join("layers")).unwrap().count();
    counted.wait();
    let chains: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(chains.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(stored, 1);
    assert_eq!(std::fs::read_dir(dir.path().join(driver).join("tmp")).unwrap().count(), 0, "work dirs left behind");
    assert_eq!(
        std::fs::read_dir(dir.path().join(driver).join("layers")).unwrap().count(),
        0,
        "an unnamed layer outlived its pins"
    );
}

#[test]
fn a_layer_that_does_not_match_its_digest_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = store.add_layer(None, &mut &layer(&[("a", "1")])[..], Some(&wrong)).unwrap_err().to_string();
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path().join("vfs/layers")).unwrap().count(), 0);
}

#[test]
fn leftovers_of_a_crash_are_cleaned_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let img = {
        let store = open(dir.path(), "vfs");
        let img = image(&store, &[layer(&[("a", "1")])], None, "2014-01-01T00:00:00Z");
        store.tag(&img.id, "kept", "latest", false).unwrap();
        img
    };
    let root = dir.path().join("vfs");
    std::fs::create_dir_all(root.join("tmp/work-1-2/diff")).unwrap();
    std::fs::create_dir_all(root.join("layers").join("f".repeat(64)).join("diff")).unwrap();
    std::fs::write(root.join(".repositories.json.tmp-9-9"), "{half").unwrap();
    std::fs::write(root.join("images").join(format!("{}.json", "e".repeat(64))), "not the config of this id").unwrap();
    let store = open(dir.path(), "vfs");
    assert_eq!(store.lookup("kept").unwrap().id, img.id);
    assert!(!root.join("layers").join("f".repeat(64)).exists(), "incomplete layer kept");
    assert!(!root.join(".repositories.json.tmp-9-9").exists());
    assert_eq!(std::fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(root.join("images")).unwrap().count(), 1);
}

#[test]
fn held_layers_outlive_their_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let img = image(&store, &[layer(&[("a", "1")])], None, "2014-01-01T00:00:00Z");
    store.hold("container-1", &img.layers);
    let in_use = |_: &str| Some(ContainerUse { container: "container-1".repeat(6), running: false });
    store.delete(&img.id, true, true, &in_use).unwrap();
    assert!(store.layer_dir(&img.layers[0]).exists(), "a held layer was removed");
    store.unhold("container-1");
    assert!(!store.layer_dir(&img.layers[0]).exists(), "an unneeded layer was kept");
}

#[test]
fn removal_follows_names_children_and_containers() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let base = image(&store, &[layer(&[("a", "1")])], None, "2014-01-01T00:00:00Z");
    let child = image(&store, &[layer(&[("a", "1")]), layer(&[("b", "2")])], Some(&base.id), "2014-01-02T00:00:00Z");
    store.tag(&child.id, "app", "latest", false).unwrap();
    store.tag(&child.id, "other", "latest", false).unwrap();

    let err = store.delete(&child.id[..12], false, true, &no_use).unwrap_err().to_string();
    assert!(err.contains("referenced in multiple repositories"), "{err}");
    let err = store.delete(&base.id, false, true, &no_use).unwrap_err().to_string();
    assert!(err.contains("dependent child images"), "{err}");

    let items = store.delete("app", false, true, &no_use).unwrap();
    assert_eq!(items, [berth_api::image::DeleteItem::Untagged("app:latest".into())]);

    let in_use = |id: &str| (id == child.id).then(|| ContainerUse { container: "c0ffee".repeat(10), running: false });
    let err = store.delete("other", false, true, &in_use).unwrap_err().to_string();
    assert!(err.contains("container c0ffeec0ffee"), "{err}");

    let items = store.delete("other", false, true, &no_use).unwrap();
    let deleted: Vec<_> = items.iter().filter(|i| matches!(i, berth_api::image::DeleteItem::Deleted(_))).collect();
    assert_eq!(deleted.len(), 2, "the untagged parent goes too: {items:?}");
    assert!(store.images().is_empty());
    assert_eq!(std::fs::read_dir(dir.path().join("vfs/layers")).unwrap().count(), 0, "layers released");
}

#[rstest]
fn save_then_load_keeps_ids_names_and_bytes(#[values("vfs", "overlay")] driver: &str) {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(one.path(), driver);
    let img = image(&source, &[layer(&[("a", "1")]), layer(&[("b", "2"), ("c", "3")])], None, "2014-01-01T00:00:00Z");
    source.tag(&img.id, "team/app", "v1", false).unwrap();
    let chosen = save::select(&source, &["team/app".to_string()]).unwrap();
    let mut tar = Vec::new();
    save::save(&source, &chosen, &mut tar).unwrap();

    let target = open(two.path(), driver);
    let loaded = save::load(&target, std::io::Cursor::new(tar)).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].image.id, img.id);
    assert_eq!(loaded[0].names, ["team/app:v1"]);
    for chain in &img.layers {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        source.layer_tar(chain).unwrap().read_to_end(&mut a).unwrap();
        target.layer_tar(chain).unwrap().read_to_end(&mut b).unwrap();
        assert_eq!(a, b, "layer {chain} changed on the way");
    }
}

#[test]
fn legacy_2014_archives_load_as_a_chain_of_images() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let (base_id, top_id) = ("a".repeat(64), "b".repeat(64));
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, data).unwrap();
    };
    add(&format!("{base_id}/json"), format!(r#"{{"id":"{base_id}","created":"2013-03-23T22:24:18Z"}}"#).as_bytes());
    add(&format!("{base_id}/layer.tar"), &layer(&[("etc/base", "b")]));
    add(&format!("{top_id}/json"), format!(r#"{{"id":"{top_id}","parent":"{base_id}","created":"2013-03-24T00:00:00Z","container_config":{{"Cmd":["/bin/sh","-c","touch top"]}}}}"#).as_bytes());
    add(&format!("{top_id}/layer.tar"), &layer(&[("top", "t")]));
    add("repositories", format!(r#"{{"old":{{"latest":"{top_id}"}}}}"#).as_bytes());
    let tar = builder.into_inner().unwrap();
    let loaded = save::load(&store, std::io::Cursor::new(tar)).unwrap();
    let top = store.lookup("old").unwrap();
    assert_eq!(loaded[0].image.id, top.id);
    let parent = store.get(top.parent.as_deref().unwrap()).expect("the parent is an image too");
    assert!(parent.parent.is_none());
    assert_eq!(top.layers.len(), 2);
}

#[test]
fn hostile_archives_are_refused_by_load_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), "vfs");
    let outside = dir.path().join("outside-marker");
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    h.as_gnu_mut().unwrap().name[..24].copy_from_slice(b"../../../outside-marker\0");
    h.set_cksum();
    builder.append(&h, &b"x"[..]).unwrap();
    let tar = builder.into_inner().unwrap();
    let err = save::load(&store, std::io::Cursor::new(tar.clone())).unwrap_err().to_string();
    assert!(err.contains("outside-marker"), "{err}");
    let info = berth_image::import::ImportInfo {
        source: "-",
        message: None,
        engine_version: "test",
        created: "2014-01-01T00:00:00Z".into(),
    };
    let err = berth_image::import::import(&store, std::io::Cursor::new(tar), &info).unwrap_err().to_string();
    assert!(err.contains("outside-marker"), "{err}");
    assert!(!outside.exists());
    assert!(store.images().is_empty());
}

#[rstest]
fn container_roots_union_the_layers_and_keep_them_intact(#[values("vfs", "overlay")] driver: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), driver);
    let img = image(
        &store,
        &[layer(&[("etc/a", "lower"), ("etc/gone", "x")]), layer(&[("etc/b", "upper")])],
        None,
        "2014-01-01T00:00:00Z",
    );
    let rw = dir.path().join("container");
    let layers = store.layer_dirs(&img);
    let root = store.driver().mount(&layers, &rw).unwrap();
    let guard = Unmount(&store, &rw);
    assert_eq!(std::fs::read_to_string(root.join("etc/a")).unwrap(), "lower");
    assert_eq!(std::fs::read_to_string(root.join("etc/b")).unwrap(), "upper");
    std::fs::write(root.join("etc/a"), "changed").unwrap();
    std::fs::write(root.join("new"), "n").unwrap();
    std::fs::remove_file(root.join("etc/gone")).unwrap();
    let mut changes: Vec<String> =
        store.driver().changes(&layers, &rw).unwrap().iter().map(|c| format!("{:?} {}", c.kind, c.path)).collect();
    changes.sort();
    assert_eq!(changes, ["Added /new", "Deleted /etc/gone", "Modified /etc", "Modified /etc/a"]);
    let mut diff = Vec::new();
    store.driver().diff(&layers, &rw, &mut diff).unwrap();
    let names: Vec<String> = tar::Archive::new(&diff[..])
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("etc/.wh.gone")), "{names:?}");
    assert!(names.iter().any(|n| n.trim_end_matches('/') == "new"), "{names:?}");
    drop(guard);
    for layer_dir in &layers {
        assert!(layer_dir.join("etc").exists());
    }
    let lower = store.layer_dir(&img.layers[0]);
    assert_eq!(std::fs::read_to_string(lower.join("etc/a")).unwrap(), "lower", "the image changed");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(&rw.display().to_string()), "left mounted");
}

struct Unmount<'a>(&'a Store, &'a Path);

impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = self.0.driver().unmount(self.1);
    }
}
