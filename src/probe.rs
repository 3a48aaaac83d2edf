//! Bounded access to PostgreSQL, pgpool and plain TCP ports, shared by
//! poolstatus and the watchers: every call here returns within its timeout,
//! even when the server is frozen (a SIGSTOP'ed pgpool still completes the TCP
//! handshake in the kernel's backlog but never answers the startup packet,
//! which `postgres::Config::connect_timeout` does not cover — it bounds only
//! the TCP connect).
//!
//! How: the connection and its queries run on a worker thread and the caller
//! waits on a channel with `recv_timeout`. A worker that outlives its deadline
//! is left to finish on its own (its socket also has TCP keepalives and
//! `tcp_user_timeout`, so a dead network ends it; a frozen-but-alive peer ends
//! it when it thaws or dies). To keep such leftovers bounded, at most
//! [`MAX_PENDING_PER_SERVER`] workers may be outstanding per `host:port`;
//! beyond that a call fails at once with [`ProbeError::Busy`] instead of
//! starting another one.
//!
//! TLS follows libpq's `sslmode` ([`TlsSettings`]): `disable` plain;
//! `allow` plain, then TLS when the server refuses the plain session;
//! `prefer` (the default, as psql) TLS when the server offers it, else plain,
//! and plain again when the TLS handshake fails; `require` TLS; `verify-ca`
//! TLS with the server's certificate checked against `sslrootcert`;
//! `verify-full` that and the host name (or IP address) in the certificate.
//! As libpq, any mode that uses TLS checks the CA when a root certificate is
//! at hand (`sslrootcert`, else `~/.postgresql/root.crt` of the credentials
//! user). One TLS stack: the OpenSSL that ssh2 and lettre already use.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use postgres::config::SslMode as WireMode;
use postgres::{Client, NoTls, SimpleQueryMessage};
use postgres_openssl::MakeTlsConnector;

/// One result row of a simple (text protocol) query: column name -> text
/// value. A SQL NULL is an absent key.
pub type TextRow = HashMap<String, String>;

/// How many timed-out workers may still be waiting on one `host:port`
/// before further calls fail at once with [`ProbeError::Busy`].
pub const MAX_PENDING_PER_SERVER: usize = 4;

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

/// `host:port`, with brackets around an IPv6 literal.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `5s`, `1.5s`, `250ms`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

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

    fn verifies(self) -> bool {
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
}

impl TlsSettings {
    /// These settings with the default files of OS user `os_user` (see
    /// [`crate::config::credentials_user`]).
    pub fn for_user(&self, os_user: &str) -> TlsSettings {
        TlsSettings {
            home: crate::config::home_of(os_user),
            ..self.clone()
        }
    }

    /// These settings overridden by the `sslmode`, `sslrootcert`, `sslcert`
    /// and `sslkey` of a conninfo's pairs (as libpq, the conninfo wins; an
    /// empty value means the default). Errors name the key and value.
    pub fn with_conninfo(&self, pairs: &[(String, String)]) -> Result<TlsSettings, String> {
        let mut t = self.clone();
        for (k, v) in pairs {
            let path = (!v.trim().is_empty()).then(|| PathBuf::from(v.trim()));
            match k.as_str() {
                "sslmode" => {
                    t.mode = SslMode::parse(v).ok_or_else(|| {
                        format!(
                            "conninfo sslmode {v:?} is not valid; expected {}",
                            SslMode::EXPECTED
                        )
                    })?
                }
                "sslrootcert" => t.root_cert = path,
                "sslcert" => t.cert = path,
                "sslkey" => t.key = path,
                _ => {}
            }
        }
        Ok(t)
    }

    fn default_file(&self, name: &str) -> Option<PathBuf> {
        let p = self.home.as_ref()?.join(".postgresql").join(name);
        p.exists().then_some(p)
    }

