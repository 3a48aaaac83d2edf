//! The few operating-system calls std does not offer, behind safe wrappers:
//! the descriptor limit (`getrlimit`/`setrlimit` of `RLIMIT_NOFILE`),
//! `poll(2)` over a set of descriptors, which the gate uses to watch
//! thousands of pending connections without reading each one in a loop, the
//! listen backlog, which std fixes at 128, signal handlers (`sigaction`),
//! the C library's local time (`tzset`/`localtime_r`, the only way to
//! the system's zone rules), and the calls that end a stuck SMTP session
//! from outside its thread (`gettid`, `getpeername`, `shutdown` of a
//! socket the mail code does not hold; see [`crate::mail::worker`]).
//!
//! This is the crate's one module of raw libc calls, hence the small unsafe
//! exception below (a test in `tests/it/layout.rs` keeps it the only one).
//! Every wrapper passes only values it owns (a local `rlimit`, `sigaction`
//! or `tm`, a slice it borrows mutably for the call) and turns a failure
//! into an `io::Error` or `None`; none of them can touch memory of the caller.
#![allow(unsafe_code)]

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// The descriptor limit of this process (`RLIMIT_NOFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// The limit in force: `open`, `socket`, `accept` fail with EMFILE at it.
    pub soft: u64,
    /// The ceiling an unprivileged process may raise `soft` to.
    pub hard: u64,
}

/// The current descriptor limit.
pub fn nofile_limit() -> io::Result<NofileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the local we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NofileLimit {
        soft: lim.rlim_cur,
        hard: lim.rlim_max,
    })
}

/// Sets the soft descriptor limit to `soft`, keeping the hard one. It does
/// not allocate, so it may run between `fork` and `exec` (a test's
/// `pre_exec`).
pub fn set_nofile_soft(soft: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as in `nofile_limit`.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    lim.rlim_cur = soft;
    // SAFETY: setrlimit only reads the local `rlimit` we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one (Linux caps a process at
/// `/proc/sys/fs/nr_open`, so an unlimited hard limit is raised to that).
/// Returns the limit before and after; after equals before when the soft
/// limit already was the hard one.
pub fn raise_nofile_limit() -> io::Result<(NofileLimit, NofileLimit)> {
    let before = nofile_limit()?;
    let mut target = before.hard;
    if target == libc::RLIM_INFINITY {
        target = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
    }
    if before.soft >= target {
        return Ok((before, before));
    }
    set_nofile_soft(target)?;
    Ok((before, nofile_limit()?))
}

/// Sets the accept-queue length of a listening socket to `backlog`
/// (std listens with 128). Linux applies a second `listen` to a socket that
/// already listens as a change of its backlog, capped at
/// `/proc/sys/net/core/somaxconn`.
pub fn set_listen_backlog(listener: &TcpListener, backlog: u16) -> io::Result<()> {
    // SAFETY: listen only takes a descriptor, which `listener` owns and
    // keeps open for the call, and an int.
    if unsafe { libc::listen(listener.as_raw_fd(), libc::c_int::from(backlog)) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One entry of a [`poll`] set. An entry with a negative descriptor is
/// skipped by the kernel (its `revents` stay 0), which is how a caller
/// leaves one out for a while without reshuffling the set.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct PollFd(libc::pollfd);

impl PollFd {
    /// Watch `fd` for input (data, a new connection, end of stream).
    pub fn readable(fd: RawFd) -> PollFd {
        PollFd(libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
    }

    /// An entry the kernel ignores.
    pub fn ignored() -> PollFd {
        PollFd(libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        })
    }

    /// Whether the last [`poll`] reported anything for this entry: input,
    /// hang-up, an error or an invalid descriptor (each means "look at it").
    pub fn ready(&self) -> bool {
        self.0.revents != 0
    }
}

/// Waits until an entry of `fds` is ready or `timeout` passes (`None`: no
/// timeout; it is rounded up to whole milliseconds, so a deadline in 0.3 ms
/// does not turn into a busy loop). Returns how many entries are ready. An
/// interruption by a signal is reported as zero ready entries.
///
/// poll(2) cannot harm memory whatever the descriptors are (a closed one is
/// reported as POLLNVAL), so this wrapper is safe for any `RawFd`.
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let ms: libc::c_int = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    let n = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "poll: too many descriptors"))?;
    // SAFETY: `PollFd` is `repr(transparent)` over `libc::pollfd`, so the
    // slice is `n` valid pollfd structs that poll may write `revents` of,
    // and it is borrowed mutably for the whole call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr().cast::<libc::pollfd>(), n, ms) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(usize::try_from(rc).unwrap_or(0))
}

