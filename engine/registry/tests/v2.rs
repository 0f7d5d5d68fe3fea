//! The distribution API (registry v2 / OCI) of a standalone registry: uploads, mounts,
//! manifests by tag and digest, tags list, catalog, and digests checked before anything is kept.

mod common;

use common::*;
use std::net::SocketAddr;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

async fn push_blob(addr: SocketAddr, name: &str, data: &[u8]) -> String {
    let d = digest(data);
    let reply = send(addr, "POST", &format!("/v2/{name}/blobs/uploads/?digest={d}"), &[], data.to_vec()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    d
}

fn manifest(media_type: &str, config: &str, layers: &[&str]) -> String {
    let layers: Vec<_> = layers
        .iter()
        .map(|d| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 1}))
        .collect();
    serde_json::json!({"schemaVersion": 2, "mediaType": media_type,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 1}, "layers": layers})
    .to_string()
}

#[tokio::test]
async fn the_base_endpoint_names_the_api_version() {
    let registry = standalone(None).await;
    let reply = get(registry.addr(), "/v2/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert_eq!(get(registry.addr(), "/v2", &[]).await.status, 200);
}

#[tokio::test]
async fn monolithic_uploads_and_blob_reads() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let data = b"a monolithic blob".to_vec();
    let d = digest(&data);
    let reply =
        send(addr, "POST", &format!("/v2/team/app/blobs/uploads/?digest={}", d.replace(':', "%3A")), &[], data.clone())
            .await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("location"), Some(format!("/v2/team/app/blobs/{d}").as_str()));
    assert_eq!(reply.header("docker-content-digest"), Some(d.as_str()));
    let head = send(addr, "HEAD", &format!("/v2/team/app/blobs/{d}"), &[], "").await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(data.len().to_string().as_str()));
    assert_eq!(head.header("docker-content-digest"), Some(d.as_str()));
    assert!(head.body.is_empty());
    let blob = get(addr, &format!("/v2/team/app/blobs/{d}"), &[]).await;
    assert_eq!((blob.status, &blob.body[..]), (200, &data[..]));
    // Another repository has not got it.
    let other = get(addr, &format!("/v2/team/other/blobs/{d}"), &[]).await;
    assert_eq!((other.status, other.v2_code().as_str()), (404, "BLOB_UNKNOWN"));
    // Unlinking.
    assert_eq!(send(addr, "DELETE", &format!("/v2/team/app/blobs/{d}"), &[], "").await.status, 202);
    assert_eq!(send(addr, "HEAD", &format!("/v2/team/app/blobs/{d}"), &[], "").await.status, 404);
    assert_eq!(send(addr, "DELETE", &format!("/v2/team/app/blobs/{d}"), &[], "").await.status, 404);
}

#[tokio::test]
async fn a_wrong_digest_stores_nothing() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let wrong = digest(b"something else");
    let reply = send(addr, "POST", &format!("/v2/app/blobs/uploads/?digest={wrong}"), &[], b"the data".to_vec()).await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(send(addr, "HEAD", &format!("/v2/app/blobs/{wrong}"), &[], "").await.status, 404);
    assert!(files_under(&registry.path().join("v2/blobs")).is_empty());
    assert!(files_under(&registry.path().join("tmp")).is_empty());
    let bad = send(addr, "POST", "/v2/app/blobs/uploads/?digest=sha256:nothex", &[], "x").await;
    assert_eq!((bad.status, bad.v2_code().as_str()), (400, "DIGEST_INVALID"));
    let md5 = send(addr, "POST", &format!("/v2/app/blobs/uploads/?digest=md5:{}", "a".repeat(32)), &[], "x").await;
    assert_eq!(md5.status, 400);
}