    /// The root certificate to check the server against, if any: the
    /// configured one, else `~/.postgresql/root.crt` when it exists.
    fn root(&self) -> Option<PathBuf> {
        self.root_cert
            .clone()
            .or_else(|| self.default_file("root.crt"))
    }

    /// `sslmode=verify-full, sslrootcert=/x/ca.crt`: what the error names.
    fn describe(&self) -> String {
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
    fn client_files(&self) -> Result<Option<(PathBuf, PathBuf)>, String> {
        let cert = match &self.cert {
            Some(c) => c.clone(),
            None => match self.default_file("postgresql.crt") {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        let key = match &self.key {
            Some(k) => k.clone(),
            None => self.default_file("postgresql.key").ok_or_else(|| {
                format!(
                    "sslcert {} is given but no sslkey (and no ~/.postgresql/postgresql.key)",
                    cert.display()
                )
            })?,
        };
        Ok(Some((cert, key)))
    }

    /// An OpenSSL connector for these settings, and the slot where the
    /// certificate check of this one connection leaves its first complaint.
    /// Errors are the text after `TLS: `. The OpenSSL context is built once
    /// per settings (and file dates) and kept: building it loads OpenSSL's
    /// default CA bundle, tens of milliseconds of CPU that a check must not
    /// pay every time.
    fn connector(&self) -> Result<(MakeTlsConnector, VerifySlot), String> {
        let (ssl, verifies) = self.cached_context()?;
        let slot: VerifySlot = Arc::new(Mutex::new(None));
        let mut connector = MakeTlsConnector::new(ssl);
        let full = self.mode == SslMode::VerifyFull;
        let s = slot.clone();
        connector.set_callback(move |cfg, _host| {
            cfg.set_verify_hostname(full);
            if verifies {
                let s = s.clone();
                cfg.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                    if !ok {
                        if let Ok(mut first) = s.lock() {
                            first.get_or_insert_with(|| ctx.error().error_string().to_string());
                        }
                    }
                    ok
                });
            }
            Ok(())
        });
        Ok((connector, slot))
    }

    /// The cached context for these settings (see [`TlsSettings::connector`]),
    /// and whether it checks the server's certificate.
    fn cached_context(&self) -> Result<(SslConnector, bool), String> {
        type Cache = Vec<(TlsSettings, Vec<Option<SystemTime>>, SslConnector, bool)>;
        static CACHE: Mutex<Cache> = Mutex::new(Vec::new());
        // A file replaced on disk (a renewed certificate) gives a new context.
        let files: Vec<Option<SystemTime>> = [self.root(), self.cert.clone(), self.key.clone()]
            .iter()
            .map(|p| {
                p.as_ref()
                    .and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            })
            .collect();
        // Checked at every connection, as libpq does (a chmod keeps the date).
        if let Some((_, key)) = self.client_files()? {
            check_key_mode(&key)?;
        }
        let mut cache = match CACHE.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some((_, _, c, v)) = cache.iter().find(|(t, f, _, _)| t == self && *f == files) {
            return Ok((c.clone(), *v));
        }
        let (c, v) = self.build_context()?;
        // A handful of settings per process at most; keep the newest few.
        if cache.len() >= 8 {
            cache.remove(0);
        }
        cache.push((self.clone(), files, c.clone(), v));
        Ok((c, v))
    }

    fn build_context(&self) -> Result<(SslConnector, bool), String> {
        let ssl = |what: &str, e: openssl::error::ErrorStack| format!("{what}: {}", ssl_reason(&e));
        let mut b =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| ssl("OpenSSL setup", e))?;
        let verifies = match self.root() {
            Some(root) => {
                b.set_cert_store(load_root(&root)?);
                b.set_verify(SslVerifyMode::PEER);
                true
            }
            None if self.mode.verifies() => {
                let default = self.home.as_ref().map_or_else(
                    || "~/.postgresql/root.crt".to_string(),
                    |h| h.join(".postgresql/root.crt").display().to_string(),
                );
                return Err(format!(
                    "sslmode={} needs the CA that signed the server's certificate: set sslrootcert, or put it in {default}",
                    self.mode.as_str()
                ));
            }
            None => {
                b.set_verify(SslVerifyMode::NONE);
                false
            }
        };
        if let Some((cert, key)) = self.client_files()? {
            check_key_mode(&key)?;
            b.set_certificate_chain_file(&cert)
                .map_err(|e| ssl(&format!("sslcert {}", cert.display()), e))?;
            b.set_private_key_file(&key, SslFiletype::PEM)
                .map_err(|e| ssl(&format!("sslkey {}", key.display()), e))?;
            b.check_private_key().map_err(|e| {
                ssl(
                    &format!(
                        "sslkey {} does not match sslcert {}",
                        key.display(),
                        cert.display()
                    ),
                    e,
                )
            })?;
        }
        Ok((b.build(), verifies))
    }
}

