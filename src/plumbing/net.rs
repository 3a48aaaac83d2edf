//! Names of hosts and durations as every message spells them (`host:port`,
//! `5s`), and whether a configured host is this machine: pure, shared by
//! the settings (which warn) and the cluster reads (which refuse).

use std::time::Duration;

/// `host:port`, with brackets around an IPv6 literal.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `5s`, `1.5s`, `250ms`.
pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// Whether `host` (as configured: a name, an address or a Unix socket
/// directory) is this machine: `localhost`, an address of 127.0.0.0/8 or
/// `::1` (also IPv4-mapped), or a socket directory. Names are not
/// resolved — a DNS answer or an /etc/hosts line can change, and is what an
/// attacker would change — so any other name counts as another host, and
/// so does a non-standard spelling of an address (`127.1`).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim();
    if is_unix_socket(h) {
        return true;
    }
    let name = h.strip_suffix('.').unwrap_or(h);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_loopback(),
        Ok(std::net::IpAddr::V6(a)) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// Whether `host` names a Unix socket directory (or is empty: libpq's
/// default socket).
pub fn is_unix_socket(host: &str) -> bool {
    host.is_empty() || host.starts_with('/') || host.starts_with('@')
}
