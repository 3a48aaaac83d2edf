//! Disk use of a database host over SSH (ssh2/libssh2), as the original ran
//! `df` over ssh: bounded by the timeout at every step, the host key checked
//! against a known_hosts file (an unknown or changed key is an error, never
//! accepted), and public-key auth with the configured key, else ssh-agent,
//! else `~/.ssh/id_ed25519` / `id_rsa`.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ssh2::{CheckResult, KnownHostFileKind, Session};

use super::parse::{self, DiskUse};
use crate::probe::host_port;

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
    pub timeout: Duration,
}

impl SshTarget {
    fn err(&self, step: &str, detail: impl std::fmt::Display) -> String {
        format!(
            "ssh {} {}: {detail}",
            step,
            host_port(&self.host, self.port)
        )
    }
}

/// Runs `df -P <path>` on the host and reads its use%.
pub fn disk_use(t: &SshTarget, path: &str) -> Result<DiskUse, String> {
    let out = run(t, &format!("df -P -- {}", shell_quote(path)))?;
    parse::df(&out).map_err(|e| t.err("df", e))
}

/// `'text'` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Runs one command and returns its standard output; a non-zero exit status
/// is an error carrying the first line of standard error.
pub fn run(t: &SshTarget, command: &str) -> Result<String, String> {
    let deadline = Instant::now() + t.timeout;
    let addrs =
        crate::deadline::resolve(&t.host, t.port, t.timeout).map_err(|e| t.err("resolve", e))?;
    let mut last = t.err("resolve", "no address");
    let mut tcp = None;
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            last = t.err(
                "connect",
                format!(
                    "timed out after {}",
                    crate::probe::human_duration(t.timeout)
                ),
            );
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = t.err(
                    "connect",
                    format!(
                        "timed out after {}",
                        crate::probe::human_duration(t.timeout)
                    ),
                )
            }
            Err(e) => last = t.err("connect", e),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let left = deadline.saturating_duration_since(Instant::now());
    let _ = tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))));
    let _ = tcp.set_write_timeout(Some(left.max(Duration::from_millis(1))));
    let mut sess = Session::new().map_err(|e| t.err("session", e))?;
    sess.set_tcp_stream(tcp);
    let ms = |d: Duration| d.as_millis().clamp(1, u32::MAX as u128) as u32;
    sess.set_timeout(ms(left));
    let step_err = |step: &str, e: ssh2::Error| {
        if e.code() == ssh2::ErrorCode::Session(-9) {
            // LIBSSH2_ERROR_TIMEOUT
            t.err(
                step,
                format!(
                    "timed out after {}",
                    crate::probe::human_duration(t.timeout)
                ),
            )
        } else {
            t.err(step, e.message())
        }
    };
    sess.handshake().map_err(|e| step_err("handshake", e))?;
    check_host_key(t, &sess)?;
    sess.set_timeout(ms(deadline.saturating_duration_since(Instant::now())));
    authenticate(t, &sess)?;
    sess.set_timeout(ms(deadline.saturating_duration_since(Instant::now())));
    let mut ch = sess.channel_session().map_err(|e| step_err("channel", e))?;
    ch.exec(command).map_err(|e| step_err("exec", e))?;
    let mut out = String::new();
    ch.read_to_string(&mut out).map_err(|e| t.err("read", e))?;
    let mut err = String::new();
    let _ = ch.stderr().read_to_string(&mut err);
    ch.wait_close().map_err(|e| step_err("close", e))?;
    let status = ch.exit_status().map_err(|e| step_err("exit status", e))?;
    if status != 0 {
        let first = err.lines().next().unwrap_or("").trim();
        return Err(t.err(
            "exec",
            format!("{command:?} exited with status {status}: {first}"),
        ));
    }
    Ok(out)
}

fn check_host_key(t: &SshTarget, sess: &Session) -> Result<(), String> {
    let (key, _kind) = sess
        .host_key()
        .ok_or_else(|| t.err("host key", "server sent no host key"))?;
    let mut kh = sess.known_hosts().map_err(|e| t.err("host key", e))?;
    kh.read_file(&t.known_hosts, KnownHostFileKind::OpenSSH)
        .map_err(|e| {
            t.err(
                "host key",
                format!(
                    "cannot read known_hosts {}: {}",
                    t.known_hosts.display(),
                    e.message()
                ),
            )
        })?;
    match kh.check_port(&t.host, t.port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(t.err(
            "host key",
            format!(
                "host key CHANGED, does not match {} (possible impostor; verify the host, then fix that file)",
                t.known_hosts.display()
            ),
        )),
        CheckResult::NotFound => Err(t.err(
            "host key",
            format!(
                "host not in {} (verify the host key, then add it, e.g. with ssh-keyscan -p {} {})",
                t.known_hosts.display(),
                t.port,
                t.host
            ),
        )),
        CheckResult::Failure => Err(t.err(
            "host key",
            format!("cannot check against {}", t.known_hosts.display()),
        )),
    }
}

fn authenticate(t: &SshTarget, sess: &Session) -> Result<(), String> {
    if let Some(key) = &t.key {
        return sess
            .userauth_pubkey_file(&t.user, None, key, None)
            .map_err(|e| {
                t.err(
                    "auth",
                    format!(
                        "user {} with key {}: {}",
                        t.user,
                        key.display(),
                        e.message()
                    ),
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
            if p.is_file() {
                match sess.userauth_pubkey_file(&t.user, None, &p, None) {
                    Ok(()) => return Ok(()),
                    Err(e) => tried.push(format!("{} ({})", p.display(), e.message())),
                }
            }
        }
    }
    if tried.is_empty() {
        tried.push("no ssh_key set, no ssh-agent, no ~/.ssh/id_ed25519 or id_rsa".into());
    }
    Err(t.err(
        "auth",
        format!("user {}: tried {}", t.user, tried.join(", ")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            timeout: Duration::from_secs(2),
        };
        let e = disk_use(&t, "/").unwrap_err();
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
            timeout: Duration::from_millis(800),
        };
        let start = Instant::now();
        let e = disk_use(&t, "/").unwrap_err();
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
