//! Who we are on this machine: its hostname and the OS accounts whose
//! `~/.pgpass`, `~/.ssh` and `~/.postgresql` hold the credentials.
//!
//! These look-ups read `/proc` and `/etc/passwd` and used to live inside the
//! configuration reader; they are here so that reading config.ini stays a
//! matter of text and so that the probes, poolstatus and pgpass find them in
//! one place. Safe code only (the one unsafe module is `os`).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// This machine's hostname, as Python's `socket.gethostname()` gave it.
pub fn this_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// The text of /etc/passwd. Every check asks it for a home (`.pgpass`,
/// `~/.postgresql`) and an owner, several times: it is read again only
/// when the file changed (inode, size or modification time, to the
/// nanosecond; `useradd` and `vipw` replace the file), so a check costs
/// one `stat` of it instead of reading and parsing it each time.
fn passwd_text() -> Option<std::sync::Arc<str>> {
    passwd_text_of(Path::new("/etc/passwd"))
}

/// [`passwd_text`] of the file at `path` (tests use their own).
fn passwd_text_of(path: &Path) -> Option<std::sync::Arc<str>> {
    use std::os::unix::fs::MetadataExt;
    type Stamp = (u64, u64, i64, i64);
    type Cache = Vec<(PathBuf, Stamp, std::sync::Arc<str>)>;
    static CACHE: std::sync::Mutex<Cache> = std::sync::Mutex::new(Vec::new());
    let meta = std::fs::metadata(path).ok()?;
    let stamp: Stamp = (meta.ino(), meta.size(), meta.mtime(), meta.mtime_nsec());
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, _, text)) = cache.iter().find(|(p, s, _)| p == path && *s == stamp) {
        return Some(text.clone());
    }
    let text: std::sync::Arc<str> = std::fs::read_to_string(path).ok()?.into();
    // One entry per path (the process reads one; tests their own).
    cache.retain(|(p, _, _)| p != path);
    cache.push((path.to_path_buf(), stamp, text.clone()));
    Some(text)
}

/// The home directory of OS user `user`, from /etc/passwd; for the current
/// user (`$USER`/`$LOGNAME`) `$HOME` is the fallback.
pub fn home_of(user: &str) -> Option<PathBuf> {
    if let Some(passwd) = passwd_text() {
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
        passwd_text()
            .and_then(|p| user_of_uid(&p, uid))
            .or_else(|| std::env::var("USER").ok())
    });
    running_as
        .clone()
        .unwrap_or_else(|| poolstatus_user.to_string())
}

/// The uid of account `user` in /etc/passwd.
pub fn uid_of(user: &str) -> Option<u32> {
    let passwd = passwd_text()?;
    uid_in_passwd(&passwd, user)
}

/// This process's effective uid (from `/proc/self/status`).
pub fn running_uid() -> Option<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| effective_uid(&s))
}

/// A credentials file (`.pgpass`, an ssh private key) the way it must be
/// read: opened without following a symbolic link (`O_NOFOLLOW`, so a link
/// planted in the credentials user's home cannot make root read another
/// file), a regular file, owned by the credentials user `user` (or root),
/// and closed to group and others (libpq's rule for `.pgpass`, OpenSSH's
/// for keys). The checks are made on the open descriptor, so the file read
/// is the file checked.
pub fn read_credentials_file(
    path: &Path,
    what: &'static str,
    user: &str,
) -> Result<Vec<u8>, CredentialsFileError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let err = |problem: CredentialsFileProblem| CredentialsFileError {
        path: path.to_path_buf(),
        what,
        user: user.to_string(),
        problem,
    };
    // O_NONBLOCK: a FIFO put in the file's place must not hang the open.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => err(CredentialsFileProblem::Symlink),
            _ if e.kind() == std::io::ErrorKind::NotFound => err(CredentialsFileProblem::Missing),
            _ => err(CredentialsFileProblem::Read(e.to_string())),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| err(CredentialsFileProblem::Read(e.to_string())))?;
    if !meta.is_file() {
        return Err(err(CredentialsFileProblem::NotRegular));
    }
    let expected = uid_of(user).or_else(running_uid);
    if meta.uid() != 0 && Some(meta.uid()) != expected {
        return Err(err(CredentialsFileProblem::WrongOwner { uid: meta.uid() }));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(err(CredentialsFileProblem::OpenToOthers { mode }));
    }
    if meta.len() > MAX_CREDENTIALS_FILE {
        return Err(err(CredentialsFileProblem::TooLarge { len: meta.len() }));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_CREDENTIALS_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| err(CredentialsFileProblem::Read(e.to_string())))?;
    Ok(bytes)
}

