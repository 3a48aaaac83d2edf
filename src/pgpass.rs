//! Database passwords the libpq way, because rust-postgres does not read
//! `.pgpass` and operators already keep their passwords there.
//!
//! Same rules as libpq's `passwordFromFile` (fe-connect.c): the file is
//! `PGPASSFILE` if set, else `~user/.pgpass`; each line is
//! `host:port:database:username:password`; a field that is exactly `*`
//! matches anything; `\:` and `\\` escape a colon and a backslash; the first
//! matching line wins; lines starting with `#` are comments; a password ends
//! at the first unescaped `:`. Host `localhost` in the file also matches a
//! Unix-socket host (empty or starting with `/`); libpq maps only its default
//! socket directory to `localhost`, we accept any socket directory (as well
//! as an entry naming the directory itself). A file that is not a regular
//! file, or that group or others may access, is ignored with a warning, as
//! libpq does; so is one reached through a symbolic link or owned by anyone
//! but the credentials user or root (libpq follows links and does not check
//! the owner, but we may run as root reading another user's home). A
//! missing file is simply no password. The password is held as a
//! [`Secret`] and never logged.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::account::{read_credentials_file, CredentialsFileError, CredentialsFileProblem};
use crate::secret::Secret;

/// Why a `.pgpass` file could not be used.
#[derive(Debug)]
pub enum PgpassError {
    /// The file exists but could not be read.
    Read(CredentialsFileError),
    /// The matching line's password is not valid UTF-8.
    NotUtf8 { path: PathBuf, line: usize },
}