/// The first complaint of the certificate check of one connection.
type VerifySlot = Arc<Mutex<Option<String>>>;

/// A store holding only the certificates of `path` (libpq trusts only
/// sslrootcert, not the system store).
fn load_root(path: &Path) -> Result<openssl::x509::store::X509Store, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
    let certs = X509::stack_from_pem(&pem).unwrap_or_default();
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert {} holds no PEM certificate",
            path.display()
        ));
    }
    let bad = |e: openssl::error::ErrorStack| {
        format!("sslrootcert {}: {}", path.display(), ssl_reason(&e))
    };
    let mut store = X509StoreBuilder::new().map_err(bad)?;
    for c in certs {
        store.add_cert(c).map_err(bad)?;
    }
    Ok(store.build())
}

/// libpq's rule for a private key file: no access for others, and for the
/// group only when root owns it (u=rw,g=r).
fn check_key_mode(key: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m =
        std::fs::metadata(key).map_err(|e| format!("cannot read sslkey {}: {e}", key.display()))?;
    let mode = m.mode() & 0o777;
    let allowed = if m.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(format!(
            "sslkey {} has mode {mode:04o}; it must be u=rw (0600) or less, or u=rw,g=r (0640) if owned by root (chmod 0600 {})",
            key.display(),
            key.display()
        ));
    }
    Ok(())
}

/// The reason of the first OpenSSL error (`certificate verify failed`),
/// without its code and source file.
fn ssl_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors()
        .iter()
        .find_map(|x| x.reason().map(str::to_string))
        .unwrap_or_else(|| e.to_string())
}

/// The OpenSSL error of a failed TLS handshake inside a `postgres::Error`.
fn handshake_error(e: &postgres::Error) -> Option<&openssl::ssl::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(ssl) = s.downcast_ref::<openssl::ssl::Error>() {
            return Some(ssl);
        }
        source = s.source();
    }
    None
}

/// Where and as whom to connect.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    pub password: Option<String>,
    pub tls: TlsSettings,
}

impl fmt::Debug for Endpoint {
    // Never print the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls", &self.tls)
            .finish()
    }
}

static PENDING: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Counts one outstanding worker for a server; released on drop (when the
/// worker thread ends, however late).
struct PendingSlot(String);

impl PendingSlot {
    fn take(host: &str, port: u16) -> Option<PendingSlot> {
        let key = host_port(host, port);
        let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        let n = map.entry(key.clone()).or_insert(0);
        if *n >= MAX_PENDING_PER_SERVER {
            return None;
        }
        *n += 1;
        Some(PendingSlot(key))
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(map) = guard.as_mut() {
            if let Some(n) = map.get_mut(&self.0) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&self.0);
                }
            }
        }
    }
}

