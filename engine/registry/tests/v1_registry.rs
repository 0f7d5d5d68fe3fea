//! The v1 registry API of 5.4.1 §4 and 5.4.2, standalone (5.4.1 §3.1): every endpoint and
//! status code, the checksum flow, and hostile input refused with nothing stored.

mod common;

use common::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Uploads json, layer and checksum for one image.
async fn push_image(addr: std::net::SocketAddr, id: &str, parent: Option<&str>, layer: &[u8]) {
    let json = image_json(id, parent);
    let reply = send(addr, "PUT", &format!("/v1/images/{id}/json"), &[], json.clone()).await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"\""), "{reply:?}");
    let reply = send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], layer.to_vec()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let checksum = payload_checksum(&json, layer);
    let headers = [("x-docker-checksum-payload", checksum.as_str())];
    let reply = send(addr, "PUT", &format!("/v1/images/{id}/checksum"), &headers, "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn ping_answers_with_the_registry_headers() {
    let registry = standalone(None).await;
    let reply = get(registry.addr(), "/v1/_ping", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-docker-registry-version"), Some("0.6.0"));
    assert_eq!(reply.header("x-docker-registry-standalone"), Some("true"));
    assert_eq!(reply.header("vary"), Some("Accept"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(send(registry.addr(), "POST", "/v1/_ping", &[], "").await.status, 405);
}

#[tokio::test]
async fn images_round_trip_with_size_checksum_and_ancestry() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let (parent, child) = (image_id("parent"), image_id("child"));
    let (parent_layer, child_layer) = (layer(&[("bin/sh", b"#!")]), layer(&[("etc/motd", b"hello\n")]));
    push_image(addr, &parent, None, &parent_layer).await;

    let json = image_json(&child, Some(&parent));
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{child}/json"), &[], json.clone()).await.status, 200);
    // Not visible until the layer is there.
    assert_eq!(get(addr, &format!("/v1/images/{child}/json"), &[]).await.status, 404);
    assert_eq!(get(addr, &format!("/v1/images/{child}/layer"), &[]).await.status, 404);
    assert_eq!(get(addr, &format!("/v1/images/{child}/ancestry"), &[]).await.status, 404);
    // Chunked transfer, as docker sends layers.
    let reply = send_chunked(addr, &format!("/v1/images/{child}/layer"), &child_layer).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let reply = get(addr, &format!("/v1/images/{child}/json"), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), json);
    assert_eq!(reply.header("x-docker-size"), Some(child_layer.len().to_string().as_str()));
    assert_eq!(reply.header("x-docker-checksum"), Some(payload_checksum(&json, &child_layer).as_str()));
    let reply = get(addr, &format!("/v1/images/{child}/layer"), &[]).await;
    assert_eq!((reply.status, &reply.body[..]), (200, &child_layer[..]));
    assert_eq!(reply.header("x-docker-size"), Some(child_layer.len().to_string().as_str()));
    let reply = get(addr, &format!("/v1/images/{child}/ancestry"), &[]).await;
    assert_eq!(reply.json(), serde_json::json!([child, parent]));
    let reply = get(addr, &format!("/v1/images/{parent}/ancestry"), &[]).await;
    assert_eq!(reply.json(), serde_json::json!([parent]));
}

/// A PUT with `Transfer-Encoding: chunked`, written by hand; returns the raw answer.
async fn send_chunked(addr: std::net::SocketAddr, path: &str, data: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in data.chunks(100) {
        stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.unwrap();
        stream.write_all(chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn json_uploads_are_checked() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("json");
    let path = format!("/v1/images/{id}/json");
    assert_eq!(send(addr, "PUT", &path, &[], "{not json").await.status, 400);
    assert_eq!(send(addr, "PUT", &path, &[], "[1]").await.status, 400);
    assert_eq!(send(addr, "PUT", &path, &[], "{}").await.status, 400, "missing id");
    let reply = send(addr, "PUT", &path, &[], image_json(&image_id("other"), None)).await;
    assert_eq!((reply.status, reply.json()["error"].as_str()), (400, Some("JSON data contains invalid id")));
    let reply = send(addr, "PUT", &path, &[], image_json(&id, Some(&image_id("missing")))).await;
    assert_eq!((reply.status, reply.json()["error"].as_str()), (400, Some("Image depends on a non existing parent")));
    let reply = send(addr, "PUT", &path, &[("x-docker-checksum", "md5:abc")], image_json(&id, None)).await;
    assert_eq!(reply.status, 400, "unknown checksum format");
    push_image(addr, &id, None, &layer(&[("a", b"1")])).await;
    let reply = send(addr, "PUT", &path, &[], image_json(&id, None)).await;
    assert_eq!((reply.status, reply.json()["error"].as_str()), (409, Some("Image already exists")));
    let reply = send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], "again").await;
    assert_eq!(reply.status, 409);
    assert_eq!(send(addr, "DELETE", &path, &[], "").await.status, 405);
}

#[tokio::test]
async fn layers_need_their_json_first() {
    let registry = standalone(None).await;
    let id = image_id("nojson");
    assert_eq!(send(registry.addr(), "PUT", &format!("/v1/images/{id}/layer"), &[], "data").await.status, 404);
    assert_eq!(get(registry.addr(), &format!("/v1/images/{id}/json"), &[]).await.status, 404);
    assert_eq!(get(registry.addr(), &format!("/v1/images/{id}/layer"), &[]).await.status, 404);
    assert!(files_under(&registry.path().join("v1/images")).is_empty());
}

#[tokio::test]
async fn a_checksum_mismatch_takes_the_layer_back() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("mismatch");
    let json = image_json(&id, None);
    let data = layer(&[("f", b"content")]);
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/json"), &[], json.clone()).await.status, 200);
    let checksum_path = format!("/v1/images/{id}/checksum");
    assert_eq!(
        send(addr, "PUT", &checksum_path, &[("x-docker-checksum", &payload_checksum(&json, &data))], "").await.status,
        409
    );
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], data.clone()).await.status, 200);
    assert_eq!(send(addr, "PUT", &checksum_path, &[], "").await.status, 400, "no checksum header");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let reply = send(addr, "PUT", &checksum_path, &[("x-docker-checksum-payload", &wrong)], "").await;
    assert_eq!((reply.status, reply.json()["error"].as_str()), (400, Some("Checksum mismatch")));
    assert_eq!(get(addr, &format!("/v1/images/{id}/layer"), &[]).await.status, 404);
    assert!(!registry.path().join(format!("v1/images/{id}/layer")).exists());
    // The client may retry the layer, then the right checksum is accepted.
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], data.clone()).await.status, 200);
    let right = payload_checksum(&json, &data);
    let reply = send(addr, "PUT", &checksum_path, &[("x-docker-checksum-payload", &right)], "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn tarsum_checksums_are_verified_when_they_are_all_there_is() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("tarsum");
    let json = image_json(&id, None);
    let data = layer(&[("etc/hostname", b"box\n")]);
    let header = "nameetc/hostnamemode33188uid0gid0size4mtime1390000000typeflag0linknameunamegnamedevmajor0devminor0";
    let file_sum = sha256_hex(&[header.as_bytes(), b"box\n"].concat());
    let tarsum = format!("tarsum+sha256:{}", sha256_hex(&[json.as_bytes(), file_sum.as_bytes()].concat()));
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/json"), &[], json.clone()).await.status, 200);
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], data.clone()).await.status, 200);
    let path = format!("/v1/images/{id}/checksum");
    let wrong = format!("tarsum+sha256:{}", "1".repeat(64));
    assert_eq!(send(addr, "PUT", &path, &[("x-docker-checksum", &wrong)], "").await.status, 400);
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], data).await.status, 200);
    assert_eq!(send(addr, "PUT", &path, &[("x-docker-checksum", &tarsum)], "").await.status, 200);
    let reply = get(addr, &format!("/v1/images/{id}/json"), &[]).await;
    assert_eq!(reply.header("x-docker-checksum"), Some(tarsum.as_str()));
}

