//! Where mail TLS finds the system's CA certificates, decided once at a
//! watcher's start so that a mail does not parse the whole system bundle.
//!
//! lettre builds its TLS context with native-tls, which asks openssl-probe
//! once per process for the system's CA bundle (on Debian/Ubuntu
//! `/etc/ssl/certs/ca-certificates.crt`) and its CA directories
//! (`/etc/ssl/certs`, `/etc/pki/tls/certs`), then for every context parses
//! the whole bundle (144 certificates here, 1.3 MB of heap at its peak) and
//! adds the directories, which OpenSSL reads lazily: only the `<hash>.N`
//! files of the issuer a server's chain names, when it is verified.
//!
//! The trust set stays the same: [`settle_at_start`] drops the bundle only
//! when every certificate in it is also in one of those directories, read
//! as OpenSSL's hashed-directory lookup reads it (the file
//! `<subject hash>.N`, N = 0, 1, … up to the first missing one, holding the
//! same certificate, DER for DER). Since the directories were already
//! trusted beside the bundle, the directories alone are the same set. On
//! Debian and Ubuntu update-ca-certificates builds both from one list; where
//! the directory holds no hashed links (RHEL/CentOS keep only
//! `ca-bundle.crt` in `/etc/pki/tls/certs`), or the bundle holds a block the
//! directory lookup would not give (a CRL, a `TRUSTED CERTIFICATE` with
//! trust settings), the bundle stays, as before.
//!
//! An operator's `SSL_CERT_FILE` or `SSL_CERT_DIR` is left to native-tls as
//! it was. Otherwise the bundle is dropped by pointing `SSL_CERT_FILE` at
//! `/dev/null` (it exists and holds no certificate) while one TLS context is
//! built, which fixes native-tls's per-process probe, and removing the
//! variable again at once: nothing else (OpenSSL's own default paths, the
//! environment of a child) sees it. Changing the environment is sound only
//! while the process has one thread, so it is done only then.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use lettre::transport::smtp::client::{Certificate, TlsParameters};
use openssl::x509::X509;

const ENV_FILE: &str = "SSL_CERT_FILE";
const ENV_DIR: &str = "SSL_CERT_DIR";
/// An existing file without a certificate: what native-tls is given as the
/// bundle once the directories are known to hold all of it.
const NO_BUNDLE: &str = "/dev/null";

/// Where mail TLS takes the system's CA certificates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemCas {
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` is set: native-tls reads them as
    /// they are, the bundle included.
    OperatorEnv,
    /// The whole bundle is parsed for every mail, beside the directories.
    Bundle { path: PathBuf, why: KeptBecause },
    /// The directories only: every certificate of `bundle` is in them.
    HashedDirs {
        bundle: PathBuf,
        dirs: Vec<PathBuf>,
        certs: usize,
    },
    /// No system bundle found: the directories only, as before.
    NoBundle,
}

impl fmt::Display for SystemCas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SystemCas::OperatorEnv => write!(f, "as {ENV_FILE}/{ENV_DIR} say"),
            SystemCas::Bundle { path, why } => {
                write!(
                    f,
                    "the bundle {} and the CA directories ({why})",
                    path.display()
                )
            }
            SystemCas::HashedDirs {
                bundle,
                dirs,
                certs,
            } => {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                write!(
                    f,
                    "the hashed directory {}, read lazily (it holds all {certs} certificates of {})",
                    dirs.join(", "),
                    bundle.display()
                )
            }
            SystemCas::NoBundle => write!(f, "the CA directories (no system bundle found)"),
        }
    }
}

/// Why the bundle stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptBecause {
    /// [`settle_at_start`] was called with other threads running.
    Threads,
    /// `/dev/null` does not exist here.
    NoDevNull,
    /// Building the first TLS context failed.
    OpenSsl(String),
    /// openssl-probe found no CA directory.
    NoDir,
    /// The bundle cannot be read.
    Unreadable(String),
    /// A PEM block other than `CERTIFICATE` (a CRL, a `TRUSTED
    /// CERTIFICATE` with trust settings): the directory lookup would not
    /// give the same.
    Block(String),
    Unterminated,
    /// The bundle's n-th certificate does not parse.
    Unparsable(usize),
    /// The bundle's n-th certificate is in no directory.
    Missing {
        n: usize,
        subject: String,
        wheres: String,
    },
    Empty,
}

