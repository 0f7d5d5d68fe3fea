//! The index (5.4.1 §4, §6; 5.4.3): users, repositories, checksums, tokens and search.

mod common;

use berth_registry::IndexAdmin;
use common::*;

fn user_body(username: &str, password: &str, email: &str) -> String {
    serde_json::json!({"username": username, "password": password, "email": email}).to_string()
}

async fn create(index: &Running, body: &str) -> Reply {
    send(index.addr(), "POST", "/v1/users", &[("content-type", "application/json")], body.to_string()).await
}

async fn index_only() -> Running {
    pair().await.0
}

#[tokio::test]
async fn registration_follows_4_2_1() {
    let index = index_only().await;
    let reply = create(&index, &user_body("foobar", "toto42", "sam@dotcloud.com")).await;
    assert_eq!((reply.status, reply.text().as_str()), (201, "\"User Created\""));
    let refused = [
        user_body("abc", "toto42", "a@b.io"),
        user_body(&"a".repeat(31), "toto42", "a@b.io"),
        user_body("Abcd", "toto42", "a@b.io"),
        user_body("ab-cd", "toto42", "a@b.io"),
        user_body("ab.cd", "toto42", "a@b.io"),
        user_body("abcd", "1234", "a@b.io"),
        user_body("abcd", "toto42", "not-an-email"),
        user_body("library", "toto42", "lib@b.io"),
        r#"{"username": "abcd", "password": "toto42"}"#.to_string(),
        r#"{"username": "abcd", "email": "a@b.io"}"#.to_string(),
        "{not json".to_string(),
    ];
    for body in refused {
        let reply = create(&index, &body).await;
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert!(reply.json().is_string(), "the reason is a JSON string");
    }
    assert_eq!(create(&index, &user_body("abcd", "12345", "four@b.io")).await.status, 201);
    assert_eq!(create(&index, &user_body(&"z".repeat(30), "12345", "thirty@b.io")).await.status, 201);
    let reply = create(&index, &user_body("foobar", "other1", "else@b.io")).await;
    assert_eq!((reply.status, reply.text().as_str()), (400, "\"Username or email already exists\""));
    let reply = create(&index, &user_body("foobar2", "other1", "sam@dotcloud.com")).await;
    assert_eq!(reply.status, 400, "the email is taken");
}

#[tokio::test]
async fn login_needs_a_confirmed_account() {
    let index = index_only().await;
    let addr = index.addr();
    assert_eq!(create(&index, &user_body("foobar", "toto42", "sam@dotcloud.com")).await.status, 201);
    let right = basic("foobar", "toto42");
    let reply = get(addr, "/v1/users/", &[("authorization", &right)]).await;
    assert_eq!((reply.status, reply.text().as_str()), (403, "\"Account is not Active\""));
    let link = confirmation_link(index.path(), "foobar");
    assert_eq!(get(addr, &link.replace("code=", "code=x"), &[]).await.status, 404);
    assert_eq!(get(addr, &link, &[]).await.status, 200);
    assert_eq!(get(addr, &link, &[]).await.status, 404, "a code works once");
    let reply = get(addr, "/v1/users/", &[("authorization", &right)]).await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"OK\""));
    for authorization in [basic("foobar", "wrong"), basic("nobody", "toto42"), "Basic !!".to_string()] {
        let reply = get(addr, "/v1/users", &[("authorization", &authorization)]).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.header("www-authenticate"), Some("Basic realm=\"auth required\",Token"));
    }
    assert_eq!(get(addr, "/v1/users", &[]).await.status, 401);
}

