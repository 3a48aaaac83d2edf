//! The TLS context of the mail client, built once and reused.
//!
//! Building it is not cheap: native-tls parses the system CA bundle twice
//! for every `TlsConnector` (OpenSSL's default verify paths, then the file
//! openssl-probe found), about 1.3 MB of transient heap for Debian's 146
//! certificates — even when `--cacert` is given. Done for every mail, that
//! churn left glibc's per-thread arenas a little larger after each send
//! (measured with heaptrack; bench/memory.md). So the context is built at
//! the first mail and kept while what it was built from stays the same: the
//! server name, `--insecure`, the `--cacert` file's contents, and the
//! system bundle's size and modification time (a `ca-certificates` update
//! is picked up at the next mail, without a restart).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

use lettre::transport::smtp::client::{Certificate, TlsParameters};

use super::{MailError, MailSettings};

/// Where OpenSSL and openssl-probe find the system bundle on the
/// distributions we ship for (Debian/Ubuntu, RHEL/CentOS, SUSE, Alpine).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// What a context was built from; a different key builds a new one.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Key {
    server: String,
    insecure: bool,
    cacert: Option<(PathBuf, String)>,
    system: Option<(PathBuf, u64, Option<SystemTime>)>,
}

/// A context and the key it was built from.
struct TlsCache {
    slot: Mutex<Option<(Key, TlsParameters)>>,
    builds: AtomicUsize,
}

static CACHE: TlsCache = TlsCache::new();

/// The TLS parameters for `opts`: the cached ones when nothing they were
/// built from changed, else freshly built (and cached).
pub(super) fn tls_parameters(opts: &MailSettings) -> Result<TlsParameters, MailError> {
    CACHE.get(opts)
}

impl TlsCache {
    const fn new() -> TlsCache {
        TlsCache {
            slot: Mutex::new(None),
            builds: AtomicUsize::new(0),
        }
    }

    fn get(&self, opts: &MailSettings) -> Result<TlsParameters, MailError> {
        let cacert = match &opts.tls.cacert {
            Some(path) => Some((path.clone(), read_text(path)?)),
            None => None,
        };
        let key = Key {
            server: opts.server.clone(),
            insecure: opts.tls.insecure,
            cacert,
            system: system_bundle(),
        };
        let mut slot = match self.slot.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some((k, params)) = slot.as_ref() {
            if *k == key {
                return Ok(params.clone());
            }
        }
        // the old context goes before the new one is built: one at a time
        *slot = None;
        let params = build(opts, key.cacert.as_ref())?;
        self.builds.fetch_add(1, Ordering::Relaxed);
        *slot = Some((key, params.clone()));
        Ok(params)
    }
}

fn system_bundle() -> Option<(PathBuf, u64, Option<SystemTime>)> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            Some((p, meta.len(), meta.modified().ok()))
        })
}

fn build(
    opts: &MailSettings,
    cacert: Option<&(PathBuf, String)>,
) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(opts.server.clone());
    if let Some((path, text)) = cacert {
        for cert in parse_cacert(path, text)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if opts.tls.insecure {
        builder = builder
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    builder.build_native().map_err(|e| MailError::Tls {
        server: opts.server.clone(),
        port: opts.port,
        detail: super::transport::source_text(&e),
    })
}

fn cacert_error(path: &Path, detail: String) -> MailError {
    MailError::CaCert {
        path: path.to_path_buf(),
        detail,
    }
}

fn read_text(path: &Path) -> Result<String, MailError> {
    std::fs::read_to_string(path).map_err(|e| cacert_error(path, format!("{e} (check --cacert)")))
}

/// Every certificate of a PEM file (a bundle may hold several).
#[cfg(test)]
fn read_cacert(path: &Path) -> Result<Vec<Certificate>, MailError> {
    parse_cacert(path, &read_text(path)?)
}

fn parse_cacert(path: &Path, text: &str) -> Result<Vec<Certificate>, MailError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            return Err(cacert_error(path, "unterminated PEM certificate".into()));
        };
        let block = &rest[start..start + len + END.len()];
        let cert = Certificate::from_pem(block.as_bytes()).map_err(|e| {
            cacert_error(
                path,
                format!("invalid certificate: {}", super::transport::source_text(&e)),
            )
        })?;
        certs.push(cert);
        rest = &rest[start + len + END.len()..];
    }
    if certs.is_empty() {
        return Err(cacert_error(
            path,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::TlsOptions;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pgpw-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn cacert_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("pgpw-cacert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a cert\n").expect("write");
        let e = read_cacert(&empty).map(|_| ()).unwrap_err();
        assert!(
            e.to_string().contains("empty.pem: no PEM certificate"),
            "{e}"
        );
        let e = read_cacert(&dir.join("nope.pem")).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("nope.pem"), "{e}");
    }

    /// A self-signed CA certificate in PEM, made by the openssl crate.
    fn ca_pem(cn: &str) -> String {
        use openssl::{
            asn1::Asn1Time, bn::BigNum, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509,
        };
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut name = x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_text("CN", cn).expect("cn");
        let name = name.build();
        let mut b = x509::X509Builder::new().expect("builder");
        b.set_version(2).expect("v3");
        b.set_serial_number(
            &BigNum::from_u32(1)
                .expect("bn")
                .to_asn1_integer()
                .expect("serial"),
        )
        .expect("serial");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::days_from_now(2).expect("t"))
            .expect("na");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        String::from_utf8(b.build().to_pem().expect("pem")).expect("utf8")
    }

    #[test]
    fn the_context_is_built_once_and_again_only_when_its_inputs_change() {
        let dir = temp_dir("tlscache");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_pem("first CA")).expect("write");
        let mut opts = MailSettings {
            server: "smtp.example.test".into(),
            tls: TlsOptions {
                cacert: Some(ca.clone()),
                ..TlsOptions::default()
            },
            ..MailSettings::default()
        };
        let cache = TlsCache::new();
        let builds = || cache.builds.load(Ordering::Relaxed);
        cache.get(&opts).expect("first");
        cache.get(&opts).expect("second");
        cache.get(&opts).expect("third");
        assert_eq!(builds(), 1, "three mails, same settings: one context");

        std::fs::write(&ca, ca_pem("second CA")).expect("rewrite");
        cache.get(&opts).expect("new CA file");
        assert_eq!(builds(), 2, "a changed --cacert file builds a new context");
        cache.get(&opts).expect("again");
        assert_eq!(builds(), 2);

        opts.server = "other.example.test".into();
        cache.get(&opts).expect("other server");
        assert_eq!(
            builds(),
            3,
            "another --server (the name checked) builds a new context"
        );
        opts.tls.insecure = true;
        cache.get(&opts).expect("insecure");
        assert_eq!(builds(), 4, "--insecure builds a new context");

        std::fs::write(&ca, "garbage\n").expect("break");
        let e = cache.get(&opts).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains("ca.pem: no PEM certificate"), "{e}");
        assert_eq!(
            builds(),
            4,
            "a broken --cacert is an error, not a stale context"
        );
        assert!(
            cache.slot.lock().expect("lock").is_none(),
            "the context of the old file is gone"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