#[tokio::test]
async fn chunked_uploads() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let reply = send(addr, "POST", "/v2/team/app/blobs/uploads/", &[], "").await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("range"), Some("0-0"));
    let uuid = reply.header("docker-upload-uuid").unwrap().to_string();
    let location = reply.header("location").unwrap().to_string();
    assert_eq!(location, format!("/v2/team/app/blobs/uploads/{uuid}"));

    let reply = send(addr, "PATCH", &location, &[("content-range", "0-4")], "hello").await;
    assert_eq!((reply.status, reply.header("range")), (202, Some("0-4")));
    let reply = send(addr, "PATCH", &location, &[("content-range", "0-4")], "again").await;
    assert_eq!(reply.status, 416, "a chunk must start where the upload stands");
    assert_eq!(reply.header("range"), Some("0-4"));
    let reply = send(addr, "PATCH", &location, &[], ", chunked").await;
    assert_eq!(reply.header("range"), Some("0-13"));
    let status = get(addr, &location, &[]).await;
    assert_eq!((status.status, status.header("range")), (204, Some("0-13")));
    assert_eq!(
        get(addr, &location.replace("team/app", "team/other"), &[]).await.status,
        404,
        "another repository's upload"
    );

    let whole = b"hello, chunked world".to_vec();
    let d = digest(&whole);
    let reply = send(addr, "PUT", &format!("{location}?digest={d}"), &[("content-range", "14-19")], " world").await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(&get(addr, &format!("/v2/team/app/blobs/{d}"), &[]).await.body[..], &whole[..]);
    let gone = get(addr, &location, &[]).await;
    assert_eq!((gone.status, gone.v2_code().as_str()), (404, "BLOB_UPLOAD_UNKNOWN"));
    assert!(files_under(&registry.path().join("v2/uploads")).is_empty());
}

#[tokio::test]
async fn chunked_uploads_with_a_wrong_digest_or_cancelled_leave_nothing() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let location = send(addr, "POST", "/v2/app/blobs/uploads/", &[], "").await.header("location").unwrap().to_string();
    assert_eq!(send(addr, "PATCH", &location, &[], "data").await.status, 202);
    let wrong = digest(b"other");
    let reply = send(addr, "PUT", &format!("{location}?digest={wrong}"), &[], "").await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (400, "DIGEST_INVALID"));
    assert_eq!(get(addr, &location, &[]).await.status, 404);
    assert!(files_under(&registry.path().join("v2/blobs")).is_empty());
    assert_eq!(send(addr, "PUT", &location, &[], "").await.status, 400, "no digest");

    let location = send(addr, "POST", "/v2/app/blobs/uploads/", &[], "").await.header("location").unwrap().to_string();
    assert_eq!(send(addr, "PUT", &location, &[], "").await.v2_code(), "DIGEST_INVALID");
    assert_eq!(send(addr, "DELETE", &location, &[], "").await.status, 204);
    assert_eq!(send(addr, "DELETE", &location, &[], "").await.status, 404);
    assert_eq!(get(addr, "/v2/app/blobs/uploads/not-a-uuid", &[]).await.status, 404);
    assert!(files_under(&registry.path().join("v2/uploads")).is_empty());
}

#[tokio::test]
async fn uploads_survive_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let start = || async {
        let listener = berth_registry::Listener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = berth_registry::RegistryConfig {
            listen: addr.to_string(),
            root: root.path().to_path_buf(),
            index_url: None,
            htpasswd: None,
            registry_url: addr.to_string(),
        };
        (berth_registry::start_registry(config, listener).await.unwrap(), addr)
    };
    let (server, addr) = start().await;
    let location = send(addr, "POST", "/v2/app/blobs/uploads/", &[], "").await.header("location").unwrap().to_string();
    assert_eq!(send(addr, "PATCH", &location, &[], "first half, ").await.status, 202);
    server.stop().await.unwrap();
    let (server, addr) = start().await;
    assert_eq!(get(addr, &location, &[]).await.header("range"), Some("0-11"));
    let d = digest(b"first half, second half");
    assert_eq!(send(addr, "PUT", &format!("{location}?digest={d}"), &[], "second half").await.status, 201);
    assert_eq!(&get(addr, &format!("/v2/app/blobs/{d}"), &[]).await.body[..], b"first half, second half");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn blobs_mount_across_repositories() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let d = push_blob(addr, "team/a", b"shared layer").await;
    let reply = send(addr, "POST", &format!("/v2/team/b/blobs/uploads/?mount={d}&from=team/a"), &[], "").await;
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("location"), Some(format!("/v2/team/b/blobs/{d}").as_str()));
    assert_eq!(get(addr, &format!("/v2/team/b/blobs/{d}"), &[]).await.status, 200);
    let unknown = digest(b"nowhere");
    let reply = send(addr, "POST", &format!("/v2/team/b/blobs/uploads/?mount={unknown}&from=team/a"), &[], "").await;
    assert_eq!(reply.status, 202, "falls back to an upload");
    assert!(reply.header("docker-upload-uuid").is_some());
}

