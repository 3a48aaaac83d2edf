//! Why a section of the report could not be filled. Each section keeps its
//! own typed error (a failed section is a value of the [`super::Report`],
//! never a panic); the text is made once, in the report's cells, reasons
//! and JSON.

use std::fmt;
use std::time::Duration;

use super::ssh::SshError;
use crate::cluster::pgpool::ReadError;
use crate::cluster::repmgr::MetaError;
use crate::cluster::text::ParseError;
use crate::cluster::ProbeError;
use crate::plumbing::net::{host_port, human_duration};

/// Why a section of the report is missing. `Display` is short and
/// lowercase, `context: detail`, naming host:port where there is one.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportError {
    /// A database session failed: connect, TLS, auth, a query, a timeout.
    Probe(ProbeError),
    /// An answer could not be read: `what` (`show pool_nodes`,
    /// `repmgr.nodes`) read from `source` (host:port).
    Unreadable {
        what: String,
        source: String,
        error: ParseError,
    },
    /// The event counts could not be read (no number in a column).
    Counts(ParseError),
    /// `database` on `source` (host:port) holds neither repmgr 4.x+ nor
    /// 3.x metadata.
    NoRepmgrMetadata { database: String, source: String },
    /// repmgr's metadata was not read: pgpool named no database host.
    NoHostKnown,
    /// No database node was probed to read repmgr's metadata from.
    NoNode,
    /// A worker (`step` `connect` for a database session, `ssh` for the
    /// disk) gave no answer by the section's deadline; `after` is the
    /// configured timeout.
    Unanswered {
        step: &'static str,
        host: String,
        port: u16,
        after: Duration,
    },
    /// A worker thread could not be started or ended without an answer.
    WorkerFailed {
        step: &'static str,
        host: String,
        port: u16,
    },
    /// The disk section over ssh failed.
    Ssh(SshError),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Probe(e) => write!(f, "{e}"),
            ReportError::Unreadable {
                what,
                source,
                error,
            } => write!(f, "{what} on {source}: {error}"),
            ReportError::Counts(e) => write!(f, "{e}"),
            ReportError::NoRepmgrMetadata { database, source } => write!(
                f,
                "no repmgr metadata in database {database} on {source} (neither repmgr.nodes nor repmgr_<cluster>.repl_nodes)"
            ),
            ReportError::NoHostKnown => {
                write!(f, "not read: no database host known (pgpool did not answer)")
            }
            ReportError::NoNode => write!(f, "no database node to read it from"),
            ReportError::Unanswered {
                step,
                host,
                port,
                after,
            } => write!(
                f,
                "{step} {}: timed out after {}",
                host_port(host, *port),
                human_duration(*after)
            ),
            ReportError::WorkerFailed { step, host, port } => {
                write!(f, "{step} {}: worker thread failed", host_port(host, *port))
            }
            ReportError::Ssh(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReportError {}

impl From<ReadError> for ReportError {
    fn from(e: ReadError) -> ReportError {
        match e {
            ReadError::Probe(e) => ReportError::Probe(e),
            ReadError::Unreadable { at, error } => ReportError::Unreadable {
                what: "show pool_nodes".into(),
                source: at,
                error,
            },
        }
    }
}

impl From<MetaError> for ReportError {
    fn from(e: MetaError) -> ReportError {
        match e {
            MetaError::Probe(e) => ReportError::Probe(e),
            MetaError::NoMetadata { database, source } => {
                ReportError::NoRepmgrMetadata { database, source }
            }
            MetaError::Unreadable {
                table,
                source,
                error,
            } => ReportError::Unreadable {
                what: table,
                source,
                error,
            },
            MetaError::Counts(e) => ReportError::Counts(e),
        }
    }
}

impl From<ProbeError> for ReportError {
    fn from(e: ProbeError) -> ReportError {
        ReportError::Probe(e)
    }
}

impl From<SshError> for ReportError {
    fn from(e: SshError) -> ReportError {
        ReportError::Ssh(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poolstatus::ssh::{SshFailure, SshStep};

    #[test]
    fn every_variant_says_context_and_detail() {
        let ssh = |step, failure| {
            ReportError::Ssh(SshError {
                host: "db1".into(),
                port: 2222,
                step,
                failure,
            })
        };
        // (variant, text): the words the report printed when these were strings.
        let cases = [
            (
                ReportError::Probe(ProbeError::failed("db1", 5432, "connect", "refused")),
                "connect db1:5432: refused",
            ),
            (
                ReportError::Unreadable {
                    what: "show pool_nodes".into(),
                    source: "pgp1:5432".into(),
                    error: ParseError::NoColumn {
                        row: 2,
                        column: "role".into(),
                    },
                },
                "show pool_nodes on pgp1:5432: row 2: no column role",
            ),
            (
                ReportError::Counts(ParseError::NoNumber {
                    column: "events_all".into(),
                }),
                "no number in column events_all",
            ),
            (
                ReportError::NoRepmgrMetadata {
                    database: "repmgr".into(),
                    source: "db1:5432".into(),
                },
                "no repmgr metadata in database repmgr on db1:5432 (neither repmgr.nodes nor repmgr_<cluster>.repl_nodes)",
            ),
            (
                ReportError::NoHostKnown,
                "not read: no database host known (pgpool did not answer)",
            ),
            (ReportError::NoNode, "no database node to read it from"),
            (
                ReportError::Unanswered {
                    step: "connect",
                    host: "::1".into(),
                    port: 5432,
                    after: Duration::from_millis(2500),
                },
                "connect [::1]:5432: timed out after 2.5s",
            ),
            (
                ReportError::WorkerFailed {
                    step: "ssh",
                    host: "db1".into(),
                    port: 22,
                },
                "ssh db1:22: worker thread failed",
            ),
            (
                ssh(SshStep::HostKey, SshFailure::HostUnknown {
                    path: "/k".into(),
                    host: "db1".into(),
                    port: 2222,
                }),
                "ssh host key db1:2222: host not in /k (verify the host key, then add it, e.g. with ssh-keyscan -p 2222 db1)",
            ),
            (
                ssh(SshStep::Auth, SshFailure::NoKeyAccepted {
                    user: "postgres".into(),
                    tried: vec!["ssh-agent (no identities)".into()],
                }),
                "ssh auth db1:2222: user postgres: tried ssh-agent (no identities)",
            ),
            (
                ssh(SshStep::Exec, SshFailure::ExitStatus {
                    command: "df -P -- '/x'".into(),
                    status: 1,
                    stderr: "df: /x: No such file or directory".into(),
                }),
                "ssh exec db1:2222: \"df -P -- '/x'\" exited with status 1: df: /x: No such file or directory",
            ),
            (
                ssh(SshStep::Df, SshFailure::Df(ParseError::DfEmpty)),
                "ssh df db1:2222: df printed nothing",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
        }
    }

    #[test]
    fn repmgr_metadata_errors_read_the_same_in_the_report() {
        let cases = [
            (
                MetaError::Probe(ProbeError::failed("db1", 5432, "query", "denied")),
                "query db1:5432: denied",
            ),
            (
                MetaError::NoMetadata {
                    database: "repmgr".into(),
                    source: "db1:5432".into(),
                },
                "no repmgr metadata in database repmgr on db1:5432 (neither repmgr.nodes nor repmgr_<cluster>.repl_nodes)",
            ),
            (
                MetaError::Unreadable {
                    table: "repmgr_c.repl_nodes".into(),
                    source: "db1:5432".into(),
                    error: ParseError::NoColumn {
                        row: 1,
                        column: "conninfo".into(),
                    },
                },
                "repmgr_c.repl_nodes on db1:5432: row 1: no column conninfo",
            ),
            (
                MetaError::Counts(ParseError::NoNumber {
                    column: "events_24h".into(),
                }),
                "no number in column events_24h",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want, "{e:?}");
            assert_eq!(ReportError::from(e.clone()).to_string(), want, "{e:?}");
        }
    }
}
