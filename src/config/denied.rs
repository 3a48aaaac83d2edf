//! Where the programs find config.ini without `--config`, and what to say
//! when the account running them may not read it.
//!
//! The packaged units run as an unprivileged user (`postgres`), which cannot
//! enter `/root`: the packages' place, `/etc/pgpoolwatch/config.ini`
//! (root:postgres 0640), comes first, and the original's
//! `/root/pgpoolwatch/config.ini` is still honoured for those who run as
//! root. A file the process may not read is one line naming the file, the
//! user and the command that lets that user read it.

use super::Problem;
use crate::account::{effective_uid, user_of_uid};
use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Where the programs look for config.ini unless `--config` says, in order:
/// the first one that is there is read.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = [
    "/etc/pgpoolwatch/config.ini",
    "/root/pgpoolwatch/config.ini",
];

/// The config.ini read without `--config`: the first of
/// [`DEFAULT_CONFIG_PATHS`] that exists (or that this account may not look
/// at: a `/root` it cannot enter, so the error names that file), else the
/// first.
pub fn default_config_path() -> PathBuf {
    choose_default(
        &DEFAULT_CONFIG_PATHS,
        |p| !matches!(std::fs::metadata(p), Err(e) if e.kind() == ErrorKind::NotFound),
    )
}

/// The first of `candidates` for which `present` holds, else the first.
pub(crate) fn choose_default(candidates: &[&str], present: impl Fn(&Path) -> bool) -> PathBuf {
    candidates
        .iter()
        .map(Path::new)
        .find(|p| present(p))
        .or_else(|| candidates.first().map(Path::new))
        .unwrap_or(Path::new(DEFAULT_CONFIG_PATHS[0]))
        .to_path_buf()
}

/// The account a process runs as, for an error that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    /// From /etc/passwd; `None` when the uid has no entry.
    pub name: Option<String>,
    /// The name of the effective group, from /etc/group.
    pub group: Option<String>,
}

impl Account {
    /// The account running this process (`None` when /proc cannot say).
    pub fn current() -> Option<Account> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let uid = effective_uid(&status)?;
        let name = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| user_of_uid(&p, uid));
        let group = effective_gid(&status).and_then(|gid| {
            std::fs::read_to_string("/etc/group")
                .ok()
                .and_then(|g| group_of_gid(&g, gid))
        });
        Some(Account { uid, name, group })
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "user {n} (uid {})", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// What keeps the account out: the file's mode, or a directory on its way
/// that it may not enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    File,
    Dir(PathBuf),
}

/// Which part of `path` denies this account: the first directory on the
/// way whose entry cannot be looked at, else the file itself.
pub fn blocked(path: &Path) -> Blocked {
    let mut parts: Vec<&Path> = path.ancestors().collect();
    parts.reverse();
    for p in parts {
        if let Err(e) = std::fs::metadata(p) {
            if e.kind() == ErrorKind::PermissionDenied {
                if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                    return Blocked::Dir(dir.to_path_buf());
                }
            }
            break;
        }
    }
    Blocked::File
}

/// The account running us may not read `file`: the OS error's text, who we
/// are, and what keeps us out; `Display` renders the fix from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub error: String,
    pub file: PathBuf,
    pub account: Account,
    pub blocked: Blocked,
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read as {}: {}; fix: {}",
            self.account,
            self.error,
            fix(&self.file, &self.account, &self.blocked)
        )
    }
}

/// The [`Problem`] for an `io::Error` reading `path`: a permission error
/// names the account and the fix, any other is the OS's text.
pub(crate) fn unreadable(path: &Path, e: &std::io::Error) -> Problem {
    if e.kind() != ErrorKind::PermissionDenied {
        return Problem::Unreadable(e.to_string());
    }
    match Account::current() {
        Some(account) => Problem::Denied(Box::new(Denied {
            error: e.to_string(),
            file: path.to_path_buf(),
            account,
            blocked: blocked(path),
        })),
        None => Problem::Unreadable(e.to_string()),
    }
}

/// The command that lets `account` read `file`, given what blocks it.
pub(crate) fn fix(file: &Path, account: &Account, blocked: &Blocked) -> String {
    let group = account
        .group
        .as_deref()
        .or(account.name.as_deref())
        .map(str::to_string)
        .unwrap_or_else(|| account.uid.to_string());
    match blocked {
        // A home directory (the original's /root/pgpoolwatch) stays closed:
        // the file moves to where the packages look first.
        Blocked::Dir(d) if d == Path::new("/root") || d.starts_with("/home") => format!(
            "install -D -m 0640 -g {group} {} {} (as root), or run as root",
            file.display(),
            DEFAULT_CONFIG_PATHS[0]
        ),
        Blocked::Dir(d) => format!(
            "chgrp {group} {d} && chmod 0750 {d} (as root)",
            d = d.display()
        ),
        Blocked::File => format!(
            "chgrp {group} {f} && chmod 0640 {f} (as root)",
            f = file.display()
        ),
    }
}

