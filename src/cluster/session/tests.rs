//! Unit tests of the parent module.
use super::*;
use crate::cluster::tcp::tcp_port_answers;
use std::net::TcpListener;
use std::thread;
use std::time::Instant;
#[test]
fn query_step_is_short() {
    assert_eq!(query_step("show pool_nodes"), "query (show pool_nodes)");
    assert_eq!(
        query_step("SELECT a,\n b FROM t WHERE x"),
        "query (SELECT a, b FROM t WHERE)"
    );
}

#[test]
fn endpoint_debug_hides_password() {
    let ep = Endpoint {
        host: "h".into(),
        port: 1,
        user: "u".into(),
        database: "d".into(),
        password: Some(Secret::new("s3cret")),
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
            .is_none_or(|m| !m.contains_key(&host_port("127.0.0.1", port)));
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
