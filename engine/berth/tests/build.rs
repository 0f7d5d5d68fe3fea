//! `berth build` end to end against a daemon in a temporary root: the Dockerfile examples of
//! 5.2 §4 on busybox, the cache, ADD/COPY rules, ONBUILD, multi-stage builds, errors with
//! line numbers and exit codes, stdin and git contexts, and the docker CLI's classic builder.
//! Needs root and the busybox fixture (fixtures/build.sh).

mod common;

use common::{text, Daemon, BERTH};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Build steps of the tests' daemons.
impl Daemon {
    /// A context directory under the daemon's root holding `files`.
    fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.root.path().join("contexts").join(name);
        for (path, data) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        dir
    }

    /// Builds `dockerfile` (with `files`) and returns the output; asserts success.
    fn build(&self, name: &str, dockerfile: &str, files: &[(&str, &str)], args: &[&str]) -> String {
        let dir = self.context(name, files);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        let mut all = vec!["build"];
        all.extend(args);
        all.push(dir.to_str().unwrap());
        self.ok(&all)
    }
}

/// The image ids a build printed (` ---> <id>` lines), in order.
fn step_ids(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(String::from)
        .collect()
}

#[test]
fn the_examples_of_5_2_4_build_on_busybox_and_run() {
    let daemon = Daemon::start();
    let nginx =
        "# Nginx\n#\n# VERSION 0.0.1\n\nFROM busybox\nMAINTAINER Guillaume J. Charmes <guillaume@dotcloud.com>\n\n\
        # make sure the package repository is up to date\n\
        RUN echo \"deb http://archive.ubuntu.com/ubuntu precise main universe\" > /etc/sources.list\n\
        RUN mkdir -p /var/www && echo ready > /var/www/index.html\n";
    let out = daemon.build("nginx", nginx, &[], &["-t", "nginx-like"]);
    assert!(out.contains("Step 1/4 : FROM busybox\n"), "{out}");
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("Successfully tagged nginx-like:latest"), "{out}");
    assert_eq!(
        daemon.ok(&["inspect", "-f", "{{.Author}}", "nginx-like"]).trim(),
        "Guillaume J. Charmes <guillaume@dotcloud.com>"
    );
    assert!(daemon.ok(&["run", "--rm", "nginx-like", "cat", "/etc/sources.list"]).contains("precise main universe"));

    let firefox = "# Firefox over VNC\nFROM busybox\nRUN mkdir /.vnc\nRUN echo 1234 > /.vnc/passwd\n\
        RUN sh -c 'echo \"firefox\" >> /.bashrc'\n\nEXPOSE 5900\nCMD [\"cat\", \"/.bashrc\"]\n";
    daemon.build("firefox", firefox, &[], &["-t", "vnc"]);
    assert_eq!(daemon.ok(&["run", "--rm", "vnc"]), "firefox\n");
    assert_eq!(daemon.ok(&["inspect", "-f", "{{json .Config.ExposedPorts}}", "vnc"]).trim(), r#"{"5900/tcp":{}}"#);

    let multiple = "# Multiple images example\nFROM busybox\nRUN echo foo > bar\n\nFROM busybox\nRUN echo moo > oink\n";
    let out = daemon.build("multiple", multiple, &[], &[]);
    let ids = step_ids(&out);
    assert_eq!(ids.len(), 4, "{out}");
    assert_eq!(daemon.ok(&["run", "--rm", &ids[1], "cat", "/bar"]), "foo\n");
    assert_eq!(daemon.ok(&["run", "--rm", &ids[3], "cat", "/oink"]), "moo\n");
    assert!(!daemon.cli(&["run", "--rm", &ids[3], "cat", "/bar"]).status.success());
    assert!(daemon.ok(&["ps", "-a", "-q"]).trim().is_empty(), "intermediate containers are removed");
}

