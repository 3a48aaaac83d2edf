//! sendmail.py's command line, and the part of it an args.txt holds for
//! the watchers: both read through the shared argument front
//! ([`crate::args::front`], argparse's rules) and then typed by pico-args.
//! Errors are worded as argparse's (exit status 2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Failover, Layout, MailError, MailSettings, Message, TlsMode};
use crate::args::{ArgError, Dialect, Opt, Spec};

/// `--help` text; every option is documented here and nowhere else.
pub const USAGE: &str = "\
usage: sendmail [@ARGS_FILE ...] --user USER --password PASSWORD --server SERVER
                [--port PORT] --sender SENDER --subject SUBJECT
                --receivers RECEIVERS [RECEIVERS ...] [--body BODY]
                [--failed-node NODE] [--new-master NODE] [--mail-on-success]
                [--cacert PATH] [--insecure] [--tls starttls|implicit]
                [--timeout SECS]
       sendmail --check [@ARGS_FILE ...] [options as above]

Sends one HTML mail through an SMTP server with TLS and login, like
sendmail.py. Exit status 0 only when the server accepted the mail, 1 when
sending failed, 2 for bad arguments.

With --check (e.g. `sendmail --check @/root/pgpoolwatch/args.txt`), it
connects, starts TLS, logs in and quits without sending: exit 0 when the
login was accepted, else one line saying which step failed (--subject is
not needed then).

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
  --check               test the settings: connect, TLS, login, quit;
                        send nothing
  --help                show this help and exit
  --version             show the version and exit
";

/// sendmail's options, in the order an ambiguous prefix lists them.
const OPTIONS: &[Opt] = &[
    Opt::one("--user"),
    Opt::one("--password"),
    Opt::one("--server"),
    Opt::one("--port"),
    Opt::one("--sender"),
    Opt::one("--subject"),
    Opt::one_or_more("--receivers"),
    Opt::one("--body"),
    Opt::one("--failed-node"),
    Opt::one("--new-master"),
    Opt::flag("--mail-on-success"),
    Opt::one("--cacert"),
    Opt::flag("--insecure"),
    Opt::one("--tls"),
    Opt::one("--timeout"),
    Opt::flag("--check"),
    Opt::flag("--help"),
    Opt::flag("--version"),
];

const SPEC: Spec<'static> = Spec {
    options: OPTIONS,
    aliases: &[("-h", "--help")],
    dialect: Dialect::Argparse,
};

/// Everything sendmail.py's options say. `Debug` masks the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailOptions {
    /// Server, login, addresses, TLS and timeout.
    pub settings: MailSettings,
    pub subject: String,
    pub body: String,
    /// `none` unless given.
    pub failed_node: String,
    /// `none` unless given.
    pub new_master: String,
    pub mail_on_success: bool,
}

impl Default for MailOptions {
    fn default() -> Self {
        MailOptions {
            settings: MailSettings::default(),
            subject: String::new(),
            body: String::new(),
            failed_node: "none".to_string(),
            new_master: "none".to_string(),
            mail_on_success: false,
        }
    }
}

/// What one command line says, before required options are checked.
#[derive(Default)]
struct Given {
    user: Option<String>,
    password: Option<String>,
    server: Option<String>,
    port: Option<u16>,
    sender: Option<String>,
    subject: Option<String>,
    receivers: Option<Vec<String>>,
    body: Option<String>,
    failed_node: Option<String>,
    new_master: Option<String>,
    mail_on_success: bool,
    cacert: Option<PathBuf>,
    insecure: bool,
    tls: Option<TlsMode>,
    timeout: Option<Duration>,
    check: bool,
}

/// argparse's words for what the front refused.
fn usage(e: ArgError) -> MailError {
    MailError::Usage(match e {
        ArgError::File(e) => return MailError::Args(e),
        ArgError::NoValue { option, .. } => {
            format!("{option}: expected one value (write {option}=VALUE if it starts with '-')")
        }
        ArgError::NoValues { option } => format!("{option}: expected at least one address"),
        ArgError::FlagValue { option } => format!("{option}: takes no value"),
        e @ (ArgError::Ambiguous { .. }
        | ArgError::Unrecognized(_)
        | ArgError::SpaceSeparated { .. }) => e.to_string(),
    })
}

/// The value of `key` read by pico-args with `parse`, whose error is the
/// whole message.
fn typed<T, E: std::fmt::Display>(
    p: &mut pico_args::Arguments,
    key: &'static str,
    parse: fn(&str) -> Result<T, E>,
) -> Result<Option<T>, MailError> {
    p.opt_value_from_fn(key, parse).map_err(|e| {
        MailError::Usage(match e {
            pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => cause,
            e => format!("{key}: {e}"),
        })
    })
}