impl fmt::Display for PgpassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgpassError::Read(e) => write!(f, "{e} (check its owner and that it is readable)"),
            PgpassError::NotUtf8 { path, line } => write!(
                f,
                "password file {}:{line}: the password is not valid UTF-8",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PgpassError {}

/// The password for a connection from `os_user`'s password file
/// ([`default_file`]), or `None`; a file that cannot be used is logged.
pub fn password_for(
    os_user: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<Secret> {
    let file = default_file(os_user)?;
    match lookup(&file, os_user, host, port, database, user) {
        Ok(pw) => pw,
        Err(e) => {
            log::warn!("{e}");
            None
        }
    }
}

/// The password file for OS user `os_user`: `$PGPASSFILE` if set and not
/// empty, else `~os_user/.pgpass` (`None` when the home is unknown).
pub fn default_file(os_user: &str) -> Option<PathBuf> {
    if let Some(f) = std::env::var_os("PGPASSFILE").filter(|f| !f.is_empty()) {
        return Some(PathBuf::from(f));
    }
    crate::account::home_of(os_user).map(|h| h.join(".pgpass"))
}

/// The password for the first line of `file` matching host, port, database
/// and user. The file is read as [`read_credentials_file`] says: never
/// through a symbolic link, and only when it belongs to `os_user` (the
/// credentials user) or root and group and others have no access.
/// `Ok(None)` when the file is missing, unsafe (warned, as libpq does) or
/// has no matching line.
pub fn lookup(
    file: &Path,
    os_user: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Result<Option<Secret>, PgpassError> {
    let bytes = match read_credentials_file(file, "password file", os_user) {
        Ok(b) => b,
        Err(e) => match e.problem {
            CredentialsFileProblem::Missing => return Ok(None),
            CredentialsFileProblem::Read(_) => return Err(PgpassError::Read(e)),
            _ => {
                log::warn!("{e}; ignoring it");
                return Ok(None);
            }
        },
    };
    match find_password(&bytes, host, port, database, user) {
        None => Ok(None),
        Some((line, pw)) => String::from_utf8(pw)
            .map(|p| Some(Secret::new(p)))
            .map_err(|_| PgpassError::NotUtf8 {
                path: file.to_path_buf(),
                line,
            }),
    }
}

/// The matching logic on the file's bytes: (1-based line, password).
fn find_password(
    bytes: &[u8],
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<(usize, Vec<u8>)> {
    let socket = host.is_empty() || host.starts_with('/');
    let port = port.to_string();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let rest = match field(line, host.as_bytes()) {
            Some(rest) => Some(rest),
            None if socket => field(line, b"localhost"),
            None => None,
        };
        let Some(rest) = rest
            .and_then(|r| field(r, port.as_bytes()))
            .and_then(|r| field(r, database.as_bytes()))
            .and_then(|r| field(r, user.as_bytes()))
        else {
            continue;
        };
        let mut pw = Vec::new();
        let mut it = rest.iter();
        while let Some(&b) = it.next() {
            match b {
                b':' => break,
                b'\\' => match it.next() {
                    Some(&n) => pw.push(n),
                    None => pw.push(b'\\'),
                },
                _ => pw.push(b),
            }
        }
        return Some((i + 1, pw));
    }
    None
}

/// libpq's `pwdfMatchesString`: if the field at the start of `buf` matches
/// `token` (or is exactly `*`), the rest after its `:`.
fn field<'a>(buf: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if buf.starts_with(b"*:") {
        return Some(&buf[2..]);
    }
    let mut i = 0;
    let mut t = 0;
    while i < buf.len() {
        let mut escaped = false;
        if buf[i] == b'\\' {
            i += 1;
            escaped = true;
            if i >= buf.len() {
                return None;
            }
        }
        if buf[i] == b':' && !escaped && t == token.len() {
            return Some(&buf[i + 1..]);
        }
        if t == token.len() || buf[i] != token[t] {
            return None;
        }
        i += 1;
        t += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn pw(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
        find_password(text.as_bytes(), host, port, db, user)
            .map(|(_, p)| String::from_utf8(p).expect("utf8"))
    }

    #[test]
    fn exact_fields_match() {
        let f = "db1:5432:postgres:pgpool:secret1\n";
        assert_eq!(
            pw(f, "db1", 5432, "postgres", "pgpool").as_deref(),
            Some("secret1")
        );
        assert_eq!(pw(f, "db2", 5432, "postgres", "pgpool"), None);
        assert_eq!(pw(f, "db1", 5433, "postgres", "pgpool"), None);
        assert_eq!(pw(f, "db1", 5432, "repmgr", "pgpool"), None);
        assert_eq!(pw(f, "db1", 5432, "postgres", "pgpoo"), None);
        assert_eq!(
            pw(f, "db", 5432, "postgres", "pgpool"),
            None,
            "prefix of a field"
        );
    }

    #[test]
    fn star_is_a_wildcard_only_as_a_whole_field() {
        let f = "*:*:*:repmgr:r1\n";
        assert_eq!(pw(f, "any", 1, "x", "repmgr").as_deref(), Some("r1"));
        assert_eq!(pw(f, "any", 1, "x", "other"), None);
        let f = "db*:5432:*:u:p\n";
        assert_eq!(pw(f, "db1", 5432, "x", "u"), None);
        assert_eq!(pw(f, "db*", 5432, "x", "u").as_deref(), Some("p"));
        // An escaped star is a literal star.
        let f = "\\*:5432:*:u:p\n";
        assert_eq!(pw(f, "h", 5432, "x", "u"), None);
        assert_eq!(pw(f, "*", 5432, "x", "u").as_deref(), Some("p"));
    }

    #[test]
    fn escapes_in_fields_and_password() {
        let f = "h:5432:my\\:db:u\\\\x:pa\\:ss\\\\word:ignored\n";
        assert_eq!(
            pw(f, "h", 5432, "my:db", "u\\x").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(pw(f, "h", 5432, "my", "u\\x"), None);
    }

    #[test]
    fn first_match_wins_and_comments_and_crlf() {
        let f = "# h:5432:*:u:commented\n\nh:5432:*:u:first\r\n*:*:*:*:second\n";
        assert_eq!(pw(f, "h", 5432, "d", "u").as_deref(), Some("first"));
        assert_eq!(pw(f, "other", 5432, "d", "u").as_deref(), Some("second"));
        assert_eq!(
            find_password(f.as_bytes(), "h", 5432, "d", "u").map(|(l, _)| l),
            Some(3)
        );
    }

    #[test]
    fn localhost_matches_unix_socket_hosts() {
        let f = "localhost:5432:*:postgres:sock\n";
        assert_eq!(
            pw(f, "/var/run/postgresql", 5432, "d", "postgres").as_deref(),
            Some("sock")
        );
        assert_eq!(pw(f, "", 5432, "d", "postgres").as_deref(), Some("sock"));
        assert_eq!(pw(f, "127.0.0.1", 5432, "d", "postgres"), None);
        let f = "/tmp:5432:*:postgres:dir\n";
        assert_eq!(pw(f, "/tmp", 5432, "d", "postgres").as_deref(), Some("dir"));
    }

    #[test]
    fn lines_with_too_few_fields_do_not_match() {
        assert_eq!(pw("h:5432:d\n", "h", 5432, "d", "u"), None);
        assert_eq!(pw("h:5432:d:u\n", "h", 5432, "d", "u"), None);
        // An empty password is still a match, as in libpq.
        assert_eq!(
            pw("h:5432:d:u:\n", "h", 5432, "d", "u").as_deref(),
            Some("")
        );
    }

    fn temp(name: &str, body: &str, mode: u32) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pgpw-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    }

    /// The user this test runs as (the owner of the files it writes).
    fn me() -> String {
        crate::account::running_uid()
            .and_then(|uid| {
                std::fs::read_to_string("/etc/passwd")
                    .ok()
                    .and_then(|p| crate::account::user_of_uid(&p, uid))
            })
            .unwrap_or_default()
    }

    fn found(file: &Path) -> Option<String> {
        lookup(file, &me(), "h", 1, "d", "u")
            .expect("lookup")
            .map(|s| s.expose().to_string())
    }

    #[test]
    fn file_permissions_as_libpq() {
        let body = "*:*:*:u:pw\n";
        let ok = temp("ok", body, 0o600);
        assert_eq!(found(&ok).as_deref(), Some("pw"));
        let open = temp("open", body, 0o640);
        assert_eq!(found(&open), None);
        let world = temp("world", body, 0o604);
        assert_eq!(found(&world), None);
        let dir = std::env::temp_dir();
        assert_eq!(found(&dir), None);
        assert_eq!(found(Path::new("/nonexistent/.pgpass")), None);
    }

    #[test]
    fn a_symlinked_or_foreign_pgpass_is_never_read() {
        let body = "*:*:*:u:pw\n";
        let real = temp("real", body, 0o600);
        let link = real.with_file_name("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(found(&real).as_deref(), Some("pw"));
        assert_eq!(found(&link), None, "followed a symbolic link");
        // A file of another account (root may chown; otherwise the test
        // runs as that account and cannot make one).
        if crate::account::running_uid() == Some(0) {
            let foreign = temp("foreign", body, 0o600);
            std::os::unix::fs::chown(&foreign, Some(65534), None).expect("chown");
            assert_eq!(
                lookup(&foreign, "root", "h", 1, "d", "u").expect("lookup"),
                None,
                "read a file owned by uid 65534 for root"
            );
            assert_eq!(
                lookup(&foreign, "nobody-pgpw-none", "h", 1, "d", "u").expect("lookup"),
                None
            );
        }
    }

    #[test]
    fn default_file_is_under_the_users_home() {
        // PGPASSFILE is not set in the test environment.
        if std::env::var_os("PGPASSFILE").is_none() {
            assert_eq!(default_file("root"), Some(PathBuf::from("/root/.pgpass")));
            assert_eq!(default_file("no-such-user-pgpw"), None);
        } else {
            assert_eq!(
                default_file("root"),
                std::env::var_os("PGPASSFILE").map(PathBuf::from)
            );
        }
    }
}