/// Installs `handler` for signal `sig` with `SA_RESTART` (blocking calls of
/// other threads do not fail with EINTR). The handler must be
/// async-signal-safe (ours only store atomics).
pub fn install_signal_handler(
    sig: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<()> {
    // SAFETY: `action` is fully initialised (zeroed, then mask emptied and
    // handler set) before sigaction reads it; no pointer escapes.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        libc::sigemptyset(&mut action.sa_mask);
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigaction(sig, &action, std::ptr::null_mut())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `sig` to this process (tests of the handlers).
pub fn raise(sig: libc::c_int) -> io::Result<()> {
    // SAFETY: raise() takes a signal number and touches no memory of ours.
    if unsafe { libc::raise(sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's id of the calling thread (`gettid(2)`), which names its
/// directory under `/proc/self/task`.
pub fn thread_id() -> i32 {
    // SAFETY: gettid takes no argument and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    i32::try_from(tid).unwrap_or(0)
}

/// The address the socket `fd` is connected to (`getpeername(2)`), or
/// `None` when `fd` is no connected IPv4/IPv6 socket.
///
/// Safe for any `RawFd`: the kernel writes at most `len` bytes into the
/// local `sockaddr_storage` and fails cleanly for a closed descriptor or
/// one that is not a socket.
pub fn socket_peer(fd: RawFd) -> Option<std::net::SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_storage>()).ok()?;
    // SAFETY: `ss` is ours and `len` says how large it is.
    let rc = unsafe {
        libc::getpeername(
            fd,
            (&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr>(),
            &mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which
            // is smaller than sockaddr_storage and needs no more alignment.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Shuts the socket `fd` down both ways (`shutdown(2)`, `SHUT_RDWR`)
/// without closing the descriptor: a thread blocked reading or writing it
/// returns at once (end of stream or `EPIPE`), and its owner closes it as
/// usual. Memory-safe for any `RawFd`; the caller must make sure `fd` is
/// the socket it means (the mail worker checks [`socket_peer`] first).
pub fn shutdown_socket(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes a descriptor and a flag and touches no memory.
    if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes an exclusive advisory lock on `file` (`flock(2)`, `LOCK_EX |
/// LOCK_NB`): `Ok(false)` when another open file description holds it
/// (another process using the same spool). The lock lasts while `file` is
/// open.
pub fn try_lock_exclusive(file: &std::fs::File) -> io::Result<bool> {
    // SAFETY: flock takes a descriptor that `file` keeps open for the call,
    // and a flag; it touches no memory.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        return Ok(false);
    }
    Err(e)
}

/// Whether this process may create files in directory `dir`
/// (`access(2)` with `W_OK | X_OK`, which also sees a read-only file
/// system); false for a path that cannot be passed to the kernel.
pub fn dir_writable(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated string that outlives the call;
    // access only reads it.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Whether `addr` can be bound now, tried without listening: a socket
/// with `SO_REUSEADDR` (as std's listeners have) is bound and closed, so no
/// connection is ever accepted by the probe. `Err` is bind's error:
/// `AddrInUse` while another socket listens on that address and port.
pub fn bind_probe(addr: std::net::SocketAddr) -> io::Result<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let (family, len) = match addr {
        std::net::SocketAddr::V4(a) => {
            // SAFETY: as above, for sockaddr_in.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is
            // aligned for every socket address type.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            (libc::AF_INET, std::mem::size_of::<libc::sockaddr_in>())
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            (libc::AF_INET6, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    // SAFETY: socket takes three ints and returns a new descriptor or -1.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns; OwnedFd closes it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from `one`, which outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            owned.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: bind reads `len` bytes of `ss`, which we initialised above.
    let rc = unsafe {
        libc::bind(
            owned.as_raw_fd(),
            (&ss as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

extern "C" {
    // In glibc and musl alike; the `libc` crate does not declare it.
    fn tzset();
}

/// Local broken-down time of `t` seconds since the epoch, as the C library
/// sees the zone (`TZ`, `/etc/localtime`): (year - 1900, month 0..11, day,
/// hour, minute, second 0..60), or `None` when it cannot say.
pub fn localtime(t: i64) -> Option<(i32, i32, i32, i32, i32, i32)> {
    let t = libc::time_t::try_from(t).ok()?;
    // SAFETY: tzset only (re)reads TZ into the C library's own state.
    // localtime_r writes into the zeroed `tm` we own and returns either a
    // pointer to it or null; no pointer outlives this function.
    let tm = unsafe {
        tzset();
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some((
        tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    #[test]
    fn limit_reads_and_raise_reaches_the_hard_limit() {
        let now = nofile_limit().expect("getrlimit");
        assert!(now.soft <= now.hard, "{now:?}");
        let (before, after) = raise_nofile_limit().expect("raise to the hard limit");
        assert_eq!(before, now);
        assert_eq!(after.hard, now.hard, "the hard limit is kept");
        if now.hard != libc::RLIM_INFINITY {
            assert_eq!(after.soft, now.hard, "soft raised to hard: {after:?}");
        }
    }

    #[test]
    fn socket_peer_names_the_server_and_shutdown_ends_a_blocked_read() {
        use std::io::Read;
        use std::net::{TcpListener, TcpStream};
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let mut c = TcpStream::connect(addr).expect("connect");
        let (_s, _) = l.accept().expect("accept");
        assert_eq!(socket_peer(c.as_raw_fd()), Some(addr));
        assert_eq!(socket_peer(l.as_raw_fd()), None, "a listener has no peer");
        assert_eq!(socket_peer(-1), None);
        let fd = c.as_raw_fd();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            shutdown_socket(fd)
        });
        let mut buf = [0u8; 8];
        let n = c.read(&mut buf).expect("read ends");
        assert_eq!(n, 0, "end of stream after shutdown");
        t.join().expect("join").expect("shutdown");
        assert!(thread_id() > 0);
    }

    #[test]
    fn bind_probe_sees_a_listener_and_never_listens_itself() {
        use std::net::{TcpListener, TcpStream};
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let e = bind_probe(addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        // Held on the wildcard address: a specific one conflicts too.
        let any = TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = any.local_addr().expect("addr").port();
        let e = bind_probe(std::net::SocketAddr::from(([127, 0, 0, 1], port))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        drop(l);
        bind_probe(addr).expect("free again");
        assert!(
            TcpStream::connect(addr).is_err(),
            "the probe never listened"
        );
        bind_probe("[::1]:0".parse().expect("v6")).ok();
    }

    #[test]
    fn poll_reports_the_ready_entry_and_times_out() {
        let (mut a, b) = UnixStream::pair().expect("socketpair");
        let (_c, d) = UnixStream::pair().expect("socketpair");
        let mut fds = [
            PollFd::readable(b.as_raw_fd()),
            PollFd::ignored(),
            PollFd::readable(d.as_raw_fd()),
        ];
        let start = Instant::now();
        let n = poll(&mut fds, Some(Duration::from_millis(30))).expect("poll");
        assert_eq!(n, 0, "nothing written yet");
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "timed out early"
        );
        a.write_all(b"x").expect("write");
        let n = poll(&mut fds, Some(Duration::from_secs(5))).expect("poll");
        assert_eq!(n, 1);
        assert!(fds[0].ready() && !fds[1].ready() && !fds[2].ready());
    }
}
