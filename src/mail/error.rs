//! Why a mail was not sent, as one line an operator can act on (never the
//! password), and which failures the watchers' mail queue must not retry.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::transport;
use crate::flags::ArgsError;
use crate::mailqueue::SendFailure;
use crate::secret::{base64, redact, Secret};

/// Why a mail was not sent. `Display` is one line and never holds the password.
#[derive(Debug)]
pub enum MailError {
    /// Missing, unknown or invalid argument (exit status 2).
    Usage(String),
    /// An `@file` could not be expanded (exit status 2); its text names
    /// the file.
    Args(ArgsError),
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
    /// This error with `password` masked wherever a server's answer or a
    /// library's message quotes it: as sent in `AUTH LOGIN` and `AUTH
    /// PLAIN` (base64) too.
    pub fn redacted(self, user: &str, password: &Secret) -> MailError {
        if password.is_empty() {
            return self;
        }
        let pw = password.expose();
        let forms = [
            password.clone(),
            Secret::new(base64(pw.as_bytes())),
            Secret::new(base64(format!("\0{user}\0{pw}").as_bytes())),
            Secret::new(base64(format!("{user}\0{user}\0{pw}").as_bytes())),
        ];
        let r = |s: String| redact(&s, &forms);
        match self {
            MailError::Usage(m) => MailError::Usage(r(m)),
            MailError::CaCert { path, detail } => MailError::CaCert {
                path,
                detail: r(detail),
            },
            MailError::Connect {
                server,
                port,
                detail,
            } => MailError::Connect {
                server,
                port,
                detail: r(detail),
            },
            MailError::Tls {
                server,
                port,
                detail,
            } => MailError::Tls {
                server,
                port,
                detail: r(detail),
            },
            MailError::Auth {
                server,
                port,
                answer,
            } => MailError::Auth {
                server,
                port,
                answer: r(answer),
            },
            MailError::Rejected {
                server,
                port,
                stage,
                answer,
            } => MailError::Rejected {
                server,
                port,
                stage,
                answer: r(answer),
            },
            MailError::Failed {
                server,
                port,
                stage,
                detail,
            } => MailError::Failed {
                server,
                port,
                stage,
                detail: r(detail),
            },
            e @ (MailError::Args(_) | MailError::Timeout { .. }) => e,
        }
    }

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
impl SendFailure for MailError {
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
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Why a watcher's mail was not sent.
#[derive(Debug)]
pub enum WatcherMailError {
    /// args.txt (`[general] sendmail_settings_path`) is unreadable or holds
    /// an option sendmail cannot use: permanent until someone edits it.
    Options { file: PathBuf, source: MailError },
    /// The SMTP delivery failed.
    Send(MailError),
}

impl std::fmt::Display for WatcherMailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // An @file error names the file already.
            WatcherMailError::Options {
                source: source @ MailError::Args(_),
                ..
            } => write!(f, "{source} (fix [general] sendmail_settings_path)"),
            WatcherMailError::Options { file, source } => write!(
                f,
                "{}: {source} (fix the file, [general] sendmail_settings_path)",
                file.display()
            ),
            WatcherMailError::Send(e) => write!(f, "{e}"),
        }
    }
}

impl SendFailure for WatcherMailError {
    fn is_permanent(&self) -> bool {
        match self {
            WatcherMailError::Options { .. } => true,
            WatcherMailError::Send(e) => e.is_permanent(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn watcher_mail_errors_name_the_args_file_once() {
        let file = PathBuf::from("/etc/pgpoolwatch/args.txt");
        let e = WatcherMailError::Options {
            file: file.clone(),
            source: MailError::Usage("the following argument is required: --user".into()),
        };
        assert_eq!(
            e.to_string(),
            "/etc/pgpoolwatch/args.txt: the following argument is required: --user (see --help) \
             (fix the file, [general] sendmail_settings_path)"
        );
        assert!(e.is_permanent());
        let e = WatcherMailError::Options {
            file: file.clone(),
            source: MailError::Args(ArgsError::TooDeep { path: file }),
        };
        assert_eq!(
            e.to_string(),
            "argument file /etc/pgpoolwatch/args.txt: @files nest more than 16 levels \
             (does one include itself?) (fix [general] sendmail_settings_path)"
        );
        assert_eq!(
            e.to_string().matches("/etc/pgpoolwatch/args.txt").count(),
            1,
            "{e}"
        );
        let e = WatcherMailError::Send(MailError::Timeout {
            server: "h".into(),
            port: 25,
            stage: "greeting".into(),
            after: Duration::from_secs(1),
        });
        assert!(!e.is_permanent(), "{e}");
    }
}