#[tokio::test]
async fn users_update_their_password_and_emails() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    register(&index, "someone", "secret").await;
    let auth = basic("foobar", "toto42");
    let update = |body: &str| body.to_string();
    let put = |path: &'static str, authorization: String, body: String| async move {
        send(addr, "PUT", path, &[("authorization", &authorization)], body).await
    };
    assert_eq!(put("/v1/users/nobody/", auth.clone(), update(r#"{"password": "abcdef"}"#)).await.status, 404);
    assert_eq!(put("/v1/users/foobar/", basic("foobar", "bad"), update(r#"{"password": "abcdef"}"#)).await.status, 401);
    assert_eq!(
        put("/v1/users/foobar/", basic("someone", "secret"), update(r#"{"password": "abcdef"}"#)).await.status,
        403
    );
    assert_eq!(put("/v1/users/foobar/", auth.clone(), update(r#"{"password": "abc"}"#)).await.status, 400);
    assert_eq!(put("/v1/users/foobar/", auth.clone(), update(r#"{"email": "nope"}"#)).await.status, 400);
    assert_eq!(put("/v1/users/foobar/", auth.clone(), update("{}")).await.status, 400);
    assert_eq!(put("/v1/users/foobar/", auth.clone(), update(r#"{"password": "newpass"}"#)).await.status, 204);
    assert_eq!(get(addr, "/v1/users", &[("authorization", &basic("foobar", "newpass"))]).await.status, 200);
    assert_eq!(get(addr, "/v1/users", &[("authorization", &auth)]).await.status, 401);
    let new_auth = basic("foobar", "newpass");
    let reply = put("/v1/users/foobar/", new_auth.clone(), update(r#"{"email": "second@example.com"}"#)).await;
    assert_eq!(reply.status, 204);
    assert_eq!(get(addr, "/v1/users", &[("authorization", &new_auth)]).await.status, 200, "still active");
    let mails = std::fs::read_dir(index.path().join("outbox")).unwrap().count();
    assert_eq!(mails, 3, "one mail per address to confirm");
    let link = confirmation_link(index.path(), "foobar");
    assert_eq!(get(addr, &link, &[]).await.status, 200);

    assert_eq!(create(&index, &user_body("inactive", "secret", "in@b.io")).await.status, 201);
    let reply = put("/v1/users/inactive/", basic("inactive", "secret"), update(r#"{"password": "other1"}"#)).await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn repositories_tokens_and_checksums() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    register(&index, "someone", "secret").await;
    let auth = basic("foobar", "toto42");
    let (a, b) = (image_id("a"), image_id("b"));
    let list = serde_json::json!([{"id": a}, {"id": b}]).to_string();
    let repo = "/v1/repositories/foobar/app/";

    let reply = send(addr, "PUT", repo, &[("x-docker-token", "true")], list.clone()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Basic realm=\"auth required\",Token"));
    assert!(reply.header("x-docker-token").is_none());
    let other = basic("someone", "secret");
    assert_eq!(send(addr, "PUT", repo, &[("authorization", &other)], list.clone()).await.status, 403);
    assert_eq!(send(addr, "PUT", repo, &[("authorization", &auth)], "[{\"id\": \"x\"}]").await.status, 400);
    assert_eq!(send(addr, "PUT", repo, &[("authorization", &auth)], "{").await.status, 400);

    let reply = send(addr, "PUT", repo, &[("authorization", &auth), ("x-docker-token", "true")], list.clone()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let token = reply.header("x-docker-token").unwrap().to_string();
    assert!(token.starts_with("signature=") && token.ends_with(",repository=\"foobar/app\",access=write"), "{token}");
    assert_eq!(reply.header("www-authenticate"), Some(format!("Token {token}").as_str()));
    assert_eq!(reply.header("x-docker-endpoints").map(|e| e.contains("127.0.0.1:")), Some(true));
    let reply = send(addr, "PUT", repo, &[("authorization", &auth)], list.clone()).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.header("x-docker-token").is_none() && reply.header("www-authenticate").is_none(),
        "no token unless asked"
    );

    // In progress: no checksums yet.
    let images = "/v1/repositories/foobar/app/images";
    let reply = get(addr, images, &[]).await;
    assert_eq!(reply.json(), serde_json::json!([{"id": a}, {"id": b}]));
    assert!(reply.header("x-docker-endpoints").is_some());
    assert!(reply.header("x-docker-token").is_none());
    let checksums =
        serde_json::json!([{"id": a, "checksum": "sha256:aaa"}, {"id": b, "checksum": "sha256:bbb"}]).to_string();
    assert_eq!(send(addr, "PUT", images, &[], checksums.clone()).await.status, 401);
    assert_eq!(send(addr, "PUT", images, &[("authorization", &other)], checksums.clone()).await.status, 403);
    assert_eq!(send(addr, "PUT", images, &[("authorization", &auth)], "nope").await.status, 400);
    let reply = send(addr, "PUT", images, &[("authorization", &auth)], checksums).await;
    assert_eq!(reply.status, 204);
    assert!(reply.header("x-docker-endpoints").is_some());
    // Only ever added to.
    let c = image_id("c");
    let more = serde_json::json!([{"id": c, "checksum": "sha256:ccc"}]).to_string();
    assert_eq!(send(addr, "PUT", images, &[("authorization", &auth)], more).await.status, 204);
    let expected = serde_json::json!([
        {"id": a, "checksum": "sha256:aaa"}, {"id": b, "checksum": "sha256:bbb"}, {"id": c, "checksum": "sha256:ccc"}
    ]);
    assert_eq!(get(addr, images, &[]).await.json(), expected);
    assert_eq!(get(addr, "/v1/repositories/foobar/unknown/images", &[]).await.status, 404);

    // Tokens on request, new every time, single use, for one repository.
    let first = get(addr, images, &[("x-docker-token", "true")]).await;
    let second = get(addr, images, &[("x-docker-token", "true"), ("authorization", &auth)]).await;
    let (t1, t2) = (first.header("x-docker-token").unwrap(), second.header("x-docker-token").unwrap());
    assert_ne!(t1, t2);
    assert!(t1.ends_with("access=read"));
    let with_token = |t: &str| format!("Token {t}");
    assert_eq!(get(addr, images, &[("authorization", &with_token(t1))]).await.json(), expected);
    assert_eq!(get(addr, images, &[("authorization", &with_token(t1))]).await.status, 401, "used");
    assert_eq!(
        get(addr, "/v1/repositories/foobar/app2/images", &[("authorization", &with_token(t2))]).await.status,
        404
    );
    let forged = t2.replace("access=read", "access=write");
    assert_eq!(get(addr, images, &[("authorization", &with_token(&forged))]).await.status, 401);
    assert_eq!(get(addr, images, &[("authorization", &with_token(t2))]).await.status, 200);

    // Registries check tokens with PUT .../auth.
    let fresh = get(addr, images, &[("x-docker-token", "true")]).await;
    let t3 = fresh.header("x-docker-token").unwrap();
    let reply = send(addr, "PUT", "/v1/repositories/foobar/app/auth", &[("authorization", &with_token(t3))], "").await;
    assert_eq!((reply.status, reply.text().as_str()), (200, "\"OK\""));
    let reply = send(addr, "PUT", "/v1/repositories/foobar/app/auth", &[("authorization", &with_token(t3))], "").await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        send(addr, "PUT", "/v1/repositories/foobar/nope/auth", &[("authorization", &with_token(t3))], "").await.status,
        404
    );
    assert_eq!(send(addr, "PUT", "/v1/repositories/foobar/app/auth", &[], "").await.status, 401);
}

#[tokio::test]
async fn library_repositories_need_an_admin() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    register(&index, "theadmin", "secret").await;
    IndexAdmin::open(index.path()).unwrap().set_admin("theadmin", true).unwrap();
    let list = serde_json::json!([{"id": image_id("lib")}]).to_string();
    let user = [("authorization", basic("foobar", "toto42")), ("x-docker-token", "true".to_string())];
    let user: Vec<(&str, &str)> = user.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(send(addr, "PUT", "/v1/repositories/foobar/", &user, list.clone()).await.status, 403);
    let admin = basic("theadmin", "secret");
    let headers = [("authorization", admin.as_str()), ("x-docker-token", "true")];
    let reply = send(addr, "PUT", "/v1/repositories/foobar/", &headers, list).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-docker-token").unwrap().contains("repository=\"library/foobar\""));
    assert!(reply.header("www-authenticate").unwrap().contains("repository=\"library/foobar\""));
    assert_eq!(get(addr, "/v1/repositories/library/foobar/images", &[]).await.status, 200);
    assert_eq!(send(addr, "DELETE", "/v1/repositories/foobar/", &user, "").await.status, 403);
    let reply = send(addr, "DELETE", "/v1/repositories/foobar/", &headers, "").await;
    assert_eq!(reply.status, 202);
    assert!(reply.header("x-docker-token").unwrap().ends_with("repository=\"library/foobar\",access=delete"));
}

#[tokio::test]
async fn private_repositories_and_credentials_on_public_pulls() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    register(&index, "someone", "secret").await;
    let auth = basic("foobar", "toto42");
    let list = serde_json::json!([{"id": image_id("p")}]).to_string();
    assert_eq!(send(addr, "PUT", "/v1/repositories/foobar/app/", &[("authorization", &auth)], list).await.status, 200);
    let images = "/v1/repositories/foobar/app/images";
    assert_eq!(get(addr, images, &[]).await.status, 200, "public: no credentials needed");
    assert_eq!(get(addr, images, &[("authorization", &basic("foobar", "wrong"))]).await.status, 401);
    assert_eq!(create(&index, &user_body("sleeper", "secret", "z@b.io")).await.status, 201);
    assert_eq!(get(addr, images, &[("authorization", &basic("sleeper", "secret"))]).await.status, 403);

    IndexAdmin::open(index.path()).unwrap().set_private("foobar/app", true).unwrap();
    assert_eq!(get(addr, images, &[]).await.status, 401);
    assert_eq!(get(addr, images, &[("authorization", &basic("someone", "secret"))]).await.status, 403);
    let reply = get(addr, images, &[("authorization", &auth), ("x-docker-token", "true")]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.header("x-docker-token").is_some());
    assert_eq!(
        get(addr, "/v1/search?q=app", &[]).await.json()["num_results"],
        0,
        "private repositories are not listed"
    );
}

#[tokio::test]
async fn deleting_takes_two_steps() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    register(&index, "someone", "secret").await;
    let auth = basic("foobar", "toto42");
    let list = serde_json::json!([{"id": image_id("d")}]).to_string();
    let repo = "/v1/repositories/foobar/app/";
    assert_eq!(send(addr, "PUT", repo, &[("authorization", &auth)], list).await.status, 200);
    assert_eq!(send(addr, "DELETE", repo, &[], "").await.status, 401);
    assert_eq!(send(addr, "DELETE", repo, &[("authorization", &basic("someone", "secret"))], "").await.status, 403);
    assert_eq!(
        send(addr, "DELETE", "/v1/repositories/foobar/nope/", &[("authorization", &auth)], "").await.status,
        404
    );
    let reply = send(addr, "DELETE", repo, &[("authorization", &auth), ("x-docker-token", "true")], "").await;
    assert_eq!(reply.status, 202);
    assert!(reply.header("www-authenticate").unwrap().ends_with("repository=\"foobar/app\",access=delete"));
    assert!(reply.header("x-docker-endpoints").is_some());
    assert_eq!(get(addr, "/v1/repositories/foobar/app/images", &[]).await.status, 404, "marked deleted");
    let reply = send(addr, "DELETE", repo, &[("authorization", &auth)], "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(send(addr, "DELETE", repo, &[("authorization", &auth)], "").await.status, 404);
}

#[tokio::test]
async fn search_lists_public_repositories() {
    let index = index_only().await;
    let addr = index.addr();
    register(&index, "foobar", "toto42").await;
    let auth = basic("foobar", "toto42");
    for name in ["ubuntu-tools", "centos-tools", "web"] {
        let path = format!("/v1/repositories/foobar/{name}/");
        assert_eq!(send(addr, "PUT", &path, &[("authorization", &auth)], "[]").await.status, 200);
    }
    let admin = IndexAdmin::open(index.path()).unwrap();
    admin.set_description("foobar/web", "A web server with tools").unwrap();
    admin.set_stars("foobar/centos-tools", 5).unwrap();
    let reply = get(addr, "/v1/search?q=tools", &[]).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["query"], "tools");
    assert_eq!(answer["num_results"], 3);
    assert_eq!(answer["results"][0]["name"], "foobar/centos-tools", "most starred first");
    assert_eq!(answer["results"][0]["star_count"], 5);
    let web = answer["results"].as_array().unwrap().iter().find(|r| r["name"] == "foobar/web").unwrap().clone();
    assert_eq!(web["description"], "A web server with tools");
    assert_eq!(web["is_official"], false);
    let none = get(addr, "/v1/search?q=nothing%20here", &[]).await.json();
    assert_eq!(none, serde_json::json!({"query": "nothing here", "num_results": 0, "results": []}));
    let reply = send(addr, "POST", "/v1/search?q=x", &[], "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET"));
}
