//! The TLS settings of a PostgreSQL connection, as libpq spells them
//! (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) and where their default
//! files are; the connector built from them is [`crate::cluster::tls`].

use std::fmt;
use std::path::PathBuf;

/// libpq's `sslmode`: whether and how a connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text; TLS when the server refuses the plain session.
    Allow,
    /// TLS when the server offers it, else plain (psql's default).
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is checked only when a root
    /// certificate is at hand.
    Require,
    /// TLS with the server's certificate checked against the root certificate.
    VerifyCa,
    /// `VerifyCa` and the server's name or address in its certificate.
    VerifyFull,
}

impl SslMode {
    /// What a valid value is, for error messages.
    pub const EXPECTED: &'static str =
        "one of disable, allow, prefer, require, verify-ca, verify-full";

    /// Parses libpq's spelling (ASCII case ignored).
    pub fn parse(v: &str) -> Option<SslMode> {
        Some(match v.trim().to_ascii_lowercase().as_str() {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub(crate) fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The TLS settings of a connection: libpq's `sslmode`, `sslrootcert`,
/// `sslcert` and `sslkey`. A `None` path means libpq's default file under
/// `home` (`~/.postgresql/root.crt`, `postgresql.crt`, `postgresql.key`),
/// used when it exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Home of the credentials user, where the default files are looked
    /// for; `None` (as read from config.ini): no default files.
    pub home: Option<PathBuf>,
    /// `[general] allow_cleartext_password`: answer a server's cleartext
    /// password request on an unencrypted connection to another host
    /// (libpq does; we refuse by default, see [`crate::cluster::guard`]).
    pub allow_cleartext_password: bool,
}

impl TlsSettings {
    /// These settings with the default files of OS user `os_user` (see
    /// [`crate::account::credentials_user`]).
    pub fn for_user(&self, os_user: &str) -> TlsSettings {
        TlsSettings {
            home: crate::account::home_of(os_user),
            ..self.clone()
        }
    }

    pub(crate) fn default_file(&self, name: &str) -> Option<PathBuf> {
        let p = self.home.as_ref()?.join(".postgresql").join(name);
        p.exists().then_some(p)
    }

    /// The root certificate to check the server against, if any: the
    /// configured one, else `~/.postgresql/root.crt` when it exists.
    pub(crate) fn root(&self) -> Option<PathBuf> {
        self.root_cert
            .clone()
            .or_else(|| self.default_file("root.crt"))
    }

    /// `sslmode=verify-full, sslrootcert=/x/ca.crt`: what the error names.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("sslmode={}", self.mode.as_str());
        if let Some(r) = self.root() {
            s.push_str(&format!(", sslrootcert={}", r.display()));
        }
        if let Ok(Some((cert, _))) = self.client_files() {
            s.push_str(&format!(", sslcert={}", cert.display()));
        }
        s
    }

    /// The client certificate and key, when one is configured or present
    /// in ~/.postgresql (libpq's defaults).
    pub(crate) fn client_files(&self) -> Result<Option<(PathBuf, PathBuf)>, TlsError> {
        let cert = match &self.cert {
            Some(c) => c.clone(),
            None => match self.default_file("postgresql.crt") {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        let key = match &self.key {
            Some(k) => k.clone(),
            None => self
                .default_file("postgresql.key")
                .ok_or_else(|| TlsError::NoKey { cert: cert.clone() })?,
        };
        Ok(Some((cert, key)))
    }
}

/// Why the TLS files of [`TlsSettings`] cannot be used (a connection then
/// fails with `TLS: ` and this). Names the file and what to do; never holds
/// a key's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsError {
    /// `sslcert` is set (or found) but no key goes with it.
    NoKey { cert: PathBuf },
    /// A checking `sslmode` without a root certificate; `default` is where
    /// libpq would look for one.
    NoRoot { mode: SslMode, default: String },
    /// `sslrootcert` cannot be read: the OS error's text.
    RootUnreadable { path: PathBuf, detail: String },
    /// `sslrootcert` holds no PEM certificate.
    RootEmpty { path: PathBuf },
    /// `sslkey` cannot be read: the OS error's text.
    KeyUnreadable { path: PathBuf, detail: String },
    /// `sslkey` is open to others (libpq's rule); `mode` its permission bits.
    KeyMode { path: PathBuf, mode: u32 },
    /// OpenSSL refused a step (`what`: `OpenSSL setup`, `sslcert /x.crt`...);
    /// `reason` is OpenSSL's reason.
    Ssl { what: String, reason: String },
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoKey { cert } => write!(
                f,
                "sslcert {} is given but no sslkey (and no ~/.postgresql/postgresql.key)",
                cert.display()
            ),
            TlsError::NoRoot { mode, default } => write!(
                f,
                "sslmode={} needs the CA that signed the server's certificate: set sslrootcert, or put it in {default}",
                mode.as_str()
            ),
            TlsError::RootUnreadable { path, detail } => {
                write!(f, "cannot read sslrootcert {}: {detail}", path.display())
            }
            TlsError::RootEmpty { path } => {
                write!(f, "sslrootcert {} holds no PEM certificate", path.display())
            }
            TlsError::KeyUnreadable { path, detail } => {
                write!(f, "cannot read sslkey {}: {detail}", path.display())
            }
            TlsError::KeyMode { path, mode } => write!(
                f,
                "sslkey {} has mode {mode:04o}; it must be u=rw (0600) or less, or u=rw,g=r (0640) if owned by root (chmod 0600 {})",
                path.display(),
                path.display()
            ),
            TlsError::Ssl { what, reason } => write!(f, "{what}: {reason}"),
        }
    }
}

impl std::error::Error for TlsError {}