impl fmt::Display for KeptBecause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeptBecause::Threads => write!(f, "other threads were already running"),
            KeptBecause::NoDevNull => write!(f, "{NO_BUNDLE} is missing"),
            KeptBecause::OpenSsl(e) => write!(f, "OpenSSL: {e}"),
            KeptBecause::NoDir => write!(f, "no CA directory"),
            KeptBecause::Unreadable(e) => write!(f, "cannot read it: {e}"),
            KeptBecause::Block(label) => write!(f, "it holds a {label:?} block"),
            KeptBecause::Unterminated => write!(f, "an unterminated certificate"),
            KeptBecause::Unparsable(n) => write!(f, "certificate {n} does not parse"),
            KeptBecause::Missing { n, subject, wheres } => {
                write!(f, "certificate {n} ({subject}) is not in {wheres}")
            }
            KeptBecause::Empty => write!(f, "it holds no certificate"),
        }
    }
}

static CHOICE: OnceLock<SystemCas> = OnceLock::new();

/// Decides where mail TLS takes the system's CA certificates from, for the
/// life of the process. Call it from `main` before any thread starts (later
/// calls, or a call with threads running, keep the bundle). Costs one
/// parse of the bundle and of its certificates' files in the directory.
pub fn settle_at_start() -> &'static SystemCas {
    CHOICE.get_or_init(|| {
        if threads() != Some(1) {
            return bundle_kept(KeptBecause::Threads);
        }
        choose()
    })
}

/// What [`settle_at_start`] decided, if it ran.
pub fn decided() -> Option<&'static SystemCas> {
    CHOICE.get()
}

fn bundle_kept(why: KeptBecause) -> SystemCas {
    match openssl_probe::probe().cert_file {
        Some(path) => SystemCas::Bundle { path, why },
        None => SystemCas::NoBundle,
    }
}

/// The decision and, for [`SystemCas::HashedDirs`], its application. Only
/// sound with one thread running (it changes the environment).
fn choose() -> SystemCas {
    if std::env::var_os(ENV_FILE).is_some() || std::env::var_os(ENV_DIR).is_some() {
        return SystemCas::OperatorEnv;
    }
    // The very probe native-tls makes (the same crate and version).
    let probe = openssl_probe::probe();
    let Some(bundle) = probe.cert_file else {
        return SystemCas::NoBundle;
    };
    let checked = stamp(&bundle);
    let certs = match covered(&bundle, &probe.cert_dir) {
        Ok(n) => n,
        Err(why) => return SystemCas::Bundle { path: bundle, why },
    };
    if !Path::new(NO_BUNDLE).exists() {
        return SystemCas::Bundle {
            path: bundle,
            why: KeptBecause::NoDevNull,
        };
    }
    std::env::set_var(ENV_FILE, NO_BUNDLE);
    // The first TLS context fixes native-tls's probe for the process.
    let built = TlsParameters::new_native("localhost".to_string());
    std::env::remove_var(ENV_FILE);
    match built {
        Ok(_) => {
            *lock(&HELD) = Some(Held {
                bundle: bundle.clone(),
                dirs: probe.cert_dir.clone(),
                checked,
                covered: true,
            });
            SystemCas::HashedDirs {
                bundle,
                dirs: probe.cert_dir,
                certs,
            }
        }
        // native-tls fails before it probes: the next context probes again
        // (the bundle included) and says what is wrong.
        Err(e) => SystemCas::Bundle {
            path: bundle,
            why: KeptBecause::OpenSsl(e.to_string()),
        },
    }
}

/// The bundle native-tls no longer reads, and whether the directories
/// held all of it when it last changed.
struct Held {
    bundle: PathBuf,
    dirs: Vec<PathBuf>,
    checked: Option<Stamp>,
    covered: bool,
}

/// A file's size and modification time.
type Stamp = (u64, Option<SystemTime>);

