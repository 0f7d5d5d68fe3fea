//! The volume store on its own, then volumes through an engine on a temporary graph root
//! (containers created and removed, never started: their mounts are prepared on a stand-in
//! root file system). Tests that mount unmount in a guard, even when they fail.

use super::*;
use crate::containers::mounts::{Kind, MountPoint};
use crate::containers::{Container, ContainerError};
use crate::engine::Engine;
use crate::http::ApiError;
use berth_api::containers::{CreateRequest, HostConfig, MountSpec};
use http::StatusCode;
use std::sync::Arc;

fn store() -> (tempfile::TempDir, Volumes) {
    let dir = tempfile::tempdir().unwrap();
    let volumes = Volumes::open(&dir.path().join("volumes"), Vec::new()).unwrap();
    (dir, volumes)
}

fn named(name: &str) -> NewVolume {
    NewVolume { name: name.into(), ..Default::default() }
}

fn status(e: impl Into<ApiError>) -> StatusCode {
    e.into().status
}

#[test]
fn names_follow_dockers_rule() {
    for good in ["ab", "postgres.etc", "my_vol-1", "0x"] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in ["a", "_ab", ".ab", "-ab", "a/b", "a b", "", "/abs", "ä1"] {
        assert_eq!(status(check_name(bad).unwrap_err()), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn create_keeps_the_first_volume_and_persists_it() {
    let (dir, volumes) = store();
    let labels = BTreeMap::from([("a".to_string(), "b".to_string())]);
    let (v, fresh) = volumes.create(NewVolume { labels: labels.clone(), ..named("data") }).unwrap();
    assert!(fresh && v.created_at.ends_with('Z') && !v.created_at.contains('.'));
    assert!(volumes.data_path("data").is_dir());
    let (again, fresh) = volumes.create(NewVolume { labels: BTreeMap::new(), ..named("data") }).unwrap();
    assert!(!fresh);
    assert_eq!(again.labels, labels);
    let (anonymous, _) = volumes.create(NewVolume::default()).unwrap();
    assert_eq!(anonymous.name.len(), 64);
    let reopened = Volumes::open(&dir.path().join("volumes"), Vec::new()).unwrap();
    assert_eq!(reopened.get("data").unwrap(), v);
    assert_eq!(reopened.list().len(), 2);
}

#[test]
fn unknown_drivers_and_options_are_refused_and_leave_nothing() {
    let (_dir, volumes) = store();
    let e = volumes.create(NewVolume { driver: "nfs-plugin".into(), ..named("x1") }).unwrap_err();
    assert_eq!(status(e), StatusCode::NOT_FOUND);
    let options =
        BTreeMap::from([("type".to_string(), "ext4".to_string()), ("device".to_string(), "/dev/sdz".to_string())]);
    let e = volumes.create(NewVolume { options, ..named("x2") }).unwrap_err();
    assert_eq!(status(e), StatusCode::BAD_REQUEST);
    assert!(volumes.list().is_empty());
    assert_eq!(std::fs::read_dir(volumes.dir.clone()).unwrap().count(), 0);
}

#[test]
fn a_volume_in_use_is_not_removed_even_with_force() {
    let (_dir, volumes) = store();
    volumes.create_for(named("busy"), Some("c1")).unwrap();
    std::fs::write(volumes.data_path("busy").join("keep"), "x").unwrap();
    for force in [false, true] {
        let e = volumes.remove("busy", force).unwrap_err();
        assert_eq!(e.to_string(), "remove busy: volume is in use - [c1]");
        assert_eq!(status(e), StatusCode::CONFLICT);
    }
    assert!(volumes.data_path("busy").join("keep").exists());
    volumes.release("c1");
    assert!(volumes.remove("busy", false).unwrap());
    assert_eq!(status(volumes.remove("busy", false).unwrap_err()), StatusCode::NOT_FOUND);
    assert!(!volumes.remove("busy", true).unwrap());
}

#[test]
fn users_come_back_after_a_restart() {
    let (dir, volumes) = store();
    volumes.create(named("kept")).unwrap();
    drop(volumes);
    let volumes =
        Volumes::open(&dir.path().join("volumes"), vec![("c9".to_string(), vec!["kept".to_string()])]).unwrap();
    assert_eq!(volumes.users("kept"), ["c9"]);
    assert_eq!(status(volumes.remove("kept", false).unwrap_err()), StatusCode::CONFLICT);
}

#[test]
fn events_are_sent_for_create_and_destroy() {
    let (_dir, volumes) = store();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    volumes.on_event(Box::new(move |action, name, _| sink.lock().unwrap().push(format!("{action} {name}"))));
    volumes.create(named("ev")).unwrap();
    volumes.create(named("ev")).unwrap();
    volumes.remove("ev", false).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["create ev", "destroy ev"]);
}

// ---- through an engine -------------------------------------------------------------------

struct Rig {
    dir: tempfile::TempDir,
    engine: Arc<Engine>,
    runtime: tokio::runtime::Runtime,
}

/// An engine on a temporary graph with an empty image `empty:latest` that declares
/// `VOLUME /image-vol`, networking off (fake netlink and firewall).
fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let flags = crate::Flags { graph: Some(graph.display().to_string()), ..Default::default() };
    let config = crate::Config::from_flags(flags).unwrap();
    let images = berth_image::Store::open(&graph, Some("vfs")).unwrap();
    {
        let empty_layer = [0u8; 1024];
        // The layer stays pinned until the image that names it is stored.
        let layer = images.add_layer(None, &mut &empty_layer[..], None).unwrap();
        let image_config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2014-01-01T00:00:00Z",
            "config": {"Cmd": ["true"], "Volumes": {"/image-vol": {}}},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        });
        let image = images.add_image(&serde_json::to_vec(&image_config).unwrap()).unwrap();
        images.tag(&image.id, "empty", "latest", false).unwrap();
    }
    let containers = crate::containers::Containers::open(&graph.join("containers"), &dir.path().join("run")).unwrap();
    let volumes = Volumes::open(&graph.join("volumes"), Vec::new()).unwrap();
    let mut net_config = berth_network::Config::new(graph.join("network"));
    net_config.bridge = berth_network::BridgeMode::Disabled;
    net_config.iptables = false;
    net_config.embedded_dns = false;
    let net = berth_network::Controller::open(
        net_config,
        Arc::new(berth_network::netlink::FakeNetlink::new()),
        Arc::new(berth_network::firewall::FakeFirewall::new()),
        runtime.handle().clone(),
    )
    .unwrap();
    let engine = Arc::new(Engine::new(
        config,
        berth_api::BuildInfo::default(),
        "0".repeat(64),
        images,
        containers,
        "/bin/false".into(),
        net,
        volumes,
    ));
    engine.connect_volume_events();
    Rig { dir, engine, runtime }
}

