//! The push, pull and delete flows of 5.4.1 §2 against an index and a registry that checks
//! tokens with it: tokens, sessions (cookies), single use, scope and access.

mod common;

use common::*;
use std::net::SocketAddr;

struct Image {
    id: String,
    json: String,
    layer: Vec<u8>,
}

impl Image {
    fn new(seed: &str, parent: Option<&str>) -> Image {
        let id = image_id(seed);
        let json = image_json(&id, parent);
        Image { layer: layer(&[(seed, seed.as_bytes())]), id, json }
    }

    fn checksum(&self) -> String {
        payload_checksum(&self.json, &self.layer)
    }
}

/// Uploads one image the way docker 0.8 does, with whatever credentials `auth` holds.
async fn upload(registry: SocketAddr, auth: &[(&str, &str)], image: &Image) {
    let path = |part: &str| format!("/v1/images/{}/{part}", image.id);
    assert_eq!(send(registry, "PUT", &path("json"), auth, image.json.clone()).await.status, 200);
    assert_eq!(send(registry, "PUT", &path("layer"), auth, image.layer.clone()).await.status, 200);
    let checksum = image.checksum();
    let headers: Vec<(&str, &str)> =
        auth.iter().copied().chain([("x-docker-checksum-payload", checksum.as_str())]).collect();
    assert_eq!(send(registry, "PUT", &path("checksum"), &headers, "").await.status, 200);
}

#[tokio::test]
async fn push_then_pull_then_delete() {
    let (index, registry) = pair().await;
    let (ia, ra) = (index.addr(), registry.addr());
    register(&index, "alice", "wonderland").await;
    let alice = basic("alice", "wonderland");
    let parent = Image::new("base", None);
    let child = Image::new("app", Some(&parent.id));

    // Push step 1–2: allocate the repository, get a write token and the endpoints.
    let list = serde_json::json!([{"id": parent.id}, {"id": child.id, "Tag": "latest"}]).to_string();
    let headers = [("authorization", alice.as_str()), ("x-docker-token", "true")];
    let reply = send(ia, "PUT", "/v1/repositories/alice/app/", &headers, list).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("x-docker-endpoints"), Some(ra.to_string().as_str()));
    let write = format!("Token {}", reply.header("x-docker-token").unwrap());

    // Steps 3–5: the first registry request carries the token; the registry checks it with the
    // index and opens a session, even when the answer is 404 (docker asks whether the image exists).
    let reply = get(ra, &format!("/v1/images/{}/json", parent.id), &[("authorization", &write)]).await;
    assert_eq!(reply.status, 404);
    let cookie = reply.cookie().expect("a session cookie");
    // The token was used up: a new session cannot be opened with it.
    let reply = get(ra, &format!("/v1/images/{}/json", parent.id), &[("authorization", &write)]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Token"));
    // Steps 5–9 with the cookie (docker also repeats the token; the session wins).
    let session = [("cookie", cookie.as_str()), ("authorization", write.as_str())];
    upload(ra, &session, &parent).await;
    upload(ra, &[("cookie", &cookie)], &child).await;
    let tag =
        send(ra, "PUT", "/v1/repositories/alice/app/tags/latest", &[("cookie", &cookie)], format!("\"{}\"", child.id))
            .await;
    assert_eq!(tag.status, 200);
    // The write session is for alice/app only.
    let other = send(
        ra,
        "PUT",
        "/v1/repositories/alice/other/tags/latest",
        &[("cookie", &cookie)],
        format!("\"{}\"", child.id),
    )
    .await;
    assert_eq!(other.status, 401);

    // Until step 10 the index lists no checksums: the push is in progress.
    let listed = get(ia, "/v1/repositories/alice/app/images", &[]).await.json();
    assert!(listed.as_array().unwrap().iter().all(|e| e.get("checksum").is_none()), "{listed}");
    let checksums = serde_json::json!([
        {"id": parent.id, "checksum": parent.checksum()}, {"id": child.id, "checksum": child.checksum()}
    ]);
    let reply =
        send(ia, "PUT", "/v1/repositories/alice/app/images", &[("authorization", &alice)], checksums.to_string()).await;
    assert_eq!(reply.status, 204);

    // Pull, anonymously: images and checksums from the index, with a read token.
    let reply = get(ia, "/v1/repositories/alice/app/images", &[("x-docker-token", "true")]).await;
    assert_eq!(reply.json(), checksums);
    assert_eq!(reply.header("x-docker-endpoints"), Some(ra.to_string().as_str()));
    let read = format!("Token {}", reply.header("x-docker-token").unwrap());
    assert!(read.ends_with("repository=\"alice/app\",access=read"));
    let reply = get(ra, "/v1/repositories/alice/app/tags", &[("authorization", &read)]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), serde_json::json!({"latest": child.id}));
    let pull = reply.cookie().expect("a session cookie");
    assert_eq!(get(ra, "/v1/repositories/alice/app/tags", &[("authorization", &read)]).await.status, 401, "single use");
    let cookie_only = [("cookie", pull.as_str())];
    let ancestry = get(ra, &format!("/v1/images/{}/ancestry", child.id), &cookie_only).await.json();
    assert_eq!(ancestry, serde_json::json!([child.id, parent.id]));
    for image in [&child, &parent] {
        let json = get(ra, &format!("/v1/images/{}/json", image.id), &cookie_only).await;
        assert_eq!((json.status, json.text()), (200, image.json.clone()));
        assert_eq!(json.header("x-docker-checksum"), Some(image.checksum().as_str()), "matches the index");
        let layer = get(ra, &format!("/v1/images/{}/layer", image.id), &cookie_only).await;
        assert_eq!(&layer.body[..], &image.layer[..]);
    }
    // A read session may not write, nor touch images outside the repository.
    let put = send(ra, "PUT", "/v1/repositories/alice/app/tags/x", &cookie_only, format!("\"{}\"", child.id)).await;
    assert_eq!(put.status, 403);
    assert_eq!(
        send(ra, "PUT", &format!("/v1/images/{}/json", parent.id), &cookie_only, parent.json.clone()).await.status,
        403
    );
    assert_eq!(get(ra, &format!("/v1/images/{}/json", image_id("elsewhere")), &cookie_only).await.status, 401);
    assert_eq!(get(ra, "/v1/repositories/alice/app/tags", &[("authorization", &alice)]).await.status, 401, "no Basic");

    // Delete: the index marks the repository and hands out a delete token.
    let headers = [("authorization", alice.as_str()), ("x-docker-token", "true")];
    let reply = send(ia, "DELETE", "/v1/repositories/alice/app/", &headers, "").await;
    assert_eq!(reply.status, 202);
    let delete = format!("Token {}", reply.header("x-docker-token").unwrap());
    assert_eq!(send(ra, "DELETE", "/v1/repositories/alice/app/", &cookie_only, "").await.status, 403, "read session");
    let reply = send(ra, "DELETE", "/v1/repositories/alice/app/", &[("authorization", &delete)], "").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let again = send(ra, "DELETE", "/v1/repositories/alice/app/", &[("authorization", &delete)], "").await;
    assert_eq!(again.status, 403, "the index refuses a used token");
    assert_eq!(get(ra, "/v1/repositories/alice/app/tags", &cookie_only).await.status, 404);
    assert_eq!(send(ia, "DELETE", "/v1/repositories/alice/app/", &[("authorization", &alice)], "").await.status, 200);
    assert_eq!(get(ia, "/v1/repositories/alice/app/images", &[]).await.status, 404);
}

