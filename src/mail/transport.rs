//! The SMTP session behind [`send`]: connect, TLS (STARTTLS or implicit),
//! AUTH, MAIL FROM, one RCPT TO per receiver, DATA — each step with its own
//! error, so the one line an operator reads says which step failed and what
//! the server answered.
//!
//! It drives lettre's blocking `SmtpConnection` step by step instead of
//! `SmtpTransport::send`, because the transport folds every failure into one
//! error and could not tell a refused login from a refused recipient.
//!
//! Timeouts: lettre applies `--timeout` to the TCP connect and, once the
//! session is up, to every read and write. That ends a session against a
//! server that stops answering, but neither one that trickles (a tarpit
//! sending a byte every few tenths of a second) nor the TLS handshake of
//! implicit TLS (the socket gets its timeouts only after it). The session
//! therefore runs on a bounded worker ([`super::worker`]): the caller
//! waits at most [`OVERALL_FACTOR`] × timeout, then the worker's socket is
//! shut down so its thread exits, and at most
//! [`super::worker::MAX_WORKERS`] sessions run at once.

use std::io;
use std::time::{Duration, Instant};

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::Address;

use super::tlsparams::{source_text, tls_parameters, warn_insecure_once};
use super::worker::{self, SessionSlot, WorkerError};
use super::{compose_body, MailError, MailOptions, MailSettings, Message, TlsMode};

/// The whole delivery is abandoned after this many per-step timeouts.
pub const OVERALL_FACTOR: u32 = 4;

/// Sends one mail as sendmail.py did. `Ok` only when the server accepted it
/// (250 after the message data).
pub fn send(opts: &MailOptions) -> Result<(), MailError> {
    deliver(&opts.settings, &opts.message())
}

/// Delivers `msg` with `settings`, the whole session bounded by
/// [`OVERALL_FACTOR`] × `settings.timeout`.
pub fn deliver(settings: &MailSettings, msg: &Message) -> Result<(), MailError> {
    // A server's answer may quote what it was sent (the login, base64).
    deliver_now(settings, msg).map_err(|e| e.redacted(&settings.user, &settings.password))
}

fn deliver_now(settings: &MailSettings, msg: &Message) -> Result<(), MailError> {
    settings.validate()?;
    let message = build_message(settings, msg, &crate::plumbing::localtime::now_string())?;
    converse(settings, Some(message))
}

/// `sendmail --check`: connects, starts TLS, logs in and quits without
/// sending, bounded as [`deliver`]. `Ok` when the server accepted the login.
pub fn check(settings: &MailSettings) -> Result<(), MailError> {
    settings.validate()?;
    converse(settings, None)
}

/// One session with `message` (`None`: up to the login, then QUIT).
fn converse(settings: &MailSettings, message: Option<lettre::Message>) -> Result<(), MailError> {
    let tls = tls_parameters(settings)?;
    if settings.tls.insecure {
        warn_insecure_once(&settings.server, settings.port);
    }
    let session = Session {
        server: settings.server.clone(),
        port: settings.port,
        mode: settings.tls.mode_for(settings.port),
        tls,
        timeout: settings.timeout,
        credentials: Credentials::new(
            settings.user.clone(),
            settings.password.expose().to_string(),
        ),
        message,
    };
    let overall = settings.timeout.saturating_mul(OVERALL_FACTOR);
    let (server, port) = (settings.server.clone(), settings.port);
    match worker::run(overall, move |slot| session.run(slot)) {
        Ok(result) => result,
        Err(WorkerError::TimedOut { after, .. }) => Err(MailError::Timeout {
            server,
            port,
            stage: "delivery".into(),
            after,
        }),
        Err(e @ (WorkerError::Busy | WorkerError::Spawn(_))) => Err(MailError::Failed {
            server,
            port,
            stage: "start".into(),
            detail: e.to_string(),
        }),
        Err(e @ WorkerError::Panicked) => Err(MailError::Failed {
            server,
            port,
            stage: "delivery".into(),
            detail: e.to_string(),
        }),
    }
}

/// The message sendmail.py built: From, To (all receivers, one header),
/// Subject, multipart/alternative with one text/html part.
pub(crate) fn build_message(
    settings: &MailSettings,
    msg: &Message,
    local_now: &str,
) -> Result<lettre::Message, MailError> {
    let from: Mailbox = settings.sender.parse().map_err(|e| {
        MailError::Usage(format!(
            "--sender: invalid address {:?}: {e}",
            settings.sender
        ))
    })?;
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(msg.subject.clone());
    for r in &settings.receivers {
        let addr: Address = r
            .parse()
            .map_err(|e| MailError::Usage(format!("--receivers: invalid address {r:?}: {e}")))?;
        builder = builder.to(Mailbox::new(None, addr));
    }
    let body = compose_body(msg, local_now);
    builder
        .multipart(MultiPart::alternative().singlepart(SinglePart::html(body)))
        .map_err(|e| MailError::Usage(format!("cannot build the message: {e}")))
}

