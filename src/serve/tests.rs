//! Unit tests of the parent module.

use super::board::GateState;
use super::http::{parse, plausible};
use super::*;
use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Instant;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn open_gate() -> (Gate, SocketAddr) {
    let mut g = Gate::new(loopback());
    g.open().expect("open");
    let addr = g.local_addr().expect("addr");
    (g, addr)
}

fn http(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read response");
    out
}

#[test]
fn classify_requests() {
    let with_body = |h: &[u8]| parse(h).map(|l| !l.headers_only());
    assert_eq!(with_body(b"GET / HTTP/1.1\r\n\r\n"), Some(true));
    assert_eq!(with_body(b"HEAD /health HTTP/1.0\r\n\r\n"), Some(false));
    assert_eq!(with_body(b"OPTIONS / HTTP/1.0\r\n\r\n"), Some(false));
    assert_eq!(with_body(b"GET /\r\n"), None);
    assert_eq!(with_body(b"\x16\x03\x01"), None);
    assert!(plausible(b"GET"));
    assert!(plausible(b"OPTIONS / HTTP"));
    assert!(!plausible(b"\x00\x00\x00\x08"));
    assert!(!plausible(b"get /"));
}

#[test]
fn ten_thousand_back_to_back_checks_all_succeed() {
    let (gate, addr) = open_gate();
    let n = 10_000u64;
    let start = Instant::now();
    for i in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("check {i} failed: {e}"));
        drop(s);
    }
    let secs = start.elapsed().as_secs_f64();
    let rate = n as f64 / secs;
    println!("gate: {n} back-to-back connect/close checks in {secs:.2}s = {rate:.0} checks/s");
    assert!(rate > 200.0, "gate too slow: {rate:.0} checks/s");
    // Every one was accepted (poll: the last few may still be in flight).
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.accepted() < n && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(gate.accepted(), n, "accepted count");
}

#[test]
fn two_hundred_concurrent_checks_succeed() {
    let (_gate, addr) = open_gate();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            thread::spawn(move || {
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                    .unwrap_or_else(|e| panic!("concurrent check {i}: {e}"));
                // Hold it a moment so they overlap, then wait for the
                // gate to close it (connect-and-wait style check).
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut b = [0u8; 1];
                let mut r = &s;
                match r.read(&mut b) {
                    Ok(0) => {}
                    Ok(_) => panic!("concurrent check {i}: unexpected bytes"),
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
                    Err(e) => panic!("concurrent check {i}: gate did not close: {e}"),
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("check thread");
    }
}

#[test]
fn http_get_returns_200_and_json_state() {
    let (gate, addr) = open_gate();
    let mut snap = Snapshot::starting("pgpwatch", Instant::now(), Duration::from_secs(25));
    snap.reason = "pgpool is healthy; the port stays open.".into();
    snap.gate = Some(GateState {
        port_open: true,
        listening: true,
        check: 2,
        check_seconds: 0.5,
        counters: ListenStats::default(),
    });
    gate.board().publish(snap);
    let out = http(
        addr,
        "GET /health HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
    );
    assert!(
        out.starts_with("HTTP/1.0 200 OK\r\n"),
        "status line: {out:?}"
    );
    assert!(
        out.contains("Content-Type: application/json\r\n"),
        "{out:?}"
    );
    let body = out.split("\r\n\r\n").nth(1).expect("body");
    assert_eq!(
        body,
        "{\"watcher\":\"pgpwatch\",\"port_open\":true,\"reason\":\"pgpool is healthy; the port \
         stays open.\",\"listening\":true,\"check\":2,\"check_seconds\":0.5,\"gate\":{\"accepted\":0,\
         \"http\":0,\"evicted\":0,\"peer_capped\":0,\"accept_errors\":0}}\n"
    );
    assert!(
        out.contains(&format!("Content-Length: {}\r\n", body.len())),
        "{out:?}"
    );
}

#[test]
fn head_and_options_get_no_body() {
    let (_gate, addr) = open_gate();
    for method in ["HEAD", "OPTIONS"] {
        let out = http(addr, &format!("{method} / HTTP/1.0\r\n\r\n"));
        assert!(out.starts_with("HTTP/1.0 200 OK\r\n"), "{method}: {out:?}");
        assert!(
            out.ends_with("\r\n\r\n"),
            "{method} must have no body: {out:?}"
        );
    }
}

#[test]
fn non_http_bytes_are_closed_without_answer() {
    let (_gate, addr) = open_gate();
    let out = http(addr, "\x00\x01hello\r\n\r\n");
    assert_eq!(out, "");
}

#[test]
fn closed_gate_refuses_and_reopens_immediately_with_time_wait() {
    let (mut gate, addr) = open_gate();
    // HTTP answers are closed by the gate first, leaving TIME_WAIT on our side.
    for _ in 0..20 {
        assert!(http(addr, "GET / HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
    }
    gate.close();
    assert!(!gate.is_open());
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect_err("closed gate must refuse");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // Reopen on the very same port at once.
    let mut again = Gate::new(addr);
    again.open().expect("reopen immediately (SO_REUSEADDR)");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("reopened gate answers");
    again.close();
    again.open().expect("second reopen");
    assert!(again.is_open());
}

#[test]
fn silent_client_does_not_delay_other_checks() {
    let (_gate, addr) = open_gate();
    // More silent clients than workers, each holding for 10 s.
    let silent: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(addr).expect("silent connect"))
        .collect();
    let start = Instant::now();
    for i in 0..50 {
        drop(
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("check {i} behind silent clients: {e}")),
        );
    }
    let out = http(addr, "GET / HTTP/1.0\r\n\r\n");
    assert!(out.starts_with("HTTP/1.0 200 OK"), "{out:?}");
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "checks were delayed: {took:?}"
    );
    // The silent clients were closed by the gate well before 10 s.
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let t = Instant::now();
        let mut b = [0u8; 1];
        let r = s.read(&mut b);
        assert!(
            matches!(r, Ok(0)) || matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
            "silent client not closed: {r:?}"
        );
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "silent client held too long"
        );
    }
}

