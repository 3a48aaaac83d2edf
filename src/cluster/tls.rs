//! TLS for PostgreSQL connections, following libpq's `sslmode`
//! ([`TlsSettings`]): `disable` plain; `allow` plain, then TLS when the
//! server refuses the plain session; `prefer` (the default, as psql) TLS when
//! the server offers it, else plain, and plain again when the TLS handshake
//! fails; `require` TLS; `verify-ca` TLS with the server's certificate
//! checked against `sslrootcert`; `verify-full` that and the host name (or IP
//! address) in the certificate. As libpq, any mode that uses TLS checks the CA
//! when a root certificate is at hand (`sslrootcert`, else
//! `~/.postgresql/root.crt` of the credentials user). One TLS stack: the
//! OpenSSL that ssh2 and lettre already use.

use crate::config::tls::{TlsError, TlsSettings};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;

use super::error::pg_detail;
pub(crate) use lazy::LazyTls;

mod lazy;

impl TlsSettings {
    /// The OpenSSL context for these settings, and whether it checks the
    /// server's certificate. Built once per settings (and file dates) for
    /// the life of the process, and only when a handshake needs it
    /// ([`lazy`]): building one loads OpenSSL's default CA bundle and its
    /// algorithm tables, tens of milliseconds of CPU and megabytes of
    /// memory that a check must not pay every time, nor at all when no
    /// server speaks TLS.
    pub(crate) fn cached_context(&self) -> Result<(SslConnector, bool), TlsError> {
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

    fn build_context(&self) -> Result<(SslConnector, bool), TlsError> {
        #[cfg(test)]
        BUILT
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.clone());
        let ssl = |what: &str, e: openssl::error::ErrorStack| TlsError::Ssl {
            what: what.to_string(),
            reason: ssl_reason(&e),
        };
        let mut b =
            SslConnector::builder(SslMethod::tls_client()).map_err(|e| ssl("OpenSSL setup", e))?;
        let verifies = match self.root() {
            Some(root) => {
                b.set_cert_store(load_root(&root)?);
                b.set_verify(SslVerifyMode::PEER);
                true
            }
            None if self.mode.verifies() => return Err(self.no_root()),
            None => {
                // SslConnector::builder loaded OpenSSL's default CA bundle,
                // which nothing checks against here (libpq never trusts the
                // system store): drop it, or its parsed certificates (Debian's
                // 144) stay resident for the life of the watcher, ~0.7 MB.
                let empty = X509StoreBuilder::new().map_err(|e| ssl("OpenSSL setup", e))?;
                b.set_cert_store(empty.build());
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

    /// A checking mode without a root certificate: where to put one.
    fn no_root(&self) -> TlsError {
        let default = self.home.as_ref().map_or_else(
            || "~/.postgresql/root.crt".to_string(),
            |h| h.join(".postgresql/root.crt").display().to_string(),
        );
        TlsError::NoRoot {
            mode: self.mode,
            default,
        }
    }
}

/// Every settings an OpenSSL context was built for (tests count them).
#[cfg(test)]
pub(crate) static BUILT: Mutex<Vec<TlsSettings>> = Mutex::new(Vec::new());

/// How many OpenSSL contexts were built for `t` in this process.
#[cfg(test)]
pub(crate) fn builds_of(t: &TlsSettings) -> usize {
    BUILT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|b| *b == t)
        .count()
}

/// The first complaint of the certificate check of one connection.
pub(crate) type VerifySlot = Arc<Mutex<Option<String>>>;

/// A store holding only the certificates of `path` (libpq trusts only
/// sslrootcert, not the system store).
fn load_root(path: &Path) -> Result<openssl::x509::store::X509Store, TlsError> {
    let pem = std::fs::read(path).map_err(|e| TlsError::RootUnreadable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let certs = X509::stack_from_pem(&pem).unwrap_or_default();
    if certs.is_empty() {
        return Err(TlsError::RootEmpty {
            path: path.to_path_buf(),
        });
    }
    let bad = |e: openssl::error::ErrorStack| TlsError::Ssl {
        what: format!("sslrootcert {}", path.display()),
        reason: ssl_reason(&e),
    };
    let mut store = X509StoreBuilder::new().map_err(bad)?;
    for c in certs {
        store.add_cert(c).map_err(bad)?;
    }
    Ok(store.build())
}

/// libpq's rule for a private key file: no access for others, and for the
/// group only when root owns it (u=rw,g=r).
fn check_key_mode(key: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(key).map_err(|e| TlsError::KeyUnreadable {
        path: key.to_path_buf(),
        detail: e.to_string(),
    })?;
    let mode = m.mode() & 0o777;
    let allowed = if m.uid() == 0 { 0o640 } else { 0o600 };
    if mode & !allowed != 0 {
        return Err(TlsError::KeyMode {
            path: key.to_path_buf(),
            mode,
        });
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

/// The first error of type `E` in `e`'s chain of sources.
fn in_chain<E: std::error::Error + 'static>(e: &postgres::Error) -> Option<&E> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<E>() {
            return Some(found);
        }
        source = s.source();
    }
    None
}

/// The OpenSSL error of a failed TLS handshake inside a `postgres::Error`.
pub(crate) fn handshake_error(e: &postgres::Error) -> Option<&openssl::ssl::Error> {
    in_chain(e)
}

/// `TLS: certificate verify failed: unable to get local issuer certificate
/// (sslmode=verify-full, sslrootcert=/x/ca.crt)` for a failed handshake;
/// `TLS: ` and the [`TlsError`] for settings found unusable when the
/// handshake began ([`LazyTls`]); the server's own message otherwise.
pub(crate) fn tls_detail(e: &postgres::Error, slot: &VerifySlot, tls: &TlsSettings) -> String {
    if let Some(settings) = in_chain::<TlsError>(e) {
        return format!("TLS: {settings}");
    }
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

#[cfg(test)]
mod tests;
