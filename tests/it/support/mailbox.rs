//! `Mailbox`: a real SMTP server for the tests (tests/it/support/smtp_capture.py on
//! Debian's python3-aiosmtpd) with STARTTLS or implicit TLS, AUTH, and a
//! throwaway CA, so sendmail and the watchers are tested against the same kind
//! of server they meet in production, not a mock.
//!
//! `Mailbox::start` generates a CA and a server certificate for its address
//! ([`MailboxOptions::host`], default 127.0.0.1) with the `openssl` CLI,
//! starts the server on a free port of that address and waits for its READY
//! line. Accepted messages are read back with [`Mailbox::wait_for`].
//! [`Mailbox::stop`] / [`Mailbox::restart`] take the server away and bring it
//! back on the same port with the same certificate. Drop kills the server and
//! removes its directory.

#![allow(dead_code)] // Shared by several test modules; not each uses every helper.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Debian interpreter that has python3-aiosmtpd (not a pyenv shim).
pub const PYTHON: &str = "/usr/bin/python3";

/// How the capture server is set up.
#[derive(Debug, Clone)]
pub struct MailboxOptions {
    /// TLS from the first byte instead of STARTTLS.
    pub implicit_tls: bool,
    /// No TLS at all, AUTH offered in clear text (a client must refuse it).
    pub no_tls: bool,
    pub user: String,
    pub password: String,
    /// The loopback address it listens on (and its certificate names); a
    /// sandbox net's address lets `bin/sandbox partition-addr` cut it off.
    pub host: String,
}

impl Default for MailboxOptions {
    fn default() -> Self {
        MailboxOptions {
            implicit_tls: false,
            no_tls: false,
            user: "watch@example.test".into(),
            password: "pw-S3cr3t-never-printed".into(),
            host: "127.0.0.1".into(),
        }
    }
}

/// One accepted message, as the server saw it.
#[derive(Debug, Clone)]
pub struct Message {
    /// Envelope sender (MAIL FROM).
    pub from: String,
    /// Envelope recipients (RCPT TO), in order.
    pub to: Vec<String>,
    /// Decoded Subject header.
    pub subject: String,
    /// Decoded From header.
    pub from_header: String,
    /// Decoded To header.
    pub to_header: String,
    /// Top-level content type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// Content types of the leaf parts.
    pub parts: Vec<String>,
    /// The login the client authenticated with.
    pub auth_user: String,
    /// The message data as received.
    pub raw: String,
    html: String,
}

impl Message {
    /// The decoded text/html part ("" if there is none).
    pub fn html_body(&self) -> &str {
        &self.html
    }

    fn read(dir: &Path) -> Message {
        let get = |name: &str| {
            fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(name).display()))
        };
        let lines = |name: &str| -> Vec<String> {
            get(name)
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        };
        Message {
            from: get("mail_from"),
            to: lines("rcpt_tos"),
            subject: get("subject"),
            from_header: get("from_header"),
            to_header: get("to_header"),
            content_type: get("content_type"),
            parts: lines("parts"),
            auth_user: get("auth_user"),
            raw: String::from_utf8_lossy(&fs::read(dir.join("raw.eml")).unwrap_or_default())
                .into_owned(),
            html: get("html"),
        }
    }
}

/// A running capture server and its files.
pub struct Mailbox {
    pub opts: MailboxOptions,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A port on `host` that was free a moment ago.
fn free_port_on(host: &str) -> u16 {
    let l = TcpListener::bind((host, 0)).unwrap_or_else(|e| panic!("bind {host}:0: {e}"));
    l.local_addr().expect("local_addr").port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Mailbox {
    /// Generates the certificates, starts the server, waits until it listens.
    pub fn start(opts: MailboxOptions) -> Mailbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("pgpw-mailbox-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("mail")).expect("create mailbox dir");
        make_certificates(&dir, &opts.host);
        let port = free_port_on(&opts.host);
        let mut mb = Mailbox {
            opts,
            port,
            dir,
            child: None,
        };
        mb.spawn();
        mb
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A private directory for the test's own files (args.txt ...).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// sendmail arguments that reach this server and trust its CA:
    /// `--user --password --server --port --cacert` (plus `--tls=implicit`).
    pub fn connect_args(&self) -> Vec<String> {
        let mut v = vec![
            format!("--user={}", self.opts.user),
            format!("--password={}", self.opts.password),
            format!("--server={}", self.opts.host),
            format!("--port={}", self.port),
            format!("--cacert={}", self.ca_cert().display()),
        ];
        if self.opts.implicit_tls {
            v.push("--tls=implicit".into());
        }
        v
    }

    /// The server's log (stderr), for assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Every AUTH attempt so far as `"<login> ok"` / `"<login> bad"`.
    pub fn auth_attempts(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("mail/auth_attempts"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        let mut names: Vec<PathBuf> = fs::read_dir(self.dir.join("mail"))
            .expect("read mail dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("msg-"))
            })
            .collect();
        names.sort();
        names.iter().map(|p| Message::read(p)).collect()
    }

    /// Polls until at least `n` messages arrived; panics (with the server
    /// log) if they do not within `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Message> {
        let deadline = Instant::now() + within;
        loop {
            let msgs = self.messages();
            if msgs.len() >= n {
                return msgs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {n} message(s) within {within:?}, got {}; server log:\n{}",
                    msgs.len(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (the port is closed afterwards).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same certificate.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGSTOP: the server accepts TCP connections (the kernel does) but
    /// never greets — a frozen mail server.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Mailbox::freeze`].
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let child = self.child.as_ref().expect("mailbox running");
        let ok = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill {sig} {} (mailbox)", child.id());
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("open server.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_capture.py");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(&script)
            .arg(format!("--host={}", self.opts.host))
            .arg(format!("--port={}", self.port))
            .arg(format!("--cert={}", self.dir.join("server.pem").display()))
            .arg(format!("--key={}", self.dir.join("server.key").display()))
            .arg(format!("--user={}", self.opts.user))
            .arg(format!("--password={}", self.opts.password))
            .arg(format!("--maildir={}", self.dir.join("mail").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if self.opts.implicit_tls {
            cmd.arg("--implicit-tls");
        }
        if self.opts.no_tls {
            cmd.arg("--no-tls");
        }
        // A restart may find the old socket still closing: retry briefly.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("start {PYTHON} {}: {e}", script.display()));
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let mut first = String::new();
                let _ = BufReader::new(stdout).read_line(&mut first);
                let _ = tx.send(first);
            });
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.trim() == "READY" => {
                    self.child = Some(child);
                    return;
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    if Instant::now() >= deadline {
                        panic!(
                            "capture SMTP server on {}:{} did not print READY within 20s; log:\n{}",
                            self.opts.host,
                            self.port,
                            self.log()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A throwaway CA and a server certificate for IP `host` and localhost.
fn make_certificates(dir: &Path, host: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509"])
        .args(ec)
        .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
        .args(["-subj", "/CN=pgpoolwatch test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    run(Command::new("openssl")
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args(["-keyout", "server.key", "-out", "server.csr"])
        .args(["-subj", &format!("/CN={host}")]));
    fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName=IP:{host},DNS:localhost\n\
             basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n"
        ),
    )
    .expect("write server.ext");
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
        ])
        .args(["-CAcreateserial", "-out", "server.pem", "-days", "2"])
        .args(["-extfile", "server.ext"]));
}
