//! The monitor's single-threaded epoll loop once the container runs: it copies output to the
//! log and to attachers, stdin from attachers, answers requests on monitor.sock, reaps the
//! init and execs, and on the init's exit records `exit.json` and removes the cgroups.

use super::launch::{self, Confinement, ExecContext, Launched, ProcIo};
use super::scratch::Scratch;
use crate::caps::CapSet;
use crate::cgroups::Cgroups;
use crate::fsutil;
use crate::jsonlog::JsonLog;
use crate::protocol::{self, Reply, Request, STDERR, STDOUT};
use crate::seccomp::Filter;
use crate::spec::{ExecSpec, ExitStatus, Spec};
use crate::timefmt;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{send, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// Output buffered for one attacher (or input for one process) before the loop stops
/// reading more: a slow attacher slows the container, as in Docker.
const HIGH_WATER: usize = 1 << 20;
/// How much one read of output or of a client takes.
const READ_SIZE: NonZeroUsize = NonZeroUsize::new(32 * 1024).unwrap();
/// How long output may keep coming after a process exited (its descendants hold the pipes).
const DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How long the loop must have had nothing to do before it counts as idle.
const QUIET: Duration = Duration::from_secs(2);
/// How long the monitor stays to deliver what attachers and waiters have not read yet.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

const SIGNAL_TOKEN: u64 = 0;
const LISTENER_TOKEN: u64 = 1;
const PROC_TAG: u64 = 1 << 62;
const CLIENT_TAG: u64 = 2 << 62;
const INIT: u32 = 0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out = 0,
    Err = 1,
    Stdin = 2,
}

enum Token {
    Signal,
    Listener,
    Proc(u32, Stream),
    Client(u32),
}

fn proc_token(id: u32, stream: Stream) -> u64 {
    PROC_TAG | u64::from(id) << 2 | stream as u64
}

fn client_token(id: u32) -> u64 {
    CLIENT_TAG | u64::from(id)
}

fn decode(token: u64) -> Token {
    match token {
        SIGNAL_TOKEN => Token::Signal,
        LISTENER_TOKEN => Token::Listener,
        t if t & CLIENT_TAG == CLIENT_TAG => Token::Client(t as u32),
        t => {
            let stream = match t & 3 {
                0 => Stream::Out,
                1 => Stream::Err,
                _ => Stream::Stdin,
            };
            Token::Proc((t >> 2) as u32, stream)
        }
    }
}

/// A descriptor and what it is registered for in the epoll set (`None`: not registered).
struct Watched<F: AsFd> {
    fd: F,
    registered: Option<EpollFlags>,
}

impl<F: AsFd> Watched<F> {
    fn new(fd: F) -> Self {
        Watched { fd, registered: None }
    }

    /// Registers for `want`, changing the set only when that differs from what it is.
    fn set_interest(&mut self, epoll: &Epoll, want: EpollFlags, token: u64) {
        let want = Some(want).filter(|w| !w.is_empty());
        let result = match (self.registered, want) {
            (None, Some(w)) => epoll.add(&self.fd, EpollEvent::new(w, token)),
            (Some(_), Some(w)) if self.registered != want => epoll.modify(&self.fd, &mut EpollEvent::new(w, token)),
            (Some(_), None) => epoll.delete(&self.fd),
            _ => Ok(()),
        };
        if result.is_ok() {
            self.registered = want;
        }
    }

    /// Leaves the epoll set before closing: a pty master's other descriptor would keep the
    /// registration of a closed one alive.
    fn close(mut self, epoll: &Epoll) {
        self.set_interest(epoll, EpollFlags::empty(), 0);
    }
}

/// Input waiting for a process's stdin.
struct Sink {
    w: Watched<OwnedFd>,
    pending: Vec<u8>,
    close_when_flushed: bool,
}

