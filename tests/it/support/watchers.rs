//! `Watcher`: the built `pgpwatch` / `repmgrwatch` binaries run as child
//! processes against a sandbox cluster, so the watcher tests exercise what an
//! operator installs (argument parsing, config loading, signals, the gate,
//! the mail thread) and not a library call that could differ from it.
//!
//! A watcher's config is the sandbox's generated `hosts/<host>/config.ini`
//! copied into a private directory with keys overridden per test (check
//! period, connect timeout, force_open, and `[general] sendmail = yes` with an
//! args.txt that reaches a [`Mailbox`] and trusts its CA). Each watcher mails
//! its own recipient (`<host>@watchers.test`), so one capture server tells
//! the watchers' mails apart. stderr (`PGPOOLWATCH_LOG=debug`) goes to a file
//! that assertion messages quote. [`Watcher::stop`] sends SIGTERM and asserts
//! exit 0 with the port closed; Drop sends SIGTERM (SIGKILL after a deadline)
//! so no watcher outlives its test.
//!
//! [`wait_port`] polls a port until it is open or closed and returns how long
//! that took, the reaction time the tests assert on and print.

#![allow(dead_code)] // Not every test uses every helper.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::mailbox::{Mailbox, Message};

/// Which binary to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Pgpwatch,
    Repmgrwatch,
}

impl Program {
    fn binary(self) -> &'static str {
        match self {
            Program::Pgpwatch => env!("CARGO_BIN_EXE_pgpwatch"),
            Program::Repmgrwatch => env!("CARGO_BIN_EXE_repmgrwatch"),
        }
    }

    /// `pgpwatch` / `repmgrwatch`: the binary's log prefix.
    pub fn name(self) -> &'static str {
        match self {
            Program::Pgpwatch => "pgpwatch",
            Program::Repmgrwatch => "repmgrwatch",
        }
    }

    /// The config section holding the watcher's own keys.
    fn section(self) -> &'static str {
        match self {
            Program::Pgpwatch => "pgp",
            Program::Repmgrwatch => "repmgr",
        }
    }
}

/// Per-test settings laid over the sandbox's config.ini.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// `check_period`, seconds.
    pub check_period: f64,
    /// `connect_timeout` of the watcher (and of poolstatus for mail reports).
    pub connect_timeout: f64,
    /// `[repmgr] force_open` (ignored by pgpwatch).
    pub force_open: bool,
    /// Further `(section, key, value)` overrides, applied last.
    pub extra: Vec<(String, String, String)>,
    /// The soft `RLIMIT_NOFILE` the watcher starts with (hard kept); None
    /// inherits the test's.
    pub nofile_soft: Option<u64>,
    /// The OS account the watcher runs as, as the packaged units run it
    /// (`User=postgres`): its private directory becomes root:<group> 0750
    /// and config.ini and args.txt root:<group> 0640, the layout of
    /// /etc/pgpoolwatch. None: the test's own account (root).
    pub user: Option<String>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            check_period: 0.5,
            connect_timeout: 1.0,
            force_open: false,
            extra: Vec::new(),
            nofile_soft: None,
            user: None,
        }
    }
}

impl Tuning {
    /// The longest a port may take to follow a change: one period to notice
    /// plus one probe's timeout.
    pub fn reaction_bound(&self) -> Duration {
        Duration::from_secs_f64(self.check_period + self.connect_timeout)
    }
}

/// The uid and primary gid of OS account `user`, from /etc/passwd.
pub fn account_ids(user: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && f[0] == user)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .unwrap_or_else(|| {
            panic!("no account {user:?} in /etc/passwd (bin/install-deps installs PostgreSQL, which makes postgres)")
        })
}

