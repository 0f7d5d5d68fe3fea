use super::*;
use berth_api::containers::TmpfsOptions;
use rstest::rstest;

fn host(binds: &[&str]) -> HostConfig {
    HostConfig { binds: Some(binds.iter().map(|b| b.to_string()).collect()), ..Default::default() }
}

fn no_containers(name: &str) -> Result<Vec<MountPoint>, ContainerError> {
    Err(ContainerError::Invalid(format!("No such container: {name}")))
}

fn points(planned: &[Planned]) -> Vec<(&str, Kind, &str, bool, &str)> {
    planned
        .iter()
        .map(|p| {
            let m = &p.point;
            (
                m.destination.as_str(),
                m.kind,
                if m.kind == Kind::Bind { m.source.as_str() } else { m.name.as_str() },
                m.rw,
                m.mode.as_str(),
            )
        })
        .collect()
}

#[rstest]
#[case("/data", Kind::Volume, "", true, "")]
#[case("/srv/www:/var/www", Kind::Bind, "/srv/www", true, "")]
#[case("/srv/www:/var/www:ro", Kind::Bind, "/srv/www", false, "ro")]
#[case("/srv/www:/var/www:rw,rshared", Kind::Bind, "/srv/www", true, "rw,rshared")]
#[case("cache:/var/cache", Kind::Volume, "cache", true, "z")]
#[case("cache:/var/cache:ro", Kind::Volume, "cache", false, "ro")]
#[case("postgres.etc:/postgres/etc", Kind::Volume, "postgres.etc", true, "z")]
fn bind_forms(#[case] text: &str, #[case] kind: Kind, #[case] source: &str, #[case] rw: bool, #[case] mode: &str) {
    let p = parse_bind(text).unwrap();
    let shown = if kind == Kind::Bind { p.point.source.as_str() } else { p.point.name.as_str() };
    assert_eq!((p.point.kind, shown, p.point.rw, p.point.mode.as_str()), (kind, source, rw, mode), "{text}");
}

#[rstest]
#[case("rel:rel", "must be absolute")]
#[case("/a:/b:xx", "invalid mode \"xx\"")]
#[case("/a:/b:ro,rw", "invalid mode")]
#[case("bad/name:/x", "includes invalid characters")]
#[case("_x:/x", "includes invalid characters")]
#[case("a:/x", "too short")]
#[case("/a:/", "cannot be /")]
#[case("data", "must be absolute")]
#[case(":/x", "invalid volume specification")]
#[case("/a:/b:c:d", "invalid volume specification")]
#[case("vol:/x:rshared", "propagation mode applies to binds")]
#[case("/a:/x:nocopy", "nocopy applies to volumes")]
fn bad_binds_say_what_is_wrong(#[case] text: &str, #[case] wanted: &str) {
    let e = parse_bind(text).unwrap_err();
    assert!(matches!(e, ContainerError::Invalid(_)), "{text}: {e:?}");
    assert!(e.to_string().contains(wanted), "{text}: {e}");
}

#[test]
fn destinations_are_cleaned() {
    assert_eq!(clean_destination("/a/./b//c/").unwrap(), "/a/b/c");
    assert_eq!(clean_destination("/a/../b").unwrap(), "/b");
    assert!(clean_destination("/..").is_err());
}

#[test]
fn mount_specs_follow_docker_rules() {
    let volume = MountSpec {
        kind: "volume".into(),
        source: "cache".into(),
        target: "/c".into(),
        read_only: true,
        volume_options: Some(serde_json::json!({"NoCopy": true, "Labels": {"k": "v"}, "DriverConfig": {}})),
        ..Default::default()
    };
    let p = parse_mount(&volume).unwrap();
    assert_eq!((p.point.name.as_str(), p.point.rw, p.point.copy_data), ("cache", false, false));
    assert_eq!(p.labels.get("k").map(String::as_str), Some("v"));
    let tmpfs = MountSpec {
        kind: "tmpfs".into(),
        target: "/t".into(),
        tmpfs_options: Some(TmpfsOptions { size_bytes: 2 << 20, mode: 0o1770 }),
        ..Default::default()
    };
    assert_eq!(parse_mount(&tmpfs).unwrap().point.options, "size=2097152,mode=1770");
    let errors = [
        (
            MountSpec { kind: "tmpfs".into(), source: "x".into(), target: "/t".into(), ..Default::default() },
            "Source must not",
        ),
        (MountSpec { kind: "volume".into(), target: "y".into(), ..Default::default() }, "must be absolute"),
        (
            MountSpec { kind: "volume".into(), source: "/abs".into(), target: "/y".into(), ..Default::default() },
            "invalid characters",
        ),
        (
            MountSpec {
                kind: "bind".into(),
                source: "/no/such/dir/here".into(),
                target: "/y".into(),
                ..Default::default()
            },
            "does not exist",
        ),
        (MountSpec { kind: "npipe".into(), target: "/y".into(), ..Default::default() }, "not supported"),
        (
            MountSpec {
                kind: "bind".into(),
                source: "/tmp".into(),
                target: "/y".into(),
                volume_options: Some(serde_json::json!({"NoCopy": true})),
                ..Default::default()
            },
            "VolumeOptions must not",
        ),
    ];
    for (spec, wanted) in errors {
        let e = parse_mount(&spec).unwrap_err();
        assert!(e.to_string().contains(wanted), "{spec:?}: {e}");
    }
}

