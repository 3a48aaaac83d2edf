//! sendmail's command line, and the part of it an args.txt holds for
//! the watchers, read by [`SENDMAIL`] through the shared front (argparse's
//! rules) and typed by pico-args. Errors are worded as argparse's (exit
//! status 2); the options become this layer's plain types
//! ([`MailOptions`], [`Command`], [`ArgsFile`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ArgsFile, Command, MailOptions, SENDMAIL};
use crate::flags::front::{self, ArgError, Line, Refused};
use crate::flags::Required;
use crate::mail::{MailError, MailSettings, TlsMode, TlsOptions};

/// What a `sendmail` command line asks for.
// Made once per process, so the size of `Command` in one variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `-h`/`--help`: print `sendmail --help` (made in `cli` from
    /// [`SENDMAIL`]).
    Help,
    /// `--version`.
    Version,
    /// Send, or `--check`.
    Run(Command),
}

/// Parses sendmail's arguments (program name excluded; `@files`
/// expanded, their warnings pushed to `warnings`).
pub fn parse(os_args: Vec<OsString>, warnings: &mut Vec<String>) -> Result<Request, MailError> {
    let line = match SENDMAIL.read_noting(os_args, warnings) {
        Ok(line) => line,
        Err(refused) => return refused_request(refused),
    };
    if line.given("--help") {
        return Ok(Request::Help);
    }
    if line.given("--version") {
        return Ok(Request::Version);
    }
    let mut g = Given::read(&line)?;
    if g.check {
        return Ok(Request::Run(Command::Check(g.settings(&line, false)?)));
    }
    g.options(&line).map(|o| Request::Run(Command::Send(o)))
}

/// A refused line: an unreadable `@file` is an error even beside
/// `--help` (as in argparse, which reads the files first); else `--help`
/// and `--version` win.
fn refused_request(refused: Refused) -> Result<Request, MailError> {
    if let ArgError::File(e) = refused.error {
        return Err(MailError::Args(e));
    }
    if refused.named("--help") {
        return Ok(Request::Help);
    }
    if refused.named("--version") {
        return Ok(Request::Version);
    }
    Err(usage(refused.error))
}

/// sendmail's options from already `@`-expanded arguments (program name
/// not included). Later occurrences win.
pub fn options_from_args(args: &[String]) -> Result<MailOptions, MailError> {
    let line = SENDMAIL.line(args).map_err(|r| usage(r.error))?;
    Given::read(&line)?.options(&line)
}

/// Reads args.txt as sendmail would (`@`-files inside it expanded, later
/// lines winning; the files' warnings go to the log). Every sendmail
/// option is accepted; `--subject` is not required, since the watcher
/// brings its own. A watcher's mail calls this at every send
/// ([`crate::mail::send_watcher_mail`]), so an edit takes effect at the
/// next mail.
pub fn read_args_file(path: &Path) -> Result<ArgsFile, MailError> {
    let at = OsString::from(format!("@{}", path.display()));
    let line = SENDMAIL.read(vec![at]).map_err(|r| match r.error {
        ArgError::File(e) => MailError::Args(e),
        e => usage(e),
    })?;
    let mut g = Given::read(&line)?;
    let success_layout = g.mail_on_success;
    Ok(ArgsFile {
        settings: g.settings(&line, false)?,
        success_layout,
    })
}

/// What one command line says, before required options are checked
/// (defaults from [`SENDMAIL`] filled in).
struct Given {
    user: Option<String>,
    password: Option<String>,
    server: Option<String>,
    port: Option<u16>,
    sender: Option<String>,
    subject: Option<String>,
    receivers: Vec<String>,
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
    /// Reads a canonical line.
    fn read(line: &Line) -> Result<Given, MailError> {
        let mut p = line.arguments();
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
            receivers: receivers
                .iter()
                .flat_map(|v| v.split_whitespace())
                .map(str::to_string)
                .collect(),
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
        // --help and --version were acted on before (or are ignored in
        // args.txt).
        let _ = (p.contains("--help"), p.contains("--version"));
        if let Some(left) = p.finish().first() {
            return Err(MailError::Usage(format!(
                "unrecognized argument: {}",
                front::name_argument(&left.to_string_lossy())
            )));
        }
        Ok(given)
    }

    /// The settings, checking that each flag [`SENDMAIL`] requires (to send,
    /// too, with `send`) was given, in table order.
    fn settings(&mut self, line: &Line, send: bool) -> Result<MailSettings, MailError> {
        for f in SENDMAIL.flags {
            let needed = match f.required {
                Required::No => false,
                Required::Yes => true,
                Required::ToSend => send,
            };
            if needed && !line.given(f.name) {
                return Err(MailError::Usage(format!(
                    "the following argument is required: {}",
                    f.name
                )));
            }
        }
        // The table's defaults are in the line; these stand in only
        // should it lose one (a test keeps them equal).
        let d = MailSettings::default();
        let settings = MailSettings {
            user: self.user.take().unwrap_or_default(),
            password: self.password.take().unwrap_or_default().into(),
            server: self.server.take().unwrap_or_default(),
            port: self.port.unwrap_or(d.port),
            sender: self.sender.take().unwrap_or_default(),
            receivers: std::mem::take(&mut self.receivers),
            tls: TlsOptions {
                cacert: self.cacert.take(),
                insecure: self.insecure,
                mode: self.tls,
            },
            timeout: self.timeout.unwrap_or(d.timeout),
        };
        settings.validate()?;
        Ok(settings)
    }

    /// The options of a mail sent from the command line.
    fn options(mut self, line: &Line) -> Result<MailOptions, MailError> {
        let settings = self.settings(line, true)?;
        let d = MailOptions::default();
        Ok(MailOptions {
            settings,
            subject: self.subject.unwrap_or_default(),
            body: self.body.unwrap_or_default(),
            failed_node: self.failed_node.unwrap_or(d.failed_node),
            new_master: self.new_master.unwrap_or(d.new_master),
            mail_on_success: self.mail_on_success,
        })
    }
}

#[cfg(test)]
mod tests;