/// The init (id 0) or an exec.
struct Proc {
    pid: Pid,
    tty: bool,
    out: Option<Watched<OwnedFd>>,
    err: Option<Watched<OwnedFd>>,
    stdin: Option<Sink>,
    /// Docker's StdinOnce for the init; always for a non-tty exec.
    close_stdin_on_eof: bool,
    log: Option<JsonLog>,
    exit_code: Option<i32>,
    deadline: Option<Instant>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Still sending its request.
    Request,
    Waiter,
    ExecWaiter(u32),
    Attached {
        proc: u32,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

struct Client {
    w: Watched<UnixStream>,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    role: Role,
    reading: bool,
    /// Close once `out` is written.
    closing: bool,
}

/// The running container the loop serves.
pub struct Container {
    pub spec: Spec,
    pub caps: CapSet,
    pub seccomp: Option<Filter>,
    pub cgroups: Cgroups,
    pub started_at: String,
    pub own_pidns: File,
}

/// An attach stream handed over at start (`Monitor::start_attached`).
pub struct StartAttach {
    pub stream: UnixStream,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

pub struct EventLoop {
    epoll: Epoll,
    _signals: SignalFd,
    signals_fd: RawFd,
    listener: Option<Watched<UnixListener>>,
    container: Container,
    init_pid: Pid,
    procs: BTreeMap<u32, Proc>,
    clients: BTreeMap<u32, Client>,
    next_client: u32,
    next_exec: u32,
    exec_codes: HashMap<u32, i32>,
    init_exit: Option<(i32, Option<i32>, String)>,
    exit: Option<ExitStatus>,
    flush_deadline: Option<Instant>,
    buf: Scratch,
}

impl EventLoop {
    pub fn new(
        container: Container,
        init: Launched,
        listener: UnixListener,
        signals: SignalFd,
        log: Option<JsonLog>,
        attach: Option<StartAttach>,
    ) -> nix::Result<EventLoop> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(&signals, EpollEvent::new(EpollFlags::EPOLLIN, SIGNAL_TOKEN))?;
        listener.set_nonblocking(true).map_err(|_| Errno::EIO)?;
        let close_stdin_on_eof = container.spec.stdin_once && !container.spec.tty;
        let mut event_loop = EventLoop {
            epoll,
            signals_fd: signals.as_raw_fd(),
            _signals: signals,
            listener: Some(Watched::new(listener)),
            init_pid: init.pid,
            container,
            procs: BTreeMap::new(),
            clients: BTreeMap::new(),
            next_client: 0,
            next_exec: 1,
            exec_codes: HashMap::new(),
            init_exit: None,
            exit: None,
            flush_deadline: None,
            buf: Scratch::new(READ_SIZE)?,
        };
        event_loop.add_proc(INIT, init, close_stdin_on_eof, log)?;
        if let Some(a) = attach {
            let role = Role::Attached { proc: INIT, stdin: a.stdin, stdout: a.stdout, stderr: a.stderr };
            event_loop.add_client(a.stream, role);
        }
        Ok(event_loop)
    }

    pub fn init_pid(&self) -> Pid {
        self.init_pid
    }

    /// Serves until the container has exited and what it owed its clients is delivered.
    /// `go_idle` runs whenever the loop has had nothing to do for [`QUIET`] (it releases
    /// memory the loop does not need while it waits); a short-lived container never waits
    /// for it.
    pub fn run(mut self, go_idle: impl Fn()) -> i32 {
        let mut events = [EpollEvent::empty(); 32];
        // When to call `go_idle`: none while it has been called since the last activity.
        let mut idle_at = Some(Instant::now() + QUIET);
        loop {
            self.sync_interest();
            if self.finished() {
                return 0;
            }
            if idle_at.is_some_and(|t| Instant::now() >= t) {
                go_idle();
                idle_at = None;
            }
            let n = match self.epoll.wait(&mut events, self.timeout(idle_at)) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(_) => return 1,
            };
            if n > 0 {
                idle_at = Some(Instant::now() + QUIET);
            }
            for ev in &events[..n] {
                self.dispatch(ev.data(), ev.events());
            }
            self.complete_exited();
        }
    }

    fn finished(&self) -> bool {
        self.exit.is_some() && (self.clients.is_empty() || self.flush_deadline.is_some_and(|d| Instant::now() >= d))
    }

    /// Until the first deadline: draining an exited process's output, flushing to clients,
    /// or going idle.
    fn timeout(&self, idle_at: Option<Instant>) -> EpollTimeout {
        // An exited init waits (until its deadline) for the execs, which its end kills.
        let draining = (self.procs.iter())
            .filter(|&(&id, p)| p.out.is_some() || p.err.is_some() || id == INIT)
            .filter_map(|(_, p)| p.deadline);
        let Some(deadline) = draining.chain(self.flush_deadline).chain(idle_at).min() else {
            return EpollTimeout::NONE;
        };
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
        EpollTimeout::try_from(left).unwrap_or(EpollTimeout::MAX)
    }

    fn dispatch(&mut self, token: u64, events: EpollFlags) {
        match decode(token) {
            Token::Signal => self.reap(),
            Token::Listener => self.accept(),
            Token::Proc(id, Stream::Stdin) => self.flush_stdin(id),
            Token::Proc(id, stream) => self.read_output(id, stream),
            Token::Client(id) => {
                if events.contains(EpollFlags::EPOLLOUT) {
                    self.flush_client(id);
                }
                if events.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
                    self.read_client(id, events);
                }
            }
        }
    }

