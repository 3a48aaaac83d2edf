//! [`ProbeError`]: why a probe failed, with the step, `host:port` and the
//! detail a person can act on; and the small text helpers its `Display` uses.

use std::fmt;
use std::time::Duration;

use super::session::MAX_PENDING_PER_SERVER;
use crate::plumbing::net::{host_port, human_duration};
use crate::secret::{redact, Secret};

/// Why a probe failed. `Display` is `step host:port: detail`.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeError {
    /// The step did not finish within the timeout (server frozen, network
    /// black hole, overloaded).
    Timeout {
        host: String,
        port: u16,
        step: String,
        after: Duration,
    },
    /// The server refused or failed the step (connection refused,
    /// authentication failed, SQL error, name not resolved).
    Failed {
        host: String,
        port: u16,
        step: String,
        detail: String,
    },
    /// Earlier probes of this server are still stuck past their deadline;
    /// no new one was started.
    Busy { host: String, port: u16 },
}

impl ProbeError {
    /// A `Failed` error for `step` on `host:port`.
    pub fn failed(host: &str, port: u16, step: &str, detail: impl Into<String>) -> ProbeError {
        ProbeError::Failed {
            host: host.to_string(),
            port,
            step: step.to_string(),
            detail: detail.into(),
        }
    }

    /// A `Failed` error built from a `postgres::Error`, for `step`.
    pub fn from_pg(host: &str, port: u16, step: &str, e: &postgres::Error) -> ProbeError {
        ProbeError::failed(host, port, step, pg_detail(e))
    }

    /// True when the server answered a query with an error (the session
    /// was up): the command itself was refused, not the connection.
    pub fn is_query_refused(&self) -> bool {
        matches!(self, ProbeError::Failed { step, .. } if step.starts_with("query"))
    }

    /// True when the host's name could not be resolved (no answer, or an
    /// error from the resolver): whether the host is up is unknown.
    pub fn is_unresolved(&self) -> bool {
        match self {
            ProbeError::Timeout { step, .. } | ProbeError::Failed { step, .. } => step == "resolve",
            ProbeError::Busy { .. } => false,
        }
    }

    /// This error with every occurrence of `secret` in its detail masked:
    /// a server's message may quote what it was sent.
    pub fn redacted(self, secret: Option<&Secret>) -> ProbeError {
        match (self, secret) {
            (
                ProbeError::Failed {
                    host,
                    port,
                    step,
                    detail,
                },
                Some(s),
            ) => ProbeError::Failed {
                host,
                port,
                step,
                detail: redact(&detail, [s]),
            },
            (e, _) => e,
        }
    }

    /// True when the step ran out of time (or earlier attempts still hang).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ProbeError::Timeout { .. } | ProbeError::Busy { .. })
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::Timeout {
                host,
                port,
                step,
                after,
            } => write!(
                f,
                "{step} {}: timed out after {}",
                host_port(host, *port),
                human_duration(*after)
            ),
            ProbeError::Failed {
                host,
                port,
                step,
                detail,
            } => write!(f, "{step} {}: {detail}", host_port(host, *port)),
            ProbeError::Busy { host, port } => write!(
                f,
                "connect {}: not tried, {MAX_PENDING_PER_SERVER} earlier attempts are still waiting for an answer",
                host_port(host, *port)
            ),
        }
    }
}

impl std::error::Error for ProbeError {}

/// The useful text of a `postgres::Error`: the server's message for a
/// server error, else the chain of causes (`error connecting to server:
/// Connection refused (os error 111)`).
pub fn pg_detail(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        // pgpool puts the reason of "client authentication failed" in DETAIL.
        let detail = db
            .detail()
            .map(|d| format!(": {}", d.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or_default();
        return format!("{}: {}{detail}", db.severity().to_lowercase(), db.message());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    // "error connecting to server: Connection refused (os error 111)": the
    // step already says connect.
    match text.strip_prefix("error connecting to server: ") {
        Some(rest) => lowercase_first(rest),
        None => text,
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_step_host_port_and_time() {
        let e = ProbeError::Timeout {
            host: "127.0.10.1".into(),
            port: 5432,
            step: "connect".into(),
            after: Duration::from_secs(5),
        };
        assert_eq!(e.to_string(), "connect 127.0.10.1:5432: timed out after 5s");
        let e = ProbeError::failed("::1", 5432, "query (show pool_nodes)", "boom");
        assert_eq!(e.to_string(), "query (show pool_nodes) [::1]:5432: boom");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
    }
}
