//! Mail as sendmail.py sent it: the same options (read from `@args.txt` and
//! the command line, later ones winning), the same HTML body, one
//! multipart/alternative message through an authenticated, encrypted SMTP
//! session.
//!
//! The `sendmail` binary and the watchers share this module: the watchers
//! read the operator's `args.txt` with [`options_from_file`] and add their own
//! `--subject`/`--body`. Parsing and body assembly are pure; [`send`] does the
//! network part (see [`transport`]).
//!
//! Differences from sendmail.py (also in README): every address of
//! `--receivers` gets the mail (the original mailed only the first value of
//! `--receivers a b`), the server's certificate is verified (`--cacert`,
//! `--insecure`), port 465 (or `--tls=implicit`) uses implicit TLS, every
//! network step has a timeout (`--timeout`), and the exit status is 0 only
//! when the server accepted the mail.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod transport;

pub use transport::send;

/// `--help` text; every option is documented here and nowhere else.
pub const USAGE: &str = "\
usage: sendmail [@ARGS_FILE ...] --user USER --password PASSWORD --server SERVER
                [--port PORT] --sender SENDER --subject SUBJECT
                --receivers RECEIVERS [RECEIVERS ...] [--body BODY]
                [--failed-node NODE] [--new-master NODE] [--mail-on-success]
                [--cacert PATH] [--insecure] [--tls starttls|implicit]
                [--timeout SECS]

Sends one HTML mail through an SMTP server with TLS and login, like
sendmail.py. Exit status 0 only when the server accepted the mail, 1 when
sending failed, 2 for bad arguments.

  @ARGS_FILE            read arguments from a file, one per line (args.txt);
                        arguments after it override the file's
  --user USER           SMTP login name (required)
  --password PASSWORD   SMTP password (required; never printed)
  --server SERVER       SMTP server host name or address (required)
  --port PORT           SMTP port (default 587)
  --sender SENDER       From address and envelope sender (required)
  --subject SUBJECT     Subject (required)
  --receivers ADDR ...  one or more values, each holding one or more
                        addresses separated by spaces; every address gets
                        the mail (required)
  --body BODY           HTML body text (default empty)
  --failed-node NODE    with --new-master, adds a Failed Node / New Master
                        paragraph (default none)
  --new-master NODE     see --failed-node (default none)
  --mail-on-success     use the 'PGPOOL Success Mail' body layout
  --cacert PATH         also trust the CA certificate(s) in this PEM file
  --insecure            do not verify the server's certificate (only for an
                        internal relay with a self-signed certificate; a
                        warning is printed)
  --tls MODE            starttls (STARTTLS required) or implicit (TLS from
                        the first byte); default implicit on port 465,
                        starttls on every other port
  --timeout SECS        limit for the TCP connect and for each TLS handshake
                        and server reply (default 30); the whole delivery is
                        abandoned after 4 x SECS
  --help                show this help and exit
  --version             show the version and exit
";

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

