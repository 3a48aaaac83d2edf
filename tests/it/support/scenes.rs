//! The set-ups the watcher tests (`watchers`, `spool`, `mail_and_signals`)
//! share: the original's mail subjects, the start-up allowance, a pgpwatch
//! started and open, the three repmgrwatches, and pgpool 1 stopped while
//! the mail server is down or frozen (the Down mail failing its first try,
//! or its send stuck in flight).

#![allow(dead_code)] // Not every test uses every helper.

use std::fmt::Display;
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::mailbox::Mailbox;
use super::watchers::{mails_to, Tuning, Watcher};

pub const PGP_UP: &str = "PGPWATCH - Status Change - PGP Up";
pub const PGP_DOWN: &str = "PGPWATCH - Status Change - PGP Down";
pub const PGP_ERROR: &str = "PGPWATCH - Error";
pub const REPMGR_UP_BAD: &str = "PGPWATCH - Repmgr - UP (This is bad)";
pub const REPMGR_UP_FORCE: &str = "PGPWATCH - Repmgr - Up (Forceopen)";
pub const REPMGR_DOWN_GOOD: &str = "PGPWATCH - Repmgr - Down (This is good)";
pub const REPMGR_MULTI: &str = "PGPWATCH - Repmgr - Multiple Masters";

/// Long enough for a watcher's first check and a cluster verb on a busy machine.
pub const START: Duration = Duration::from_secs(20);

impl Tuning {
    /// The tuning with `[section] key = value` among its `extra` overrides.
    pub fn with(mut self, section: &str, key: &str, value: impl Display) -> Tuning {
        self.extra
            .push((section.to_string(), key.to_string(), value.to_string()));
        self
    }
}

/// pgpwatch for `host` of `cluster`, started and its port open (within [`START`]).
pub fn pgpwatch_open(
    cluster: &Cluster,
    host: &str,
    mailbox: Option<&Mailbox>,
    tuning: &Tuning,
) -> Watcher {
    let w = Watcher::pgpwatch(cluster, host, mailbox, tuning);
    w.wait_port(true, START);
    w
}

/// repmgrwatch for each of db1, db2 and db3 of `cluster`, in that order.
pub fn repmgrwatches(
    cluster: &Cluster,
    mailbox: Option<&Mailbox>,
    tuning: &Tuning,
) -> Vec<Watcher> {
    ["db1", "db2", "db3"]
        .iter()
        .map(|h| Watcher::repmgrwatch(cluster, h, mailbox, tuning))
        .collect()
}

/// Stops every watcher of `ws` (SIGTERM, exit 0 and port closed asserted).
pub fn stop_all<'a>(ws: impl IntoIterator<Item = &'a mut Watcher>) {
    for w in ws {
        w.stop();
    }
}

/// Waits until `w` logs that its first try to send `subject` failed.
pub fn wait_first_try_failed(w: &Watcher, subject: &str) {
    w.wait_log(
        &format!("mail \"{subject}\": try 1 of"),
        Duration::from_secs(30),
    );
}

/// The HTML body of the first mail `receiver` got with `subject`.
pub fn mail_body(mailbox: &Mailbox, receiver: &str, subject: &str) -> Option<String> {
    mails_to(mailbox, receiver)
        .into_iter()
        .find(|m| m.subject == subject)
        .map(|m| m.html_body().to_string())
}

/// Whether a TCP connection to 127.0.0.1:`port` is established (any
/// process of this network namespace).
pub fn connection_to(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|t| {
            t.lines().skip(1).any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[2] == want && f[3] == "01"
            })
        })
        .unwrap_or(false)
}

/// The mail server stopped, then pgpool 1 stopped under `w` (pgpwatch on
/// pgp1): returns once `w`'s port closed and its first try to send the
/// Down mail failed.
pub fn stop_pgpool_with_mail_server_down(cluster: &Cluster, mailbox: &mut Mailbox, w: &Watcher) {
    mailbox.stop();
    cluster.stop_pgpool(1);
    w.wait_port(false, START);
    wait_first_try_failed(w, PGP_DOWN);
}

/// The mail server frozen (the kernel accepts the connection, no greeting
/// comes), then pgpool 1 stopped under `w` (pgpwatch on pgp1): returns
/// once `w`'s port closed and a send to the frozen server is in flight.
pub fn stop_pgpool_with_mail_server_frozen(cluster: &Cluster, mailbox: &Mailbox, w: &Watcher) {
    mailbox.freeze();
    cluster.stop_pgpool(1);
    w.wait_port(false, START);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !connection_to(mailbox.port) {
        assert!(
            Instant::now() < deadline,
            "no send in flight; log:\n{}",
            w.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