#[tokio::test]
async fn tokens_are_bound_to_repository_and_access() {
    let (index, registry) = pair().await;
    let (ia, ra) = (index.addr(), registry.addr());
    register(&index, "alice", "wonderland").await;
    let alice = basic("alice", "wonderland");
    let headers = [("authorization", alice.as_str()), ("x-docker-token", "true")];
    for repo in ["app", "other"] {
        let path = format!("/v1/repositories/alice/{repo}/");
        assert_eq!(send(ia, "PUT", &path, &headers, "[]").await.status, 200);
    }
    let token = |reply: Reply| format!("Token {}", reply.header("x-docker-token").unwrap());
    let read = token(get(ia, "/v1/repositories/alice/app/images", &[("x-docker-token", "true")]).await);
    let reply = get(ra, "/v1/repositories/alice/other/tags", &[("authorization", &read)]).await;
    assert_eq!(reply.status, 401, "a token for alice/app does not open alice/other");
    let reply = send(
        ra,
        "PUT",
        "/v1/repositories/alice/app/tags/latest",
        &[("authorization", &read)],
        format!("\"{}\"", image_id("x")),
    )
    .await;
    assert_eq!(reply.status, 403, "a read token does not allow a PUT");
    let write = token(send(ia, "PUT", "/v1/repositories/alice/app/", &headers, "[]").await);
    assert_eq!(send(ra, "DELETE", "/v1/repositories/alice/app/", &[("authorization", &write)], "").await.status, 403);
    let forged =
        token(send(ia, "PUT", "/v1/repositories/alice/app/", &headers, "[]").await).replace("alice/app", "alice/other");
    assert_eq!(get(ra, "/v1/repositories/alice/other/tags", &[("authorization", &forged)]).await.status, 401);
    assert_eq!(get(ra, "/v1/repositories/alice/app/tags", &[("authorization", "Token garbage")]).await.status, 401);
    assert_eq!(get(ra, "/v1/repositories/alice/app/tags", &[]).await.status, 401);
    // The registry of an index does not answer index calls.
    assert_eq!(send(ra, "PUT", "/v1/repositories/alice/app/", &headers, "[]").await.status, 404);
    assert_eq!(get(ra, "/v1/_ping", &[]).await.header("x-docker-registry-standalone"), Some("false"));
}

#[tokio::test]
async fn v2_on_a_registry_with_an_index_takes_index_credentials() {
    let (index, registry) = pair().await;
    let ra = registry.addr();
    register(&index, "alice", "wonderland").await;
    let reply = get(ra, "/v2/", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.v2_code(), "UNAUTHORIZED");
    assert!(reply.header("www-authenticate").unwrap().starts_with("Basic realm="));
    assert_eq!(get(ra, "/v2/", &[("authorization", &basic("alice", "nope"))]).await.status, 401);
    let alice = basic("alice", "wonderland");
    assert_eq!(get(ra, "/v2/", &[("authorization", &alice)]).await.status, 200);
    let data = b"blob".to_vec();
    let digest = format!("sha256:{}", sha256_hex(&data));
    let own = send(
        ra,
        "POST",
        &format!("/v2/alice/app/blobs/uploads/?digest={digest}"),
        &[("authorization", &alice)],
        data.clone(),
    )
    .await;
    assert_eq!(own.status, 201);
    let theirs =
        send(ra, "POST", &format!("/v2/bob/app/blobs/uploads/?digest={digest}"), &[("authorization", &alice)], data)
            .await;
    assert_eq!((theirs.status, theirs.v2_code().as_str()), (403, "DENIED"));
}
