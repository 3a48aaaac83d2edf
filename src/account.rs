//! Who we are on this machine: its hostname and the OS accounts whose
//! `~/.pgpass`, `~/.ssh` and `~/.postgresql` hold the credentials.
//!
//! These look-ups read `/proc` and `/etc/passwd` and used to live inside the
//! configuration reader; they are here so that reading config.ini stays a
//! matter of text and so that the probes, poolstatus and pgpass find them in
//! one place. Safe code only (the one unsafe module is `os`).

#![forbid(unsafe_code)]

use std::path::PathBuf;

/// This machine's hostname, as Python's `socket.gethostname()` gave it.
pub fn this_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// The home directory of OS user `user`, from /etc/passwd; for the current
/// user (`$USER`/`$LOGNAME`) `$HOME` is the fallback.
pub fn home_of(user: &str) -> Option<PathBuf> {
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        if let Some(home) = home_in_passwd(&passwd, user) {
            return Some(home);
        }
    }
    let current = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()?;
    if current != user {
        return None;
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The OS account whose `~/.pgpass` and `~/.ssh` hold the credentials:
/// `poolstatus_user` when we run as root (the original ran poolstatus as
/// that user through runuser), otherwise the account running us (as libpq
/// and ssh would).
pub fn credentials_user(poolstatus_user: &str) -> String {
    // The account we run as does not change: read it once, not every check.
    static RUNNING_AS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let running_as = RUNNING_AS.get_or_init(|| {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| effective_uid(&s))?;
        if uid == 0 {
            return None;
        }
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| user_of_uid(&p, uid))
            .or_else(|| std::env::var("USER").ok())
    });
    running_as
        .clone()
        .unwrap_or_else(|| poolstatus_user.to_string())
}

/// The effective uid from `/proc/self/status` text (`Uid: real eff ...`).
pub(crate) fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The name of the account with `uid` in /etc/passwd text.
pub(crate) fn user_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse() == Ok(uid)).then(|| fields[0].to_string())
    })
}

/// The home directory of `user` in /etc/passwd text.
pub(crate) fn home_in_passwd(passwd: &str, user: &str) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[0] == user && !fields[5].is_empty())
            .then(|| PathBuf::from(fields[5]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_user_reads_effective_uid_and_passwd() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name: x\n"), None);
        let passwd =
            "root:x:0:0::/root:/bin/sh\npostgres:x:107:113::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(user_of_uid(passwd, 107).as_deref(), Some("postgres"));
        assert_eq!(user_of_uid(passwd, 5), None);
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:105:111:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\nbroken\n";
        assert_eq!(
            home_in_passwd(passwd, "postgres"),
            Some(PathBuf::from("/var/lib/postgresql"))
        );
        assert_eq!(home_in_passwd(passwd, "post"), None);
        assert_eq!(home_of("root"), Some(PathBuf::from("/root")));
    }
}