#[test]
fn bind_error_names_address_and_remedy() {
    let (_gate, addr) = open_gate();
    let mut second = Gate::new(addr);
    let err = second.open().expect_err("port is taken");
    let text = err.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(text.contains("change open_port"), "{text}");
    assert!(!second.is_open());
}

#[test]
fn sizing_follows_the_descriptor_limit() {
    // (soft limit, table, per address): a quarter of the limit up to
    // 1024, never eating into the 64-descriptor reserve, a quarter of
    // the table per address up to 64.
    let rows = [
        (0, 1, 1),
        (64, 1, 1),
        (100, 25, 6),
        (256, 64, 16),
        (1024, 256, 64),
        (4096, 1024, 64),
        (20_000, 1024, 64),
        (u64::MAX, 1024, 64),
    ];
    for (soft, table, per_peer) in rows {
        let s = Sizing::for_limit(soft);
        assert_eq!((s.table, s.per_peer), (table, per_peer), "limit {soft}");
        if soft >= 128 {
            assert!(
                soft - s.table as u64 >= FD_RESERVE.max(soft / 4 * 3),
                "limit {soft}: reserve kept"
            );
        }
    }
}

/// A client socket bound to `src` (port chosen by the kernel) connected to `addr`.
fn connect_from(src: [u8; 4], addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.bind(&SocketAddr::from((src, 0)).into())
        .expect("bind source");
    s.connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connect");
    s.into()
}

#[test]
fn per_address_cap_closes_that_address_extra_connections_at_once() {
    let sizing = Sizing {
        table: 16,
        per_peer: 4,
    };
    let mut gate = Gate::with_sizing(loopback(), sizing);
    gate.open().expect("open");
    let addr = gate.local_addr().expect("addr");
    // Ten from one address, each with a request line but no end of head
    // yet (that keeps a held one pending past FIRST_BYTE_TIMEOUT).
    let mut flood: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect_from([127, 0, 0, 3], addr);
            s.write_all(b"GET / HTTP/1.0\r\n").expect("request line");
            s
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gate.accepted() < 10 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(gate.accepted(), 10, "all accepted");
    assert_eq!(gate.stats().peer_capped, 6, "beyond the cap of 4");
    // Another address is not capped.
    let mut other = connect_from([127, 0, 0, 4], addr);
    other.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
    other
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = String::new();
    other.read_to_string(&mut out).expect("answer to 127.0.0.4");
    let other = out;
    assert!(other.starts_with("HTTP/1.0 200 OK"), "{other:?}");
    assert_eq!(gate.stats().peer_capped, 6, "127.0.0.4 not capped");
    // The four held ones are answered, the six beyond the cap were closed.
    let mut answered = Vec::new();
    for (i, s) in flood.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(b"\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.0 200 OK") {
            answered.push(i);
        }
    }
    assert_eq!(answered, vec![0, 1, 2, 3], "the first four were held");
    let st = gate.stats();
    assert_eq!((st.evicted, st.accept_errors), (0, 0), "{st:?}");
}

#[test]
fn open_and_close_are_idempotent() {
    let (mut gate, _addr) = open_gate();
    gate.open().expect("second open is a no-op");
    gate.close();
    gate.close();
    gate.set(true).expect("set open");
    assert!(gate.is_open());
    gate.set(false).unwrap();
    assert!(!gate.is_open());
}