/// Runs `work` on a worker thread and waits at most `timeout` for it. On
/// time-out the worker is left to end by itself (see the module docs) and a
/// `Timeout` error for `step` is returned.
fn within<T, F>(
    host: &str,
    port: u16,
    step: &str,
    timeout: Duration,
    work: F,
) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ProbeError> + Send + 'static,
{
    let slot = PendingSlot::take(host, port).ok_or_else(|| ProbeError::Busy {
        host: host.to_string(),
        port,
    })?;
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name(format!("probe {}", host_port(host, port)))
        .spawn(move || {
            let _slot = slot;
            // The receiver may be gone after a time-out; nothing to do then.
            let _ = tx.send(work());
        });
    if let Err(e) = spawned {
        return Err(ProbeError::failed(
            host,
            port,
            step,
            format!("cannot start a thread: {e}"),
        ));
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => Err(ProbeError::Timeout {
            host: host.to_string(),
            port,
            step: step.to_string(),
            after: timeout,
        }),
    }
}

fn pg_config(ep: &Endpoint, timeout: Duration) -> postgres::Config {
    let mut cfg = postgres::Config::new();
    cfg.host(&ep.host)
        .port(ep.port)
        .user(&ep.user)
        .dbname(&ep.database)
        .application_name("pgpoolwatch")
        .connect_timeout(timeout)
        .tcp_user_timeout(timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    if let Some(pw) = &ep.password {
        cfg.password(pw);
    }
    cfg
}

/// One connection as `ep.tls.mode` says (see the module docs).
fn connect_now(ep: &Endpoint, timeout: Duration) -> Result<Client, ProbeError> {
    let fail = |detail: String| ProbeError::failed(&ep.host, ep.port, "connect", detail);
    let plain = || {
        pg_config(ep, timeout).connect(NoTls).map_err(|e| {
            let mut d = pg_detail(&e);
            // A server that wants TLS refuses a plain session in pg_hba.
            if e.as_db_error().is_some() && ep.tls.mode == SslMode::Disable {
                d.push_str(" (sslmode=disable)");
            }
            (e, d)
        })
    };
    let tls = |wire: WireMode| -> Result<Client, (Option<postgres::Error>, String)> {
        let (connector, slot) = ep
            .tls
            .connector()
            .map_err(|d| (None, format!("TLS: {d}")))?;
        let mut cfg = pg_config(ep, timeout);
        cfg.ssl_mode(wire);
        cfg.connect(connector).map_err(|e| {
            let d = tls_detail(&e, &slot, &ep.tls);
            (Some(e), d)
        })
    };
    match ep.tls.mode {
        SslMode::Disable => plain().map_err(|(_, d)| fail(d)),
        // The server refused the plain session (e.g. pg_hba hostssl only).
        SslMode::Allow => match plain() {
            Ok(c) => Ok(c),
            Err((e, _)) if e.as_db_error().is_some() => {
                tls(WireMode::Require).map_err(|(_, d)| fail(d))
            }
            Err((_, d)) => Err(fail(d)),
        },
        // A failed handshake is retried in plain text, as libpq does.
        SslMode::Prefer => match tls(WireMode::Prefer) {
            Ok(c) => Ok(c),
            Err((Some(e), _)) if handshake_error(&e).is_some() => plain().map_err(|(_, d)| fail(d)),
            Err((_, d)) => Err(fail(d)),
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tls(WireMode::Require).map_err(|(_, d)| fail(d))
        }
    }
}

/// `TLS: certificate verify failed: unable to get local issuer certificate
/// (sslmode=verify-full, sslrootcert=/x/ca.crt)` for a failed handshake;
/// the server's own message otherwise.
fn tls_detail(e: &postgres::Error, slot: &VerifySlot, tls: &TlsSettings) -> String {
    let verify = slot.lock().ok().and_then(|s| s.clone());
    if let Some(why) = verify {
        return format!("TLS: certificate verify failed: {why} ({})", tls.describe());
    }
    if let Some(ssl) = handshake_error(e) {
        let why = match (ssl.ssl_error(), ssl.io_error()) {
            (Some(stack), _) => ssl_reason(stack),
            (None, Some(io)) => io.to_string(),
            (None, None) => "the server closed the connection during the handshake".to_string(),
        };
        return format!("TLS: {why} ({})", tls.describe());
    }
    let d = pg_detail(e);
    if e.as_db_error().is_some() {
        return d;
    }
    // tokio-postgres: "error performing TLS handshake: server does not support TLS"
    match d.strip_prefix("error performing TLS handshake: ") {
        Some(rest) => format!("TLS: {rest} ({})", tls.describe()),
        None => d,
    }
}

/// Opens a connection that is ready within `timeout` or fails with a
/// `connect host:port: ...` error. Later queries on the returned client are
/// not bounded; use [`query_within`] or [`with_session`] for them.
pub fn connect(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
    timeout: Duration,
) -> Result<Client, ProbeError> {
    let ep = Endpoint {
        host: host.to_string(),
        port,
        user: user.to_string(),
        database: database.to_string(),
        password: password.map(str::to_string),
        tls: TlsSettings::default(),
    };
    within(host, port, "connect", timeout, move || {
        connect_now(&ep, timeout)
    })
}

/// Runs one simple-protocol query on `client` within `timeout` and hands the
/// client back with the rows. On time-out the client is lost (it stays with
/// the stuck worker until the server answers or the socket fails).
pub fn query_within(
    mut client: Client,
    host: &str,
    port: u16,
    sql: &str,
    timeout: Duration,
) -> Result<(Client, Vec<TextRow>), ProbeError> {
    let sql = sql.to_string();
    let (h, step) = (host.to_string(), query_step(&sql));
    within(host, port, &query_step(&sql), timeout, move || {
        let rows =
            simple_rows(&mut client, &sql).map_err(|e| ProbeError::from_pg(&h, port, &step, &e))?;
        Ok((client, rows))
    })
}

/// Connects to `ep` and runs `work` on the session, all within one
/// `timeout`. `work` receives a [`Session`] whose errors already name the
/// host, port and step.
pub fn with_session<T, F>(ep: &Endpoint, timeout: Duration, work: F) -> Result<T, ProbeError>
where
    T: Send + 'static,
    F: FnOnce(&mut Session) -> Result<T, ProbeError> + Send + 'static,
{
    let ep = ep.clone();
    let (host, port) = (ep.host.clone(), ep.port);
    // The step named on time-out is the last one the worker started.
    let step = std::sync::Arc::new(Mutex::new(String::from("connect")));
    let step_w = step.clone();
    let result = within(&host, port, "connect", timeout, move || {
        let client = connect_now(&ep, timeout)?;
        let mut session = Session {
            client,
            host: ep.host.clone(),
            port: ep.port,
            step: step_w,
        };
        work(&mut session)
    });
    match result {
        Err(ProbeError::Timeout {
            host, port, after, ..
        }) => {
            let step = step.lock().map(|s| s.clone()).unwrap_or_default();
            Err(ProbeError::Timeout {
                host,
                port,
                step,
                after,
            })
        }
        other => other,
    }
}

/// An open connection inside [`with_session`].
pub struct Session {
    client: Client,
    host: String,
    port: u16,
    step: std::sync::Arc<Mutex<String>>,
}

impl Session {
    /// Runs `sql` with the simple query protocol (every value is text);
    /// errors are `query host:port (first words of sql): detail`.
    pub fn rows(&mut self, sql: &str) -> Result<Vec<TextRow>, ProbeError> {
        let step = query_step(sql);
        if let Ok(mut s) = self.step.lock() {
            s.clone_from(&step);
        }
        simple_rows(&mut self.client, sql)
            .map_err(|e| ProbeError::from_pg(&self.host, self.port, &step, &e))
    }

    /// The first row of `sql`, or an error when it returned none.
    pub fn row(&mut self, sql: &str) -> Result<TextRow, ProbeError> {
        let step = query_step(sql);
        self.rows(sql)?
            .into_iter()
            .next()
            .ok_or_else(|| ProbeError::failed(&self.host, self.port, &step, "no rows"))
    }

    /// Host this session is connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port this session is connected to.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// `query (show pool_nodes)`: the step name for an SQL text, shortened.
fn query_step(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let mut s = words.join(" ");
    if s.len() > 40 {
        let mut cut = 40;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    format!("query ({s})")
}

/// Runs `sql` with the simple query protocol and returns its rows by column
/// name (the rows of the last statement that returned any).
pub fn simple_rows(client: &mut Client, sql: &str) -> Result<Vec<TextRow>, postgres::Error> {
    let mut rows = Vec::new();
    for msg in client.simple_query(sql)? {
        if let SimpleQueryMessage::Row(row) = msg {
            let mut map = TextRow::new();
            for (i, col) in row.columns().iter().enumerate() {
                if let Some(v) = row.get(i) {
                    map.insert(col.name().to_string(), v.to_string());
                }
            }
            rows.push(map);
        }
    }
    Ok(rows)
}

/// Opens (and closes) a TCP connection to `host:port`, trying each address
/// the name resolves to until one answers, all within `timeout`. Returns the
/// address that answered.
pub fn tcp_connect(host: &str, port: u16, timeout: Duration) -> Result<SocketAddr, ProbeError> {
    let deadline = Instant::now() + timeout;
    // The look-up shares the connect's timeout (a silent DNS server would
    // otherwise hold the check for the resolver's own 10 s or more).
    let addrs = crate::deadline::resolve(host, port, timeout).map_err(|e| match e {
        e if e.is_timeout() => ProbeError::Timeout {
            host: host.to_string(),
            port,
            step: "resolve".into(),
            after: timeout,
        },
        e => ProbeError::failed(host, port, "resolve", e.to_string()),
    })?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) => return Ok(addr),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = Some(ProbeError::Timeout {
                    host: host.to_string(),
                    port,
                    step: "connect".into(),
                    after: timeout,
                })
            }
            Err(e) => last = Some(ProbeError::failed(host, port, "connect", e.to_string())),
        }
    }
    Err(last.unwrap_or(ProbeError::Timeout {
        host: host.to_string(),
        port,
        step: "connect".into(),
        after: timeout,
    }))
}