fn text(p: &mut pico_args::Arguments, key: &'static str) -> Result<Option<String>, MailError> {
    typed(p, key, |v| Ok::<_, std::convert::Infallible>(v.to_string()))
}

/// A value of `--port`, `--tls` or `--timeout` that does not parse (the
/// value as given); its `Display` is the whole usage message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BadValue {
    /// Not a port 1-65535.
    Port(String),
    /// Neither `starttls` nor `implicit`.
    Tls(String),
    /// Not a number of seconds in (0, 86400].
    Timeout(String),
}

impl std::fmt::Display for BadValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadValue::Port(v) => write!(f, "--port: invalid port {v:?} (expected 1-65535)"),
            BadValue::Tls(v) => write!(
                f,
                "--tls: invalid mode {v:?} (expected starttls or implicit)"
            ),
            BadValue::Timeout(v) => write!(
                f,
                "--timeout: invalid value {v:?} (expected seconds, greater than 0)"
            ),
        }
    }
}

fn parse_port(value: &str) -> Result<u16, BadValue> {
    match value.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(BadValue::Port(value.to_string())),
    }
}

fn parse_tls(value: &str) -> Result<TlsMode, BadValue> {
    match value.trim().to_ascii_lowercase().as_str() {
        "starttls" => Ok(TlsMode::StartTls),
        "implicit" => Ok(TlsMode::Implicit),
        _ => Err(BadValue::Tls(value.to_string())),
    }
}

fn parse_timeout(value: &str) -> Result<Duration, BadValue> {
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(BadValue::Timeout(value.to_string())),
    }
}

impl Given {
    /// Reads already `@`-expanded arguments (later occurrences win).
    fn read(args: &[String]) -> Result<Given, MailError> {
        let mut p = SPEC.arguments(args).map_err(usage)?;
        let receivers: Vec<String> = p
            .values_from_str("--receivers")
            .map_err(|e| MailError::Usage(format!("--receivers: {e}")))?;
        let given = Given {
            user: text(&mut p, "--user")?,
            password: text(&mut p, "--password")?,
            server: text(&mut p, "--server")?,
            port: typed(&mut p, "--port", parse_port)?,
            sender: text(&mut p, "--sender")?,
            subject: text(&mut p, "--subject")?,
            receivers: (!receivers.is_empty()).then(|| {
                receivers
                    .iter()
                    .flat_map(|v| v.split_whitespace())
                    .map(str::to_string)
                    .collect()
            }),
            body: text(&mut p, "--body")?,
            failed_node: text(&mut p, "--failed-node")?,
            new_master: text(&mut p, "--new-master")?,
            mail_on_success: p.contains("--mail-on-success"),
            cacert: text(&mut p, "--cacert")?.map(PathBuf::from),
            insecure: p.contains("--insecure"),
            tls: typed(&mut p, "--tls", parse_tls)?,
            timeout: typed(&mut p, "--timeout", parse_timeout)?,
            check: p.contains("--check"),
        };
        // --help and --version are the binary's to act on.
        let _ = (p.contains("--help"), p.contains("--version"));
        if let Some(left) = p.finish().first() {
            return Err(MailError::Usage(format!(
                "unrecognized argument: {}",
                crate::args::front::name_argument(&left.to_string_lossy())
            )));
        }
        Ok(given)
    }