#[tokio::test]
async fn a_checksum_sent_with_the_json_is_checked_against_the_layer() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("legacy");
    let json = image_json(&id, None);
    let wrong = format!("sha256:{}", "2".repeat(64));
    assert_eq!(
        send(addr, "PUT", &format!("/v1/images/{id}/json"), &[("x-docker-checksum", &wrong)], json.clone())
            .await
            .status,
        200
    );
    let reply = send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], "layer bytes").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(!registry.path().join(format!("v1/images/{id}/layer")).exists());
    assert!(files_under(&registry.path().join("tmp")).is_empty());
}

#[tokio::test]
async fn ancestry_can_be_written() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let (id, parent) = (image_id("anc"), image_id("anc-parent"));
    let path = format!("/v1/images/{id}/ancestry");
    assert_eq!(send(addr, "PUT", &path, &[], serde_json::json!([id]).to_string()).await.status, 404);
    push_image(addr, &id, None, b"x").await;
    assert_eq!(send(addr, "PUT", &path, &[], serde_json::json!([parent, id]).to_string()).await.status, 400);
    assert_eq!(send(addr, "PUT", &path, &[], serde_json::json!([id, "zz"]).to_string()).await.status, 400);
    assert_eq!(send(addr, "PUT", &path, &[], serde_json::json!([id, parent]).to_string()).await.status, 200);
    assert_eq!(get(addr, &path, &[]).await.json(), serde_json::json!([id, parent]));
}

