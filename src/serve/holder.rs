//! Who holds a port, best effort, for the one line that reports a gate
//! conflict: the listening socket's inode from `/proc/net/tcp` (or `tcp6`),
//! then the process whose `/proc/<pid>/fd` links to `socket:[inode]`. An
//! unprivileged watcher cannot read other users' descriptors; it then says
//! how to find out (`ss -ltnp`).

use std::net::{IpAddr, SocketAddr};

/// Who listens on `addr` (its port, on its address or a wildcard), as
/// "pid 1234 (nc)"; `None` when it cannot be told.
pub fn holder(addr: SocketAddr) -> Option<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            inodes.extend(listening_inodes(&text, addr));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy();
            let owns = link
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|i| inodes.contains(&i));
            if owns {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    None
}

/// What to say of the holder of `addr`: "held by pid 1234 (nc)", or how
/// to find out.
pub fn describe(addr: SocketAddr) -> String {
    match holder(addr) {
        Some(h) => format!("held by {h}"),
        None => format!(
            "held by another process (`ss -ltnp 'sport = :{}'` as root names it)",
            addr.port()
        ),
    }
}

/// The inodes of the sockets listening on `addr`'s port, on its address
/// or on a wildcard (either side), in a `/proc/net/tcp{,6}` text.
fn listening_inodes(text: &str, addr: SocketAddr) -> Vec<u64> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                return None;
            }
            let (ip, port) = parse_local(f[1])?;
            let same_ip = ip == addr.ip()
                || ip.is_unspecified()
                || addr.ip().is_unspecified()
                || v4_in_v6(ip, addr.ip());
            (port == addr.port() && same_ip)
                .then(|| f[9].parse().ok())
                .flatten()
        })
        .collect()
}

/// `::ffff:a.b.c.d` and `a.b.c.d` are the same address.
fn v4_in_v6(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// `0100007F:15B7` (IPv4) or the 32-hex-digit IPv6 form, each 32-bit
/// word in host byte order.
fn parse_local(field: &str) -> Option<(IpAddr, u16)> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if ip.len() % 8 != 0 || !ip.is_ascii() {
        return None;
    }
    // Each word is printed as the kernel holds it: in host byte order.
    let words: Vec<u32> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn proc_net_tcp_lines_are_read_as_the_kernel_writes_them() {
        assert_eq!(
            parse_local("0100007F:15B7"),
            Some(("127.0.0.1".parse().expect("ip"), 5559))
        );
        assert_eq!(
            parse_local("00000000000000000000000001000000:1F90"),
            Some(("::1".parse().expect("ip"), 8080))
        );
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:15B7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   1: 00000000:15B7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 100 0 0 10 0\n   2: 0100007F:15B7 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n";
        let at = |s: &str| listening_inodes(text, s.parse().expect("addr"));
        assert_eq!(
            at("127.0.0.1:5559"),
            vec![4242, 4343],
            "own address and the wildcard"
        );
        assert_eq!(at("10.0.0.1:5559"), vec![4343], "only the wildcard");
        assert_eq!(at("127.0.0.1:5560"), Vec::<u64>::new());
    }

    #[test]
    fn the_holder_of_a_listening_port_is_named() {
        // Our own listener is skipped (pid == me); a child holds one here.
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import socket,time;s=socket.socket();s.bind(('127.0.0.1',{}));s.listen();print('ok',flush=True);time.sleep(30)",
                    addr.port()
                ),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            use std::io::BufRead;
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let said = describe(addr);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(line.trim(), "ok");
        assert!(
            said.starts_with(&format!("held by pid {} (python3", child.id())),
            "{said}"
        );
        assert!(describe(addr).contains("ss -ltnp 'sport = :"), "free now");
    }
}
