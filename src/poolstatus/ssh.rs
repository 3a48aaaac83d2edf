//! Disk use of a database host over SSH (ssh2/libssh2), as the original ran
//! `df` over ssh: bounded by the timeout at every step, the host key checked
//! against a known_hosts file (an unknown or changed key is an error, never
//! accepted), and public-key auth with the configured key, else ssh-agent,
//! else `~/.ssh/id_ed25519` / `id_rsa`.

use std::fmt;
use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssh2::{CheckResult, KnownHostFileKind, Session};

use crate::account::{read_credentials_file, CredentialsFileError, CredentialsFileProblem};
use crate::cluster::text::{self, DiskUse, ParseError};
use crate::plumbing::net::{host_port, human_duration};

/// Where and how to log in.
#[derive(Debug, Clone, PartialEq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Private key file; `None` tries ssh-agent, then `~/.ssh/id_ed25519`
    /// and `~/.ssh/id_rsa`.
    pub key: Option<PathBuf>,
    pub known_hosts: PathBuf,
    /// Home whose `.ssh/id_ed25519` / `id_rsa` are tried without `key`.
    pub home: Option<PathBuf>,
    /// The local account a key file must belong to (or root): the
    /// credentials user (see [`crate::account::read_credentials_file`]).
    pub key_owner: String,
    pub timeout: Duration,
}

impl SshTarget {
    fn err(&self, step: SshStep, failure: SshFailure) -> SshError {
        SshError {
            host: self.host.clone(),
            port: self.port,
            step,
            failure,
        }
    }

    fn timed_out(&self, step: SshStep) -> SshError {
        self.err(step, SshFailure::TimedOut(self.timeout))
    }
}

/// Why the disk section of one host failed. `Display` is
/// `ssh STEP host:port: detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct SshError {
    pub host: String,
    pub port: u16,
    /// The step that failed.
    pub step: SshStep,
    pub failure: SshFailure,
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ssh {} {}: {}",
            self.step.as_str(),
            host_port(&self.host, self.port),
            self.failure
        )
    }
}

impl std::error::Error for SshError {}

/// The steps of one ssh command, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshStep {
    Resolve,
    Connect,
    /// Creating the libssh2 session.
    Session,
    Handshake,
    HostKey,
    Auth,
    Channel,
    Exec,
    Read,
    Close,
    ExitStatus,
    /// Reading `df`'s output.
    Df,
}

impl SshStep {
    /// The word in the message: `resolve`, `host key`, `exit status`...
    pub fn as_str(self) -> &'static str {
        match self {
            SshStep::Resolve => "resolve",
            SshStep::Connect => "connect",
            SshStep::Session => "session",
            SshStep::Handshake => "handshake",
            SshStep::HostKey => "host key",
            SshStep::Auth => "auth",
            SshStep::Channel => "channel",
            SshStep::Exec => "exec",
            SshStep::Read => "read",
            SshStep::Close => "close",
            SshStep::ExitStatus => "exit status",
            SshStep::Df => "df",
        }
    }
}

/// What went wrong in an [`SshStep`]. Messages of the OS, the resolver
/// and libssh2 are kept as they said them.
#[derive(Debug, Clone, PartialEq)]
pub enum SshFailure {
    /// The step ran out of the timeout (the whole command's bound).
    TimedOut(Duration),
    /// The host name could not be resolved (the resolver's message).
    Resolve(String),
    /// Resolving gave no address to connect to.
    NoAddress,
    /// The OS refused a socket operation (connection refused, reset...).
    Io(String),
    /// libssh2 failed the step (its message).
    Library(String),
    /// The server sent no host key in the handshake.
    NoHostKey,
    /// The known_hosts file could not be read.
    KnownHostsUnreadable { path: PathBuf, message: String },
    /// The host's key differs from the one in known_hosts: never accepted.
    HostKeyChanged { path: PathBuf },
    /// The host (`host`, `port`: as looked up) is not in known_hosts:
    /// never accepted.
    HostUnknown {
        path: PathBuf,
        host: String,
        port: u16,
    },
    /// libssh2 could not compare the key with known_hosts.
    HostKeyUncheckable { path: PathBuf },
    /// A key file that may not be used (a symbolic link, another
    /// account's, open to group or others, not text), named with the fix.
    KeyUnusable(String),
    /// The configured `ssh_key` was refused.
    KeyRefused {
        user: String,
        key: PathBuf,
        message: String,
    },
    /// Without `ssh_key`: what was tried (ssh-agent, default keys) and why
    /// each failed.
    NoKeyAccepted { user: String, tried: Vec<String> },
    /// The command ran and exited non-zero; the first line of its stderr.
    ExitStatus {
        command: String,
        status: i32,
        stderr: String,
    },
    /// `df`'s output could not be read.
    Df(ParseError),
    /// The command printed more than `limit` bytes.
    TooMuchOutput { command: String, limit: usize },
}

