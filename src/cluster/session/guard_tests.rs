//! The cleartext guard against a fake server on 127.0.0.1 that speaks just
//! enough of the protocol: it answers an SSLRequest with `N`, then asks
//! for the password in cleartext (or MD5), and keeps every byte it gets.
//!
//! 127.0.0.0/8 is loopback, where a cleartext password is allowed (as in
//! libpq). The guard's decision is a pure function of the configured host
//! text ([`is_loopback_host`], tested on its own), so two honest ways
//! reach the guarded path here: [`connect_guarded`] with the decision
//! given, and the public [`with_session`] with host `127.1`, a spelling
//! of 127.0.0.1 that the resolver (inet_aton, no DNS, no /etc/hosts)
//! maps to loopback but that the guard, which never resolves, counts as
//! another host — the path a remote host takes, with traffic on loopback.

use super::*;
use crate::plumbing::net::is_loopback_host;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

const MARK: &str = "pw-Cl34rt3xt-MARK";

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Ask {
    Cleartext,
    Md5,
    /// No password; then parameter statuses without end.
    Flood,
    /// No password; every query answered with this many rows.
    Rows(usize),
}

/// A fake server: what it received (all connections), its port, its thread.
pub(super) struct Fake {
    pub(super) port: u16,
    got: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Fake {
    pub(super) fn start(ask: Ask) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (g, c) = (got.clone(), connections.clone());
        l.set_nonblocking(true).expect("nonblocking");
        let thread = thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while Instant::now() < end && served < 3 {
                match l.accept() {
                    Ok((s, _)) => {
                        served += 1;
                        *c.lock().unwrap() += 1;
                        serve(s, ask, &g);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Fake {
            port,
            got,
            connections,
            thread: Some(thread),
        }
    }

    pub(super) fn received(&self) -> Vec<u8> {
        self.got.lock().unwrap().clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        // Let the accept loop end by itself (bounded at 10 s): connect to it
        // so a waiting accept returns; the thread is joined.
        for _ in 0..3 {
            let _ = TcpStream::connect(("127.0.0.1", self.port));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_exact(s: &mut TcpStream, n: usize, got: &Mutex<Vec<u8>>) -> Option<Vec<u8>> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).ok()?;
    got.lock().unwrap().extend_from_slice(&buf);
    Some(buf)
}

/// One protocol message: its kind byte, length and body (the fake
/// servers of the cluster tests all build theirs with it).
pub(in crate::cluster) fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn serve(mut s: TcpStream, ask: Ask, got: &Mutex<Vec<u8>>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    // SSLRequest(s) and the startup packet.
    loop {
        let Some(len) = read_exact(&mut s, 4, got) else {
            return;
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(body) = read_exact(&mut s, len.saturating_sub(4), got) else {
            return;
        };
        if body.get(..4) == Some(&80877103u32.to_be_bytes()[..]) {
            let _ = s.write_all(b"N");
            continue;
        }
        break;
    }
    let ready = || {
        let mut out = msg(b'R', &0u32.to_be_bytes());
        out.extend(msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
        out.extend(msg(b'Z', b"I"));
        out
    };
    match ask {
        Ask::Cleartext => {
            let _ = s.write_all(&msg(b'R', &3u32.to_be_bytes()));
        }
        Ask::Md5 => {
            let _ = s.write_all(&msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]));
        }
        Ask::Flood => {
            let _ = s.write_all(&msg(b'R', &0u32.to_be_bytes()));
            let status = msg(
                b'S',
                &[b"application_name\0".as_slice(), &[b'x'; 1000], b"\0"].concat(),
            );
            let chunk: Vec<u8> = status.repeat(64);
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end && s.write_all(&chunk).is_ok() {}
            return;
        }
        Ask::Rows(n) => {
            let _ = s.write_all(&ready());
            // One query: RowDescription, n DataRows, CommandComplete, ready.
            let Some(head) = read_exact(&mut s, 5, got) else {
                return;
            };
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let _ = read_exact(&mut s, len.saturating_sub(4), got);
            let mut desc = 1u16.to_be_bytes().to_vec();
            desc.extend(b"x\0");
            desc.extend([
                0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 255, 255, 255, 255, 255, 255, 0, 0,
            ]);
            let mut out = msg(b'T', &desc);
            let row = msg(b'D', &[0, 1, 0, 0, 0, 3, b'a', b'b', b'c']);
            for _ in 0..n {
                out.extend(&row);
            }
            out.extend(msg(b'C', format!("SELECT {n}\0").as_bytes()));
            out.extend(msg(b'Z', b"I"));
            let _ = s.write_all(&out);
            let _ = read_exact(&mut s, 5, got); // Terminate
            return;
        }
    }
    // The answer, if any: a PasswordMessage.
    let Some(head) = read_exact(&mut s, 5, got) else {
        return;
    };
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let Some(body) = read_exact(&mut s, len.saturating_sub(4), got) else {
        return;
    };
    let sent = String::from_utf8_lossy(&body)
        .trim_end_matches('\0')
        .to_string();
    if ask == Ask::Md5 && sent.starts_with("md5") {
        // Accept: AuthenticationOk, BackendKeyData, ReadyForQuery.
        let _ = s.write_all(&ready());
        let _ = read_exact(&mut s, 5, got); // Terminate
        return;
    }
    // Refuse, quoting what was sent (a hostile server may).
    let e = format!("SFATAL\0VFATAL\0C28P01\0Mpassword \"{sent}\" is wrong\0\0");
    let _ = s.write_all(&msg(b'E', e.as_bytes()));
}

pub(super) fn endpoint(host: &str, port: u16, mode: SslMode) -> Endpoint {
    Endpoint {
        host: host.into(),
        port,
        user: "repmgr".into(),
        database: "repmgr".into(),
        password: Some(Secret::new(MARK)),
        tls: TlsSettings {
            mode,
            ..TlsSettings::default()
        },
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

const WAYS_OUT: &str = "use TLS (sslmode = require or verify-full, with ssl = on in the server), or allow it with [general] allow_cleartext_password = yes";

#[test]
fn a_cleartext_request_on_a_plain_connection_gets_nothing() {
    for mode in [SslMode::Prefer, SslMode::Disable, SslMode::Allow] {
        let fake = Fake::start(Ask::Cleartext);
        let ep = endpoint("127.0.0.1", fake.port, mode);
        let e = connect_guarded(&ep, Duration::from_secs(5), true, MAX_SESSION_BYTES)
            .err()
            .unwrap_or_else(|| panic!("{mode:?}: connected"));
        let text = e.to_string();
        let want = format!(
            "connect 127.0.0.1:{}: the server asked for the password in cleartext on an unencrypted connection; nothing was sent (sslmode={}); {WAYS_OUT}",
            fake.port,
            mode.as_str()
        );
        assert!(text.starts_with(&want), "{mode:?}: {text}");
        let got = fake.received();
        assert!(contains(&got, "repmgr"), "{mode:?}: no startup packet");
        assert!(!contains(&got, MARK), "{mode:?}: the password was sent");
        assert!(!text.contains(MARK));
    }
}

#[test]
fn md5_still_works_without_tls_and_never_sends_the_password() {
    let fake = Fake::start(Ask::Md5);
    let ep = endpoint("127.0.0.1", fake.port, SslMode::Prefer);
    let client = connect_guarded(&ep, Duration::from_secs(5), true, MAX_SESSION_BYTES);
    assert!(client.is_ok(), "{:?}", client.err());
    drop(client);
    let got = fake.received();
    assert!(contains(&got, "md5"), "no MD5 answer");
    assert!(!contains(&got, MARK), "the password was sent");
}

#[test]
fn through_the_public_path_a_host_taken_for_remote_is_guarded() {
    // The same code a remote host goes through, traffic on loopback.
    assert!(!is_loopback_host("127.1"));
    assert!(crate::cluster::guard::refuses_cleartext(&endpoint(
        "127.1",
        1,
        SslMode::Prefer
    )));
    let fake = Fake::start(Ask::Cleartext);
    let ep = endpoint("127.1", fake.port, SslMode::Prefer);
    let e = with_session(&ep, Duration::from_secs(5), |s| s.row("SELECT 1")).expect_err("refused");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "connect 127.1:{}: the server asked for the password in cleartext",
            fake.port
        )) && text.ends_with(WAYS_OUT),
        "{text}"
    );
    assert!(!contains(&fake.received(), MARK), "the password was sent");
    assert!(*fake.connections.lock().unwrap() >= 1);
}

#[test]
fn the_opt_in_key_and_loopback_send_it_and_the_echo_is_masked() {
    // [general] allow_cleartext_password = yes, to a host taken for remote;
    // and plain loopback, where libpq's behaviour is kept.
    for (host, allow) in [("127.1", true), ("127.0.0.1", false)] {
        let fake = Fake::start(Ask::Cleartext);
        let mut ep = endpoint(host, fake.port, SslMode::Prefer);
        ep.tls.allow_cleartext_password = allow;
        assert!(!crate::cluster::guard::refuses_cleartext(&ep), "{host}");
        let e = with_session(&ep, Duration::from_secs(5), |s| s.row("SELECT 1"))
            .expect_err("refused by the fake server");
        assert!(contains(&fake.received(), MARK), "{host}: not sent");
        let text = e.to_string();
        // The server quoted the password back: the error masks it.
        assert!(text.contains("password \"********\" is wrong"), "{text}");
        assert!(!text.contains(MARK), "{text}");
    }
}

#[test]
fn a_server_past_the_byte_budget_ends_the_session() {
    let fake = Fake::start(Ask::Flood);
    let mut ep = endpoint("127.0.0.1", fake.port, SslMode::Prefer);
    ep.password = None;
    let start = Instant::now();
    let e = connect_guarded(&ep, Duration::from_secs(5), false, 256 << 10)
        .err()
        .expect("over budget");
    assert_eq!(
        e.to_string(),
        format!(
            "connect 127.0.0.1:{}: the server sent more than 256 KiB in one session, where a cluster's answers take kilobytes; the session was closed (is this a PostgreSQL or pgpool server?)",
            fake.port
        )
    );
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn more_rows_than_a_cluster_holds_are_an_error() {
    for (n, ok) in [(MAX_ROWS, true), (MAX_ROWS + 1, false)] {
        let fake = Fake::start(Ask::Rows(n));
        let mut ep = endpoint("127.0.0.1", fake.port, SslMode::Disable);
        ep.password = None;
        let got = with_session(&ep, Duration::from_secs(5), |s| s.rows("SELECT x FROM t"));
        match (got, ok) {
            (Ok(rows), true) => assert_eq!(rows.len(), n),
            (Err(e), false) => assert_eq!(
                e.to_string(),
                format!(
                    "query (SELECT x FROM t) 127.0.0.1:{}: returned {n} rows, more than the {MAX_ROWS} a cluster's answer can hold (one row per node); not read",
                    fake.port
                )
            ),
            (other, _) => panic!("{n} rows: {other:?}"),
        }
    }
}
