//! Unit tests of the parent module, and the tarpit figures: a server that
//! sends one byte every 0.4 s and never finishes its greeting.

use super::*;
use crate::mail::{deliver, MailSettings, Message};
use crate::mailqueue::{Class, MailQueue, QueueConfig};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;

#[test]
fn the_blocked_descriptor_is_read_from_the_syscall_line() {
    let line = |nr: libc::c_long, arg0: &str| {
        format!("{nr} {arg0} 0x7ffc1 0x2000 0x0 0x0 0x0 0x7ffc0 0x7f12")
    };
    assert_eq!(blocked_fd_of(&line(libc::SYS_recvfrom, "0x7")), Some(7));
    assert_eq!(blocked_fd_of(&line(libc::SYS_read, "0x1a")), Some(26));
    assert_eq!(blocked_fd_of(&line(libc::SYS_sendto, "0x3")), Some(3));
    // poll's first argument is a pointer, not a descriptor.
    assert_eq!(blocked_fd_of(&line(libc::SYS_poll, "0x7ffc1")), None);
    assert_eq!(blocked_fd_of("running"), None);
    assert_eq!(blocked_fd_of("-1 0x7ffc0 0x7f12"), None);
    assert_eq!(blocked_fd_of(""), None);
}

#[test]
fn a_session_blocked_on_a_silent_server_is_ended_at_its_deadline() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let started = Instant::now();
    let r = run(Duration::from_millis(300), move |slot| {
        use std::io::Read;
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        slot.connecting_to(&[addr]);
        let mut buf = [0u8; 16];
        // No read timeout: only the shutdown ends this read.
        s.read(&mut buf).map_err(|e| e.to_string())
    });
    assert_eq!(
        r,
        Err(WorkerError::TimedOut {
            after: Duration::from_millis(300),
            ended: true
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(l);
}

#[test]
fn a_socket_to_another_peer_is_never_shut_down() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let release = Arc::new(AtomicBool::new(false));
    let r2 = Arc::clone(&release);
    let r = run(Duration::from_millis(200), move |slot| {
        use std::io::Read;
        let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        // The session says it talks to another address.
        slot.connecting_to(&["127.0.0.1:9".parse().expect("addr")]);
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 16];
        while !r2.load(Ordering::SeqCst) {
            let _ = s.read(&mut buf);
        }
        Ok::<usize, String>(0)
    });
    assert!(
        matches!(r, Err(WorkerError::TimedOut { ended: false, .. })),
        "{r:?}"
    );
    release.store(true, Ordering::SeqCst);
    drop(l);
}

/// Threads and descriptors of this process.
fn counts() -> (usize, usize) {
    let n = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    (n("/proc/self/task"), n("/proc/self/fd"))
}

/// A tarpit: accepts everything and sends each connection one byte of a
/// greeting line that never ends, every 0.4 s.
fn tarpit(stop: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind tarpit");
    let addr = l.local_addr().expect("addr");
    l.set_nonblocking(true).expect("nonblocking");
    let t = thread::spawn(move || {
        const DRIP: &[u8] = b"220-tarpit.test ESMTP this greeting never ends ";
        let mut conns: Vec<(TcpStream, usize)> = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            while let Ok((s, _)) = l.accept() {
                conns.push((s, 0));
            }
            conns.retain_mut(|(s, i)| {
                let ok = s.write_all(&DRIP[*i % DRIP.len()..][..1]).is_ok();
                *i += 1;
                ok
            });
            thread::sleep(Duration::from_millis(400));
        }
    });
    (addr, t)
}

const CHILD_ENV: &str = "PGPOOLWATCH_TARPIT_PORT";

fn settings(port: u16) -> MailSettings {
    MailSettings {
        user: "u".into(),
        password: "p".into(),
        server: "127.0.0.1".into(),
        port,
        sender: "watch@example.org".into(),
        receivers: vec!["ops@example.org".into()],
        timeout: Duration::from_secs(1),
        ..MailSettings::default()
    }
}

