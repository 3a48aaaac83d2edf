//! Unit tests of the parent module.

use super::*;
use crate::config::tls::SslMode;
use std::path::PathBuf;
use std::time::Duration;
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

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgpoolwatch-probe-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.join(name)
}

/// The certificates a context would check a server against.
fn trusted(c: &SslConnector) -> usize {
    c.context().cert_store().all_certificates().len()
}

#[test]
fn contexts_keep_no_system_ca_bundle_in_memory() {
    // OpenSSL's default bundle exists here (ca-certificates), so a context
    // that kept it would hold its ~144 certificates.
    for mode in [SslMode::Prefer, SslMode::Require, SslMode::Allow] {
        let t = TlsSettings {
            mode,
            home: Some(tmp("no-home")),
            ..TlsSettings::default()
        };
        let (c, verifies) = t.build_context().expect("context");
        assert!(
            !verifies,
            "{mode:?} without a root does not check the server"
        );
        assert_eq!(
            trusted(&c),
            0,
            "sslmode {mode:?}: the system bundle stayed loaded"
        );
    }
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
    assert_eq!(trusted(&first), 1, "only sslrootcert is trusted");
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
    let e = t.connector().err().expect("no CA").to_string();
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
    // Read when a handshake needs the context (session::lazy_tls_tests
    // checks the same text through a connection).
    let e = t.cached_context().expect_err("missing file").to_string();
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
        t.cached_context().err().map(|e| e.to_string()),
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
    let e = t.connector().err().expect("0644 key").to_string();
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
        t.connector().err().map(|e| e.to_string()),
        Some(format!(
            "sslcert {} is given but no sslkey (and no ~/.postgresql/postgresql.key)",
            cert.display()
        ))
    );
    let _ = std::fs::remove_file(&cert);
    let _ = std::fs::remove_file(&key);
}