impl Rig {
    fn create(&self, name: &str, host: HostConfig) -> Result<Container, ContainerError> {
        let request = CreateRequest {
            config: berth_api::container::Config { image: "empty".into(), ..Default::default() },
            host_config: Some(HostConfig { network_mode: "none".into(), ..host }),
            networking_config: None,
        };
        let e = &self.engine;
        let driver = e.images.driver_name();
        crate::containers::create::create(&e.containers, &e.images, Some(name), request, driver, &e.net, &e.volumes)
            .map(|(record, _)| record)
    }

    fn rm(&self, name: &str, volumes: bool) {
        let id = self.engine.containers.resolve(name).unwrap();
        self.runtime.block_on(self.engine.remove_container(&id, false, volumes)).unwrap();
    }

    fn volume_names(&self) -> Vec<String> {
        self.engine.volumes.list().into_iter().map(|v| v.name).collect()
    }

    fn events(&self) -> Vec<String> {
        let (past, _) = self.engine.events.subscribe(Some(0));
        past.iter().filter(|e| e.kind == "volume").map(|e| format!("{} {}", e.action, e.actor.id)).collect()
    }
}

fn binds(list: &[&str]) -> HostConfig {
    HostConfig { binds: Some(list.iter().map(|b| b.to_string()).collect()), ..Default::default() }
}