impl fmt::Display for SshFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshFailure::TimedOut(d) => write!(f, "timed out after {}", human_duration(*d)),
            SshFailure::Resolve(m) | SshFailure::Io(m) | SshFailure::Library(m) => {
                write!(f, "{m}")
            }
            SshFailure::NoAddress => write!(f, "no address"),
            SshFailure::NoHostKey => write!(f, "server sent no host key"),
            SshFailure::KnownHostsUnreadable { path, message } => {
                write!(f, "cannot read known_hosts {}: {message}", path.display())
            }
            SshFailure::HostKeyChanged { path } => write!(
                f,
                "host key CHANGED, does not match {} (possible impostor; verify the host, then fix that file)",
                path.display()
            ),
            SshFailure::HostUnknown { path, host, port } => write!(
                f,
                "host not in {} (verify the host key, then add it, e.g. with ssh-keyscan -p {port} {host})",
                path.display()
            ),
            SshFailure::HostKeyUncheckable { path } => {
                write!(f, "cannot check against {}", path.display())
            }
            SshFailure::KeyUnusable(why) => write!(f, "{why}"),
            SshFailure::KeyRefused { user, key, message } => {
                write!(f, "user {user} with key {}: {message}", key.display())
            }
            SshFailure::NoKeyAccepted { user, tried } => {
                write!(f, "user {user}: tried {}", tried.join(", "))
            }
            SshFailure::ExitStatus {
                command,
                status,
                stderr,
            } => write!(f, "{command:?} exited with status {status}: {stderr}"),
            SshFailure::Df(e) => write!(f, "{e}"),
            SshFailure::TooMuchOutput { command, limit } => write!(
                f,
                "{command:?} printed more than {limit} bytes, where it prints two short lines; not read further"
            ),
        }
    }
}

/// The most a command's standard output (or error) is read (64 KiB).
pub const MAX_OUTPUT: usize = 64 << 10;

/// Runs `df -P <path>` on the host and reads its use%.
pub fn disk_use(t: &SshTarget, path: &str) -> Result<DiskUse, SshError> {
    let out = run(t, &format!("df -P -- {}", shell_quote(path)))?;
    text::df(&out).map_err(|e| t.err(SshStep::Df, SshFailure::Df(e)))
}