    /// Brings every registration in line with what each descriptor waits for now.
    fn sync_interest(&mut self) {
        let paused: HashSet<u32> = (self.clients.values())
            .filter(|c| c.out.len() > HIGH_WATER)
            .filter_map(|c| if let Role::Attached { proc, .. } = c.role { Some(proc) } else { None })
            .collect();
        let stdin_full = self.sync_procs(&paused);
        let epoll = &self.epoll;
        for (&id, c) in self.clients.iter_mut() {
            let blocked = matches!(c.role, Role::Attached { proc, stdin: true, .. } if stdin_full.contains(&proc));
            let mut want = EpollFlags::empty();
            want.set(EpollFlags::EPOLLIN, c.reading && !blocked);
            want.set(EpollFlags::EPOLLOUT, !c.out.is_empty());
            c.w.set_interest(epoll, want, client_token(id));
        }
        if let Some(l) = &mut self.listener {
            l.set_interest(epoll, EpollFlags::EPOLLIN, LISTENER_TOKEN);
        }
    }

    /// Output is read unless an attacher of the process is `paused` (full); stdin is
    /// written while input waits. Returns the processes whose stdin backlog is full.
    fn sync_procs(&mut self, paused: &HashSet<u32>) -> HashSet<u32> {
        let mut stdin_full = HashSet::new();
        for (&id, p) in self.procs.iter_mut() {
            let want = if paused.contains(&id) { EpollFlags::empty() } else { EpollFlags::EPOLLIN };
            for (w, stream) in [(&mut p.out, Stream::Out), (&mut p.err, Stream::Err)] {
                if let Some(w) = w {
                    w.set_interest(&self.epoll, want, proc_token(id, stream));
                }
            }
            if let Some(s) = &mut p.stdin {
                let want = if s.pending.is_empty() { EpollFlags::empty() } else { EpollFlags::EPOLLOUT };
                s.w.set_interest(&self.epoll, want, proc_token(id, Stream::Stdin));
                if s.pending.len() > HIGH_WATER {
                    stdin_full.insert(id);
                }
            }
        }
        stdin_full
    }

    fn add_proc(
        &mut self,
        id: u32,
        launched: Launched,
        close_stdin_on_eof: bool,
        log: Option<JsonLog>,
    ) -> nix::Result<()> {
        let ProcIo { out, err, stdin, tty } = launched.io;
        for fd in out.iter().chain(&err).chain(&stdin) {
            fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
        }
        let stdin = stdin.map(|fd| Sink { w: Watched::new(fd), pending: Vec::new(), close_when_flushed: false });
        let proc = Proc {
            pid: launched.pid,
            tty,
            out: out.map(Watched::new),
            err: err.map(Watched::new),
            stdin,
            close_stdin_on_eof: close_stdin_on_eof && !tty,
            log,
            exit_code: None,
            deadline: None,
        };
        self.procs.insert(id, proc);
        Ok(())
    }

