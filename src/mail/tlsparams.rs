//! What lettre needs to start TLS to the mail server: the system store plus
//! `--cacert`'s certificates, or no verification at all with `--insecure`
//! (warned about once per process).

use std::path::Path;
use std::sync::Once;

use lettre::transport::smtp::client::{Certificate, TlsParameters};

use super::{MailError, MailSettings};

pub(super) fn warn_insecure_once(server: &str, port: u16) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| {
        log::warn!(
            "smtp {server}:{port}: --insecure: the server's certificate is not verified; \
             anyone between here and the server can read the mail and the password"
        );
    });
}

/// Says once per process where the system's CA certificates come from
/// ([`super::trust`]).
fn log_system_cas_once() {
    static SAID: Once = Once::new();
    SAID.call_once(|| match super::trust::decided() {
        Some(cas) => log::debug!("smtp: system CA certificates: {cas}"),
        None => log::debug!("smtp: system CA certificates: the bundle and the CA directories"),
    });
}

pub(super) fn tls_parameters(opts: &MailSettings) -> Result<TlsParameters, MailError> {
    log_system_cas_once();
    let mut builder = TlsParameters::builder(opts.server.clone());
    if let Some(path) = &opts.tls.cacert {
        for cert in read_cacert(path)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    for cert in super::trust::bundle_roots_for_mail() {
        builder = builder.add_root_certificate(cert);
    }
    if opts.tls.insecure {
        builder = builder
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    builder.build_native().map_err(|e| MailError::Tls {
        server: opts.server.clone(),
        port: opts.port,
        detail: source_text(&e),
    })
}

/// Every certificate of a PEM file (a bundle may hold several).
fn read_cacert(path: &Path) -> Result<Vec<Certificate>, MailError> {
    let err = |detail: String| MailError::CaCert {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("{e} (check --cacert)")))?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            return Err(err("unterminated PEM certificate".into()));
        };
        let block = &rest[start..start + len + END.len()];
        let cert = Certificate::from_pem(block.as_bytes())
            .map_err(|e| err(format!("invalid certificate: {}", source_text(&e))))?;
        certs.push(cert);
        rest = &rest[start + len + END.len()..];
    }
    if certs.is_empty() {
        return Err(err(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) found".into(),
        ));
    }
    Ok(certs)
}

/// The error's cause without lettre's kind prefix.
pub(super) fn source_text(e: &dyn std::error::Error) -> String {
    match e.source() {
        Some(s) => s.to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