/// Everything sendmail.py's options say. `Debug` masks the password.
#[derive(Clone, PartialEq, Eq)]
pub struct MailOptions {
    pub user: String,
    pub password: String,
    pub server: String,
    pub port: u16,
    pub sender: String,
    pub subject: String,
    /// Single addresses (each `--receivers` value already split on whitespace).
    pub receivers: Vec<String>,
    pub body: String,
    /// `none` unless given.
    pub failed_node: String,
    /// `none` unless given.
    pub new_master: String,
    pub mail_on_success: bool,
    pub tls: TlsOptions,
    /// Per-step network timeout (`--timeout`).
    pub timeout: Duration,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions {
            user: String::new(),
            password: String::new(),
            server: String::new(),
            port: DEFAULT_PORT,
            sender: String::new(),
            subject: String::new(),
            receivers: Vec::new(),
            body: String::new(),
            failed_node: "none".to_string(),
            new_master: "none".to_string(),
            mail_on_success: false,
            tls: TlsOptions::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for MailOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailOptions")
            .field("user", &self.user)
            .field("password", &"********")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("sender", &self.sender)
            .field("subject", &self.subject)
            .field("receivers", &self.receivers)
            .field("body", &self.body)
            .field("failed_node", &self.failed_node)
            .field("new_master", &self.new_master)
            .field("mail_on_success", &self.mail_on_success)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a mail was not sent. `Display` is one line and never holds the password.
#[derive(Debug)]
pub enum MailError {
    /// Missing, unknown or invalid argument (exit status 2).
    Usage(String),
    /// An `@file` could not be expanded (exit status 2).
    Args(crate::args::ArgsError),
    /// The `--cacert` file could not be read or holds no usable certificate.
    CaCert { path: PathBuf, detail: String },
    /// No TCP connection to the server (refused, unreachable, unknown host).
    Connect {
        server: String,
        port: u16,
        detail: String,
    },
    /// TLS could not be set up (certificate not trusted, handshake failed,
    /// STARTTLS not offered).
    Tls {
        server: String,
        port: u16,
        detail: String,
    },
    /// The server refused the login; `answer` is its reply.
    Auth {
        server: String,
        port: u16,
        answer: String,
    },
    /// The server answered a step (greeting, EHLO, MAIL FROM, RCPT TO, DATA,
    /// the message) with an error code.
    Rejected {
        server: String,
        port: u16,
        stage: String,
        answer: String,
    },
    /// No answer within the timeout.
    Timeout {
        server: String,
        port: u16,
        stage: String,
        after: Duration,
    },
    /// Anything else that broke the session (connection lost, garbled reply).
    Failed {
        server: String,
        port: u16,
        stage: String,
        detail: String,
    },
}

impl MailError {
    /// The process exit status for this error: 2 for usage, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            MailError::Usage(_) | MailError::Args(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for MailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailError::Usage(msg) => write!(f, "{msg} (see --help)"),
            MailError::Args(e) => write!(f, "{e}"),
            MailError::CaCert { path, detail } => {
                write!(f, "cacert {}: {detail}", path.display())
            }
            MailError::Connect {
                server,
                port,
                detail,
            } => write!(
                f,
                "smtp {server}:{port}: cannot connect: {detail} (is the mail server running, are --server and --port right?)"
            ),
            MailError::Tls {
                server,
                port,
                detail,
            } => write!(f, "smtp {server}:{port}: tls: {detail}"),
            MailError::Auth {
                server,
                port,
                answer,
            } => write!(f, "smtp {server}:{port}: authentication failed: {answer}"),
            MailError::Rejected {
                server,
                port,
                stage,
                answer,
            } => write!(f, "smtp {server}:{port}: {stage} rejected: {answer}"),
            MailError::Timeout {
                server,
                port,
                stage,
                after,
            } if stage == "delivery" => write!(
                f,
                "smtp {server}:{port}: delivery not finished within {} ({} x --timeout; is the server frozen?)",
                fmt_secs(*after),
                transport::OVERALL_FACTOR,
            ),
            MailError::Timeout {
                server,
                port,
                stage,
                after,
            } => write!(
                f,
                "smtp {server}:{port}: {stage}: no answer within {} (--timeout)",
                fmt_secs(*after)
            ),
            MailError::Failed {
                server,
                port,
                stage,
                detail,
            } => write!(f, "smtp {server}:{port}: {stage}: {detail}"),
        }
    }
}

impl std::error::Error for MailError {}

/// What the watchers' mail queue must not retry: a wrong command line or
/// args.txt, an unreadable --cacert, a refused login, and permanent (5xx)
/// SMTP replies. Connection trouble, time-outs and 4xx replies are retried.
impl crate::mailqueue::SendFailure for MailError {
    fn is_permanent(&self) -> bool {
        match self {
            MailError::Usage(_) | MailError::Args(_) | MailError::CaCert { .. } => true,
            MailError::Auth { answer, .. } => !answer.trim_start().starts_with('4'),
            MailError::Rejected { answer, .. } => answer.trim_start().starts_with('5'),
            MailError::Connect { .. }
            | MailError::Tls { .. }
            | MailError::Timeout { .. }
            | MailError::Failed { .. } => false,
        }
    }
}

fn fmt_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opt {
    User,
    Password,
    Server,
    Port,
    Sender,
    Subject,
    Receivers,
    Body,
    FailedNode,
    NewMaster,
    MailOnSuccess,
    CaCert,
    Insecure,
    Tls,
    Timeout,
    Help,
    Version,
}