/// The effective gid from `/proc/self/status` text (`Gid: real eff ...`).
fn effective_gid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Gid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The name of the group with `gid` in /etc/group text.
fn group_of_gid(group: &str, gid: u32) -> Option<String> {
    group.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 3 && fields[2].parse() == Ok(gid)).then(|| fields[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_default_that_is_there_wins_else_the_first() {
        let both = |_: &Path| true;
        assert_eq!(
            choose_default(&DEFAULT_CONFIG_PATHS, both),
            PathBuf::from("/etc/pgpoolwatch/config.ini")
        );
        let only_root = |p: &Path| p.starts_with("/root");
        assert_eq!(
            choose_default(&DEFAULT_CONFIG_PATHS, only_root),
            PathBuf::from("/root/pgpoolwatch/config.ini"),
            "the original's place is still honoured"
        );
        assert_eq!(
            choose_default(&DEFAULT_CONFIG_PATHS, |_| false),
            PathBuf::from("/etc/pgpoolwatch/config.ini"),
            "neither there: the error names the packages' place"
        );
    }

    #[test]
    fn the_fix_names_the_group_and_what_blocks() {
        let pg = Account {
            uid: 101,
            name: Some("postgres".into()),
            group: Some("postgres".into()),
        };
        let file = Path::new("/etc/pgpoolwatch/config.ini");
        assert_eq!(pg.to_string(), "user postgres (uid 101)");
        assert_eq!(
            fix(file, &pg, &Blocked::File),
            "chgrp postgres /etc/pgpoolwatch/config.ini && chmod 0640 /etc/pgpoolwatch/config.ini (as root)"
        );
        assert_eq!(
            fix(file, &pg, &Blocked::Dir(PathBuf::from("/etc/pgpoolwatch"))),
            "chgrp postgres /etc/pgpoolwatch && chmod 0750 /etc/pgpoolwatch (as root)"
        );
        assert_eq!(
            fix(
                Path::new("/root/pgpoolwatch/config.ini"),
                &pg,
                &Blocked::Dir(PathBuf::from("/root"))
            ),
            "install -D -m 0640 -g postgres /root/pgpoolwatch/config.ini /etc/pgpoolwatch/config.ini (as root), or run as root"
        );
        let e = super::super::ConfigError::new(
            file.to_path_buf(),
            None,
            None,
            None,
            Problem::Denied(Box::new(Denied {
                error: "Permission denied (os error 13)".into(),
                file: file.to_path_buf(),
                account: pg.clone(),
                blocked: Blocked::File,
            })),
        );
        assert_eq!(
            e.kind,
            super::super::ErrorKind::Unreadable,
            "poolstatus falls back on it"
        );
        assert_eq!(
            e.to_string(),
            "/etc/pgpoolwatch/config.ini: cannot read as user postgres (uid 101): Permission denied (os error 13); \
             fix: chgrp postgres /etc/pgpoolwatch/config.ini && chmod 0640 /etc/pgpoolwatch/config.ini (as root)"
        );
        let nameless = Account {
            uid: 4242,
            name: None,
            group: None,
        };
        assert_eq!(nameless.to_string(), "uid 4242");
        assert_eq!(
            fix(file, &nameless, &Blocked::File),
            "chgrp 4242 /etc/pgpoolwatch/config.ini && chmod 0640 /etc/pgpoolwatch/config.ini (as root)"
        );
    }

    #[test]
    fn gid_and_group_names_are_read() {
        let status = "Uid:\t101\t101\t101\t101\nGid:\t104\t105\t104\t104\n";
        assert_eq!(effective_gid(status), Some(105));
        assert_eq!(effective_gid("Name: x\n"), None);
        let group = "root:x:0:\nssl-cert:x:103:postgres\npostgres:x:104:\nbroken\n";
        assert_eq!(group_of_gid(group, 104).as_deref(), Some("postgres"));
        assert_eq!(group_of_gid(group, 7), None);
    }

    #[test]
    fn a_file_that_is_there_is_blocked_by_its_mode() {
        // Root, or anyone, can look at /proc's entries: nothing on the way blocks.
        assert_eq!(blocked(Path::new("/proc/self/status")), Blocked::File);
        assert_eq!(blocked(Path::new("/nonexistent/x.ini")), Blocked::File);
    }
}