#[test]
fn volumes_from_takes_lists_and_modes() {
    assert_eq!(
        parse_volumes_from("a, b:ro,c:rw").unwrap(),
        [("a".to_string(), None), ("b".to_string(), Some(false)), ("c".to_string(), Some(true))]
    );
    assert!(parse_volumes_from("a:xx").unwrap_err().to_string().contains("invalid mode \"xx\""));
}

#[test]
fn precedence_volumes_from_then_binds_then_mounts_then_image_volumes() {
    let data = vec![
        MountPoint {
            kind: Kind::Volume,
            destination: "/v1".into(),
            name: "aaa".into(),
            rw: true,
            ..Default::default()
        },
        MountPoint {
            kind: Kind::Volume,
            destination: "/v2".into(),
            name: "bbb".into(),
            rw: true,
            ..Default::default()
        },
    ];
    let mounts_of = |name: &str| if name == "DATA" { Ok(data.clone()) } else { no_containers(name) };
    let mut host = host(&["/srv:/v2"]);
    host.volumes_from = Some(vec!["DATA:ro".into()]);
    host.tmpfs = Some(BTreeMap::from([("/run".to_string(), "size=1m".to_string())]));
    let config = Config {
        volumes: Some(
            ["/v1", "/run", "/fresh"].iter().map(|p| (p.to_string(), berth_api::container::Empty {})).collect(),
        ),
        ..Default::default()
    };
    let planned = plan(&config, &host, &mounts_of).unwrap();
    assert_eq!(
        points(&planned),
        [
            ("/v1", Kind::Volume, "aaa", false, ""),
            ("/v2", Kind::Bind, "/srv", true, ""),
            ("/fresh", Kind::Volume, "", true, ""),
        ]
    );
    assert!(planned[2].point.copy_data && !planned[0].point.copy_data);
}

#[test]
fn the_2014_comma_list_in_config_is_read() {
    let data = vec![MountPoint {
        kind: Kind::Volume,
        destination: "/a".into(),
        name: "aa".into(),
        rw: true,
        ..Default::default()
    }];
    let mounts_of = |name: &str| if name == "x" || name == "y" { Ok(data.clone()) } else { no_containers(name) };
    let config = Config { volumes_from: "x,y:ro".into(), ..Default::default() };
    let planned = plan(&config, &HostConfig::default(), &mounts_of).unwrap();
    assert_eq!(points(&planned), [("/a", Kind::Volume, "aa", false, "")]);
}

#[test]
fn duplicates_and_unknown_sources_are_refused() {
    let e = plan(&Config::default(), &host(&["/x:/y", "/z:/y/"]), &no_containers).unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /y");
    let mut h = host(&["/x:/y"]);
    h.tmpfs = Some(BTreeMap::from([("/y".to_string(), String::new())]));
    assert!(plan(&Config::default(), &h, &no_containers).unwrap_err().to_string().contains("Duplicate"));
    let h = HostConfig { volumes_from: Some(vec!["nosuch".into()]), ..Default::default() };
    assert_eq!(plan(&Config::default(), &h, &no_containers).unwrap_err().to_string(), "No such container: nosuch");
    let rel =
        Config { volumes: Some(BTreeMap::from([("a:/x".to_string(), Default::default())])), ..Default::default() };
    assert!(check_config_volumes(&rel).unwrap_err().to_string().contains("must be absolute"));
}

#[test]
fn runtime_mounts_go_parents_first() {
    let mut mounts = vec![
        Mount::Tmpfs { destination: "/a/b/c".into(), options: String::new() },
        bind(Path::new("/x"), "/a", false),
        bind(Path::new("/y"), "/a/b", true),
    ];
    sort_by_depth(&mut mounts);
    let order: Vec<&str> = mounts.iter().map(Mount::destination).collect();
    assert_eq!(order, ["/a", "/a/b", "/a/b/c"]);
}

#[test]
fn tmpfs_options_pass_uid_and_gid_through() {
    let h = HostConfig {
        tmpfs: Some(BTreeMap::from([("/postgres/run".to_string(), "uid=1000,gid=1000".to_string())])),
        ..Default::default()
    };
    assert_eq!(
        tmpfs_mounts(&h),
        [Mount::Tmpfs { destination: "/postgres/run".into(), options: "uid=1000,gid=1000".into() }]
    );
}
