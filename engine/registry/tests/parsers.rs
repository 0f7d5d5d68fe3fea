//! Property tests of what the servers parse from the outside: paths, tokens, names.

use proptest::prelude::*;

proptest! {
    #[test]
    fn tokens_round_trip(signature in "[A-Za-z0-9]{1,64}", ns in "[a-z0-9_]{4,30}", name in "[a-zA-Z0-9._-]{1,20}", access in 0..3usize) {
        let access = [berth_registry::Access::Read, berth_registry::Access::Write, berth_registry::Access::Delete][access];
        let token = berth_registry::Token { signature, repository: format!("{ns}/{name}"), access };
        prop_assert_eq!(berth_registry::Token::parse(&token.to_string()), Some(token.clone()));
        prop_assert_eq!(berth_registry::Token::parse(&format!("Token {token}")), Some(token));
    }

    #[test]
    fn token_parsing_never_panics(text in ".{0,200}") {
        let _ = berth_registry::Token::parse(&text);
    }
}

/// Arbitrary paths against running servers: every answer is a well-formed HTTP answer, never a
/// 500, and nothing outside the storage root is touched.
#[test]
fn arbitrary_paths_get_clean_answers() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let root = tempfile::tempdir().unwrap();
        let listener = berth_registry::Listener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = berth_registry::RegistryConfig {
            listen: addr.to_string(),
            root: root.path().join("root"),
            index_url: None,
            htpasswd: None,
            registry_url: addr.to_string(),
        };
        let server = berth_registry::start_registry(config, listener).await.unwrap();
        let mut runner =
            proptest::test_runner::TestRunner::new(ProptestConfig { cases: 200, ..ProptestConfig::default() });
        let segment = prop_oneof![
            Just("v1".to_string()),
            Just("v2".to_string()),
            Just("..".to_string()),
            Just("images".to_string()),
            Just("repositories".to_string()),
            Just("tags".to_string()),
            Just("blobs".to_string()),
            Just("uploads".to_string()),
            Just("manifests".to_string()),
            Just("".to_string()),
            "[a-z0-9:._%-]{1,70}",
        ];
        let strategy = (
            proptest::collection::vec(segment, 1..7),
            prop_oneof![Just("GET"), Just("PUT"), Just("POST"), Just("DELETE"), Just("PATCH")],
        );
        let (sender, mut answers) = tokio::sync::mpsc::unbounded_channel();
        runner
            .run(&strategy, |(segments, method)| {
                sender.send((format!("/{}", segments.join("/")), method)).unwrap();
                Ok(())
            })
            .unwrap();
        drop(sender);
        while let Some((path, method)) = answers.recv().await {
            let status = raw_status(addr, method, &path).await;
            assert!(status != 500 && (200..600).contains(&status), "{method} {path}: {status}");
        }
        assert!(std::fs::read_dir(root.path()).unwrap().count() == 1, "only the storage root exists");
        server.stop().await.unwrap();
    });
}

async fn raw_status(addr: std::net::SocketAddr, method: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}
