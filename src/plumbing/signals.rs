//! Signal handling for the watchers: SIGTERM and SIGINT ask the loop to
//! close the port and exit, SIGHUP asks it to reload the configuration. The
//! handlers only store into static atomics (the one thing that is safe in a
//! signal handler); the loop polls them (see `watch::runner::Stop`).
//!
//! The `sigaction` call itself is in [`crate::plumbing::os`], the one unsafe module.
#![forbid(unsafe_code)]

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
        crate::plumbing::os::install_signal_handler(sig, on_signal).map_err(|e| {
            io::Error::new(e.kind(), format!("install handler for signal {sig}: {e}"))
        })?;
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT arrived.
#[cfg(test)]
fn stop_requested() -> bool {
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
        crate::plumbing::os::raise(libc::SIGHUP).expect("raise SIGHUP");
        assert!(take_reload(), "SIGHUP sets the reload flag");
        assert!(!take_reload(), "take_reload clears it");
        assert!(!stop_requested(), "SIGHUP is not a stop");
        crate::plumbing::os::raise(libc::SIGTERM).expect("raise SIGTERM");
        assert!(stop_requested(), "SIGTERM sets the stop flag");
        STOP.store(false, Ordering::SeqCst);
    }
}