fn from(list: &[&str]) -> HostConfig {
    HostConfig { volumes_from: Some(list.iter().map(|b| b.to_string()).collect()), ..Default::default() }
}

fn by_destination<'a>(points: &'a [MountPoint], destination: &str) -> &'a MountPoint {
    points.iter().find(|m| m.destination == destination).unwrap_or_else(|| panic!("no mount at {destination}"))
}

#[test]
fn the_data_container_example_of_3_6_chains_through_a_middle_container() {
    let rig = rig();
    let data = rig.create("DATA", binds(&["/var/volume1", "/var/volume2"])).unwrap();
    assert_eq!(data.mount_points.len(), 3, "two from -v, one from the image's VOLUME");
    let client1 = rig.create("client1", from(&["DATA"])).unwrap();
    let client2 = rig.create("client2", from(&["client1:ro"])).unwrap();
    for dest in ["/var/volume1", "/var/volume2", "/image-vol"] {
        let source = by_destination(&data.mount_points, dest);
        assert_eq!(by_destination(&client1.mount_points, dest).name, source.name);
        let chained = by_destination(&client2.mount_points, dest);
        assert_eq!((chained.name.as_str(), chained.rw), (source.name.as_str(), false));
        assert_eq!(rig.engine.volumes.users(&source.name).len(), 3);
    }
    // Removing the data container and the middleman keeps the volumes for client2 (3.6).
    rig.rm("DATA", true);
    rig.rm("client1", true);
    assert_eq!(rig.volume_names().len(), 3);
    rig.rm("client2", true);
    assert!(rig.volume_names().is_empty(), "{:?}", rig.volume_names());
    let destroyed = rig.events().iter().filter(|e| e.starts_with("destroy ")).count();
    assert_eq!(destroyed, 3);
}

#[test]
fn rm_without_v_keeps_volumes_and_named_ones_survive_rm_v() {
    let rig = rig();
    rig.create("a", binds(&["keep:/k", "/anon"])).unwrap();
    rig.rm("a", false);
    assert_eq!(rig.volume_names().len(), 3);
    rig.create("b", binds(&["keep:/k", "/anon2"])).unwrap();
    rig.rm("b", true);
    let left = rig.volume_names();
    assert_eq!(left.len(), 3, "the named volume and a's two anonymous ones stay: {left:?}");
    assert!(left.contains(&"keep".to_string()));
}

