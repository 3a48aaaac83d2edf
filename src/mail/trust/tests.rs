use super::*;

use std::path::PathBuf;
use std::time::Duration;

use crate::mail::tlsparams::tls_parameters;
use crate::mail::MailSettings;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgpw-trust-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A self-signed EC certificate named `cn`.
fn cert(cn: &str) -> X509 {
    cert_and_key(cn).0
}

fn cert_and_key(cn: &str) -> (X509, openssl::pkey::PKey<openssl::pkey::Private>) {
    let group =
        openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).expect("group");
    let key = openssl::ec::EcKey::generate(&group)
        .and_then(openssl::pkey::PKey::from_ec_key)
        .expect("key");
    let mut name = openssl::x509::X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", cn).expect("cn");
    let name = name.build();
    let mut b = openssl::x509::X509Builder::new().expect("x509");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    let not_before = openssl::asn1::Asn1Time::days_from_now(0).expect("time");
    let not_after = openssl::asn1::Asn1Time::days_from_now(1).expect("time");
    b.set_not_before(&not_before).expect("nb");
    b.set_not_after(&not_after).expect("na");
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .expect("sign");
    (b.build(), key)
}

fn pem(c: &X509) -> String {
    String::from_utf8(c.to_pem().expect("pem")).expect("ascii")
}

/// `dir/bundle.crt` holding `certs` (with a comment line between them, as
/// Debian's has none but others do), and the hashed directory `dir/certs`.
fn bundle_of(dir: &Path, certs: &[&X509]) -> (PathBuf, PathBuf) {
    let bundle = dir.join("bundle.crt");
    let text: Vec<String> = certs
        .iter()
        .map(|c| format!("# a CA\n{}", pem(c)))
        .collect();
    std::fs::write(&bundle, text.concat()).expect("bundle");
    let hashed = dir.join("certs");
    std::fs::create_dir_all(&hashed).expect("certs dir");
    (bundle, hashed)
}

fn link(dir: &Path, c: &X509, n: u32) {
    let name = format!("{:08x}.{n}", c.subject_name_hash());
    std::fs::write(dir.join(name), pem(c)).expect("hashed file");
}

#[test]
fn a_bundle_whose_certificates_are_all_in_the_hashed_dir_is_covered() {
    let dir = tmp("all");
    let (a, b) = (cert("trust test A"), cert("trust test B"));
    let (bundle, hashed) = bundle_of(&dir, &[&a, &b]);
    link(&hashed, &a, 0);
    link(&hashed, &b, 0);
    assert_eq!(covered(&bundle, std::slice::from_ref(&hashed)), Ok(2));
    // In the second of two directories is as good (native-tls adds both).
    let other = dir.join("other");
    std::fs::create_dir_all(&other).expect("dir");
    assert_eq!(covered(&bundle, &[other, hashed]), Ok(2));
}

#[test]
fn a_certificate_missing_from_the_hashed_dir_keeps_the_bundle() {
    let dir = tmp("missing");
    let (a, b) = (cert("trust test A"), cert("trust test missing"));
    let (bundle, hashed) = bundle_of(&dir, &[&a, &b]);
    link(&hashed, &a, 0);
    let why = covered(&bundle, std::slice::from_ref(&hashed))
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("certificate 2 (trust test missing) is not in"),
        "{why}"
    );
    assert!(
        why.contains(&format!("{:08x}.N", b.subject_name_hash())),
        "{why}"
    );
    // A file of the right name with another certificate in it is no match.
    std::fs::write(
        hashed.join(format!("{:08x}.0", b.subject_name_hash())),
        pem(&a),
    )
    .expect("write");
    assert!(covered(&bundle, std::slice::from_ref(&hashed)).is_err());
}