/// Issue 17 item 4. The child (this test binary, running only
/// [`tarpit_child`]) mails a tarpit in this process; its own thread and
/// descriptor counts are not disturbed by the other tests or the tarpit.
#[test]
fn a_tarpit_leaves_thread_and_descriptor_counts_flat() {
    let stop = Arc::new(AtomicBool::new(false));
    let (addr, t) = tarpit(Arc::clone(&stop));
    crate::plumbing::child_test::run_child("mail::worker::tests::tarpit_child", "tarpit", |c| {
        c.env(CHILD_ENV, addr.port().to_string());
    });
    stop.store(true, Ordering::SeqCst);
    let _ = t.join();
}

#[test]
#[ignore = "run by a_tarpit_leaves_thread_and_descriptor_counts_flat in a child process"]
fn tarpit_child() {
    let Some(port) = std::env::var(CHILD_ENV).ok().and_then(|p| p.parse().ok()) else {
        return;
    };
    let msg = Message::new(
        "PGPWATCH - Status Change - PGP Down",
        "down",
        Default::default(),
    );
    let (base_threads, base_fds) = counts();

    // 50 status changes at once, each on its own caller thread.
    let started = Instant::now();
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let (s, m) = (settings(port), msg.clone());
            thread::spawn(move || deliver(&s, &m))
        })
        .collect();
    let mut peak = (0, 0);
    while callers.iter().any(|c| !c.is_finished()) {
        let (t, f) = counts();
        peak = (peak.0.max(t), peak.1.max(f));
        thread::sleep(Duration::from_millis(50));
    }
    let results: Vec<String> = callers
        .into_iter()
        .map(|c| match c.join() {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => "sent?!".into(),
            Err(_) => "panicked".into(),
        })
        .collect();
    let busy = results.iter().filter(|r| r.contains("still wait")).count();
    let timed_out = results
        .iter()
        .filter(|r| r.contains("not finished within"))
        .count();
    let (threads, fds) = counts();
    println!(
        "tarpit: 50 concurrent sends: {timed_out} timed out, {busy} refused (workers busy) in {:.1}s; \
         threads {base_threads} -> peak {} -> {threads}, fds {base_fds} -> peak {} -> {fds} after the deadline",
        started.elapsed().as_secs_f64(),
        peak.0,
        peak.1
    );
    assert_eq!(busy + timed_out, 50, "{results:?}");
    assert!(
        threads <= base_threads + MAX_WORKERS,
        "threads {base_threads} -> {threads}"
    );
    assert!(fds <= base_fds + MAX_WORKERS + 2, "fds {base_fds} -> {fds}");

    // 50 mails queued as a watcher queues them, retried against the tarpit.
    let config = QueueConfig {
        capacity: 64,
        attempts: 3,
        first_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    let q = MailQueue::start(config, move |m: &Message| deliver(&settings(port), m))
        .expect("mail thread");
    let (base_threads, base_fds) = counts();
    for _ in 0..50 {
        q.push("PGP Down", Class::StatusChange, msg.clone());
    }
    let window = Instant::now() + Duration::from_secs(14);
    let mut peak = (0, 0);
    while Instant::now() < window {
        let (t, f) = counts();
        peak = (peak.0.max(t), peak.1.max(f));
        thread::sleep(Duration::from_millis(50));
    }
    let st = q.stats();
    println!(
        "tarpit: 50 queued mails, {} failed tries in 14s: threads {base_threads} -> peak {}, \
         fds {base_fds} -> peak {}",
        st.failed_tries, peak.0, peak.1
    );
    assert!(st.failed_tries >= 3, "{st:?}");
    assert!(
        peak.0 <= base_threads + MAX_WORKERS,
        "threads {base_threads} -> peak {}",
        peak.0
    );
    assert!(
        peak.1 <= base_fds + MAX_WORKERS + 2,
        "fds {base_fds} -> peak {}",
        peak.1
    );
    q.shutdown(Instant::now());
    println!("tarpit: done");
}