    /// The settings, checking that each option of `required` was given,
    /// in that order.
    fn settings(&mut self, required: &[&str]) -> Result<MailSettings, MailError> {
        for name in required {
            let present = match *name {
                "--user" => self.user.is_some(),
                "--password" => self.password.is_some(),
                "--server" => self.server.is_some(),
                "--sender" => self.sender.is_some(),
                "--subject" => self.subject.is_some(),
                "--receivers" => self.receivers.is_some(),
                _ => true,
            };
            if !present {
                return Err(MailError::Usage(format!(
                    "the following argument is required: {name}"
                )));
            }
        }
        let d = MailSettings::default();
        let settings = MailSettings {
            user: self.user.take().unwrap_or_default(),
            password: self.password.take().unwrap_or_default().into(),
            server: self.server.take().unwrap_or_default(),
            port: self.port.unwrap_or(d.port),
            sender: self.sender.take().unwrap_or_default(),
            receivers: self.receivers.take().unwrap_or_default(),
            tls: super::TlsOptions {
                cacert: self.cacert.take(),
                insecure: self.insecure,
                mode: self.tls,
            },
            timeout: self.timeout.unwrap_or(d.timeout),
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// What a `sendmail` command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send one mail.
    Send(MailOptions),
    /// `--check`: log in with these settings and quit (the options a
    /// watcher's args.txt must hold are required; `--subject` is not).
    Check(MailSettings),
}

impl Command {
    /// Parses already `@`-expanded arguments (program name not included).
    pub fn from_args(args: &[String]) -> Result<Command, MailError> {
        let mut g = Given::read(args)?;
        if g.check {
            let required = [
                "--user",
                "--password",
                "--server",
                "--sender",
                "--receivers",
            ];
            return Ok(Command::Check(g.settings(&required)?));
        }
        MailOptions::from_given(g).map(Command::Send)
    }
}

impl MailOptions {
    /// Parses sendmail.py's options from already `@`-expanded arguments
    /// (program name not included). Later occurrences win.
    pub fn from_args(args: &[String]) -> Result<MailOptions, MailError> {
        MailOptions::from_given(Given::read(args)?)
    }

    fn from_given(mut g: Given) -> Result<MailOptions, MailError> {
        let settings = g.settings(&[
            "--user",
            "--password",
            "--server",
            "--sender",
            "--subject",
            "--receivers",
        ])?;
        let d = MailOptions::default();
        Ok(MailOptions {
            settings,
            subject: g.subject.unwrap_or_default(),
            body: g.body.unwrap_or_default(),
            failed_node: g.failed_node.unwrap_or(d.failed_node),
            new_master: g.new_master.unwrap_or(d.new_master),
            mail_on_success: g.mail_on_success,
        })
    }

    /// Checks what [`from_args`](Self::from_args) cannot leave to the server:
    /// non-empty server/user, well-formed addresses.
    pub fn validate(&self) -> Result<(), MailError> {
        self.settings.validate()
    }

    /// The mail these options describe: the Failed Node / New Master
    /// paragraph only when both are given and neither is `none`.
    pub fn message(&self) -> Message {
        let failover =
            (self.failed_node != "none" && self.new_master != "none").then(|| Failover {
                failed_node: self.failed_node.clone(),
                new_master: self.new_master.clone(),
            });
        Message {
            subject: self.subject.clone(),
            body: self.body.clone(),
            layout: if self.mail_on_success {
                Layout::Success
            } else {
                Layout::Normal
            },
            failover,
        }
    }
}

/// What a watcher takes from args.txt (`[general] sendmail_settings_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsFile {
    pub settings: MailSettings,
    /// args.txt holds `--mail-on-success`: the original then sent every
    /// watcher mail in the success layout (its own options came after the
    /// file and never switched it off), and so do we.
    pub success_layout: bool,
}

impl ArgsFile {
    /// `msg` as it is sent with this file: never a failover paragraph
    /// (args.txt's `--failed-node`/`--new-master` are sendmail's, for
    /// pgpool's failover script), the success layout when the file asks.
    pub fn message_for(&self, msg: &Message) -> Message {
        let mut m = msg.clone();
        m.failover = None;
        if self.success_layout {
            m.layout = Layout::Success;
        }
        m
    }
}

/// Reads args.txt as sendmail would (`@`-files inside it expanded, later
/// lines winning). Every sendmail option is accepted; `--subject` is not
/// required, since the watcher brings its own.
pub fn read_args_file(path: &Path) -> Result<ArgsFile, MailError> {
    let args = crate::args::expand([std::ffi::OsString::from(format!("@{}", path.display()))])
        .map_err(MailError::Args)?;
    let mut g = Given::read(&args)?;
    let settings = g.settings(&[
        "--user",
        "--password",
        "--server",
        "--sender",
        "--receivers",
    ])?;
    Ok(ArgsFile {
        settings,
        success_layout: g.mail_on_success,
    })
}

/// sendmail's command line `@args_file` followed by `overrides` (later
/// wins), e.g. `["--subject=...", "--body=..."]`. Kept for callers of the
/// old text interface; the watchers use [`super::send_watcher_mail`].
pub fn options_from_file(args_file: &Path, overrides: &[String]) -> Result<MailOptions, MailError> {
    let mut raw = vec![std::ffi::OsString::from(format!(
        "@{}",
        args_file.display()
    ))];
    raw.extend(overrides.iter().map(std::ffi::OsString::from));
    let args = crate::args::expand(raw).map_err(MailError::Args)?;
    MailOptions::from_args(&args)
}

#[cfg(test)]
mod tests;