#[test]
fn hash_collisions_are_read_as_openssl_reads_them() {
    let dir = tmp("collide");
    let (a, b) = (cert("trust test A"), cert("trust test B"));
    let (bundle, hashed) = bundle_of(&dir, &[&b]);
    let name = |n: u32| hashed.join(format!("{:08x}.{n}", b.subject_name_hash()));
    // .0 holds another certificate, .1 the bundle's: found.
    std::fs::write(name(0), pem(&a)).expect("write");
    std::fs::write(name(1), pem(&b)).expect("write");
    assert_eq!(covered(&bundle, std::slice::from_ref(&hashed)), Ok(1));
    // Without .0 OpenSSL stops before .1: not found.
    std::fs::remove_file(name(0)).expect("rm");
    assert!(covered(&bundle, std::slice::from_ref(&hashed)).is_err());
}

#[test]
fn blocks_the_directory_lookup_would_not_give_keep_the_bundle() {
    let dir = tmp("blocks");
    let a = cert("trust test A");
    let (bundle, hashed) = bundle_of(&dir, &[&a]);
    link(&hashed, &a, 0);
    let trusted = pem(&a).replace("CERTIFICATE", "TRUSTED CERTIFICATE");
    for extra in [
        trusted.as_str(),
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    ] {
        std::fs::write(&bundle, format!("{}{extra}", pem(&a))).expect("write");
        let why = covered(&bundle, std::slice::from_ref(&hashed)).unwrap_err();
        assert!(matches!(why, KeptBecause::Block(_)), "{why}");
    }
    std::fs::write(&bundle, "no certificate here\n").expect("write");
    assert_eq!(
        covered(&bundle, std::slice::from_ref(&hashed)),
        Err(KeptBecause::Empty)
    );
    assert_eq!(covered(&bundle, &[]), Err(KeptBecause::NoDir));
    let why = covered(&dir.join("absent.crt"), &[hashed]).unwrap_err();
    assert!(matches!(why, KeptBecause::Unreadable(_)), "{why}");
}

#[test]
fn a_bundle_changed_after_the_start_is_read_again_while_the_dir_lacks_some_of_it() {
    let dir = tmp("changed");
    let (a, b) = (cert("trust test A"), cert("trust test added later"));
    let (bundle, hashed) = bundle_of(&dir, &[&a]);
    link(&hashed, &a, 0);
    let mut held = Held {
        bundle: bundle.clone(),
        dirs: vec![hashed.clone()],
        checked: stamp(&bundle),
        covered: true,
    };
    assert_eq!(held.roots_for_mail().len(), 0, "unchanged: nothing to add");
    // An edit without update-ca-certificates: the bundle is read per mail.
    std::fs::write(&bundle, format!("{}{}", pem(&a), pem(&b))).expect("write");
    assert_eq!(held.roots_for_mail().len(), 2);
    assert_eq!(held.roots_for_mail().len(), 2, "and for every later mail");
    // Once the directory holds it too (and the bundle is rewritten), no more.
    link(&hashed, &b, 0);
    std::fs::write(&bundle, format!("{}\n{}", pem(&a), pem(&b))).expect("write");
    assert_eq!(held.roots_for_mail().len(), 0);
}

const CHILD_ENV: &str = "PGPOOLWATCH_TRUST_CHILD";

/// Issue 20 item 3: a mail's TLS context must not parse the whole system
/// bundle again. The child (this test binary, running only
/// [`trust_child`]) owns its environment and native-tls's per-process probe.
#[test]
fn a_mail_tls_context_reads_no_system_bundle() {
    crate::plumbing::child_test::run_child("mail::trust::tests::trust_child", "trust", |c| {
        c.env(CHILD_ENV, "1")
            .env_remove(ENV_FILE)
            .env_remove(ENV_DIR);
    });
}

/// Bytes this thread has read so far (`rchar`, counted by Linux).
fn read_so_far() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").expect("/proc/thread-self/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("rchar")
}

fn bytes_read<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = read_so_far();
    let out = f();
    (read_so_far() - before, out)
}

