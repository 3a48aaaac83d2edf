//! Signal handling for the watchers: SIGTERM and SIGINT ask the loop to
//! close the port and exit, SIGHUP asks it to reload the configuration. The
//! handlers only store into static atomics (the one thing that is safe in a
//! signal handler); the loop polls them (see `watch::runner::Stop`).
//!
//! This is the crate's one use of `sigaction`, hence the small unsafe
//! exception below.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by SIGTERM / SIGINT.
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP; cleared by [`take_reload`].
pub static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work: atomic stores.
    if sig == libc::SIGHUP {
        RELOAD.store(true, Ordering::SeqCst);
    } else {
        STOP.store(true, Ordering::SeqCst);
    }
}

/// Installs the handlers for SIGTERM, SIGINT and SIGHUP.
pub fn install() -> io::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: `action` is fully initialised (zeroed, then mask emptied and
        // handler set) before sigaction reads it; the handler only performs
        // atomic stores, which are async-signal-safe. SA_RESTART keeps
        // blocking calls of other threads from failing with EINTR.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("install handler for signal {sig}: {e}"),
            ));
        }
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Whether SIGHUP arrived since the last call (clears it).
pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test only: the flags are process-wide.
    #[test]
    fn hup_sets_reload_and_term_sets_stop_without_killing_us() {
        install().expect("install handlers");
        assert!(!take_reload());
        // SAFETY: raise() with a valid signal number; our handler is installed.
        assert_eq!(unsafe { libc::raise(libc::SIGHUP) }, 0);
        assert!(take_reload(), "SIGHUP sets the reload flag");
        assert!(!take_reload(), "take_reload clears it");
        assert!(!stop_requested(), "SIGHUP is not a stop");
        // SAFETY: as above.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        assert!(stop_requested(), "SIGTERM sets the stop flag");
        STOP.store(false, Ordering::SeqCst);
    }
}