/// `'text'` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs one command and returns its standard output; a non-zero exit status
/// is an error carrying the first line of standard error.
pub fn run(t: &SshTarget, command: &str) -> Result<String, SshError> {
    let deadline = Instant::now() + t.timeout;
    let addrs = crate::plumbing::deadline::resolve(&t.host, t.port, t.timeout)
        .map_err(|e| t.err(SshStep::Resolve, SshFailure::Resolve(e.to_string())))?;
    let mut last = t.err(SshStep::Resolve, SshFailure::NoAddress);
    let mut tcp = None;
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = t.timed_out(SshStep::Connect);
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = t.timed_out(SshStep::Connect)
            }
            Err(e) => last = t.err(SshStep::Connect, SshFailure::Io(e.to_string())),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let left = deadline.saturating_duration_since(Instant::now());
    let _ = tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))));
    let _ = tcp.set_write_timeout(Some(left.max(Duration::from_millis(1))));
    let mut sess =
        Session::new().map_err(|e| t.err(SshStep::Session, SshFailure::Library(e.to_string())))?;
    sess.set_tcp_stream(tcp);
    let ms = |d: Duration| d.as_millis().clamp(1, u32::MAX as u128) as u32;
    sess.set_timeout(ms(left));
    let step_err = |step: SshStep, e: ssh2::Error| {
        if e.code() == ssh2::ErrorCode::Session(-9) {
            // LIBSSH2_ERROR_TIMEOUT
            t.timed_out(step)
        } else {
            t.err(step, SshFailure::Library(e.message().to_string()))
        }
    };
    sess.handshake()
        .map_err(|e| step_err(SshStep::Handshake, e))?;
    check_host_key(t, &sess)?;
    sess.set_timeout(ms(deadline.saturating_duration_since(Instant::now())));
    authenticate(t, &sess)?;
    sess.set_timeout(ms(deadline.saturating_duration_since(Instant::now())));
    let mut ch = sess
        .channel_session()
        .map_err(|e| step_err(SshStep::Channel, e))?;
    ch.exec(command).map_err(|e| step_err(SshStep::Exec, e))?;
    // A peer's output is read up to a cap: `df -P` prints two short lines.
    let mut out = Vec::new();
    (&mut ch)
        .take(MAX_OUTPUT as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| t.err(SshStep::Read, SshFailure::Io(e.to_string())))?;
    if out.len() > MAX_OUTPUT {
        return Err(t.err(
            SshStep::Read,
            SshFailure::TooMuchOutput {
                command: command.to_string(),
                limit: MAX_OUTPUT,
            },
        ));
    }
    let out = String::from_utf8_lossy(&out).into_owned();
    let mut err = Vec::new();
    let _ = ch.stderr().take(MAX_OUTPUT as u64).read_to_end(&mut err);
    let err = String::from_utf8_lossy(&err);
    ch.wait_close().map_err(|e| step_err(SshStep::Close, e))?;
    let status = ch
        .exit_status()
        .map_err(|e| step_err(SshStep::ExitStatus, e))?;
    if status != 0 {
        let first = err.lines().next().unwrap_or("").trim();
        return Err(t.err(
            SshStep::Exec,
            SshFailure::ExitStatus {
                command: command.to_string(),
                status,
                stderr: first.to_string(),
            },
        ));
    }
    Ok(out)
}

fn check_host_key(t: &SshTarget, sess: &Session) -> Result<(), SshError> {
    let fail = |f: SshFailure| t.err(SshStep::HostKey, f);
    let path = || t.known_hosts.clone();
    let (key, _kind) = sess.host_key().ok_or_else(|| fail(SshFailure::NoHostKey))?;
    let mut kh = sess
        .known_hosts()
        .map_err(|e| fail(SshFailure::Library(e.to_string())))?;
    kh.read_file(&t.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| {
            fail(SshFailure::KnownHostsUnreadable {
                path: path(),
                message: e.message().to_string(),
            })
        })?;
    match kh.check_port(&t.host, t.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(fail(SshFailure::HostKeyChanged { path: path() })),
        CheckResult::NotFound => Err(fail(SshFailure::HostUnknown {
            path: path(),
            host: t.host.clone(),
            port: t.port,
        })),
        CheckResult::Failure => Err(fail(SshFailure::HostKeyUncheckable { path: path() })),
    }
}

/// A private key file as [`read_credentials_file`] reads it (no symbolic
/// link, the credentials user's or root's, mode 0600), as text for libssh2.
fn read_key(t: &SshTarget, path: &Path) -> Result<String, CredentialsFileError> {
    let bytes = read_credentials_file(path, "ssh key", &t.key_owner)?;
    String::from_utf8(bytes).map_err(|_| CredentialsFileError {
        path: path.to_path_buf(),
        what: "ssh key",
        user: t.key_owner.clone(),
        problem: CredentialsFileProblem::Read("not a text (PEM or OpenSSH) private key".into()),
    })
}

