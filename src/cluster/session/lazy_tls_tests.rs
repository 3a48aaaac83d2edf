//! No OpenSSL context for a server that does not speak TLS, and one per
//! settings for those that do ([`super::super::tls::LazyTls`]), against fake
//! servers on 127.0.0.1: guard_tests' one that answers the TLS request with
//! `N`, and one here that answers `S` and then closes (a handshake that
//! fails, after the context was needed).
//!
//! Every test uses settings of its own (a `home` no other test names), so
//! the per-settings build count ([`builds_of`]) sees only its connections.

use super::guard_tests::{endpoint, Ask, Fake};
use super::*;
use crate::cluster::tls::builds_of;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread;

/// libpq's SSLRequest, as the fake servers see it.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Settings no other test uses: `mode`, and a home of this test's `name`.
fn own_endpoint(port: u16, mode: SslMode, name: &str) -> Endpoint {
    let mut ep = endpoint("127.0.0.1", port, mode);
    ep.password = None;
    ep.tls.home = Some(PathBuf::from(format!(
        "/nonexistent/pgpoolwatch-lazy-tls-{}-{name}",
        std::process::id()
    )));
    ep
}

/// A server that answers `S` to the TLS request of `n` connections (or
/// those that come within 10 s) and closes each at once; what it received
/// first on each.
fn accepts_tls_then_closes(n: usize) -> (u16, thread::JoinHandle<Vec<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    let t = thread::spawn(move || {
        let end = std::time::Instant::now() + Duration::from_secs(10);
        let mut firsts = Vec::new();
        while firsts.len() < n && std::time::Instant::now() < end {
            let Ok((mut s, _)) = l.accept() else {
                thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut first = [0u8; 8];
            if s.read_exact(&mut first).is_ok() && first == SSL_REQUEST {
                let _ = s.write_all(b"S");
            }
            firsts.push(first.to_vec());
        }
        firsts
    });
    (port, t)
}

#[test]
fn prefer_against_a_server_without_tls_builds_no_tls_context() {
    for (mode, name) in [(SslMode::Prefer, "prefer"), (SslMode::Allow, "allow")] {
        let fake = Fake::start(Ask::Rows(1));
        let ep = own_endpoint(fake.port, mode, name);
        let rows = with_session(&ep, Duration::from_secs(5), |s| s.rows("SELECT x FROM t"));
        assert_eq!(rows.map(|r| r.len()), Ok(1), "{mode:?}");
        if mode == SslMode::Prefer {
            assert!(
                fake.received().starts_with(&SSL_REQUEST),
                "prefer asks for TLS first (and the server said N)"
            );
        }
        assert_eq!(
            builds_of(&ep.tls),
            0,
            "sslmode={name} against a server without TLS built an OpenSSL context"
        );
    }
}

#[test]
fn connections_with_the_same_settings_share_one_tls_context() {
    let (port, server) = accepts_tls_then_closes(3);
    let ep = own_endpoint(port, SslMode::Require, "shared");
    for i in 0..2 {
        let e = with_session(&ep, Duration::from_secs(5), |s| s.row("SELECT 1"))
            .expect_err("the server closes during the handshake");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("connect 127.0.0.1:{port}: TLS: "))
                && text.ends_with("(sslmode=require)"),
            "connection {i}: {text}"
        );
    }
    assert_eq!(
        builds_of(&ep.tls),
        1,
        "two connections with the same settings, one context"
    );
    // Other settings (another user's home) get a context of their own.
    let other = own_endpoint(port, SslMode::Require, "shared-other");
    let _ = with_session(&other, Duration::from_secs(5), |s| s.row("SELECT 1"));
    assert_eq!(builds_of(&other.tls), 1);
    assert_eq!(builds_of(&ep.tls), 1);
    let firsts = server.join().expect("server thread");
    assert_eq!(firsts, vec![SSL_REQUEST.to_vec(); 3], "each asked for TLS");
}

#[test]
fn a_root_certificate_that_cannot_be_read_is_named_when_the_server_accepts_tls() {
    // As libpq: the file is read once the server has said S; the error
    // ends the connection (no plain retry for prefer), worded as before.
    for mode in [SslMode::Require, SslMode::Prefer] {
        let (port, server) = accepts_tls_then_closes(1);
        let mut ep = own_endpoint(port, mode, "unreadable-root");
        let missing = PathBuf::from("/nonexistent/pgpoolwatch-lazy-tls/ca.crt");
        ep.tls.root_cert = Some(missing.clone());
        let e = with_session(&ep, Duration::from_secs(5), |s| s.row("SELECT 1"))
            .expect_err("no root certificate");
        assert!(
            e.to_string().starts_with(&format!(
                "connect 127.0.0.1:{port}: TLS: cannot read sslrootcert {}: ",
                missing.display()
            )),
            "{mode:?}: {e}"
        );
        assert_eq!(server.join().expect("server").len(), 1, "{mode:?}");
    }
}