#[test]
fn inspect_shapes_of_both_api_versions() {
    let rig = rig();
    let host_dir = rig.dir.path().join("host");
    std::fs::create_dir(&host_dir).unwrap();
    let mut host = binds(&[&format!("{}:/h:ro", host_dir.display()), "cache:/c"]);
    host.mounts = Some(vec![MountSpec { kind: "tmpfs".into(), target: "/t".into(), ..Default::default() }]);
    let record = rig.create("shapes", host).unwrap();
    let shown = crate::containers::mounts::inspect_mounts(&record.mount_points, &rig.engine.volumes);
    let json = serde_json::to_value(&shown).unwrap();
    let cache = json.as_array().unwrap().iter().find(|m| m["Destination"] == "/c").unwrap();
    let data = rig.engine.volumes.data_path("cache").display().to_string();
    assert_eq!(
        cache,
        &serde_json::json!({"Type": "volume", "Name": "cache", "Source": data, "Destination": "/c",
            "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
    );
    let bind = json.as_array().unwrap().iter().find(|m| m["Destination"] == "/h").unwrap();
    assert_eq!(
        (&bind["Type"], &bind["Mode"], &bind["RW"], &bind["Propagation"]),
        (&"bind".into(), &"ro".into(), &false.into(), &"rprivate".into())
    );
    let (paths, rw) = crate::containers::mounts::legacy_volumes(&record.mount_points, &rig.engine.volumes);
    assert_eq!(paths.get("/c"), Some(&data));
    assert_eq!(rw.get("/h"), Some(&false));
    assert!(!paths.contains_key("/t"), "tmpfs mounts are not 2014 volumes");
}

#[test]
fn bad_requests_are_refused_and_lose_nothing() {
    let rig = rig();
    rig.create("holder", binds(&["precious:/p"])).unwrap();
    std::fs::write(rig.engine.volumes.data_path("precious").join("f"), "data").unwrap();
    let before = (rig.volume_names(), rig.engine.containers.list().len());
    let cases: Vec<(HostConfig, StatusCode, &str)> = vec![
        (binds(&["bad/name:/x"]), StatusCode::BAD_REQUEST, "invalid characters"),
        (binds(&["rel:rel"]), StatusCode::BAD_REQUEST, "must be absolute"),
        (binds(&["/a:/b:xx"]), StatusCode::BAD_REQUEST, "invalid mode"),
        (binds(&["/new1", "/x:/new1"]), StatusCode::BAD_REQUEST, "Duplicate mount point"),
        (from(&["nosuch"]), StatusCode::BAD_REQUEST, "No such container: nosuch"),
        (from(&["holder:xx"]), StatusCode::BAD_REQUEST, "invalid mode"),
        (
            HostConfig {
                binds: Some(vec!["/fresh-anon".into()]),
                volumes_from: Some(vec!["holder".into(), "nosuch".into()]),
                ..Default::default()
            },
            StatusCode::BAD_REQUEST,
            "No such container",
        ),
    ];
    for (host, code, wanted) in cases {
        let e = rig.create("bad", host.clone()).unwrap_err();
        assert!(e.to_string().contains(wanted), "{host:?}: {e}");
        assert_eq!(status(e), code, "{host:?}");
    }
    // A clash with an existing container's name fails after the volumes were made: they go.
    let e = rig.create("holder", binds(&["/another"])).unwrap_err();
    assert_eq!(status(e), StatusCode::CONFLICT);
    assert_eq!((rig.volume_names(), rig.engine.containers.list().len()), before);
    let e = rig.engine.volumes.remove("precious", true).unwrap_err();
    assert_eq!(status(e), StatusCode::CONFLICT);
    assert_eq!(std::fs::read_to_string(rig.engine.volumes.data_path("precious").join("f")).unwrap(), "data");
}

#[test]
fn prune_removes_what_no_container_uses_and_honours_labels() {
    let rig = rig();
    rig.create("user", binds(&["used:/u"])).unwrap();
    let labelled = |name: &str, keep: &str| NewVolume {
        labels: BTreeMap::from([("keep".to_string(), keep.to_string())]),
        ..named(name)
    };
    rig.engine.volumes.create(labelled("free1", "no")).unwrap();
    rig.engine.volumes.create(labelled("free2", "yes")).unwrap();
    std::fs::write(rig.engine.volumes.data_path("free1").join("f"), "12345").unwrap();
    let pruned = rig.engine.prune_volumes(|v| v.labels.get("keep").is_some_and(|k| k == "yes"));
    assert_eq!(pruned.names, ["free1"]);
    assert_eq!(pruned.bytes, 5);
    let pruned = rig.engine.prune_volumes(|_| false);
    assert_eq!(pruned.names, ["free2"]);
    assert_eq!(rig.volume_names().len(), 2, "`used` and the image volume of `user` stay");
}

#[test]
fn start_prepares_volumes_with_copy_up_and_stop_announces_unmount() {
    let rig = rig();
    let rootfs = rig.dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("image-vol/sub")).unwrap();
    std::fs::write(rootfs.join("image-vol/sub/f"), "from the image").unwrap();
    let record = rig.create("c", binds(&["nocopy:/image-vol:nocopy"])).unwrap();
    let mounts = rig.engine.container_mounts(&record, &rootfs).unwrap();
    assert!(!rig.engine.volumes.data_path("nocopy").join("sub").exists(), "nocopy copies nothing");
    assert!(mounts.iter().any(|m| m.destination() == "/image-vol"));
    let record = rig.create("d", HostConfig::default()).unwrap();
    rig.engine.container_mounts(&record, &rootfs).unwrap();
    let name = &record.mount_points[0].name;
    let copied = rig.engine.volumes.data_path(name).join("sub/f");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), "from the image");
    rig.engine.volumes_unmounted(&record, true);
    let events = rig.events();
    assert!(events.contains(&format!("mount {name}")) && events.contains(&format!("unmount {name}")), "{events:?}");
}

