//! systemd's notify protocol, so the units can be `Type=notify` with a
//! watchdog: READY=1 once the first check ran, WATCHDOG=1 while the loop is
//! alive, STOPPING=1 on the way out, STATUS= with the last decision.
//!
//! It is a datagram to `$NOTIFY_SOCKET`, sent with std's UnixDatagram (no
//! libsystemd). A name starting with `@` is an abstract socket; std (Linux,
//! Rust 1.70+) addresses those with `SocketAddr::from_abstract_name`, so no
//! fallback is needed. Without `$NOTIFY_SOCKET` (run by hand, or an old init)
//! every call is a quiet no-op. The watchdog interval comes from
//! `$WATCHDOG_USEC` (ignored when `$WATCHDOG_PID` names another process);
//! we ping at half of it.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// The connection to systemd, or nothing when not run by it.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
    watchdog: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let var = |k: &str| std::env::var(k).ok();
        Notifier::new(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        )
    }

    /// From explicit values (what the environment would say); bad values
    /// are logged and ignored.
    pub fn new(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        my_pid: u32,
    ) -> Notifier {
        let target = socket.filter(|s| !s.is_empty()).and_then(|s| {
            let addr = if let Some(name) = s.strip_prefix('@') {
                SocketAddr::from_abstract_name(name.as_bytes())
            } else {
                SocketAddr::from_pathname(s)
            };
            match addr.and_then(|a| UnixDatagram::unbound().map(|u| (u, a))) {
                Ok((u, a)) => Some((u, a, s.to_string())),
                Err(e) => {
                    log::warn!("NOTIFY_SOCKET={s}: {e}; not notifying systemd");
                    None
                }
            }
        });
        let for_me = match watchdog_pid.map(str::trim) {
            None | Some("") => true,
            Some(p) => p.parse::<u32>() == Ok(my_pid),
        };
        let watchdog = match watchdog_usec.map(str::trim) {
            Some(u) if for_me && !u.is_empty() => match u.parse::<u64>() {
                Ok(0) => None,
                Ok(us) => Some(Duration::from_micros(us)),
                Err(_) => {
                    log::warn!("WATCHDOG_USEC={u}: not a number of microseconds; ignored");
                    None
                }
            },
            _ => None,
        };
        Notifier {
            target,
            watchdog,
            last_ping: None,
        }
    }

    /// Whether systemd listens.
    #[cfg(test)]
    fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog timeout systemd set, if any.
    #[cfg(test)]
    fn watchdog_timeout(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends raw `KEY=value` lines; a no-op without `$NOTIFY_SOCKET`.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some((sock, addr, name)) = &self.target else {
            return Ok(());
        };
        sock.send_to_addr(state.as_bytes(), addr)
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), format!("notify systemd at {name}: {e}")))
    }

    /// READY=1 with a status line.
    pub fn ready(&self, status: &str) {
        self.log_err(self.notify(&format!("READY=1\nSTATUS={}", one_line(status))));
    }

    /// STATUS= line (e.g. the last decision's reason).
    pub fn status(&self, status: &str) {
        self.log_err(self.notify(&format!("STATUS={}", one_line(status))));
    }

    /// STOPPING=1.
    pub fn stopping(&self) {
        self.log_err(self.notify("STOPPING=1"));
    }

    /// WATCHDOG=1 when half the watchdog timeout passed since the last
    /// ping (or never pinged); returns whether it pinged. Call it often.
    pub fn watchdog_tick(&mut self, now: Instant) -> bool {
        let Some(timeout) = self.watchdog else {
            return false;
        };
        let due = self
            .last_ping
            .is_none_or(|t| now.saturating_duration_since(t) >= timeout / 2);
        if due && self.target.is_some() {
            self.log_err(self.notify("WATCHDOG=1"));
            self.last_ping = Some(now);
            return true;
        }
        false
    }

    fn log_err(&self, r: io::Result<()>) {
        if let Err(e) = r {
            log::warn!("{e}");
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("datagram");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn sends_ready_status_stopping_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("sdnotify-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str(), None, None, 1);
        assert!(n.enabled());
        n.ready("port open\nhealthy");
        assert_eq!(recv(&server), "READY=1\nSTATUS=port open healthy");
        n.status("closed");
        assert_eq!(recv(&server), "STATUS=closed");
        n.stopping();
        assert_eq!(recv(&server), "STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_socket_names_work() {
        let name = format!("pgpoolwatch-sdnotify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(Some(&format!("@{name}")), None, None, 1);
        n.status("x");
        assert_eq!(recv(&server), "STATUS=x");
    }

    #[test]
    fn watchdog_pings_at_half_the_interval() {
        let name = format!("pgpoolwatch-sdnotify-wd-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        let mut n = Notifier::new(Some(&format!("@{name}")), Some("30000000"), Some("7"), 7);
        assert_eq!(n.watchdog_timeout(), Some(Duration::from_secs(30)));
        let t0 = Instant::now();
        assert!(n.watchdog_tick(t0), "first tick pings");
        assert_eq!(recv(&server), "WATCHDOG=1");
        assert!(!n.watchdog_tick(t0 + Duration::from_secs(14)));
        assert!(n.watchdog_tick(t0 + Duration::from_secs(15)));
        assert_eq!(recv(&server), "WATCHDOG=1");
    }

    #[test]
    fn no_socket_or_foreign_watchdog_pid_is_a_quiet_no_op() {
        let mut n = Notifier::new(None, Some("30000000"), None, 1);
        assert!(!n.enabled());
        assert!(n.notify("READY=1").is_ok());
        assert!(!n.watchdog_tick(Instant::now()));
        let n = Notifier::new(None, Some("30000000"), Some("999"), 1);
        assert_eq!(n.watchdog_timeout(), None, "watchdog meant for another pid");
        let n = Notifier::new(None, Some("soon"), None, 1);
        assert_eq!(n.watchdog_timeout(), None, "bad WATCHDOG_USEC ignored");
    }
}