#[tokio::test]
async fn manifests_by_tag_and_digest() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let config = push_blob(addr, "team/app", b"{\"architecture\":\"amd64\"}").await;
    let layer = push_blob(addr, "team/app", b"layer bytes").await;
    let body = manifest(DOCKER_MANIFEST, &config, &[&layer]);
    let d = digest(body.as_bytes());
    let reply =
        send(addr, "PUT", "/v2/team/app/manifests/latest", &[("content-type", DOCKER_MANIFEST)], body.clone()).await;
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.header("docker-content-digest"), Some(d.as_str()));
    assert_eq!(reply.header("location"), Some(format!("/v2/team/app/manifests/{d}").as_str()));
    for reference in ["latest", d.as_str()] {
        let reply = get(addr, &format!("/v2/team/app/manifests/{reference}"), &[("accept", DOCKER_MANIFEST)]).await;
        assert_eq!((reply.status, reply.text()), (200, body.clone()));
        assert_eq!(reply.header("content-type"), Some(DOCKER_MANIFEST));
        assert_eq!(reply.header("docker-content-digest"), Some(d.as_str()));
    }
    let head = send(addr, "HEAD", "/v2/team/app/manifests/latest", &[], "").await;
    assert_eq!((head.status, head.header("content-length")), (200, Some(body.len().to_string().as_str())));

    // Pushed by digest: the digest must match the body.
    let oci = manifest(OCI_MANIFEST, &config, &[&layer]);
    let oci_digest = digest(oci.as_bytes());
    let reply =
        send(addr, "PUT", &format!("/v2/team/app/manifests/{d}"), &[("content-type", OCI_MANIFEST)], oci.clone()).await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (400, "DIGEST_INVALID"));
    let reply =
        send(addr, "PUT", &format!("/v2/team/app/manifests/{oci_digest}"), &[("content-type", OCI_MANIFEST)], oci)
            .await;
    assert_eq!(reply.status, 201);

    // An index of both.
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "digest": d, "size": body.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": OCI_MANIFEST, "digest": oci_digest, "size": 1}]}).to_string();
    let reply = send(addr, "PUT", "/v2/team/app/manifests/multi", &[("content-type", OCI_INDEX)], index).await;
    assert_eq!(reply.status, 201);
    assert_eq!(get(addr, "/v2/team/app/manifests/multi", &[]).await.header("content-type"), Some(OCI_INDEX));

    let tags = get(addr, "/v2/team/app/tags/list", &[]).await;
    assert_eq!(tags.json(), serde_json::json!({"name": "team/app", "tags": ["latest", "multi"]}));

    // Deleting by digest removes the tags that point at it.
    assert_eq!(send(addr, "DELETE", &format!("/v2/team/app/manifests/{d}"), &[], "").await.status, 202);
    let reply = get(addr, "/v2/team/app/manifests/latest", &[]).await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (404, "MANIFEST_UNKNOWN"));
    assert_eq!(get(addr, &format!("/v2/team/app/manifests/{d}"), &[]).await.status, 404);
    assert_eq!(send(addr, "DELETE", "/v2/team/app/manifests/multi", &[], "").await.status, 202, "a tag");
    assert_eq!(get(addr, "/v2/team/app/tags/list", &[]).await.json()["tags"], serde_json::json!([]));
}