struct Session {
    server: String,
    port: u16,
    mode: TlsMode,
    tls: TlsParameters,
    timeout: Duration,
    credentials: Credentials,
    /// `None`: log in and quit (`sendmail --check`).
    message: Option<lettre::Message>,
}

type SmtpError = lettre::transport::smtp::Error;

impl Session {
    fn run(self, slot: &SessionSlot) -> Result<(), MailError> {
        let hello = ClientId::default();
        let wrapper = match self.mode {
            TlsMode::Implicit => Some(&self.tls),
            TlsMode::StartTls => None,
        };
        let started = Instant::now();
        // Looked up within --timeout (lettre's own look-up has no bound);
        // TLS still checks the certificate against --server's name.
        let addrs = crate::plumbing::deadline::resolve(&self.server, self.port, self.timeout)
            .map_err(|e| match e {
                e if e.is_timeout() => self.timeout("resolve"),
                e => MailError::Connect {
                    server: self.server.clone(),
                    port: self.port,
                    detail: e.to_string(),
                },
            })?;
        slot.connecting_to(&addrs);
        let mut conn =
            SmtpConnection::connect(addrs.as_slice(), Some(self.timeout), &hello, wrapper, None)
                .map_err(|e| self.connect_error(e, started))?;
        if self.mode == TlsMode::StartTls {
            // On failure the connection is dropped, not aborted: after a
            // failed handshake lettre's stream is gone and any further write
            // (even abort's QUIT) would panic.
            self.starttls(&mut conn, &hello)?;
        }
        let result = self.converse(&mut conn);
        match &result {
            Ok(()) => {
                // The mail is accepted; a failing QUIT changes nothing.
                let _ = conn.quit();
            }
            Err(_) => conn.abort(),
        }
        result
    }

    fn starttls(&self, conn: &mut SmtpConnection, hello: &ClientId) -> Result<(), MailError> {
        let started = Instant::now();
        if !conn.server_info().supports_feature(Extension::StartTls) {
            return Err(self.tls_error(
                "the server does not offer STARTTLS (if it expects TLS from the first \
                 byte, use --port=465 or --tls=implicit)"
                    .into(),
            ));
        }
        conn.starttls(&self.tls, hello)
            .map_err(|e| self.tls_step_error("STARTTLS", e, started))
    }

    /// AUTH and the mail, on a connection that is encrypted by now.
    fn converse(&self, conn: &mut SmtpConnection) -> Result<(), MailError> {
        self.login(conn)?;
        match &self.message {
            Some(message) => self.mail(conn, message),
            None => Ok(()),
        }
    }

    fn login(&self, conn: &mut SmtpConnection) -> Result<(), MailError> {
        let started = Instant::now();
        conn.auth(&[Mechanism::Plain, Mechanism::Login], &self.credentials)
            .map_err(|e| {
                if let Some(answer) = answer(&e) {
                    MailError::Auth {
                        server: self.server.clone(),
                        port: self.port,
                        answer,
                    }
                } else if e.is_client() {
                    self.failed(
                        "AUTH",
                        "the server offers neither AUTH PLAIN nor AUTH LOGIN",
                    )
                } else {
                    self.step_error("AUTH", e, started)
                }
            })?;
        Ok(())
    }