#[test]
fn the_cache_reuses_steps_until_one_changes() {
    let daemon = Daemon::start();
    let dockerfile = "FROM busybox\nENV A=1\nADD file /data/file\nRUN echo hi > /hello\nCMD [\"cat\", \"/hello\"]\n";
    let first = daemon.build("cache", dockerfile, &[("file", "one")], &["-t", "cached"]);
    let again = daemon.build("cache", dockerfile, &[("file", "one")], &["-t", "cached"]);
    assert_eq!(again.matches(" ---> Using cache").count(), 4, "{again}");
    assert_eq!(step_ids(&first).last(), step_ids(&again).last());
    let changed = daemon.build("cache", dockerfile, &[("file", "two")], &[]);
    assert_eq!(changed.matches(" ---> Using cache").count(), 1, "only ENV comes from the cache: {changed}");
    let fresh = daemon.build("cache", dockerfile, &[("file", "one")], &["--no-cache"]);
    assert!(!fresh.contains("Using cache"), "{fresh}");
    let all = daemon.ok(&["images", "-a", "-q"]);
    for id in step_ids(&first) {
        assert!(all.contains(&id), "intermediate image {id} is listed by images -a");
    }
    let history = daemon.ok(&["history", "--no-trunc", "cached"]);
    assert!(history.contains("/bin/sh -c #(nop) CMD [\"cat\" \"/hello\"]"), "{history}");
    assert!(history.contains("/bin/sh -c echo hi > /hello"), "{history}");
}

#[test]
fn errors_name_the_line_or_carry_the_exit_code() {
    let daemon = Daemon::start();
    let dir = daemon.context("bad", &[("Dockerfile", "FROM busybox\nENV A=1\nBOGUS x\n")]);
    let out = daemon.cli(&["build", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("dockerfile parse error line 3: unknown instruction: BOGUS"),
        "{}",
        text(&out.stderr)
    );
    let dir = daemon.context("fails", &[("Dockerfile", "FROM busybox\nRUN echo out; exit 3\n")]);
    let out = daemon.cli(&["build", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("out\n"));
    assert!(text(&out.stderr).contains("The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"));
    let dir = daemon.context("escape", &[("Dockerfile", "FROM busybox\nADD ../x /x\n")]);
    let out = daemon.cli(&["build", dir.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("Forbidden path outside the build context"), "{}", text(&out.stderr));
    let dir = daemon.context("nofile", &[("Dockerfile", "FROM busybox\nCOPY missing /x\n")]);
    assert!(text(&daemon.cli(&["build", dir.to_str().unwrap()]).stderr).contains("missing"));
}

/// Serves `body` to every request on a loopback port, for the test's life; returns the port.
fn serve(body: &'static [u8]) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = write!(stream, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = stream.write_all(body);
        }
    });
    port
}

#[test]
fn add_and_copy_follow_the_rules_of_3_7() {
    let daemon = Daemon::start();
    let dir = daemon.context("add", &[("dir/a", "A"), ("dir/sub/b", "B"), ("plain.txt", "P"), ("skip.log", "L")]);
    std::fs::write(dir.join(".dockerignore"), "*.log\n").unwrap();
    let made =
        Command::new("tar").arg("czf").arg(dir.join("t.tar.gz")).arg("-C").arg(dir.join("dir")).arg(".").status();
    assert!(made.unwrap().success());
    let port = serve(b"remote content\n");
    let dockerfile = format!(
        "FROM busybox\nADD dir /srv/\nADD t.tar.gz /unpacked\nCOPY t.tar.gz /packed/\n\
         ADD http://127.0.0.1:{port}/remote.txt /downloads/\nCOPY --chown=1:2 plain.txt /owned\n\
         WORKDIR /work\nCOPY plain.txt .\nCOPY *.log /logs/\n"
    );
    std::fs::write(dir.join("Dockerfile"), &dockerfile).unwrap();
    let out = daemon.cli(&["build", "-t", "added", dir.to_str().unwrap()]);
    // The only .log file is ignored, so the wildcard matches nothing.
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no source files"), "{}", text(&out.stderr));
    std::fs::write(dir.join("Dockerfile"), dockerfile.replace("COPY *.log /logs/\n", "")).unwrap();
    daemon.ok(&["build", "-t", "added", dir.to_str().unwrap()]);
    let check = "cat /srv/a /srv/sub/b /unpacked/a /unpacked/sub/b; ls /packed; cat /downloads/remote.txt; \
                 stat -c '%u:%g' /owned /srv/a; cat /work/plain.txt";
    let out = daemon.ok(&["run", "--rm", "added", "sh", "-c", check]);
    assert_eq!(out, "ABABt.tar.gz\nremote content\n1:2\n0:0\nP");
}