/// The largest credentials file read (1 MiB; a `.pgpass` or a key is a
/// few kilobytes).
pub const MAX_CREDENTIALS_FILE: u64 = 1 << 20;

/// Why a credentials file was not used. `Display` names the file, the
/// problem and the fix, never the file's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsFileError {
    pub path: PathBuf,
    /// `password file`, `ssh key`.
    pub what: &'static str,
    /// The credentials user it must belong to.
    pub user: String,
    pub problem: CredentialsFileProblem,
}

/// See [`CredentialsFileError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsFileProblem {
    /// No such file.
    Missing,
    /// A symbolic link, which is never followed.
    Symlink,
    /// Not a regular file.
    NotRegular,
    /// Owned by someone other than the credentials user or root.
    WrongOwner { uid: u32 },
    /// Group or others may access it.
    OpenToOthers { mode: u32 },
    /// Larger than [`MAX_CREDENTIALS_FILE`].
    TooLarge { len: u64 },
    /// The OS refused to open or read it.
    Read(String),
}

impl std::fmt::Display for CredentialsFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, p, user) = (self.what, self.path.display(), &self.user);
        match &self.problem {
            CredentialsFileProblem::Missing => write!(f, "{what} {p} does not exist"),
            CredentialsFileProblem::Symlink => write!(
                f,
                "{what} {p} is a symbolic link, which is never followed (put the file itself there, owned by {user}, mode 0600)"
            ),
            CredentialsFileProblem::NotRegular => write!(f, "{what} {p} is not a plain file"),
            CredentialsFileProblem::WrongOwner { uid } => write!(
                f,
                "{what} {p} belongs to uid {uid}, not to {user} (the credentials user) or root (chown {user} {p})"
            ),
            CredentialsFileProblem::OpenToOthers { mode } => write!(
                f,
                "{what} {p} has group or world access (mode {mode:04o}); permissions should be u=rw (chmod 0600 {p})"
            ),
            CredentialsFileProblem::TooLarge { len } => write!(
                f,
                "{what} {p} is {len} bytes, more than the {MAX_CREDENTIALS_FILE} a credentials file may hold"
            ),
            CredentialsFileProblem::Read(e) => write!(f, "read {what} {p}: {e}"),
        }
    }
}

impl std::error::Error for CredentialsFileError {}

/// The uid of `user` in /etc/passwd text.
pub(crate) fn uid_in_passwd(passwd: &str, user: &str) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 7 && fields[0] == user {
            fields[2].parse().ok()
        } else {
            None
        }
    })
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
    fn passwd_is_read_again_only_when_it_changed() {
        let dir = std::env::temp_dir().join(format!("pgpw-passwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("passwd");
        std::fs::write(&path, "a:x:1:1::/home/a:/bin/sh\n").expect("write");
        let first = passwd_text_of(&path).expect("read");
        let again = passwd_text_of(&path).expect("read");
        assert!(
            std::sync::Arc::ptr_eq(&first, &again),
            "an unchanged file was read again"
        );
        // The same size, another text: a new file in its place (as vipw does).
        let new = dir.join("passwd.new");
        std::fs::write(&new, "b:x:1:1::/home/b:/bin/sh\n").expect("write");
        std::fs::rename(&new, &path).expect("rename");
        let changed = passwd_text_of(&path).expect("read");
        assert_eq!(
            home_in_passwd(&changed, "b"),
            Some(PathBuf::from("/home/b"))
        );
        assert_eq!(home_in_passwd(&changed, "a"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

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
