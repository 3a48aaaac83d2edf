//! poolstatus's pure readers (`poolstatus::parse`) on what a cluster could
//! answer. The input (lossy UTF-8) is read three ways:
//! - as psql aligned output (header line, rows split on `|`, an empty cell is
//!   NULL, as the recorded fixtures) fed to `pool_nodes`, `repmgr_nodes`,
//!   `repmgr_schema`, `event_counts`, `senders`, `receiver`;
//! - line by line (and cell by cell) as a conninfo string, an LSN and a role;
//! - whole, as `df -P` output.
//!
//! Invariants: no panic; `parse_lsn` round-trips through `X/Y` formatting;
//! `lsn_lag` is never more than the ahead position; conninfo pairs survive
//! quoting and re-reading; a port read from a row is the row's number; df's
//! figures come from the line's fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::cluster::text;
use pgpoolwatch::cluster::TextRow;

fn rows(text: &str) -> Vec<TextRow> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Vec<String> = header.split('|').map(|h| h.trim().to_string()).collect();
    lines
        .filter(|l| !l.starts_with("--"))
        .map(|l| {
            header
                .iter()
                .zip(l.split('|'))
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(h, v)| (h.clone(), v.trim().to_string()))
                .collect()
        })
        .collect()
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn check_text(s: &str) {
    // LSN: parse, format, parse again.
    if let Some(v) = text::parse_lsn(s) {
        let f = format!("{:X}/{:X}", v >> 32, v & 0xFFFF_FFFF);
        assert_eq!(text::parse_lsn(&f), Some(v), "lsn {s:?} -> {f}");
    }
    let _ = text::Role::parse(s).as_str().len();
    // conninfo: host is never empty; pairs survive quoting.
    if let Ok((host, _port)) = text::conninfo_host_port(s) {
        assert!(!host.is_empty(), "empty host from {s:?}");
    }
    if let Ok(pairs) = text::conninfo_pairs(s) {
        let requoted: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        let again = text::conninfo_pairs(&requoted.join(" "));
        assert_eq!(
            again.as_ref(),
            Ok(&pairs),
            "conninfo {s:?} requoted differently"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // Rows.
    let rs = rows(&text);
    if let Ok(nodes) = text::pool_nodes(&rs) {
        assert_eq!(nodes.len(), rs.len());
        for (b, r) in nodes.iter().zip(&rs) {
            assert_eq!(
                r.get("port").map(|p| p.trim().parse::<u16>().ok()),
                Some(Some(b.port))
            );
            let _ = b.is_up();
        }
    }
    if let Ok(nodes) = text::repmgr_nodes(&rs) {
        assert_eq!(nodes.len(), rs.len());
        for (n, r) in nodes.iter().zip(&rs) {
            // The conninfo read where it is masked agrees with the shim.
            if let Some(raw) = r.get("conninfo") {
                assert_eq!(
                    n.conninfo.host_port().ok(),
                    text::conninfo_host_port(raw).ok(),
                    "{raw:?}"
                );
            }
        }
    }
    for r in rs.iter().take(4) {
        if let Some(schema) = text::repmgr_schema(r) {
            let _ = (
                schema.nodes_sql(),
                schema.events_sql(),
                schema.nodes_table(),
            );
        }
        let _ = text::event_counts(r);
        for v in r.values() {
            check_text(v);
        }
    }
    let version = u32::from(data.first().copied().unwrap_or(0)) * 1_000;
    let senders = text::senders(&rs, version);
    assert_eq!(senders.len(), rs.len());
    for s in &senders {
        if let (Some(sent), Some(replay)) = (&s.sent, &s.replay) {
            if let (Some(lag), Some(ahead)) = (text::lsn_lag(sent, replay), text::parse_lsn(sent))
            {
                assert!(lag <= ahead, "lag {lag} > position {ahead}");
            }
        }
    }
    if let Some(r) = text::receiver(&rs) {
        let _ = r.received.as_deref().map(text::parse_lsn);
    }

    // Lines.
    let lines: Vec<&str> = text.lines().take(64).collect();
    for l in &lines {
        check_text(l);
    }
    for w in lines.windows(2) {
        if let (Some(lag), Some(a)) = (text::lsn_lag(w[0], w[1]), text::parse_lsn(w[0])) {
            assert!(lag <= a);
        }
    }

    // df.
    if let Ok(d) = text::df(&text) {
        let line = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .nth(1)
            .unwrap_or("");
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(
            fields.contains(&d.size_kb.to_string().as_str())
                || fields.iter().any(|f| f.parse::<u64>() == Ok(d.size_kb))
        );
        assert!(
            fields
                .iter()
                .any(|f| f.strip_suffix('%').and_then(|p| p.parse::<u8>().ok())
                    == Some(d.use_percent))
        );
    }
});