static HELD: Mutex<Option<Held>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()))
}

/// What a mail's TLS context must add so that it trusts what it did
/// before [`settle_at_start`]: nothing while the bundle is as it was when
/// the directories held all of it; the bundle's certificates when it has
/// changed since (an edit without `update-ca-certificates`) and they are
/// no longer all in the directories. One `stat` per mail; the check again
/// only after a change.
pub(crate) fn bundle_roots_for_mail() -> Vec<Certificate> {
    match lock(&HELD).as_mut() {
        Some(held) => held.roots_for_mail(),
        None => Vec::new(),
    }
}

impl Held {
    fn roots_for_mail(&mut self) -> Vec<Certificate> {
        let now = stamp(&self.bundle);
        if now != self.checked {
            self.checked = now;
            self.covered = match covered(&self.bundle, &self.dirs) {
                Ok(_) => true,
                Err(why) => {
                    log::info!(
                        "smtp: {} changed since the start and {why}: every mail reads it again",
                        self.bundle.display()
                    );
                    false
                }
            };
        }
        if self.covered {
            return Vec::new();
        }
        let Ok(text) = std::fs::read_to_string(&self.bundle) else {
            return Vec::new();
        };
        const END: &str = "-----END CERTIFICATE-----";
        let mut certs = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let Some(len) = rest[start..].find(END) else {
                break;
            };
            let end = start + len + END.len();
            if let Ok(c) = Certificate::from_pem(&rest.as_bytes()[start..end]) {
                certs.push(c);
            }
            rest = &rest[end..];
        }
        certs
    }
}

/// This process's thread count (`/proc/self/task`), if Linux says.
fn threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

/// How many certificates `bundle` holds when every one of them is in one
/// of `dirs` as OpenSSL's hashed-directory lookup finds it; otherwise why
/// not.
pub(crate) fn covered(bundle: &Path, dirs: &[PathBuf]) -> Result<usize, KeptBecause> {
    if dirs.is_empty() {
        return Err(KeptBecause::NoDir);
    }
    let text =
        std::fs::read_to_string(bundle).map_err(|e| KeptBecause::Unreadable(e.to_string()))?;
    let mut count = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label = after.split("-----").next().unwrap_or_default();
        if label != "CERTIFICATE" {
            return Err(KeptBecause::Block(label.to_string()));
        }
        const END: &str = "-----END CERTIFICATE-----";
        let Some(len) = rest[start..].find(END) else {
            return Err(KeptBecause::Unterminated);
        };
        let block = &rest[start..start + len + END.len()];
        rest = &rest[start + len + END.len()..];
        count += 1;
        let parsed = X509::from_pem(block.as_bytes()).and_then(|c| Ok((c.to_der()?, c)));
        let (der, cert) = parsed.map_err(|_| KeptBecause::Unparsable(count))?;
        let hash = cert.subject_name_hash();
        if !dirs.iter().any(|d| in_hashed_dir(d, hash, &der)) {
            return Err(KeptBecause::Missing {
                n: count,
                subject: subject(&cert),
                wheres: dirs
                    .iter()
                    .map(|d| format!("{}/{hash:08x}.N", d.display()))
                    .collect::<Vec<_>>()
                    .join(" nor "),
            });
        }
    }
    if count == 0 {
        return Err(KeptBecause::Empty);
    }
    Ok(count)
}

/// Whether `dir/<hash>.0`, `.1`, … (up to the first missing one, as OpenSSL
/// reads them) hold the certificate `der`.
fn in_hashed_dir(dir: &Path, hash: u32, der: &[u8]) -> bool {
    for n in 0.. {
        let Ok(pem) = std::fs::read(dir.join(format!("{hash:08x}.{n}"))) else {
            return false;
        };
        let Ok(certs) = X509::stack_from_pem(&pem) else {
            continue;
        };
        if certs
            .iter()
            .any(|c| c.to_der().ok().as_deref() == Some(der))
        {
            return true;
        }
    }
    false
}

fn subject(cert: &X509) -> String {
    cert.subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "trust/tests.rs"]
mod tests;