    /// MAIL FROM, RCPT TO, DATA and the message.
    fn mail(&self, conn: &mut SmtpConnection, message: &lettre::Message) -> Result<(), MailError> {
        let envelope = message.envelope();
        let bytes = message.formatted();
        let mut params = Vec::new();
        let non_ascii = envelope
            .from()
            .into_iter()
            .chain(envelope.to())
            .any(|a: &Address| !a.to_string().is_ascii());
        if non_ascii && conn.server_info().supports_feature(Extension::SmtpUtfEight) {
            params.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        let from = envelope.from().cloned();
        let stage = format!(
            "MAIL FROM <{}>",
            from.as_ref().map(|a| a.to_string()).unwrap_or_default()
        );
        let started = Instant::now();
        conn.command(Mail::new(from, params))
            .map_err(|e| self.step_error(&stage, e, started))?;
        for to in envelope.to() {
            let started = Instant::now();
            conn.command(Rcpt::new(to.clone(), vec![]))
                .map_err(|e| self.step_error(&format!("RCPT TO <{to}>"), e, started))?;
        }
        let started = Instant::now();
        conn.command(Data)
            .map_err(|e| self.step_error("DATA", e, started))?;
        let started = Instant::now();
        conn.message(&bytes)
            .map_err(|e| self.step_error("message", e, started))?;
        Ok(())
    }

    /// TCP connect, (implicit TLS handshake,) greeting and EHLO.
    fn connect_error(&self, e: SmtpError, started: Instant) -> MailError {
        if answer(&e).is_some() {
            return self.step_error("greeting", e, started);
        }
        // lettre reports TCP connect and TLS handshake failures as its
        // "Connection" kind, greeting/EHLO I/O as "network"; only Display
        // tells them apart.
        let connecting = e.to_string().starts_with("Connection error");
        if !connecting {
            return self.step_error("greeting", e, started);
        }
        match find_io(&e) {
            Some(io) if is_timeout(io) => self.timeout("connect"),
            Some(io) => MailError::Connect {
                server: self.server.clone(),
                port: self.port,
                detail: io.to_string(),
            },
            None if e.to_string().contains("resolve") => MailError::Connect {
                server: self.server.clone(),
                port: self.port,
                detail: source_text(&e),
            },
            _ if started.elapsed() >= self.timeout => self.timeout("TLS handshake"),
            _ => self.tls_error(with_hint(source_text(&e))),
        }
    }

    fn tls_step_error(&self, stage: &str, e: SmtpError, started: Instant) -> MailError {
        if answer(&e).is_some() || !e.to_string().starts_with("Connection error") {
            return self.step_error(stage, e, started);
        }
        if find_io(&e).is_some_and(is_timeout) || started.elapsed() >= self.timeout {
            return self.timeout("TLS handshake");
        }
        self.tls_error(with_hint(source_text(&e)))
    }

    fn step_error(&self, stage: &str, e: SmtpError, started: Instant) -> MailError {
        if let Some(answer) = answer(&e) {
            return MailError::Rejected {
                server: self.server.clone(),
                port: self.port,
                stage: stage.to_string(),
                answer,
            };
        }
        if find_io(&e).is_some_and(is_timeout) || started.elapsed() >= self.timeout {
            return self.timeout(stage);
        }
        self.failed(stage, &source_text(&e))
    }

    fn timeout(&self, stage: &str) -> MailError {
        MailError::Timeout {
            server: self.server.clone(),
            port: self.port,
            stage: stage.to_string(),
            after: self.timeout,
        }
    }

    fn tls_error(&self, detail: String) -> MailError {
        MailError::Tls {
            server: self.server.clone(),
            port: self.port,
            detail,
        }
    }

    fn failed(&self, stage: &str, detail: &str) -> MailError {
        MailError::Failed {
            server: self.server.clone(),
            port: self.port,
            stage: stage.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// `535 5.7.8 Authentication credentials invalid` for an error reply.
fn answer(e: &SmtpError) -> Option<String> {
    let code = e.status()?;
    Some(match std::error::Error::source(e) {
        Some(text) => format!("{code} {text}"),
        None => code.to_string(),
    })
}

/// OpenSSL's verify failure without its source-file noise, plus what to do.
fn with_hint(detail: String) -> String {
    if !detail.contains("certificate verify failed") {
        return detail;
    }
    // "error:0A000086:SSL routines:...:certificate verify failed:../ssl/...: (reason)"
    let reason = detail
        .rfind(" (")
        .filter(|_| detail.ends_with(')'))
        .map(|i| &detail[i..])
        .unwrap_or("");
    format!(
        "certificate verify failed{reason}: the server's certificate is not trusted \
         (to trust a private CA use --cacert=PATH; for a relay with a self-signed \
         certificate, --insecure)"
    )
}

fn find_io<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

fn is_timeout(e: &io::Error) -> bool {
    // SO_RCVTIMEO expiry is EAGAIN (WouldBlock) on Linux; connect_timeout is TimedOut.
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> MailOptions {
        MailOptions {
            settings: MailSettings {
                user: "u".into(),
                password: "p".into(),
                server: "127.0.0.1".into(),
                sender: "Watcher <watch@example.org>".into(),
                receivers: vec!["a@example.org".into(), "b@example.org".into()],
                ..MailSettings::default()
            },
            subject: "Failover – db2".into(),
            body: "<b>x</b>".into(),
            ..MailOptions::default()
        }
    }

    #[test]
    fn message_has_one_to_header_and_html_alternative() {
        let o = opts();
        let m =
            build_message(&o.settings, &o.message(), "2017-07-29 17:33:54.419750").expect("build");
        let text = String::from_utf8(m.formatted()).expect("ascii");
        assert!(
            text.contains("To: a@example.org, b@example.org\r\n"),
            "{text}"
        );
        assert!(
            text.contains("From: Watcher <watch@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Content-Type: text/html"), "{text}");
        assert!(!text.contains("text/plain"), "{text}");
        let env = m.envelope();
        assert_eq!(
            env.from().map(|a| a.to_string()).as_deref(),
            Some("watch@example.org")
        );
        assert_eq!(env.to().len(), 2);
    }
}