    fn add_client(&mut self, stream: UnixStream, role: Role) -> u32 {
        let id = self.next_client;
        self.next_client += 1;
        let client =
            Client { w: Watched::new(stream), inbuf: Vec::new(), out: Vec::new(), role, reading: true, closing: false };
        self.clients.insert(id, client);
        id
    }

    fn accept(&mut self) {
        while let Some(l) = &self.listener {
            match l.fd.accept() {
                Ok((stream, _)) if stream.set_nonblocking(true).is_ok() => {
                    self.add_client(stream, Role::Request);
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }

    // ---- processes -------------------------------------------------------------------

    fn reap(&mut self) {
        let mut siginfo = [0u8; 128];
        // Drain the signalfd; which children exited is waitpid's to say.
        while nix::unistd::read(self.signals_fd, &mut siginfo).is_ok_and(|n| n > 0) {}
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.exited(pid, code, None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.exited(pid, 128 + sig as i32, Some(sig as i32)),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn exited(&mut self, pid: Pid, code: i32, signal: Option<i32>) {
        let Some((&id, p)) = self.procs.iter_mut().find(|(_, p)| p.pid == pid) else { return };
        p.exit_code = Some(code);
        p.deadline = Some(Instant::now() + DRAIN_GRACE);
        if id == INIT {
            self.init_exit = Some((code, signal, timefmt::now()));
            if self.container.spec.pid_host {
                // Without a pid namespace nothing ends the init's descendants for us.
                self.container.cgroups.kill_all();
            }
        }
    }

    fn read_output(&mut self, id: u32, stream: Stream) {
        let Some(p) = self.procs.get_mut(&id) else { return };
        let slot = if stream == Stream::Out { &mut p.out } else { &mut p.err };
        let Some(w) = slot else { return };
        let n = match nix::unistd::read(w.fd.as_raw_fd(), &mut self.buf) {
            Err(Errno::EAGAIN | Errno::EINTR) => return,
            Ok(0) | Err(_) => {
                // EOF, or EIO from a pty master whose slave is closed everywhere.
                if let Some(w) = slot.take() {
                    w.close(&self.epoll);
                }
                return;
            }
            Ok(n) => n,
        };
        let name = if stream == Stream::Out { "stdout" } else { "stderr" };
        if let Some(log) = &mut p.log {
            let _ = log.write_chunk(name, &self.buf[..n]);
        }
        let frame_stream = if p.tty || stream == Stream::Out { STDOUT } else { STDERR };
        self.broadcast(id, frame_stream, n);
    }

    /// Frames the first `n` bytes of the read buffer to the attachers of `id` that want
    /// `stream`, writing at once what they can take.
    fn broadcast(&mut self, id: u32, stream: u8, n: usize) {
        let header = protocol::frame_header(stream, n);
        let mut dead = Vec::new();
        for (&cid, c) in self.clients.iter_mut() {
            let Role::Attached { proc, stdout, stderr, .. } = c.role else { continue };
            if proc == id && if stream == STDOUT { stdout } else { stderr } {
                c.out.extend_from_slice(&header);
                c.out.extend_from_slice(&self.buf[..n]);
                if !write_out(c) {
                    dead.push(cid);
                }
            }
        }
        dead.into_iter().for_each(|cid| self.remove_client(cid));
    }

    fn feed_stdin(&mut self, id: u32, data: &[u8]) {
        let Some(sink) = self.procs.get_mut(&id).and_then(|p| p.stdin.as_mut()) else { return };
        if !sink.close_when_flushed {
            sink.pending.extend_from_slice(data);
            self.flush_stdin(id);
        }
    }

    fn flush_stdin(&mut self, id: u32) {
        let Some(p) = self.procs.get_mut(&id) else { return };
        let Some(sink) = &mut p.stdin else { return };
        let mut ok = true;
        while !sink.pending.is_empty() {
            match nix::unistd::write(&sink.w.fd, &sink.pending) {
                Ok(n) => drop(sink.pending.drain(..n)),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break,
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok || (sink.pending.is_empty() && sink.close_when_flushed) {
            if let Some(sink) = p.stdin.take() {
                sink.w.close(&self.epoll);
            }
        }
    }

    /// An attacher's stdin ended: close the process's stdin if it is the once kind.
    fn stdin_ended(&mut self, id: u32) {
        let Some(p) = self.procs.get_mut(&id) else { return };
        if let (true, Some(sink)) = (p.close_stdin_on_eof, &mut p.stdin) {
            sink.close_when_flushed = true;
            self.flush_stdin(id);
        }
    }

    /// Finishes processes that exited and whose output ended (or whose grace ran out); the
    /// init last, as its end ends the container.
    fn complete_exited(&mut self) {
        let now = Instant::now();
        let mut done: Vec<u32> = (self.procs.iter())
            .filter(|(_, p)| p.exit_code.is_some())
            .filter(|(_, p)| (p.out.is_none() && p.err.is_none()) || p.deadline.is_some_and(|d| now >= d))
            .map(|(&id, _)| id)
            .collect();
        // The init's end ends the container and answers every exec waiter: first let the
        // execs it took down be reaped, so that they report their own status.
        let execs_left = self.procs.keys().any(|id| *id != INIT && !done.contains(id));
        let init_waited = self.procs.get(&INIT).and_then(|p| p.deadline).is_some_and(|d| now >= d);
        if execs_left && !init_waited {
            done.retain(|&id| id != INIT);
        }
        done.sort_by_key(|&id| (id == INIT, id));
        done.into_iter().for_each(|id| self.complete(id));
    }

    fn complete(&mut self, id: u32) {
        let Some(p) = self.procs.remove(&id) else { return };
        let code = p.exit_code.unwrap_or(-1);
        for w in p.out.into_iter().chain(p.err) {
            w.close(&self.epoll);
        }
        if let Some(sink) = p.stdin {
            sink.w.close(&self.epoll);
        }
        for c in self.clients.values_mut() {
            if matches!(c.role, Role::Attached { proc, .. } if proc == id) {
                c.closing = true;
                c.reading = false;
            }
        }
        if id == INIT {
            self.finalize();
        } else {
            self.exec_codes.insert(id, code);
            let reply = Reply { exit_code: Some(code), ..Reply::default() };
            self.answer(|role| role == Role::ExecWaiter(id), &reply);
        }
        self.flush_closing();
    }

    /// The container has exited: record it, remove the cgroups, stop taking clients.
    fn finalize(&mut self) {
        let (code, signal, finished_at) = self.init_exit.take().unwrap_or_else(|| (-1, None, timefmt::now()));
        let oom_killed = self.container.cgroups.oom_killed();
        let _ = self.container.cgroups.destroy();
        let status = ExitStatus {
            code,
            signal,
            oom_killed,
            started_at: self.container.started_at.clone(),
            finished_at,
            error: String::new(),
        };
        let dir = &self.container.spec.state_dir;
        let _ = fsutil::atomic_write(&dir.join("exit.json"), &serde_json::to_vec(&status).unwrap_or_default());
        if let Some(l) = self.listener.take() {
            l.close(&self.epoll);
        }
        let _ = std::fs::remove_file(dir.join("monitor.sock"));
        let _ = std::fs::remove_file(dir.join("monitor.pid"));
        let reply = Reply { exit: Some(status.clone()), ..Reply::default() };
        self.answer(|role| role == Role::Waiter, &reply);
        let gone = Reply::error("the container has exited");
        self.answer(|role| matches!(role, Role::ExecWaiter(_) | Role::Request), &gone);
        self.exit = Some(status);
        self.flush_deadline = Some(Instant::now() + FLUSH_GRACE);
    }

    // ---- clients ---------------------------------------------------------------------

    /// Sends `reply` to the clients whose role matches, then lets them go.
    fn answer(&mut self, matches: impl Fn(Role) -> bool, reply: &Reply) {
        let bytes = protocol::encode(reply);
        for c in self.clients.values_mut().filter(|c| matches(c.role)) {
            c.out.extend_from_slice(&bytes);
            c.closing = true;
            c.reading = false;
        }
    }

    fn flush_closing(&mut self) {
        let ids: Vec<u32> = self.clients.iter().filter(|(_, c)| c.closing).map(|(&id, _)| id).collect();
        ids.into_iter().for_each(|id| self.flush_client(id));
    }

    fn flush_client(&mut self, id: u32) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        if !write_out(c) || (c.out.is_empty() && c.closing) {
            self.remove_client(id);
        }
    }

    fn remove_client(&mut self, id: u32) {
        let Some(c) = self.clients.remove(&id) else { return };
        c.w.close(&self.epoll);
        if let Role::Attached { proc, stdin: true, .. } = c.role {
            self.stdin_ended(proc);
        }
    }

    fn read_client(&mut self, id: u32, events: EpollFlags) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        if !c.reading {
            if events.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR) {
                self.remove_client(id);
            }
            return;
        }
        let n = match (&c.w.fd).read(&mut self.buf) {
            Ok(0) => return self.client_eof(id),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => return,
            Err(_) => return self.remove_client(id),
        };
        match c.role {
            Role::Request => {
                c.inbuf.extend_from_slice(&self.buf[..n]);
                self.try_request(id);
            }
            Role::Attached { proc, stdin: true, .. } => {
                let data = self.buf[..n].to_vec();
                self.feed_stdin(proc, &data);
            }
            _ => {}
        }
    }

    fn client_eof(&mut self, id: u32) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        match c.role {
            Role::Attached { proc, stdin, stdout, stderr } => {
                c.reading = false;
                c.role = Role::Attached { proc, stdin: false, stdout, stderr };
                if stdin {
                    self.stdin_ended(proc);
                }
            }
            _ => self.remove_client(id),
        }
    }

    fn try_request(&mut self, id: u32) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        let parsed = match protocol::split_message(&c.inbuf) {
            Ok(None) => return,
            Ok(Some((json, used))) => {
                serde_json::from_slice::<Request>(json).map(|r| (r, used)).map_err(|e| format!("bad request: {e}"))
            }
            Err(e) => Err(e),
        };
        match parsed {
            Ok((request, used)) => {
                let rest = c.inbuf.split_off(used);
                c.inbuf = Vec::new();
                self.handle(id, request, rest);
            }
            Err(message) => self.respond(id, Some(Reply::error(message)), None),
        }
    }

    fn handle(&mut self, id: u32, request: Request, rest: Vec<u8>) {
        let (reply, role) = match request {
            Request::Info => (Some(self.info()), None),
            Request::Wait => match &self.exit {
                Some(status) => (Some(Reply { exit: Some(status.clone()), ..Reply::default() }), None),
                None => (None, Some(Role::Waiter)),
            },
            Request::Signal { signal } => (Some(self.signal(signal)), None),
            Request::Resize { rows, cols, exec } => (Some(self.resize(exec.unwrap_or(INIT), rows, cols)), None),
            Request::Attach { stdin, stdout, stderr } => self.attach(stdin, stdout, stderr),
            Request::Exec { spec } => self.exec(&spec),
            Request::ExecWait { id } => self.exec_wait(id),
        };
        self.respond(id, reply, role);
        if let (Some(Role::Attached { proc, stdin: true, .. }), false) = (role, rest.is_empty()) {
            self.feed_stdin(proc, &rest);
        }
    }

    /// Queues `reply` and either gives the client its new role or lets it go once written.
    fn respond(&mut self, id: u32, reply: Option<Reply>, role: Option<Role>) {
        let Some(c) = self.clients.get_mut(&id) else { return };
        if let Some(reply) = reply {
            c.out.extend_from_slice(&protocol::encode(&reply));
        }
        match role {
            Some(role) => c.role = role,
            None => {
                c.closing = true;
                c.reading = false;
            }
        }
        self.flush_client(id);
    }

    fn info(&self) -> Reply {
        Reply {
            pid: Some(self.init_pid.as_raw()),
            started_at: Some(self.container.started_at.clone()),
            ..Reply::default()
        }
    }

    /// The refusal for requests that need a running container, if it is not.
    fn not_running(&self) -> Option<Reply> {
        let running = self.init_exit.is_none() && self.exit.is_none();
        (!running).then(|| Reply::error(format!("container {} is not running", self.container.spec.id)))
    }

    fn signal(&self, signal: i32) -> Reply {
        if let Some(reply) = self.not_running() {
            return reply;
        }
        match send_signal(self.init_pid, signal) {
            Ok(()) => Reply::default(),
            Err(errno) => Reply::error(format!("couldn't send signal {signal} to the container: {errno}")),
        }
    }

    fn resize(&self, id: u32, rows: u16, cols: u16) -> Reply {
        let Some(p) = self.procs.get(&id) else { return Reply::error(format!("no such process: {id}")) };
        let fd = p.out.as_ref().map(|w| w.fd.as_raw_fd()).or(p.stdin.as_ref().map(|s| s.w.fd.as_raw_fd()));
        match (p.tty, fd) {
            (true, Some(fd)) => match set_winsize(fd, rows, cols) {
                Ok(()) => Reply::default(),
                Err(errno) => Reply::error(format!("couldn't resize the tty: {errno}")),
            },
            _ => Reply::error("the process has no tty to resize"),
        }
    }

    fn attach(&self, stdin: bool, stdout: bool, stderr: bool) -> (Option<Reply>, Option<Role>) {
        if !self.procs.contains_key(&INIT) {
            return (Some(Reply::default()), None);
        }
        let stdin = stdin && self.container.spec.open_stdin;
        (Some(Reply::default()), Some(Role::Attached { proc: INIT, stdin, stdout, stderr }))
    }

    fn exec(&mut self, exec: &ExecSpec) -> (Option<Reply>, Option<Role>) {
        if let Some(reply) = self.not_running() {
            return (Some(reply), None);
        }
        let ctx = ExecContext {
            spec: &self.container.spec,
            confinement: Confinement { caps: self.container.caps, seccomp: self.container.seccomp.as_ref() },
            cgroups: &self.container.cgroups,
            init_pid: self.init_pid,
            own_pidns: &self.container.own_pidns,
        };
        let launched = match launch::fork_exec(&ctx, exec) {
            Ok(launched) => launched,
            Err(e) => return (Some(Reply { exit_code: Some(e.exit_code()), ..Reply::error(e.to_string()) }), None),
        };
        let id = self.next_exec;
        self.next_exec += 1;
        let pid = launched.pid.as_raw();
        if let Err(errno) = self.add_proc(id, launched, true, None) {
            return (Some(Reply::error(format!("couldn't watch the exec's output: {errno}"))), None);
        }
        let reply = Reply { pid: Some(pid), exec_id: Some(id), ..Reply::default() };
        (Some(reply), Some(Role::Attached { proc: id, stdin: exec.open_stdin, stdout: true, stderr: true }))
    }

    fn exec_wait(&self, id: u32) -> (Option<Reply>, Option<Role>) {
        match self.exec_codes.get(&id) {
            Some(&code) => (Some(Reply { exit_code: Some(code), ..Reply::default() }), None),
            None if self.procs.contains_key(&id) && id != INIT => (None, Some(Role::ExecWaiter(id))),
            None => (Some(Reply::error(format!("no such exec: {id}"))), None),
        }
    }
}

/// Writes what the client can take now; false when it is gone.
fn write_out(c: &mut Client) -> bool {
    while !c.out.is_empty() {
        match send(c.w.fd.as_raw_fd(), &c.out, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => drop(c.out.drain(..n)),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return true,
            Err(_) => return false,
        }
    }
    true
}

fn send_signal(pid: Pid, signal: i32) -> nix::Result<()> {
    match (signal, Signal::try_from(signal)) {
        (0, _) => kill(pid, None),
        (_, Ok(sig)) => kill(pid, sig),
        // SAFETY: kill takes two integers; realtime signals have no nix `Signal` value.
        _ => Errno::result(unsafe { libc::kill(pid.as_raw(), signal) }).map(drop),
    }
}

fn set_winsize(fd: RawFd, rows: u16, cols: u16) -> nix::Result<()> {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one struct winsize, which `size` is and outlives the call.
    Errno::result(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) }).map(drop)
}
