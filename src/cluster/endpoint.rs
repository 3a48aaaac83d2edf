//! Where and as whom a session connects: one [`Endpoint`], built here from
//! the settings, the credentials user's `.pgpass` and the TLS keys, for
//! pgpool, repmgr's metadata host and each node repmgr names.

use std::fmt;

use super::text::RepmgrNode;
use crate::config::tls::TlsSettings;
use crate::config::RepmgrSettings;
use crate::conninfo::ConninfoError;
use crate::pgpass::password_for;
use crate::secret::Secret;

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// A [`Secret`]: it prints as `********`.
    pub password: Option<Secret>,
    pub tls: TlsSettings,
}

impl Endpoint {
    /// `user@host:port/database` with `password` (when the caller found
    /// one) and `tls` as given: the builder every other one ends in.
    pub fn new(
        host: &str,
        port: u16,
        user: &str,
        database: &str,
        password: Option<Secret>,
        tls: TlsSettings,
    ) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            port,
            user: user.to_string(),
            database: database.to_string(),
            password,
            tls,
        }
    }

    /// `user@host:port/database` with the credentials of OS account
    /// `os_user`: the password from its `.pgpass` (`$PGPASSFILE` first), the
    /// TLS files from its home unless `tls` names them.
    pub fn for_os_user(
        os_user: &str,
        host: &str,
        port: u16,
        user: &str,
        database: &str,
        tls: &TlsSettings,
    ) -> Endpoint {
        Endpoint::new(
            host,
            port,
            user,
            database,
            password_for(os_user, host, port, database, user),
            tls.for_user(os_user),
        )
    }
}

/// Why a node repmgr names cannot be asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointError {
    /// The node's conninfo could not be read (the error never holds the
    /// conninfo's text: it may hold a password).
    Conninfo { node: String, error: ConninfoError },
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::Conninfo { node, error } => write!(f, "node {node}'s {error}"),
        }
    }
}

impl std::error::Error for EndpointError {}

/// Where and as whom `node` is asked: its conninfo (either libpq form),
/// with [repmgr]'s user, database and TLS keys where it says nothing (the
/// conninfo wins, as in libpq), and the credentials user's `.pgpass` when it
/// holds no password. A conninfo that cannot be read is this node's error,
/// never a guess at its address; the error names the node and the problem,
/// never the conninfo's text (it may hold a password).
pub fn node_endpoint(
    node: &RepmgrNode,
    r: &RepmgrSettings,
    os_user: &str,
) -> Result<Endpoint, EndpointError> {
    let info = node
        .conninfo
        .read()
        .map_err(|error| EndpointError::Conninfo {
            node: node.name.clone(),
            error: error.clone(),
        })?;
    let host = info.host.clone().unwrap_or_else(|| node.name.clone());
    let port = info.port.unwrap_or(5432);
    let user = info.user.clone().unwrap_or_else(|| r.repmgr_user.clone());
    let database = info
        .dbname
        .clone()
        .unwrap_or_else(|| r.repmgr_database.clone());
    let password = info
        .password
        .clone()
        .or_else(|| password_for(os_user, &host, port, &database, &user));
    let tls = info.tls_over(&r.tls).for_user(os_user);
    Ok(Endpoint::new(&host, port, &user, &database, password, tls))
}