#[tokio::test]
async fn tags_and_repositories() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("tagged");
    let tags = "/v1/repositories/foobar/app/tags";
    assert_eq!(get(addr, tags, &[]).await.status, 404);
    assert_eq!(
        send(addr, "PUT", &format!("{tags}/latest"), &[], format!("\"{id}\"")).await.status,
        404,
        "unknown image"
    );
    push_image(addr, &id, None, b"layer").await;
    assert_eq!(send(addr, "PUT", &format!("{tags}/latest"), &[], id.clone()).await.status, 400, "not a JSON string");
    assert_eq!(send(addr, "PUT", &format!("{tags}/latest"), &[], "\"abc\"").await.status, 400);
    let reply = send(addr, "PUT", &format!("{tags}/latest"), &[], format!("\"{id}\"")).await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"\""));
    assert_eq!(send(addr, "PUT", &format!("{tags}/0.1.1"), &[], format!("\"{id}\"")).await.status, 200);
    assert_eq!(get(addr, tags, &[]).await.json(), serde_json::json!({"latest": id, "0.1.1": id}));
    assert_eq!(get(addr, &format!("{tags}/latest"), &[]).await.json(), serde_json::json!(id));
    assert_eq!(get(addr, &format!("{tags}/nope"), &[]).await.status, 404);
    let reply = send(addr, "DELETE", &format!("{tags}/0.1.1"), &[], "").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"\""));
    assert_eq!(get(addr, &format!("{tags}/0.1.1"), &[]).await.status, 404);
    assert_eq!(send(addr, "DELETE", &format!("{tags}/0.1.1"), &[], "").await.status, 404);

    // A name without a namespace is in library/.
    assert_eq!(send(addr, "PUT", "/v1/repositories/busybox/tags/latest", &[], format!("\"{id}\"")).await.status, 200);
    assert_eq!(get(addr, "/v1/repositories/library/busybox/tags", &[]).await.json(), serde_json::json!({"latest": id}));

    let reply = send(addr, "DELETE", "/v1/repositories/foobar/app/", &[], "").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"\""));
    assert_eq!(get(addr, tags, &[]).await.status, 404);
    assert_eq!(send(addr, "DELETE", "/v1/repositories/foobar/app/", &[], "").await.status, 404);
    // The image stays for other repositories.
    assert_eq!(get(addr, &format!("/v1/images/{id}/json"), &[]).await.status, 200);
}

#[tokio::test]
async fn hostile_names_and_ids_are_refused_before_storage() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let quoted = format!("\"{}\"", image_id("x"));
    for (method, path) in [
        ("GET", "/v1/images/abc/json".to_string()),
        ("PUT", "/v1/images/abc/json".to_string()),
        ("PUT", format!("/v1/images/{}/layer", "A".repeat(64))),
        ("PUT", format!("/v1/images/{}/json", "g".repeat(64))),
        ("GET", "/v1/images/..%2F..%2Fetc/json".to_string()),
        ("PUT", "/v1/repositories/foo/app/tags/latest".to_string()),
        ("PUT", "/v1/repositories/FooBar/app/tags/latest".to_string()),
        ("PUT", format!("/v1/repositories/{}/app/tags/latest", "a".repeat(31))),
        ("PUT", "/v1/repositories/foobar/../tags/latest".to_string()),
        ("PUT", "/v1/repositories/foobar/./tags/latest".to_string()),
        ("PUT", "/v1/repositories/foobar/a%20b/tags/latest".to_string()),
        ("PUT", "/v1/repositories/foobar/app/tags/..".to_string()),
        ("PUT", "/v1/repositories/foobar/app/tags/-x".to_string()),
        ("DELETE", "/v1/repositories/foobar/../".to_string()),
    ] {
        let reply = send(addr, method, &path, &[], quoted.clone()).await;
        assert_eq!(reply.status, 400, "{method} {path}: {reply:?}");
        assert!(reply.json()["error"].is_string());
    }
    assert_eq!(get(addr, "/v1/images/../../etc/passwd", &[]).await.status, 400);
    assert!(files_under(&registry.path().join("v1")).is_empty());
}