/// Unmounts a volume's `_data` when dropped, so a failed test leaves no mount behind.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = local::unmount(&self.0);
    }
}

#[test]
fn a_tmpfs_volume_is_mounted_while_used_and_unmounted_after() {
    let rig = rig();
    let options = BTreeMap::from([
        ("type".to_string(), "tmpfs".to_string()),
        ("device".to_string(), "tmpfs".to_string()),
        ("o".to_string(), "size=1m,uid=1000".to_string()),
    ]);
    rig.engine.volumes.create(NewVolume { options, ..named("scratch") }).unwrap();
    let data = rig.engine.volumes.data_path("scratch");
    let _guard = Unmount(data.clone());
    let record = rig.create("t", binds(&["scratch:/s"])).unwrap();
    rig.engine.container_mounts(&record, &rig.dir.path().join("no-rootfs")).unwrap();
    assert!(local::is_mounted(&data));
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = table.lines().find(|l| l.contains(&*data.to_string_lossy())).unwrap();
    assert!(line.contains("tmpfs") && line.contains("uid=1000"), "{line}");
    rig.engine.volumes_unmounted(&record, false);
    assert!(!local::is_mounted(&data));
}

#[test]
fn a_start_time_host_config_resolves_mounts_again_keeping_anonymous_volumes() {
    let rig = rig();
    let record = rig.create("old", HostConfig::default()).unwrap();
    let anonymous = by_destination(&record.mount_points, "/image-vol").name.clone();
    let host_dir = rig.dir.path().join("bound");
    let record = rig
        .engine
        .containers
        .update(&record.id, |c| c.host_config.binds = Some(vec![format!("{}:/b", host_dir.display())]))
        .unwrap();
    rig.engine.container_mounts(&record, &rig.dir.path().join("no-rootfs")).unwrap();
    let record = rig.engine.containers.get("old").unwrap();
    assert_eq!(by_destination(&record.mount_points, "/image-vol").name, anonymous);
    assert_eq!(by_destination(&record.mount_points, "/b").kind, Kind::Bind);
    assert!(host_dir.is_dir(), "a missing -v host directory is created (5.1.29)");
}

#[test]
fn removing_a_bind_volume_never_touches_the_host_directory() {
    let (dir, volumes) = store();
    let host_dir = dir.path().join("host");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::write(host_dir.join("precious"), "keep me").unwrap();
    let options = BTreeMap::from([
        ("type".to_string(), "none".to_string()),
        ("device".to_string(), host_dir.display().to_string()),
        ("o".to_string(), "bind".to_string()),
    ]);
    let (volume, _) = volumes.create(NewVolume { options, ..named("hostbind") }).unwrap();
    let data = volumes.data_path("hostbind");
    let _guard = Unmount(data.clone());
    local::mount_backing(&volume.options, &data).unwrap();
    assert!(data.join("precious").exists());
    assert!(volumes.remove("hostbind", false).unwrap());
    assert!(!local::is_mounted(&data));
    assert_eq!(std::fs::read_to_string(host_dir.join("precious")).unwrap(), "keep me");
}