const OPTIONS: &[(&str, Opt)] = &[
    ("--user", Opt::User),
    ("--password", Opt::Password),
    ("--server", Opt::Server),
    ("--port", Opt::Port),
    ("--sender", Opt::Sender),
    ("--subject", Opt::Subject),
    ("--receivers", Opt::Receivers),
    ("--body", Opt::Body),
    ("--failed-node", Opt::FailedNode),
    ("--new-master", Opt::NewMaster),
    ("--mail-on-success", Opt::MailOnSuccess),
    ("--cacert", Opt::CaCert),
    ("--insecure", Opt::Insecure),
    ("--tls", Opt::Tls),
    ("--timeout", Opt::Timeout),
    ("--help", Opt::Help),
    ("--version", Opt::Version),
];

impl Opt {
    fn is_flag(self) -> bool {
        matches!(
            self,
            Opt::MailOnSuccess | Opt::Insecure | Opt::Help | Opt::Version
        )
    }
}

/// Exact name, or (as argparse allows) an unambiguous abbreviation.
fn lookup(name: &str) -> Result<(&'static str, Opt), MailError> {
    if let Some(&(n, o)) = OPTIONS.iter().find(|(n, _)| *n == name) {
        return Ok((n, o));
    }
    let hits: Vec<&(&str, Opt)> = OPTIONS
        .iter()
        .filter(|(n, _)| name.len() > 2 && n.starts_with(name))
        .collect();
    match hits.as_slice() {
        [(n, o)] => Ok((n, *o)),
        [] => Err(MailError::Usage(format!("unrecognized argument: {name}"))),
        many => Err(MailError::Usage(format!(
            "ambiguous option: {name} could match {}",
            many.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// argparse treats an argument starting with `-` as an option, except a
/// lone `-` and negative numbers.
fn looks_like_option(arg: &str) -> bool {
    arg.len() > 1 && arg.starts_with('-') && arg[1..].parse::<f64>().is_err()
}

impl MailOptions {
    /// Parses sendmail.py's options from already `@`-expanded arguments
    /// (program name not included). Later occurrences win.
    pub fn from_args(args: &[String]) -> Result<MailOptions, MailError> {
        let mut o = MailOptions::default();
        let mut seen: Vec<Opt> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            i += 1;
            if !arg.starts_with("--") || arg == "--" {
                return Err(MailError::Usage(format!("unrecognized argument: {arg}")));
            }
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg.as_str(), None),
            };
            let (name, opt) = lookup(name)?;
            if opt.is_flag() {
                if inline.is_some() {
                    return Err(MailError::Usage(format!("{name}: takes no value")));
                }
            } else if opt == Opt::Receivers {
                let mut values: Vec<&str> = Vec::new();
                if let Some(v) = inline {
                    values.push(v);
                } else {
                    while i < args.len() && !looks_like_option(&args[i]) {
                        values.push(&args[i]);
                        i += 1;
                    }
                }
                if values.is_empty() {
                    return Err(MailError::Usage(format!(
                        "{name}: expected at least one address"
                    )));
                }
                o.receivers = values
                    .iter()
                    .flat_map(|v| v.split_whitespace())
                    .map(str::to_string)
                    .collect();
                seen.push(opt);
                continue;
            }
            let value = if opt.is_flag() {
                ""
            } else if let Some(v) = inline {
                v
            } else {
                match args.get(i) {
                    Some(v) if !looks_like_option(v) => {
                        i += 1;
                        v.as_str()
                    }
                    _ => {
                        return Err(MailError::Usage(format!(
                            "{name}: expected one value (write {name}=VALUE if it starts with '-')"
                        )))
                    }
                }
            };
            seen.push(opt);
            match opt {
                Opt::User => o.user = value.to_string(),
                Opt::Password => o.password = value.to_string(),
                Opt::Server => o.server = value.to_string(),
                Opt::Port => {
                    o.port = match value.trim().parse::<u16>() {
                        Ok(p) if p != 0 => p,
                        _ => {
                            return Err(MailError::Usage(format!(
                                "--port: invalid port {value:?} (expected 1-65535)"
                            )))
                        }
                    }
                }
                Opt::Sender => o.sender = value.to_string(),
                Opt::Subject => o.subject = value.to_string(),
                Opt::Body => o.body = value.to_string(),
                Opt::FailedNode => o.failed_node = value.to_string(),
                Opt::NewMaster => o.new_master = value.to_string(),
                Opt::MailOnSuccess => o.mail_on_success = true,
                Opt::CaCert => o.tls.cacert = Some(PathBuf::from(value)),
                Opt::Insecure => o.tls.insecure = true,
                Opt::Tls => {
                    o.tls.mode = Some(match value.trim().to_ascii_lowercase().as_str() {
                        "starttls" => TlsMode::StartTls,
                        "implicit" => TlsMode::Implicit,
                        _ => {
                            return Err(MailError::Usage(format!(
                                "--tls: invalid mode {value:?} (expected starttls or implicit)"
                            )))
                        }
                    })
                }
                Opt::Timeout => o.timeout = parse_timeout(value)?,
                Opt::Help | Opt::Version => {}
                Opt::Receivers => unreachable!("handled above"),
            }
        }
        for (name, opt) in [
            ("--user", Opt::User),
            ("--password", Opt::Password),
            ("--server", Opt::Server),
            ("--sender", Opt::Sender),
            ("--subject", Opt::Subject),
            ("--receivers", Opt::Receivers),
        ] {
            if !seen.contains(&opt) {
                return Err(MailError::Usage(format!(
                    "the following argument is required: {name}"
                )));
            }
        }
        o.validate()?;
        Ok(o)
    }

    /// Checks what [`from_args`](Self::from_args) cannot leave to the server:
    /// non-empty server/user, well-formed addresses.
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

fn parse_timeout(value: &str) -> Result<Duration, MailError> {
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(MailError::Usage(format!(
            "--timeout: invalid value {value:?} (expected seconds, greater than 0)"
        ))),
    }
}

/// Watcher entry point: the options of `@args_file` followed by `overrides`
/// (later wins), e.g. `["--subject=...", "--body=..."]`.
pub fn options_from_file(args_file: &Path, overrides: &[String]) -> Result<MailOptions, MailError> {
    let mut raw = vec![std::ffi::OsString::from(format!(
        "@{}",
        args_file.display()
    ))];
    raw.extend(overrides.iter().map(std::ffi::OsString::from));
    let args = crate::args::expand(raw).map_err(MailError::Args)?;
    MailOptions::from_args(&args)
}

/// The HTML body exactly as sendmail.py assembled it; `local_now` is
/// Python's `str(datetime.now())` (see [`crate::localtime`]).
pub fn compose_body(opts: &MailOptions, local_now: &str) -> String {
    if opts.mail_on_success {
        return format!("<b>PGPOOL Success Mail</b> - {local_now}<br>{}", opts.body);
    }
    let mut body = format!("{}<p>{local_now}</p>", opts.body);
    if opts.failed_node != "none" && opts.new_master != "none" {
        body.push_str(&format!(
            "<p>Failed Node: {}<br>New Master: {}<br></p>",
            opts.failed_node, opts.new_master
        ));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const BASE: &[&str] = &[
        "--user=u@example.org",
        "--password=Secr3t",
        "--server=mail.example.org",
        "--sender=u@example.org",
        "--subject=PGPOOL Status Script - Failure",
        "--receivers=bill@example.com page@example.com",
    ];

    fn parse(extra: &[&str]) -> Result<MailOptions, MailError> {
        let mut a = args(BASE);
        a.extend(args(extra));
        MailOptions::from_args(&a)
    }

    #[test]
    fn args_txt_sample_parses_with_defaults() {
        let o = parse(&[]).expect("parse");
        assert_eq!(o.user, "u@example.org");
        assert_eq!(o.password, "Secr3t");
        assert_eq!(o.server, "mail.example.org");
        assert_eq!(o.port, 587);
        assert_eq!(o.subject, "PGPOOL Status Script - Failure");
        assert_eq!(o.receivers, vec!["bill@example.com", "page@example.com"]);
        assert_eq!(o.body, "");
        assert_eq!(o.failed_node, "none");
        assert_eq!(o.new_master, "none");
        assert!(!o.mail_on_success);
        assert_eq!(o.tls, TlsOptions::default());
        assert_eq!(o.timeout, Duration::from_secs(30));
        assert_eq!(o.tls.mode_for(o.port), TlsMode::StartTls);
    }

    #[test]
    fn space_separated_values_and_later_wins() {
        let o = parse(&[
            "--subject",
            "X",
            "--port",
            "465",
            "--body",
            "<b>hi</b>",
            "--failed-node=db1",
            "--new-master",
            "db2",
            "--mail-on-success",
            "--timeout=2.5",
        ])
        .expect("parse");
        assert_eq!(o.subject, "X");
        assert_eq!(o.port, 465);
        assert_eq!(o.tls.mode_for(o.port), TlsMode::Implicit);
        assert_eq!(o.body, "<b>hi</b>");
        assert_eq!(o.failed_node, "db1");
        assert_eq!(o.new_master, "db2");
        assert!(o.mail_on_success);
        assert_eq!(o.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn receivers_take_several_values_each_split_on_spaces() {
        let o = parse(&["--receivers", "a@x.org", "b@y.org c@z.org", "--port=25"]).expect("parse");
        assert_eq!(o.receivers, vec!["a@x.org", "b@y.org", "c@z.org"]);
        assert_eq!(o.port, 25);
        // A later --receivers replaces the earlier list.
        let o = parse(&["--receivers=d@x.org"]).expect("parse");
        assert_eq!(o.receivers, vec!["d@x.org"]);
        // `=` form takes exactly one value: what follows is not consumed.
        let err = parse(&["--receivers=d@x.org", "e@x.org"]).unwrap_err();
        assert!(
            err.to_string().contains("unrecognized argument: e@x.org"),
            "{err}"
        );
    }

    #[test]
    fn tls_options() {
        let o = parse(&["--cacert=/etc/ca.pem", "--insecure", "--tls=implicit"]).expect("parse");
        assert_eq!(o.tls.cacert.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert!(o.tls.insecure);
        assert_eq!(o.tls.mode_for(587), TlsMode::Implicit);
        let o = parse(&["--port=465", "--tls", "starttls"]).expect("parse");
        assert_eq!(o.tls.mode_for(o.port), TlsMode::StartTls);
    }

    #[test]
    fn abbreviations_like_argparse() {
        let o = parse(&["--subj=Y", "--mail-on"]).expect("parse");
        assert_eq!(o.subject, "Y");
        assert!(o.mail_on_success);
        let err = parse(&["--s=Y"]).unwrap_err();
        assert!(err.to_string().contains("ambiguous option: --s"), "{err}");
    }

    #[test]
    fn each_missing_required_option_is_named() {
        for (i, name) in [
            "--user",
            "--password",
            "--server",
            "--sender",
            "--subject",
            "--receivers",
        ]
        .iter()
        .enumerate()
        {
            let mut a = args(BASE);
            a.remove(i);
            let err = MailOptions::from_args(&a).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{name}");
            assert!(
                err.to_string()
                    .contains(&format!("the following argument is required: {name}")),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn bad_values_are_usage_errors_naming_the_option() {
        let cases: &[(&[&str], &str)] = &[
            (&["--port=0"], "--port: invalid port"),
            (&["--port=smtp"], "--port: invalid port"),
            (&["--timeout=0"], "--timeout: invalid value"),
            (&["--timeout=-1"], "--timeout: invalid value"),
            (&["--tls=ssl"], "--tls: invalid mode"),
            (&["--subject"], "--subject: expected one value"),
            (
                &["--password", "--port=25"],
                "--password: expected one value",
            ),
            (
                &["--receivers"],
                "--receivers: expected at least one address",
            ),
            (
                &["--receivers=not-an-address"],
                "--receivers: invalid address",
            ),
            (&["--sender=@@"], "--sender: invalid address"),
            (&["--server="], "--server: empty"),
            (&["--bogus=1"], "unrecognized argument: --bogus"),
            (&["stray"], "unrecognized argument: stray"),
            (&["--insecure=yes"], "--insecure: takes no value"),
        ];
        for (extra, want) in cases {
            let err = parse(extra).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{extra:?}");
            assert!(err.to_string().contains(want), "{extra:?}: {err}");
        }
    }

    #[test]
    fn values_may_start_with_dash_in_equals_form() {
        let o = parse(&["--password=-x-", "--body", "-"]).expect("parse");
        assert_eq!(o.password, "-x-");
        assert_eq!(o.body, "-");
    }

    #[test]
    fn debug_masks_the_password() {
        let o = parse(&[]).expect("parse");
        let dbg = format!("{o:?}");
        assert!(!dbg.contains("Secr3t"), "{dbg}");
        assert!(dbg.contains("********"), "{dbg}");
    }

    #[test]
    fn options_from_file_applies_overrides_after_the_file() {
        let dir = std::env::temp_dir().join(format!("pgpw-mail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("args.txt");
        std::fs::write(&file, BASE.join("\n") + "\n--body=from file\n").expect("write");
        let o = options_from_file(&file, &args(&["--subject=Failover", "--body=<p>x</p>"]))
            .expect("parse");
        assert_eq!(o.subject, "Failover");
        assert_eq!(o.body, "<p>x</p>");
        assert_eq!(o.receivers, vec!["bill@example.com", "page@example.com"]);
        let err = options_from_file(&dir.join("missing.txt"), &[]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("missing.txt"), "{err}");
    }

    #[test]
    fn compose_body_normal_mode() {
        let mut o = parse(&["--body=<b>pgpool down</b>"]).expect("parse");
        let now = "2017-07-29 17:33:54.419750";
        assert_eq!(
            compose_body(&o, now),
            "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>"
        );
        o.failed_node = "db1".into();
        assert_eq!(
            compose_body(&o, now),
            "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>",
            "only one of failed-node/new-master given: no paragraph"
        );
        o.new_master = "db2".into();
        assert_eq!(
            compose_body(&o, now),
            "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>\
             <p>Failed Node: db1<br>New Master: db2<br></p>"
        );
    }

    #[test]
    fn compose_body_success_mode() {
        let o = parse(&[
            "--body=all good",
            "--mail-on-success",
            "--failed-node=a",
            "--new-master=b",
        ])
        .expect("parse");
        assert_eq!(
            compose_body(&o, "2017-07-29 17:33:54"),
            "<b>PGPOOL Success Mail</b> - 2017-07-29 17:33:54<br>all good"
        );
    }

    #[test]
    fn display_names_server_and_answer() {
        let e = MailError::Auth {
            server: "127.0.0.1".into(),
            port: 2525,
            answer: "535 5.7.8 Authentication credentials invalid".into(),
        };
        assert_eq!(
            e.to_string(),
            "smtp 127.0.0.1:2525: authentication failed: 535 5.7.8 Authentication credentials invalid"
        );
        assert_eq!(e.exit_code(), 1);
        let e = MailError::Timeout {
            server: "h".into(),
            port: 1,
            stage: "greeting".into(),
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "smtp h:1: greeting: no answer within 1.5s (--timeout)"
        );
    }

    #[test]
    fn permanent_failures_are_the_ones_a_retry_cannot_mend() {
        use crate::mailqueue::SendFailure;
        let srv = || "smtp.example.test".to_string();
        let permanent = [
            MailError::Usage("--server is required".into()),
            MailError::CaCert {
                path: "/x".into(),
                detail: "missing".into(),
            },
            MailError::Auth {
                server: srv(),
                port: 587,
                answer: "535 5.7.8 Authentication credentials invalid".into(),
            },
            MailError::Rejected {
                server: srv(),
                port: 587,
                stage: "RCPT TO".into(),
                answer: "550 5.1.1 no such user".into(),
            },
        ];
        for e in &permanent {
            assert!(e.is_permanent(), "{e}");
        }
        let transient = [
            MailError::Connect {
                server: srv(),
                port: 587,
                detail: "connection refused".into(),
            },
            MailError::Auth {
                server: srv(),
                port: 587,
                answer: "454 4.7.0 temporary authentication failure".into(),
            },
            MailError::Rejected {
                server: srv(),
                port: 587,
                stage: "MAIL FROM".into(),
                answer: "451 4.3.0 try again later".into(),
            },
            MailError::Timeout {
                server: srv(),
                port: 587,
                stage: "greeting".into(),
                after: Duration::from_secs(30),
            },
        ];
        for e in &transient {
            assert!(!e.is_permanent(), "{e}");
        }
    }
}