#[tokio::test]
async fn an_interrupted_layer_upload_leaves_nothing() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("cut");
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/json"), &[], image_json(&id, None)).await.status, 200);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("PUT /v1/images/{id}/layer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[7u8; 5000]).await.unwrap();
    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !files_under(&registry.path().join("tmp")).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(files_under(&registry.path().join("tmp")).is_empty());
    assert!(!registry.path().join(format!("v1/images/{id}/layer")).exists());
    assert_eq!(get(addr, &format!("/v1/images/{id}/layer"), &[]).await.status, 404);
    // The upload can be done again.
    assert_eq!(send(addr, "PUT", &format!("/v1/images/{id}/layer"), &[], vec![7u8; 100]).await.status, 200);
}

#[tokio::test]
async fn standalone_registries_answer_the_index_calls_themselves() {
    let registry = standalone(None).await;
    let addr = registry.addr();
    let id = image_id("private-push");
    let list = serde_json::json!([{"id": id}]).to_string();
    let reply = send(addr, "PUT", "/v1/repositories/app/", &[("x-docker-token", "true")], list.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("x-docker-endpoints"), Some(addr.to_string().as_str()));
    let token = reply.header("x-docker-token").expect("a token");
    assert!(token.starts_with("signature=") && token.contains("repository=\"library/app\",access=write"), "{token}");
    assert!(reply.header("www-authenticate").unwrap().starts_with("Token signature="));
    assert_eq!(send(addr, "PUT", "/v1/repositories/app/", &[], "{}").await.status, 400);
    push_image(addr, &id, None, b"layer").await;
    assert_eq!(send(addr, "PUT", "/v1/repositories/app/tags/latest", &[], format!("\"{id}\"")).await.status, 200);
    let checksums = serde_json::json!([{"id": id, "checksum": "sha256:abc"}]).to_string();
    assert_eq!(send(addr, "PUT", "/v1/repositories/app/images", &[], checksums).await.status, 204);
    let reply = get(addr, "/v1/repositories/app/images", &[("x-docker-token", "true")]).await;
    assert_eq!(reply.json(), serde_json::json!([{"id": id, "checksum": "sha256:abc"}]));
    assert!(reply.header("x-docker-token").unwrap().contains("access=read"));
    assert_eq!(get(addr, "/v1/repositories/other/images", &[]).await.status, 404);
    assert_eq!(send(addr, "PUT", "/v1/repositories/app/auth", &[], "").await.status, 200);
    assert_eq!(get(addr, "/v1/users/", &[]).await.status, 200);
    let user = serde_json::json!({"username": "someone", "password": "secret", "email": "a@b.io"}).to_string();
    assert_eq!(send(addr, "POST", "/v1/users/", &[], user).await.status, 201);
    let reply = get(addr, "/v1/search?q=ap", &[]).await;
    assert_eq!(reply.json()["num_results"], 1);
    assert_eq!(reply.json()["results"][0]["name"], "app");
    assert_eq!(get(addr, "/v1/search?q=zzz", &[]).await.json()["num_results"], 0);
}

#[tokio::test]
async fn htpasswd_guards_a_standalone_registry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(&file, format!("alice:{}\n", bcrypt::hash("wonderland", 4).unwrap())).unwrap();
    let registry = standalone(Some(file)).await;
    let addr = registry.addr();
    assert_eq!(get(addr, "/v1/_ping", &[]).await.status, 200);
    let reply = get(addr, "/v1/repositories/foobar/app/tags", &[]).await;
    assert_eq!(reply.status, 401);
    assert!(reply.header("www-authenticate").unwrap().starts_with("Basic realm="));
    let wrong = basic("alice", "nope");
    assert_eq!(get(addr, "/v1/repositories/foobar/app/tags", &[("authorization", &wrong)]).await.status, 401);
    let right = basic("alice", "wonderland");
    assert_eq!(get(addr, "/v1/repositories/foobar/app/tags", &[("authorization", &right)]).await.status, 404);
    assert_eq!(get(addr, "/v1/users/", &[("authorization", &right)]).await.status, 200);
    assert_eq!(get(addr, "/v1/users/", &[("authorization", &wrong)]).await.status, 401);
    // docker 0.8's login registers first and checks credentials when told the user exists.
    let user = serde_json::json!({"username": "alice", "password": "x", "email": "a@b.io"}).to_string();
    let reply = send(addr, "POST", "/v1/users/", &[], user).await;
    assert_eq!((reply.status, reply.text().as_str()), (400, "\"Username or email already exists\""));
}