/// True when something accepts TCP connections on `host:port` within
/// `timeout` (how repmgrwatch tests a pgpool's gate port).
pub fn tcp_port_answers(host: &str, port: u16, timeout: Duration) -> bool {
    tcp_connect(host, port, timeout).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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

    #[test]
    fn query_step_is_short() {
        assert_eq!(query_step("show pool_nodes"), "query (show pool_nodes)");
        assert_eq!(
            query_step("SELECT a,\n b FROM t WHERE x"),
            "query (SELECT a, b FROM t WHERE)"
        );
    }

    #[test]
    fn sslmode_parses_libpq_spellings_only() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            (" Verify-Full ", SslMode::VerifyFull),
        ] {
            assert_eq!(SslMode::parse(text), Some(mode), "{text}");
            assert_eq!(SslMode::parse(mode.as_str()), Some(mode), "{text}");
        }
        for bad in ["", "on", "true", "verify_full", "verifyfull", "prefer,"] {
            assert_eq!(SslMode::parse(bad), None, "{bad:?}");
        }
        assert_eq!(SslMode::default(), SslMode::Prefer, "psql's default");
    }

    #[test]
    fn conninfo_tls_keys_win_over_the_section() {
        let section = TlsSettings {
            mode: SslMode::Require,
            root_cert: Some("/etc/ca.crt".into()),
            cert: Some("/etc/c.crt".into()),
            key: Some("/etc/c.key".into()),
            home: None,
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let t = section
            .with_conninfo(&pairs(&[
                ("host", "db1"),
                ("sslmode", "verify-full"),
                ("sslrootcert", "/n/ca.crt"),
                ("sslkey", ""),
            ]))
            .expect("valid");
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert, Some(PathBuf::from("/n/ca.crt")));
        assert_eq!(t.cert, Some(PathBuf::from("/etc/c.crt")), "kept");
        assert_eq!(t.key, None, "empty value = libpq's default");
        assert_eq!(section.with_conninfo(&[]), Ok(section.clone()));
        let e = section
            .with_conninfo(&pairs(&[("sslmode", "strict")]))
            .unwrap_err();
        assert_eq!(e, "conninfo sslmode \"strict\" is not valid; expected one of disable, allow, prefer, require, verify-ca, verify-full");
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pgpoolwatch-probe-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("tmp dir");
        d.join(name)
    }

    #[test]
    fn the_openssl_context_is_built_once_per_settings_and_file_date() {
        // A private root file so no other test shares these settings.
        let root = tmp("cache-root.crt");
        let ca = openssl::rsa::Rsa::generate(2048)
            .and_then(openssl::pkey::PKey::from_rsa)
            .expect("key");
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", "cache test CA")
            .expect("cn");
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().expect("x509");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&ca).expect("pubkey");
        let not_before = openssl::asn1::Asn1Time::days_from_now(0).expect("time");
        let not_after = openssl::asn1::Asn1Time::days_from_now(1).expect("time");
        b.set_not_before(&not_before).expect("nb");
        b.set_not_after(&not_after).expect("na");
        b.sign(&ca, openssl::hash::MessageDigest::sha256())
            .expect("sign");
        let pem = b.build().to_pem().expect("pem");
        std::fs::write(&root, &pem).expect("write root");
        let t = TlsSettings {
            mode: SslMode::VerifyCa,
            root_cert: Some(root.clone()),
            ..TlsSettings::default()
        };
        // The same OpenSSL context (one C object) for every connection.
        let (first, verifies) = t.cached_context().expect("context");
        assert!(verifies, "a root certificate means the server is checked");
        for _ in 0..4 {
            let (again, _) = t.cached_context().expect("context");
            assert!(
                std::ptr::eq(first.context(), again.context()),
                "a connection built a new OpenSSL context"
            );
            t.connector().expect("connector");
        }
        // A renewed file (new modification time) is read again.
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        let f = std::fs::File::options()
            .write(true)
            .open(&root)
            .expect("open root");
        f.set_modified(later).expect("set mtime");
        let (renewed, _) = t.cached_context().expect("context");
        assert!(
            !std::ptr::eq(first.context(), renewed.context()),
            "rebuilt after the file changed"
        );
        let _ = std::fs::remove_file(&root);
    }

    #[test]
    fn verify_modes_without_a_root_certificate_say_where_to_put_it() {
        let home = tmp("home-without-postgresql-dir");
        let t = TlsSettings {
            mode: SslMode::VerifyFull,
            home: Some(home.clone()),
            ..TlsSettings::default()
        };
        let e = t.connector().err().expect("no CA");
        assert_eq!(
            e,
            format!("sslmode=verify-full needs the CA that signed the server's certificate: set sslrootcert, or put it in {}/.postgresql/root.crt", home.display())
        );
        // Without a root certificate, require and prefer do not check.
        for mode in [SslMode::Require, SslMode::Prefer, SslMode::Allow] {
            let t = TlsSettings { mode, ..t.clone() };
            assert!(t.connector().is_ok(), "{mode:?}");
        }
    }

    #[test]
    fn unreadable_or_empty_sslrootcert_is_named() {
        let missing = tmp("missing-ca.crt");
        let t = TlsSettings {
            mode: SslMode::Require,
            root_cert: Some(missing.clone()),
            ..TlsSettings::default()
        };
        let e = t.connector().err().expect("missing file");
        assert!(
            e.starts_with(&format!("cannot read sslrootcert {}: ", missing.display())),
            "{e}"
        );
        let empty = tmp("empty-ca.crt");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let t = TlsSettings {
            root_cert: Some(empty.clone()),
            ..t
        };
        assert_eq!(
            t.connector().err(),
            Some(format!(
                "sslrootcert {} holds no PEM certificate",
                empty.display()
            ))
        );
        let _ = std::fs::remove_file(&empty);
    }

    #[test]
    fn client_key_readable_by_others_is_refused_as_libpq_does() {
        use std::os::unix::fs::PermissionsExt;
        let (cert, key) = (tmp("client.crt"), tmp("client.key"));
        std::fs::write(&cert, "x").expect("write");
        std::fs::write(&key, "x").expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let t = TlsSettings {
            cert: Some(cert.clone()),
            key: Some(key.clone()),
            ..TlsSettings::default()
        };
        let e = t.connector().err().expect("0644 key");
        assert!(
            e.starts_with(&format!(
                "sslkey {} has mode 0644; it must be u=rw (0600)",
                key.display()
            )),
            "{e}"
        );
        // A certificate without a key is named too.
        let t = TlsSettings { key: None, ..t };
        assert_eq!(
            t.connector().err(),
            Some(format!(
                "sslcert {} is given but no sslkey (and no ~/.postgresql/postgresql.key)",
                cert.display()
            ))
        );
        let _ = std::fs::remove_file(&cert);
        let _ = std::fs::remove_file(&key);
    }

    #[test]
    fn endpoint_debug_hides_password() {
        let ep = Endpoint {
            host: "h".into(),
            port: 1,
            user: "u".into(),
            database: "d".into(),
            password: Some("s3cret".into()),
            tls: TlsSettings::default(),
        };
        assert!(!format!("{ep:?}").contains("s3cret"));
    }

    /// A listener that never accepts: the kernel completes the handshake and
    /// queues the connection, exactly like a SIGSTOP'ed pgpool.
    #[test]
    fn connect_to_frozen_server_times_out_on_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = Duration::from_millis(700);
        let start = Instant::now();
        let err = connect("127.0.0.1", port, "u", "d", None, t).err().unwrap();
        let took = start.elapsed();
        assert!(took < t + Duration::from_millis(500), "took {took:?}");
        assert!(took >= t, "took {took:?}");
        assert_eq!(
            err.to_string(),
            format!("connect 127.0.0.1:{port}: timed out after 700ms")
        );
        // The TCP gate check does answer: the kernel accepts.
        assert!(tcp_port_answers("127.0.0.1", port, t));
        drop(listener);
    }

    #[test]
    fn pending_workers_are_capped_per_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = Duration::from_millis(100);
        for _ in 0..MAX_PENDING_PER_SERVER {
            let e = connect("127.0.0.1", port, "u", "d", None, t).err().unwrap();
            assert!(matches!(e, ProbeError::Timeout { .. }), "{e}");
        }
        let start = Instant::now();
        let e = connect("127.0.0.1", port, "u", "d", None, t).err().unwrap();
        assert!(matches!(e, ProbeError::Busy { .. }), "{e}");
        assert!(start.elapsed() < t);
        // Closing the listener resets the queued connections, which ends the
        // stuck workers and frees their slots.
        drop(listener);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let free = PENDING
                .lock()
                .unwrap()
                .as_ref()
                .map_or(true, |m| !m.contains_key(&host_port("127.0.0.1", port)));
            if free {
                break;
            }
            assert!(Instant::now() < deadline, "workers never ended");
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn refused_port_fails_fast_with_reason() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let e = connect("127.0.0.1", port, "u", "d", None, Duration::from_secs(5))
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("connect 127.0.0.1:{port}: ")),
            "{text}"
        );
        assert_eq!(
            text,
            format!("connect 127.0.0.1:{port}: connection refused (os error 111)")
        );
        assert!(!tcp_port_answers("127.0.0.1", port, Duration::from_secs(1)));
    }
}