/// `chown root:gid PATH && chmod MODE PATH`.
fn set_owner_mode(path: &Path, gid: u32, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(0), Some(gid))
        .unwrap_or_else(|e| panic!("chown root:{gid} {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// Generous allowance for a loaded CI machine on top of `reaction_bound`.
pub const SLACK: Duration = Duration::from_secs(2);

/// A running watcher process.
pub struct Watcher {
    pub program: Program,
    /// Sandbox host label (`pgp1`, `db2`, ...).
    pub host: String,
    addr: String,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    tuning: Tuning,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Watcher {
    /// pgpwatch for `host` (`pgp1`/`pgp2`) of `cluster`.
    pub fn pgpwatch(
        cluster: &Cluster,
        host: &str,
        mailbox: Option<&Mailbox>,
        tuning: &Tuning,
    ) -> Watcher {
        Watcher::start(
            Program::Pgpwatch,
            &cluster.config_path(host),
            host,
            mailbox,
            tuning,
        )
    }

    /// repmgrwatch for `host` (`db1`..`db3`) of `cluster`.
    pub fn repmgrwatch(
        cluster: &Cluster,
        host: &str,
        mailbox: Option<&Mailbox>,
        tuning: &Tuning,
    ) -> Watcher {
        Watcher::start(
            Program::Repmgrwatch,
            &cluster.config_path(host),
            host,
            mailbox,
            tuning,
        )
    }

    /// Copies `source` config.ini with the tuning applied into a private
    /// directory, writes args.txt for `mailbox` (sendmail on) or turns
    /// sendmail off, and starts the binary with stderr to `watcher.log`.
    pub fn start(
        program: Program,
        source: &Path,
        host: &str,
        mailbox: Option<&Mailbox>,
        tuning: &Tuning,
    ) -> Watcher {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("pgpw-watcher-{}-{n}-{host}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let text = fs::read_to_string(source)
            .unwrap_or_else(|e| panic!("read sandbox config {}: {e}", source.display()));

        let sec = program.section();
        let mut text = set_key(&text, sec, "check_period", &tuning.check_period.to_string());
        text = set_key(
            &text,
            sec,
            "connect_timeout",
            &tuning.connect_timeout.to_string(),
        );
        text = set_key(
            &text,
            "poolstatus",
            "connect_timeout",
            &tuning.connect_timeout.to_string(),
        );
        if program == Program::Repmgrwatch {
            let fo = if tuning.force_open { "yes" } else { "no" };
            text = set_key(&text, sec, "force_open", fo);
        }
        match mailbox {
            Some(mb) => {
                let args = dir.join("args.txt");
                let mut lines = mb.connect_args();
                lines.push("--sender=pgpoolwatch@watchers.test".into());
                lines.push(format!("--receivers={}", receiver(host)));
                fs::write(&args, lines.join("\n") + "\n")
                    .unwrap_or_else(|e| panic!("write {}: {e}", args.display()));
                text = set_key(&text, "general", "sendmail", "yes");
                text = set_key(
                    &text,
                    "general",
                    "sendmail_settings_path",
                    &args.display().to_string(),
                );
            }
            None => text = set_key(&text, "general", "sendmail", "no"),
        }
        // Each watcher its own spool and gate state (tests may override).
        text = set_key(
            &text,
            "general",
            "state_dir",
            &dir.join("state").display().to_string(),
        );
        for (s, k, v) in &tuning.extra {
            text = set_key(&text, s, k, v);
        }
        let config = dir.join("config.ini");
        fs::write(&config, &text).unwrap_or_else(|e| panic!("write {}: {e}", config.display()));

        let addr = get_key(&text, sec, "bind_address")
            .unwrap_or_else(|| panic!("{}: no [{sec}] bind_address", source.display()));
        let port: u16 = get_key(&text, sec, "open_port")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{}: no numeric [{sec}] open_port", source.display()));

        let child = spawn(program, &dir, tuning, false);
        Watcher {
            program,
            host: host.to_string(),
            addr,
            port,
            dir,
            child: Some(child),
            tuning: tuning.clone(),
        }
    }

    /// SIGKILL, as an OOM kill or a watchdog abort would: no shutdown, no
    /// flush. Waits until the process is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the binary again with the same config.ini (so the same
    /// `state_dir`), its log appended to the same file.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "{}: still running", self.host);
        let mark = "\n--- started again ---\n";
        if let Ok(mut f) = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("watcher.log"))
        {
            use std::io::Write;
            let _ = f.write_all(mark.as_bytes());
        }
        self.child = Some(spawn(self.program, &self.dir, &self.tuning, true));
    }

    /// The log written since the last [`Watcher::start_again`] (all of it
    /// before the first).
    pub fn log_since_start(&self) -> String {
        let log = self.log();
        match log.rfind("--- started again ---") {
            Some(i) => log[i..].to_string(),
            None => log,
        }
    }
}

/// Runs `program` with `dir`/config.ini, stderr to `dir`/watcher.log
/// (appended when `append`).
/// Starts the watcher of `dir` (its config.ini, its log); as `tuning.user`
/// when one is set, with the files it reads given to that user's group and
/// its state directory to the user.
fn spawn(program: Program, dir: &Path, tuning: &Tuning, append: bool) -> Child {
    let config = dir.join("config.ini");
    let log = fs::OpenOptions::new()
        .create(true)
        .append(append)
        .write(true)
        .truncate(!append)
        .open(dir.join("watcher.log"))
        .unwrap_or_else(|e| panic!("create watcher.log in {}: {e}", dir.display()));
    let mut command = Command::new(program.binary());
    if let Some(user) = &tuning.user {
        use std::os::unix::process::CommandExt;
        let (uid, gid) = account_ids(user);
        for (path, mode) in [
            (dir.to_path_buf(), 0o750),
            (config.clone(), 0o640),
            (dir.join("args.txt"), 0o640),
        ] {
            if path.exists() {
                set_owner_mode(&path, gid, mode);
            }
        }
        // the spool and gate state: the user's own, as StateDirectory= makes it
        let state = dir.join("state");
        fs::create_dir_all(&state).unwrap_or_else(|e| panic!("create {}: {e}", state.display()));
        std::os::unix::fs::chown(&state, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("chown {uid}:{gid} {}: {e}", state.display()));
        // std drops the supplementary groups when root sets a uid.
        command.uid(uid).gid(gid);
    }
    command
        .arg("--config")
        .arg(&config)
        .env("PGPOOLWATCH_LOG", "debug")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    if let Some(soft) = tuning.nofile_soft {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec the hook only calls getrlimit and
        // setrlimit (async-signal-safe, no allocation, no locks).
        unsafe {
            command.pre_exec(move || pgpoolwatch::os::set_nofile_soft(soft));
        }
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.binary()))
}

impl Watcher {
    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The gate's address (`bind_address`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The gate's port (`open_port`).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// The address this watcher mails.
    pub fn receiver(&self) -> String {
        receiver(&self.host)
    }

    /// The watcher's stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("watcher.log")).unwrap_or_default()
    }

    /// The last `n` lines of the log, for assertion messages.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Polls the log until it contains `needle`; panics with the tail when
    /// `within` passes first.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{} {}: no {needle:?} logged within {within:?}; log tail:\n{}",
                self.program.name(),
                self.host,
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Decisions logged so far (one per check).
    pub fn checks(&self) -> usize {
        let tag = format!("] {}: ", self.program.name());
        self.log()
            .lines()
            .filter(|l| l.contains(&tag) && l.contains("port"))
            .count()
    }

    /// Waits until `n` more checks than now have been logged.
    pub fn wait_checks(&self, n: usize, within: Duration) {
        let start = self.checks();
        let deadline = Instant::now() + within;
        while self.checks() < start + n {
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{} {}: fewer than {n} checks within {within:?}; log tail:\n{}",
                self.program.name(),
                self.host,
                self.log_tail(30)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls this watcher's gate until it is `open` (or closed); the time it
    /// took. Panics with the log tail when `within` passes first.
    pub fn wait_port(&self, open: bool, within: Duration) -> Duration {
        match poll_port(&self.addr, self.port, open, within) {
            Some(d) => d,
            None => panic!(
                "{} {}: port {}:{} not {} within {within:?}; log tail:\n{}",
                self.program.name(),
                self.host,
                self.addr,
                self.port,
                if open { "open" } else { "closed" },
                self.log_tail(40)
            ),
        }
    }

    /// Asserts the gate stays `open` (or closed) for `window`, checking often.
    pub fn assert_port_stays(&self, open: bool, window: Duration) {
        let end = Instant::now() + window;
        while Instant::now() < end {
            let now = port_open(&self.addr, self.port);
            assert_eq!(
                now,
                open,
                "{} {}: port {}:{} should stay {}; log tail:\n{}",
                self.program.name(),
                self.host,
                self.addr,
                self.port,
                if open { "open" } else { "closed" },
                self.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its `[general] state_dir` (the spool is `<state_dir>/<program>`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// The config.ini this watcher runs with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.ini")
    }

    /// Switches mail on in its config.ini, to `mailbox` (args.txt written
    /// beside it); takes effect at the next reload.
    pub fn enable_mail(&self, mailbox: &Mailbox) {
        let args = self.dir.join("args.txt");
        let mut lines = mailbox.connect_args();
        lines.push("--sender=pgpoolwatch@watchers.test".into());
        lines.push(format!("--receivers={}", receiver(&self.host)));
        fs::write(&args, lines.join("\n") + "\n")
            .unwrap_or_else(|e| panic!("write {}: {e}", args.display()));
        let cfg = self.config_path();
        let text =
            fs::read_to_string(&cfg).unwrap_or_else(|e| panic!("read {}: {e}", cfg.display()));
        let text = set_key(&text, "general", "sendmail", "yes");
        let text = set_key(
            &text,
            "general",
            "sendmail_settings_path",
            &args.display().to_string(),
        );
        fs::write(&cfg, text).unwrap_or_else(|e| panic!("write {}: {e}", cfg.display()));
    }

    /// Sends SIGHUP.
    pub fn sighup(&self) {
        let child = self.child.as_ref().expect("watcher running");
        let ok = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -HUP {}", child.id());
    }

    /// Whether the gate accepts a connection now.
    pub fn is_open(&self) -> bool {
        port_open(&self.addr, self.port)
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&self) {
        if let Some(child) = &self.child {
            // try_wait needs &mut; a kill -0 tells the same without reaping.
            let alive = Command::new("kill")
                .args(["-0", &child.id().to_string()])
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            let zombie = fs::read_to_string(format!("/proc/{}/stat", child.id()))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true);
            assert!(
                alive && !zombie,
                "{} {} exited early; log:\n{}",
                self.program.name(),
                self.host,
                self.log_tail(60)
            );
        }
    }

    /// SIGTERM; asserts exit status 0 within 20 s and the port closed, and
    /// returns how long the exit took.
    pub fn stop(&mut self) -> Duration {
        let start = Instant::now();
        let status = self.terminate(Duration::from_secs(20));
        let took = start.elapsed();
        match status {
            Some(s) => assert!(
                s.success(),
                "{} {}: SIGTERM gave {s}, want exit 0; log tail:\n{}",
                self.program.name(),
                self.host,
                self.log_tail(40)
            ),
            None => panic!(
                "{} {}: still running 20 s after SIGTERM (killed); log tail:\n{}",
                self.program.name(),
                self.host,
                self.log_tail(40)
            ),
        }
        assert!(
            !port_open(&self.addr, self.port),
            "{} {}: port {}:{} still open after exit",
            self.program.name(),
            self.host,
            self.addr,
            self.port
        );
        took
    }

    /// SIGTERM by pid, wait up to `within`; SIGKILL after that (None).
    fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.terminate(Duration::from_secs(20));
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!(
                "{} {} log kept in {}",
                self.program.name(),
                self.host,
                self.dir.display()
            );
        }
    }
}

/// The recipient a watcher of `host` mails.
pub fn receiver(host: &str) -> String {
    format!("{host}@watchers.test")
}

/// The mails `mailbox` holds for `receiver`, oldest first.
pub fn mails_to(mailbox: &Mailbox, receiver: &str) -> Vec<Message> {
    mailbox
        .messages()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t == receiver))
        .collect()
}

