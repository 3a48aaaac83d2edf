//! The DNS client of the GSLB tests (support/gslb.rs): one UDP question,
//! the answer's rcode and records, nothing more (RFC 1035 wire format, no
//! recursion, no EDNS). Kept apart so the PowerDNS helper stays readable.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const TYPE_A: u16 = 1;
pub const TYPE_SOA: u16 = 6;
const QUERY_TIMEOUT: Duration = Duration::from_millis(800);

/// A parsed DNS response: its rcode and answer records (type, rdata).
pub struct Answer {
    pub rcode: u8,
    pub records: Vec<(u16, Vec<u8>)>,
}

pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".to_string(),
        1 => "FORMERR".to_string(),
        2 => "SERVFAIL".to_string(),
        3 => "NXDOMAIN".to_string(),
        4 => "NOTIMP".to_string(),
        5 => "REFUSED".to_string(),
        n => format!("rcode {n}"),
    }
}

static QUERY_IDS: AtomicU32 = AtomicU32::new(1);

/// One DNS question over UDP (RFC 1035), no recursion wanted.
pub fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<Answer, String> {
    let ctx = |e: std::io::Error| format!("{name} @{server}: {e}");
    let id = (QUERY_IDS.fetch_add(1, Ordering::SeqCst) ^ std::process::id()) as u16;
    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]); // flags 0, 1 question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name}: bad DNS name"));
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes()); // class IN
    let socket = UdpSocket::bind(("127.0.0.1", 0)).map_err(ctx)?;
    socket.set_read_timeout(Some(QUERY_TIMEOUT)).map_err(ctx)?;
    socket.send_to(&packet, server).map_err(ctx)?;
    let until = Instant::now() + QUERY_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!(
                    "{name} @{server}: no answer within {QUERY_TIMEOUT:?}"
                ))
            }
            Err(e) => return Err(ctx(e)),
        };
        let reply = &buf[..len];
        if from == server && reply.len() >= 2 && reply[..2] == id.to_be_bytes() {
            return parse_reply(reply).map_err(|e| format!("{name} @{server}: {e}"));
        }
        if Instant::now() >= until {
            return Err(format!(
                "{name} @{server}: no matching answer within {QUERY_TIMEOUT:?}"
            ));
        }
    }
}

fn parse_reply(msg: &[u8]) -> Result<Answer, String> {
    let u16_at = |pos: usize| -> Result<u16, String> {
        msg.get(pos..pos + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| format!("reply truncated at byte {pos}"))
    };
    let flags = u16_at(2)?;
    if flags & 0x8000 == 0 {
        return Err("reply is not a response".to_string());
    }
    if flags & 0x0200 != 0 {
        return Err("reply truncated (TC set)".to_string());
    }
    let questions = u16_at(4)?;
    let answers = u16_at(6)?;
    let mut pos = 12;
    for _ in 0..questions {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        pos = skip_name(msg, pos)?;
        let rtype = u16_at(pos)?;
        let rdlen = usize::from(u16_at(pos + 8)?);
        let start = pos + 10;
        let rdata = msg
            .get(start..start + rdlen)
            .ok_or_else(|| format!("record data truncated at byte {start}"))?;
        records.push((rtype, rdata.to_vec()));
        pos = start + rdlen;
    }
    Ok(Answer {
        rcode: (flags & 0x000f) as u8,
        records,
    })
}

/// Position just after the (possibly compressed) name starting at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Result<usize, String> {
    loop {
        let len = *msg
            .get(pos)
            .ok_or_else(|| format!("name truncated at byte {pos}"))?;
        match len {
            0 => return Ok(pos + 1),
            l if l & 0xc0 == 0xc0 => return Ok(pos + 2),
            l if l & 0xc0 == 0 => pos += 1 + usize::from(l),
            l => return Err(format!("bad label byte {l:#x} at {pos}")),
        }
    }
}
