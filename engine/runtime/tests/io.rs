//! The container's stdio: ttys, stdin pipes, several attachers, exec.

mod common;

use berth_runtime::{AttachStreams, ExecSpec, Monitor};
use common::{read_frames, read_until, Fixture, EXE};
use std::path::Path;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

#[tokio::test]
async fn tty_is_dev_pts_0_and_resize_reaches_stty() {
    let mut f = Fixture::new(&["sh", "-c", "tty; readlink /proc/self/fd/0; read x; stty size"]);
    f.spec.tty = true;
    f.spec.open_stdin = true;
    let streams = AttachStreams { stdin: true, stdout: true, stderr: true };
    let (monitor, _, stream) = Monitor::start_attached(Path::new(EXE), &f.spec, streams).unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut stream = UnixStream::from_std(stream).unwrap();
    let wait = read_until(&mut stream, "/dev/pts/0\r\n/dev/pts/0\r\n");
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), wait).await.expect("tty output");
    assert_eq!(seen, "/dev/pts/0\r\n/dev/pts/0\r\n");
    monitor.resize(30, 100).unwrap();
    stream.write_all(b"\n").await.unwrap();
    let (rest, _) = read_frames(stream).await;
    assert!(rest.ends_with("30 100\r\n"), "{rest:?}");
    assert_eq!(monitor.wait().await.unwrap().code, 0);
    assert!(f.logged("stdout").contains("30 100\r\n"));
}

#[tokio::test]
async fn tty_console_and_controlling_terminal() {
    let mut f = Fixture::new(&["sh", "-c", "stat -c %t:%T /dev/console; cat /proc/self/stat | cut -d' ' -f7"]);
    f.spec.tty = true;
    let (status, out, err) = f.run().await;
    // /dev/console is the pty slave (major 136), which is also the controlling tty (136 << 8).
    assert_eq!((status.code, out.as_str(), err.as_str()), (0, "88:0\r\n34816\r\n", ""));
}

#[tokio::test]
async fn resize_without_tty_is_refused() {
    let f = Fixture::new(&["sleep", "10"]);
    let (monitor, _) = f.start().unwrap();
    assert!(monitor.resize(10, 10).is_err());
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
}

#[tokio::test]
async fn stdin_pipe_is_echoed_and_closed_on_eof() {
    let mut f = Fixture::new(&["cat"]);
    f.spec.open_stdin = true;
    f.spec.stdin_once = true;
    let streams = AttachStreams { stdin: true, stdout: true, stderr: true };
    let (monitor, _, stream) = Monitor::start_attached(Path::new(EXE), &f.spec, streams).unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut stream = UnixStream::from_std(stream).unwrap();
    stream.write_all(b"hello\nworld\n").await.unwrap();
    stream.shutdown().await.unwrap();
    let (out, _) = read_frames(stream).await;
    assert_eq!(out, "hello\nworld\n");
    assert_eq!(monitor.wait().await.unwrap().code, 0);
}

#[tokio::test]
async fn stdin_stays_open_without_stdin_once() {
    let mut f = Fixture::new(&["sh", "-c", "read a; read b; echo $a$b"]);
    f.spec.open_stdin = true;
    let (monitor, _) = f.start().unwrap();
    let mut first = monitor.attach(true, false, false).await.unwrap();
    first.write_all(b"one\n").await.unwrap();
    drop(first);
    let mut second = monitor.attach(true, true, false).await.unwrap();
    second.write_all(b"two\n").await.unwrap();
    let out = read_until(&mut second, "\n").await;
    assert_eq!(out, "onetwo\n");
    assert_eq!(monitor.wait().await.unwrap().code, 0);
}

#[tokio::test]
async fn several_attachers_each_get_all_output() {
    let mut f = Fixture::new(&["sh", "-c", "read x; echo out; echo err >&2"]);
    f.spec.open_stdin = true;
    let (monitor, _) = f.start().unwrap();
    let a = monitor.attach(false, true, true).await.unwrap();
    let b = monitor.attach(false, true, false).await.unwrap();
    let mut input = monitor.attach(true, false, false).await.unwrap();
    input.write_all(b"go\n").await.unwrap();
    let (a, b) = tokio::join!(read_frames(a), read_frames(b));
    assert_eq!(a, ("out\n".to_string(), "err\n".to_string()));
    assert_eq!(b, ("out\n".to_string(), String::new()));
    assert_eq!(monitor.wait().await.unwrap().code, 0);
}

#[tokio::test]
async fn exec_runs_in_the_container() {
    let mut f = Fixture::new(&["sleep", "100"]);
    f.spec.hostname = "execbox".into();
    let (monitor, init_pid) = f.start().unwrap();
    let spec = ExecSpec {
        // The container's cgroup: the pids hierarchy's line with cgroup v1, the one line of v2.
        args: ["sh", "-c", "hostname; cat /proc/1/cmdline; echo; grep -o 'pids:.*' /proc/self/cgroup || grep '^0::' /proc/self/cgroup; exit 5"]
            .map(String::from)
            .to_vec(),
        env: vec!["PATH=/bin".into()],
        ..ExecSpec::default()
    };
    let (stream, handle) = monitor.exec(&spec).await.unwrap();
    assert!(handle.pid() > 0 && handle.pid() != init_pid);
    let (out, _) = read_frames(stream).await;
    assert_eq!(handle.wait().await.unwrap(), 5);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("execbox"));
    assert_eq!(lines.next(), Some("sleep\u{0}100\u{0}"));
    assert!(lines.next().unwrap_or_default().ends_with(&f.spec.id), "{out}");
    monitor.signal(9).unwrap();
    assert_eq!(monitor.wait().await.unwrap().code, 137);
}

#[tokio::test]
async fn exec_with_tty_and_stdin() {
    let f = Fixture::new(&["sleep", "100"]);
    let (monitor, _) = f.start().unwrap();
    let spec = ExecSpec {
        args: ["sh", "-c", "read x; tty; echo got $x"].map(String::from).to_vec(),
        tty: true,
        open_stdin: true,
        user: "berthuser".into(),
        ..ExecSpec::default()
    };
    let (mut stream, handle) = monitor.exec(&spec).await.unwrap();
    stream.write_all(b"abc\n").await.unwrap();
    let (out, _) = read_frames(stream).await;
    assert!(out.contains("/dev/pts/") && out.ends_with("got abc\r\n"), "{out:?}");
    assert_eq!(handle.wait().await.unwrap(), 0);
    let bad = ExecSpec { args: vec!["nope".into()], ..ExecSpec::default() };
    let err = monitor.exec(&bad).await.unwrap_err();
    assert_eq!(
        (err.to_string().as_str(), err.exit_code()),
        ("exec: \"nope\": executable file not found in $PATH", Some(127))
    );
    monitor.signal(9).unwrap();
    monitor.wait().await.unwrap();
}

#[tokio::test]
async fn large_output_is_not_lost() {
    let f = Fixture::new(&["sh", "-c", "seq 1 200000"]);
    let (status, out, _) = f.run().await;
    assert_eq!(status.code, 0);
    let want: String = (1..=200_000).map(|n| format!("{n}\n")).collect();
    assert!(out == want, "got {} bytes, want {}", out.len(), want.len());
    assert!(f.logged("stdout") == want);
}
