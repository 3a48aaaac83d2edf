//! Mail as sendmail.py sent it: the same HTML body, one
//! multipart/alternative message through an authenticated, encrypted SMTP
//! session.
//!
//! Two ways in, one way out. The `sendmail` binary's command line
//! (`@args.txt` and options, later ones winning) gives [`MailOptions`]
//! ([`options`]: sendmail's flags table and its reader); the watchers build
//! a typed [`Message`] and [`send_watcher_mail`] reads the operator's
//! args.txt by the same table into typed [`MailSettings`] at every send (so
//! an edit takes effect at the next mail) — no text arguments in between. Both end in [`transport::deliver`].
//! [`body`] assembles the HTML, [`error`] says why a mail was not sent.
//!
//! Differences from sendmail.py (also in docs/compatibility.md): every address of
//! `--receivers` gets the mail (the original mailed only the first value of
//! `--receivers a b`), the server's certificate is verified (`--cacert`,
//! `--insecure`), port 465 (or `--tls=implicit`) uses implicit TLS, every
//! network step has a timeout (`--timeout`), and the exit status is 0 only
//! when the server accepted the mail.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod body;
pub mod error;
pub mod options;
mod tlsparams;
pub mod transport;
pub mod trust;
pub mod worker;

pub use body::{compose_body, html_escape};
pub use error::{MailError, WatcherMailError};
pub use options::{read_args_file, ArgsFile, Command, MailOptions, Request, SENDMAIL};
pub use transport::{check, deliver, send};

/// Default SMTP port (submission with STARTTLS), as sendmail.py.
pub const DEFAULT_PORT: u16 = 587;
/// Default per-step network timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How TLS is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connect, then STARTTLS, which the server must offer.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
}

/// Certificate checking and TLS mode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file whose certificates are trusted in addition to the system store.
    pub cacert: Option<PathBuf>,
    /// Skip certificate verification entirely (warned about).
    pub insecure: bool,
    /// `None`: implicit TLS on port 465, STARTTLS on any other port.
    pub mode: Option<TlsMode>,
}

impl TlsOptions {
    /// The TLS mode used for `port`.
    pub fn mode_for(&self, port: u16) -> TlsMode {
        match self.mode {
            Some(m) => m,
            None if port == 465 => TlsMode::Implicit,
            None => TlsMode::StartTls,
        }
    }
}

/// Where and as whom a mail is sent: what args.txt says apart from the
/// mail itself. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct MailSettings {
    pub user: String,
    /// A [`crate::secret::Secret`]: it prints as `********`.
    pub password: crate::secret::Secret,
    pub server: String,
    pub port: u16,
    pub sender: String,
    /// Single addresses (each `--receivers` value already split on whitespace).
    pub receivers: Vec<String>,
    pub tls: TlsOptions,
    /// Per-step network timeout (`--timeout`).
    pub timeout: Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            user: String::new(),
            password: crate::secret::Secret::default(),
            server: String::new(),
            port: DEFAULT_PORT,
            sender: String::new(),
            receivers: Vec::new(),
            tls: TlsOptions::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("user", &self.user)
            .field("password", &self.password)
            .field("server", &self.server)
            .field("port", &self.port)
            .field("sender", &self.sender)
            .field("receivers", &self.receivers)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl MailSettings {
    /// Checks what cannot be left to the server: non-empty server and
    /// user, well-formed addresses.
    pub fn validate(&self) -> Result<(), MailError> {
        if self.server.trim().is_empty() {
            return Err(MailError::Usage("--server: empty".into()));
        }
        if self.user.is_empty() {
            return Err(MailError::Usage("--user: empty".into()));
        }
        self.sender
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| {
                MailError::Usage(format!("--sender: invalid address {:?}: {e}", self.sender))
            })?;
        if self.receivers.is_empty() {
            return Err(MailError::Usage("--receivers: no address given".into()));
        }
        for r in &self.receivers {
            r.parse::<lettre::Address>().map_err(|e| {
                MailError::Usage(format!("--receivers: invalid address {r:?}: {e}"))
            })?;
        }
        Ok(())
    }
}

/// Which of sendmail.py's two body layouts a mail uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// The body, then the local time in `<p>..</p>`.
    #[default]
    Normal,
    /// `--mail-on-success`: "PGPOOL Success Mail" and the time, then the body.
    Success,
}

/// sendmail's `--failed-node`/`--new-master` paragraph (pgpool's failover
/// script passes them); watchers' mails never carry one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failover {
    pub failed_node: String,
    pub new_master: String,
}

/// One mail's content: subject, HTML body and layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    /// HTML, as the original's bodies.
    pub body: String,
    pub layout: Layout,
    /// Only from sendmail's command line (both options given, neither `none`).
    pub failover: Option<Failover>,
}

impl Message {
    /// A mail without a failover paragraph (what the watchers send).
    pub fn new(subject: impl Into<String>, body: impl Into<String>, layout: Layout) -> Message {
        Message {
            subject: subject.into(),
            body: body.into(),
            layout,
            failover: None,
        }
    }
}

/// A watcher's mail: reads `args_file` (`[general] sendmail_settings_path`)
/// now, so an edit takes effect at the next mail, and delivers `msg` with
/// those settings. args.txt's `--failed-node`/`--new-master` never reach a
/// watcher mail (the original passed `--failed-node=none
/// --new-master=none` after `@args.txt`).
pub fn send_watcher_mail(args_file: &Path, msg: &Message) -> Result<(), WatcherMailError> {
    let file = read_args_file(args_file).map_err(|source| WatcherMailError::Options {
        file: args_file.to_path_buf(),
        source,
    })?;
    deliver(&file.settings, &file.message_for(msg)).map_err(WatcherMailError::Send)
}
