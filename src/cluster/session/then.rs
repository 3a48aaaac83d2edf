//! One session that answers in two stages: [`with_session_then`].

use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{connect_now, named_and_redacted, Endpoint, PendingSlot, ProbeError, Session, TextRow};
use crate::plumbing::deadline::{run_detached, WithinError};
use crate::plumbing::net::host_port;

/// The follow-up query's answer: its rows, or why there are none.
pub type FollowUp = Result<Vec<TextRow>, ProbeError>;

/// Connects to `ep` and runs `work` on the session within `timeout`, as
/// [`super::with_session`] does; `work` may also name one more query for
/// the same session (`Some(sql)`), whose rows come within a `timeout` of
/// their own, counted from `work`'s answer. A follow-up that hangs
/// (pgpool's `SHOW pool_nodes` waiting for a backend behind a partition)
/// never costs `work`'s answer, and when all goes well the two cost one
/// session, one hand-off to a worker and one wake-up of the caller.
pub fn with_session_then<T, F>(
    ep: &Endpoint,
    timeout: Duration,
    work: F,
) -> Result<(T, Option<FollowUp>), ProbeError>
where
    T: Send + 'static,
    F: FnOnce(&mut Session) -> Result<(T, Option<&'static str>), ProbeError> + Send + 'static,
{
    let ep = ep.clone();
    let secret = ep.password.clone();
    let (host, port) = (ep.host.clone(), ep.port);
    let slot = PendingSlot::take(&host, port).ok_or_else(|| ProbeError::Busy {
        host: host.clone(),
        port,
    })?;
    // The step named on time-out is the last one the worker started.
    let step = Arc::new(Mutex::new(String::from("connect")));
    let step_w = step.clone();
    let (first_tx, first_rx) = mpsc::channel();
    let (then_tx, then_rx) = mpsc::channel();
    run_detached(&format!("probe {}", host_port(&host, port)), move || {
        let _slot = slot;
        let answered = connect_now(&ep, timeout).and_then(|client| {
            let mut s = Session {
                client,
                host: ep.host.clone(),
                port: ep.port,
                step: step_w,
            };
            work(&mut s).map(|(t, next)| (t, next, s))
        });
        match answered {
            Err(e) => {
                let _ = first_tx.send((Err(e), Instant::now()));
            }
            Ok((t, next, mut s)) => {
                let _ = first_tx.send((Ok((t, next.is_some())), Instant::now()));
                if let Some(sql) = next {
                    let _ = then_tx.send(s.rows(sql));
                }
            }
        }
    })
    .map_err(|e| ProbeError::failed(&host, port, "connect", e.to_string()))?;

    let timed_out = || ProbeError::Timeout {
        host: host.clone(),
        port,
        step: step.lock().map(|s| s.clone()).unwrap_or_default(),
        after: timeout,
    };
    let panicked =
        |step: &str| ProbeError::failed(&host, port, step, WithinError::Panicked.to_string());
    // Wait for the end (the follow-up's answer, or the worker done): the
    // first answer is then already there. Only a slow follow-up makes the
    // caller wait a second time.
    let mut then = then_rx.recv_timeout(timeout);
    let (first, answered_at) = match first_rx.try_recv() {
        Ok(v) => v,
        Err(TryRecvError::Empty) => return Err(timed_out()),
        Err(TryRecvError::Disconnected) => return Err(panicked("connect")),
    };
    let (t, asked) = named_and_redacted(first, &step, secret.as_ref())?;
    if !asked {
        return Ok((t, None));
    }
    if let Err(RecvTimeoutError::Timeout) = then {
        let left = (answered_at + timeout).saturating_duration_since(Instant::now());
        then = then_rx.recv_timeout(left);
    }
    let follow = match then {
        Ok(rows) => named_and_redacted(rows, &step, secret.as_ref()),
        Err(RecvTimeoutError::Timeout) => Err(timed_out()),
        Err(RecvTimeoutError::Disconnected) => Err(panicked("query")),
    };
    Ok((t, Some(follow)))
}