fn authenticate(t: &SshTarget, sess: &Session) -> Result<(), SshError> {
    if let Some(key) = &t.key {
        let pem = read_key(t, key)
            .map_err(|e| t.err(SshStep::Auth, SshFailure::KeyUnusable(e.to_string())))?;
        return sess
            .userauth_pubkey_memory(&t.user, None, &pem, None)
            .map_err(|e| {
                t.err(
                    SshStep::Auth,
                    SshFailure::KeyRefused {
                        user: t.user.clone(),
                        key: key.clone(),
                        message: e.message().to_string(),
                    },
                )
            });
    }
    let mut tried = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match sess.userauth_agent(&t.user) {
            Ok(()) => return Ok(()),
            Err(e) => tried.push(format!("ssh-agent ({})", e.message())),
        }
    }
    if let Some(home) = &t.home {
        for name in ["id_ed25519", "id_rsa"] {
            let p = Path::new(&home).join(".ssh").join(name);
            match read_key(t, &p) {
                Err(e) if e.problem == CredentialsFileProblem::Missing => {}
                Err(e) => tried.push(e.to_string()),
                Ok(pem) => match sess.userauth_pubkey_memory(&t.user, None, &pem, None) {
                    Ok(()) => return Ok(()),
                    Err(e) => tried.push(format!("{} ({})", p.display(), e.message())),
                },
            }
        }
    }
    if tried.is_empty() {
        tried.push("no ssh_key set, no ssh-agent, no ~/.ssh/id_ed25519 or id_rsa".into());
    }
    Err(t.err(
        SshStep::Auth,
        SshFailure::NoKeyAccepted {
            user: t.user.clone(),
            tried,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_target(owner: &str) -> SshTarget {
        SshTarget {
            host: "127.0.0.1".into(),
            port: 22,
            user: "u".into(),
            key: None,
            known_hosts: "/nonexistent".into(),
            home: None,
            key_owner: owner.into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_key_file_is_read_only_when_it_is_the_owners_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pgpw-sshkey-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let me = crate::account::running_uid()
            .and_then(|uid| {
                std::fs::read_to_string("/etc/passwd")
                    .ok()
                    .and_then(|p| crate::account::user_of_uid(&p, uid))
            })
            .unwrap_or_default();
        let t = key_target(&me);
        let key = dir.join("id_ed25519");
        std::fs::write(&key, "-----BEGIN OPENSSH PRIVATE KEY-----\n").expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(read_key(&t, &key).is_ok());
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&key, &link).expect("symlink");
        let e = read_key(&t, &link).expect_err("a symlink").to_string();
        assert_eq!(
            e,
            format!(
                "ssh key {} is a symbolic link, which is never followed (put the file itself there, owned by {me}, mode 0600)",
                link.display()
            )
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let e = read_key(&t, &key).expect_err("group-readable").to_string();
        assert!(e.contains("has group or world access (mode 0640)"), "{e}");
        if crate::account::running_uid() == Some(0) {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            std::os::unix::fs::chown(&key, Some(65534), None).expect("chown");
            let e = read_key(&key_target("root"), &key)
                .expect_err("foreign")
                .to_string();
            assert!(e.contains("belongs to uid 65534, not to root"), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(shell_quote("/"), "'/'");
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn refused_port_names_host_and_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let t = SshTarget {
            host: "127.0.0.1".into(),
            port,
            user: "u".into(),
            key: None,
            known_hosts: "/nonexistent".into(),
            home: None,
            key_owner: "root".into(),
            timeout: Duration::from_secs(2),
        };
        let e = disk_use(&t, "/").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("ssh connect 127.0.0.1:{port}: ")),
            "{e}"
        );
    }

    #[test]
    fn silent_server_times_out() {
        // Accepts TCP but never sends the SSH banner.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = SshTarget {
            host: "127.0.0.1".into(),
            port,
            user: "u".into(),
            key: None,
            known_hosts: "/nonexistent".into(),
            home: None,
            key_owner: "root".into(),
            timeout: Duration::from_millis(800),
        };
        let start = Instant::now();
        let e = disk_use(&t, "/").unwrap_err().to_string();
        assert!(
            start.elapsed() < Duration::from_millis(1800),
            "{:?}",
            start.elapsed()
        );
        assert!(
            e.starts_with(&format!("ssh handshake 127.0.0.1:{port}: ")),
            "{e}"
        );
        drop(l);
    }
}
