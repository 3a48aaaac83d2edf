//! Unit tests of the parent module.
use super::*;
use crate::cluster::session::guard_tests::msg;

#[test]
fn loopback_is_decided_from_the_configured_text() {
    for h in [
        "localhost",
        "LOCALHOST.",
        "127.0.0.1",
        "127.10.20.30",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "/var/run/postgresql",
        "",
    ] {
        assert!(is_loopback_host(h), "{h:?} is loopback");
    }
    for h in [
        "db1",
        "db1.example.org",
        "10.0.0.5",
        "128.0.0.1",
        "::2",
        "::ffff:10.0.0.1",
        // Not resolved: a name or a short form may point anywhere.
        "127.1",
        "localhost.example.org",
        "vm",
    ] {
        assert!(!is_loopback_host(h), "{h:?} is not loopback");
    }
}

/// Every split of `stream` into two reads finds the same thing.
fn found(stream: &[u8]) -> Found {
    let whole = Scanner::default().feed(stream);
    for cut in 0..=stream.len() {
        let mut s = Scanner::default();
        let a = s.feed(&stream[..cut]);
        let got = if a == Found::Cleartext {
            a
        } else {
            s.feed(&stream[cut..])
        };
        assert_eq!(got, whole, "cut at {cut}");
    }
    for size in 1..4 {
        let mut s = Scanner::default();
        let got = stream
            .chunks(size)
            .map(|c| s.feed(c))
            .find(|f| *f == Found::Cleartext)
            .unwrap_or(Found::Nothing);
        assert_eq!(got, whole, "chunks of {size}");
    }
    whole
}

#[test]
fn the_scanner_finds_a_cleartext_request_and_nothing_else() {
    let cleartext = msg(b'R', &3u32.to_be_bytes());
    let md5 = msg(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]);
    let sasl = msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
    let ok = msg(b'R', &0u32.to_be_bytes());
    let notice = msg(b'N', b"SWARNING\0M\0\0");
    assert_eq!(found(&cleartext), Found::Cleartext);
    assert_eq!(
        found(&[notice.clone(), cleartext.clone()].concat()),
        Found::Cleartext
    );
    assert_eq!(found(&md5), Found::Nothing);
    assert_eq!(found(&sasl), Found::Nothing);
    assert_eq!(found(&[md5.clone(), ok.clone()].concat()), Found::Nothing);
    // After AuthenticationOk nothing is watched: a query's bytes that
    // happen to look like a request are data.
    assert_eq!(
        found(&[ok.clone(), cleartext.clone()].concat()),
        Found::Nothing
    );
    // An error before any request, and a short R message.
    assert_eq!(found(&msg(b'E', b"SFATAL\0\0")), Found::Nothing);
    assert_eq!(found(&msg(b'R', &[0, 0])), Found::Nothing);
}