#[tokio::test]
async fn manifests_are_checked_before_they_are_kept() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let config = push_blob(addr, "app", b"config").await;
    let missing = digest(b"never uploaded");
    let put = |reference: &str, content_type: &str, body: String| {
        let path = format!("/v2/app/manifests/{reference}");
        let content_type = content_type.to_string();
        async move { send(addr, "PUT", &path, &[("content-type", &content_type)], body).await }
    };
    let reply = put("v1", DOCKER_MANIFEST, manifest(DOCKER_MANIFEST, &config, &[&missing])).await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (400, "MANIFEST_BLOB_UNKNOWN"));
    assert_eq!(reply.json()["errors"][0]["detail"]["digest"], missing);
    let reply = put("v1", DOCKER_MANIFEST, manifest(DOCKER_MANIFEST, &missing, &[])).await;
    assert_eq!(reply.v2_code(), "MANIFEST_BLOB_UNKNOWN", "the config too");
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": missing, "size": 1}]}).to_string();
    assert_eq!(put("v1", OCI_INDEX, index).await.v2_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(put("v1", DOCKER_MANIFEST, "{nope".into()).await.v2_code(), "MANIFEST_INVALID");
    assert_eq!(put("v1", DOCKER_MANIFEST, r#"{"schemaVersion": 1}"#.into()).await.v2_code(), "MANIFEST_INVALID");
    assert_eq!(put("v1", OCI_MANIFEST, manifest(DOCKER_MANIFEST, &config, &[])).await.v2_code(), "MANIFEST_INVALID");
    assert_eq!(put(".bad", OCI_MANIFEST, manifest(OCI_MANIFEST, &config, &[])).await.v2_code(), "TAG_INVALID");
    assert_eq!(get(addr, "/v2/app/tags/list", &[]).await.json()["tags"], serde_json::json!([]));
    assert_eq!(put("ok", OCI_MANIFEST, manifest(OCI_MANIFEST, &config, &[])).await.status, 201);
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let names = ["alpha", "team/app", "team/app/sub", "zeta"];
    for name in names {
        let config = push_blob(addr, name, b"cfg").await;
        let body = manifest(OCI_MANIFEST, &config, &[]);
        for tag in ["1.0", "2.0", "latest"] {
            assert_eq!(
                send(
                    addr,
                    "PUT",
                    &format!("/v2/{name}/manifests/{tag}"),
                    &[("content-type", OCI_MANIFEST)],
                    body.clone()
                )
                .await
                .status,
                201
            );
        }
    }
    assert_eq!(get(addr, "/v2/_catalog", &[]).await.json(), serde_json::json!({"repositories": names}));
    let page = get(addr, "/v2/_catalog?n=2", &[]).await;
    assert_eq!(page.json(), serde_json::json!({"repositories": ["alpha", "team/app"]}));
    assert_eq!(page.header("link"), Some("</v2/_catalog?last=team/app&n=2>; rel=\"next\""));
    let page = get(addr, "/v2/_catalog?n=2&last=team/app", &[]).await;
    assert_eq!(page.json(), serde_json::json!({"repositories": ["team/app/sub", "zeta"]}));
    assert!(page.header("link").is_none());
    let page = get(addr, "/v2/team/app/tags/list?n=1&last=1.0", &[]).await;
    assert_eq!(page.json(), serde_json::json!({"name": "team/app", "tags": ["2.0"]}));
    assert_eq!(page.header("link"), Some("</v2/team/app/tags/list?last=2.0&n=1>; rel=\"next\""));
    assert_eq!(get(addr, "/v2/team/app/tags/list?n=x", &[]).await.v2_code(), "PAGINATION_NUMBER_INVALID");
    let unknown = get(addr, "/v2/nobody/tags/list", &[]).await;
    assert_eq!((unknown.status, unknown.v2_code().as_str()), (404, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn hostile_names_are_refused() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    for path in [
        "/v2/Team/tags/list",
        "/v2/a//b/tags/list",
        "/v2/-a/blobs/uploads/",
        "/v2/a..b/manifests/latest",
        "/v2/a%2F..%2Fb/tags/list",
    ] {
        let reply = send(addr, "POST", path, &[], "").await;
        assert_eq!((reply.status, reply.v2_code().as_str()), (400, "NAME_INVALID"), "{path}");
    }
    assert_eq!(get(addr, "/v2/../../etc/tags/list", &[]).await.v2_code(), "NAME_INVALID");
    assert_eq!(get(addr, "/v2/app/nothing", &[]).await.status, 404);
    assert_eq!(send(addr, "PATCH", "/v2/app/manifests/latest", &[], "").await.status, 405);
    assert!(files_under(&registry.path().join("v2/repositories")).is_empty());
}

#[tokio::test]
async fn htpasswd_guards_v2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("wonderland", 4).unwrap())).unwrap();
    let registry = standalone(Some(file)).await;
    let reply = get(registry.addr(), "/v2/", &[]).await;
    assert_eq!((reply.status, reply.v2_code().as_str()), (401, "UNAUTHORIZED"));
    assert_eq!(reply.header("www-authenticate"), Some("Basic realm=\"berth registry\""));
    assert_eq!(get(registry.addr(), "/v2/", &[("authorization", &basic("alice", "wonderland"))]).await.status, 200);
    assert_eq!(get(registry.addr(), "/v2/_catalog", &[]).await.status, 401);
}