/// The subjects of [`mails_to`].
pub fn subjects_to(mailbox: &Mailbox, receiver: &str) -> Vec<String> {
    mails_to(mailbox, receiver)
        .into_iter()
        .map(|m| m.subject)
        .collect()
}

/// Polls until `receiver` has a mail with `subject`; the time it took, or
/// a panic naming what did arrive.
pub fn wait_mail(mailbox: &Mailbox, receiver: &str, subject: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = subjects_to(mailbox, receiver);
        if got.iter().any(|s| s == subject) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no mail {subject:?} to {receiver} within {within:?}; it got {got:?}; server log:\n{}",
            mailbox.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a TCP connect to `addr:port` succeeds within 300 ms.
pub fn port_open(addr: &str, port: u16) -> bool {
    match format!("{addr}:{port}").parse::<SocketAddr>() {
        Ok(sa) => TcpStream::connect_timeout(&sa, Duration::from_millis(300)).is_ok(),
        Err(_) => false,
    }
}

fn poll_port(addr: &str, port: u16, open: bool, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if port_open(addr, port) == open {
            return Some(start.elapsed());
        }
        if start.elapsed() >= within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `addr:port` every 20 ms until it is `open` (or closed) and returns
/// how long that took; panics when `within` passes first.
pub fn wait_port(addr: &str, port: u16, open: bool, within: Duration) -> Duration {
    poll_port(addr, port, open, within).unwrap_or_else(|| {
        panic!(
            "{addr}:{port} not {} within {within:?}",
            if open { "open" } else { "closed" }
        )
    })
}

/// Key of a `key = value` / `key: value` line, lower-cased (None for
/// comments, blanks, section headers and continuation lines).
fn line_key(line: &str) -> Option<String> {
    if line.starts_with(char::is_whitespace) {
        return None;
    }
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') || t.starts_with('[') {
        return None;
    }
    let end = t.find(['=', ':']).unwrap_or(t.len());
    Some(t[..end].trim().to_ascii_lowercase())
}

fn line_section(line: &str) -> Option<&str> {
    let t = line.trim();
    (t.starts_with('[') && t.ends_with(']')).then(|| &t[1..t.len() - 1])
}

/// `text` with `[section] key = value` set: every existing line of the key
/// in that section replaced, or the key added at the end of the section
/// (a new section at the end when there is none).
pub fn set_key(text: &str, section: &str, key: &str, value: &str) -> String {
    let key = key.to_ascii_lowercase();
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut found_section = false;
    let mut done = false;
    let mut insert_at: Option<usize> = None;
    for line in text.lines() {
        if let Some(s) = line_section(line) {
            current = Some(s.to_string());
            if s == section {
                found_section = true;
            }
        } else if current.as_deref() == Some(section) {
            if line_key(line).as_deref() == Some(key.as_str()) {
                out.push(format!("{key} = {value}"));
                done = true;
                continue;
            }
            if !line.trim().is_empty() {
                insert_at = Some(out.len() + 1);
            }
        }
        out.push(line.to_string());
    }
    if !done {
        let new = format!("{key} = {value}");
        match (found_section, insert_at) {
            (true, Some(i)) => out.insert(i, new),
            _ => {
                out.push(String::new());
                out.push(format!("[{section}]"));
                out.push(new);
            }
        }
    }
    out.join("\n") + "\n"
}

/// The value of `[section] key` in `text` (the last one wins).
pub fn get_key(text: &str, section: &str, key: &str) -> Option<String> {
    let key = key.to_ascii_lowercase();
    let mut current: Option<String> = None;
    let mut value = None;
    for line in text.lines() {
        if let Some(s) = line_section(line) {
            current = Some(s.to_string());
        } else if current.as_deref() == Some(section)
            && line_key(line).as_deref() == Some(key.as_str())
        {
            let t = line.trim();
            value = t.find(['=', ':']).map(|i| t[i + 1..].trim().to_string());
        }
    }
    value
}

#[test]
fn set_key_replaces_adds_and_appends() {
    let ini = "# c\n[pgp]\ncheck_period = 1\nopen_port: 5559\n\n[general]\nsendmail = no\n";
    let t = set_key(ini, "pgp", "CHECK_PERIOD", "0.5");
    assert_eq!(get_key(&t, "pgp", "check_period").as_deref(), Some("0.5"));
    assert!(!t.contains("check_period = 1\n"), "{t}");
    let t = set_key(&t, "pgp", "connect_timeout", "1");
    assert_eq!(get_key(&t, "pgp", "connect_timeout").as_deref(), Some("1"));
    assert!(
        t.find("connect_timeout").unwrap() < t.find("[general]").unwrap(),
        "{t}"
    );
    let t = set_key(&t, "repmgr", "force_open", "yes");
    assert_eq!(get_key(&t, "repmgr", "force_open").as_deref(), Some("yes"));
    assert_eq!(get_key(&t, "pgp", "open_port").as_deref(), Some("5559"));
    assert_eq!(get_key(&t, "general", "sendmail").as_deref(), Some("no"));
    assert_eq!(get_key(&t, "general", "open_port"), None);
}