#[test]
#[ignore = "run by a_mail_tls_context_reads_no_system_bundle in a child process"]
fn trust_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // Only this test runs in this process: changing the environment is safe.
    std::env::set_var(ENV_DIR, "/nonexistent");
    assert_eq!(
        choose(),
        SystemCas::OperatorEnv,
        "SSL_CERT_DIR is the operator's"
    );
    std::env::remove_var(ENV_DIR);

    let started = std::time::Instant::now();
    let choice = choose();
    println!(
        "trust: system CAs ({:.1} ms to decide): {choice}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let SystemCas::HashedDirs { bundle, .. } = &choice else {
        println!("trust: no hashed directory holding the bundle here: nothing to measure");
        println!("trust: done");
        return;
    };
    assert!(
        std::env::var_os(ENV_FILE).is_none(),
        "SSL_CERT_FILE stayed set"
    );
    let size = std::fs::metadata(bundle).expect("bundle").len();
    // What OpenSSL's own default paths read for any context (OPENSSLDIR's
    // cert.pem: nothing for the static build, the system bundle for a build
    // on the system's OpenSSL) is not native-tls's to save.
    let (openssl_own, built) = bytes_read(|| {
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).map(|b| b.build())
    });
    built.expect("an OpenSSL context");
    let settings = MailSettings {
        server: "mail.example.org".into(),
        timeout: Duration::from_secs(1),
        ..MailSettings::default()
    };
    for n in 1..=3 {
        let (read, params) = bytes_read(|| tls_parameters(&settings));
        params.expect("TLS parameters");
        println!(
            "trust: mail {n}: read {read} bytes building its TLS context \
             (OpenSSL's own default paths {openssl_own}, the bundle {size})"
        );
        assert!(
            read < openssl_own + size / 2,
            "mail {n}: its TLS context read {read} bytes: the bundle {} ({size} bytes) \
             was parsed again",
            bundle.display()
        );
    }
    handshakes_trust_what_they_did(&settings);
    println!("trust: done");
}

/// With the directories alone, a certificate the system does not trust is
/// still refused, and `--cacert` still trusted: an implicit-TLS SMTP
/// greeting from a local server whose certificate is self-signed.
fn handshakes_trust_what_they_did(settings: &MailSettings) {
    use lettre::transport::smtp::client::SmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    use std::io::{BufRead, BufReader, Write};

    let dir = tmp("handshake");
    let (server_cert, key) = cert_and_key("localhost");
    let ca = dir.join("server.pem");
    std::fs::write(&ca, pem(&server_cert)).expect("write");
    let mut acceptor =
        openssl::ssl::SslAcceptor::mozilla_intermediate_v5(openssl::ssl::SslMethod::tls())
            .expect("acceptor");
    acceptor.set_private_key(&key).expect("key");
    acceptor.set_certificate(&server_cert).expect("cert");
    let acceptor = acceptor.build();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(stream) = stream else { continue };
            let Ok(mut tls) = acceptor.accept(stream) else {
                continue;
            };
            let _ = tls.write_all(b"220 localhost ESMTP\r\n");
            let mut line = String::new();
            let mut reader = BufReader::new(&mut tls);
            let _ = reader.read_line(&mut line);
            let _ = tls.write_all(b"250 localhost\r\n");
            let _ = tls.flush();
        }
    });
    let hello = ClientId::Domain("client.test".into());
    let connect = |s: &MailSettings| {
        let params = tls_parameters(s).expect("TLS parameters");
        SmtpConnection::connect(
            ("127.0.0.1", port),
            Some(Duration::from_secs(5)),
            &hello,
            Some(&params),
            None,
        )
    };
    let localhost = MailSettings {
        server: "localhost".into(),
        ..settings.clone()
    };
    let refused = connect(&localhost).map(|_| ()).unwrap_err();
    let why = format!("{refused:?}");
    println!("trust: a self-signed server without --cacert: {why}");
    assert!(why.contains("certificate verify failed"), "{why}");
    let mut with_ca = localhost.clone();
    with_ca.tls.cacert = Some(ca);
    connect(&with_ca).expect("--cacert's certificate is trusted");
    println!("trust: the same server with --cacert: greeted");
    let _ = server.join();
}