#[test]
fn onbuild_multi_stage_args_and_users() {
    let daemon = Daemon::start();
    daemon.build("parent", "FROM busybox\nONBUILD RUN echo triggered > /trigger\n", &[], &["-t", "parent"]);
    let onbuild = daemon.ok(&["inspect", "-f", "{{json .Config.OnBuild}}", "parent"]);
    assert_eq!(onbuild.trim(), r#"["RUN echo triggered \u003e /trigger"]"#.replace("\\u003e", ">"));
    let out = daemon.build("child", "FROM parent\nCMD [\"cat\", \"/trigger\"]\n", &[], &["-t", "child"]);
    assert!(out.contains("# Executing 1 build trigger"), "{out}");
    assert_eq!(daemon.ok(&["run", "--rm", "child"]), "triggered\n");
    let out = daemon.build("grandchild", "FROM child\nENV X=1\n", &[], &[]);
    assert!(!out.contains("Executing"), "triggers are not inherited: {out}");
    let bad = daemon.context("onbuild-bad", &[("Dockerfile", "FROM busybox\nONBUILD FROM busybox\n")]);
    assert!(!daemon.cli(&["build", bad.to_str().unwrap()]).status.success());

    let stages = "ARG BASE=busybox\nFROM $BASE AS build\nARG V=0\nRUN echo $V > /artifact\n\
        FROM busybox\nCOPY --from=build /artifact /artifact\nUSER root\nRUN touch /as-root\nUSER nobody\nCMD [\"cat\", \"/artifact\"]\n";
    daemon.build("stages", stages, &[], &["-t", "staged", "--build-arg", "V=42", "--label", "k=v"]);
    assert_eq!(daemon.ok(&["run", "--rm", "staged"]), "42\n");
    assert_eq!(daemon.ok(&["inspect", "-f", "{{.Config.User}} {{.Config.Labels.k}}", "staged"]).trim(), "nobody v");
}

#[test]
fn stdin_and_git_contexts() {
    let daemon = Daemon::start();
    let mut child = Command::new(BERTH)
        .args(["-H", &daemon.host(), "build", "-t", "fromstdin", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"FROM busybox\nRUN echo stdin > /s\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(daemon.ok(&["run", "--rm", "fromstdin", "cat", "/s"]), "stdin\n");

    let repo = daemon.context("repo", &[("Dockerfile", "FROM busybox\nCOPY hello /hello\n"), ("hello", "from git\n")]);
    let git = |args: &[&str]| Command::new("git").arg("-C").arg(&repo).args(args).output();
    let Ok(init) = git(&["init", "-q"]) else { return };
    assert!(init.status.success());
    git(&["add", "."]).unwrap();
    let commit = git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x"]).unwrap();
    assert!(commit.status.success(), "{}", text(&commit.stderr));
    daemon.ok(&["build", "-t", "fromgit", &format!("file://{}", repo.display())]);
    assert_eq!(daemon.ok(&["run", "--rm", "fromgit", "cat", "/hello"]), "from git\n");
}

#[test]
fn the_docker_cli_classic_builder_builds_against_berth() {
    let Ok(version) = Command::new("docker").arg("--version").output() else { return };
    if !version.status.success() {
        return;
    }
    let daemon = Daemon::start();
    let dir =
        daemon.context("docker", &[("Dockerfile", "FROM busybox\nRUN echo docker > /d\nCMD [\"cat\", \"/d\"]\n")]);
    let out = Command::new("docker")
        .args(["-H", &daemon.host(), "build", "-t", "x", "."])
        .current_dir(&dir)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Successfully tagged x:latest"), "{}", text(&out.stdout));
    assert_eq!(daemon.ok(&["run", "--rm", "x"]), "docker\n");
}

/// One raw HTTP request on the daemon's socket; the whole answer (head and body) as text.
fn raw_post(daemon: &Daemon, path: &str, body: &[u8]) -> String {
    let mut stream = std::os::unix::net::UnixStream::connect(daemon.root.path().join("d.sock")).unwrap();
    let head =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_api_answers_400_for_a_malformed_dockerfile_and_streams_the_2014_shape() {
    let daemon = Daemon::start();
    let answer = raw_post(&daemon, "/v1.41/build", b"FROM busybox\nENV A=1\nBOGUS x\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains(r#"{"message":"dockerfile parse error line 3: unknown instruction: BOGUS"}"#), "{answer}");
    let answer = raw_post(&daemon, "/v1.9/build?t=old&q=0&rm=1", b"FROM busybox\nRUN exit 4\n");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#"{"stream":"Step 1 : FROM busybox\n"}"#), "{answer}");
    assert!(answer.contains(r#""errorDetail":{"code":4,"#), "{answer}");
    let answer = raw_post(&daemon, "/v1.9/build?t=old", b"FROM busybox\nCMD [\"true\"]\n");
    assert!(answer.contains(r#"Successfully built "#) && !answer.contains("aux"), "{answer}");
    assert!(daemon.ok(&["images"]).contains("old"));
}

/// Bytes that do not compress, from a seed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn md5_of(path: &std::path::Path) -> String {
    let out = Command::new("md5sum").arg(path).output().unwrap();
    text(&out.stdout).split_whitespace().next().unwrap().to_string()
}

#[test]
fn large_context_files_reach_the_image_whole_and_key_the_cache_by_content() {
    let daemon = Daemon::start();
    let dir = daemon.context("large", &[]);
    std::fs::create_dir_all(dir.join("archive")).unwrap();
    std::fs::write(dir.join("big.bin"), noise(7, 3 << 20)).unwrap();
    std::fs::write(dir.join("archive/inner.bin"), noise(9, 1 << 20)).unwrap();
    std::fs::write(dir.join("ignored.bin"), noise(11, 1 << 20)).unwrap();
    std::fs::write(dir.join(".dockerignore"), "ignored.bin\n").unwrap();
    let made = Command::new("tar")
        .arg("czf")
        .arg(dir.join("a.tar.gz"))
        .arg("-C")
        .arg(dir.join("archive"))
        .arg("inner.bin")
        .status();
    assert!(made.unwrap().success());
    let dockerfile = "FROM busybox\nADD a.tar.gz /unpacked/\nADD big.bin /big.bin\nCOPY big.bin /copy.bin\n";
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let check = "md5sum /big.bin /copy.bin /unpacked/inner.bin | cut -d' ' -f1";
    let expect = |big: &str| format!("{big}\n{big}\n{}\n", md5_of(&dir.join("archive/inner.bin")));

    let first = daemon.ok(&["build", "-t", "large", dir.to_str().unwrap()]);
    assert!(!first.contains("Using cache"), "{first}");
    assert_eq!(daemon.ok(&["run", "--rm", "large", "sh", "-c", check]), expect(&md5_of(&dir.join("big.bin"))));
    let ignored = daemon.cli(&["run", "--rm", "large", "ls", "/ignored.bin"]);
    assert!(!ignored.status.success());

    let again = daemon.ok(&["build", "-t", "large", dir.to_str().unwrap()]);
    assert_eq!(again.matches(" ---> Using cache").count(), 3, "{again}");

    // One byte in the middle of the large file changes: both of its steps miss.
    let mut big = noise(7, 3 << 20);
    big[3 << 19] ^= 0xff;
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    let changed = daemon.ok(&["build", "-t", "large", dir.to_str().unwrap()]);
    assert_eq!(changed.matches(" ---> Using cache").count(), 1, "only the archive comes from the cache: {changed}");
    assert_eq!(daemon.ok(&["run", "--rm", "large", "sh", "-c", check]), expect(&md5_of(&dir.join("big.bin"))));
}
