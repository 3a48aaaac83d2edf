//! The queue's sending thread: takes the head mail when due, sends it
//! outside the lock, and retries, gives up or keeps it (spooled) as the
//! parent module's docs say.

use std::time::Instant;

use super::{QueueConfig, SendFailure, Shared};

pub(super) fn sender<M, F, E>(shared: &Shared<M>, config: QueueConfig, mut send: F)
where
    F: FnMut(&M) -> Result<(), E>,
    E: SendFailure,
{
    let mut st = shared.lock();
    loop {
        if st.stopping {
            return;
        }
        let now = Instant::now();
        let due = st.items.front().map(|it| it.next_try);
        match due {
            None => {
                st = match shared.cv.wait(st) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                continue;
            }
            Some(t) if t > now => {
                st = match shared.cv.wait_timeout(st, t - now) {
                    Ok((g, _)) => g,
                    Err(p) => p.into_inner().0,
                };
                continue;
            }
            Some(_) => {}
        }
        // Send the head outside the lock.
        st.in_flight = true;
        let Some(head) = st.items.pop_front() else {
            st.in_flight = false;
            continue;
        };
        drop(st);
        let result = send(&head.mail);
        st = shared.lock();
        st.in_flight = false;
        let mut head = head;
        head.tries += 1;
        match result {
            Ok(()) => {
                st.stats.sent += 1;
                shared.unspool(head.spooled);
                if head.tries > 1 {
                    log::info!("mail \"{}\" sent at try {}", head.label, head.tries);
                } else {
                    log::info!("mail \"{}\" sent", head.label);
                }
            }
            Err(e) => {
                st.stats.failed_tries += 1;
                if let (Some(spool), Some(_)) = (&shared.spool, head.spooled) {
                    if head.tries >= config.attempts || e.is_permanent() {
                        // Kept: retried quietly while the process lives.
                        if !head.parked {
                            head.parked = true;
                            let kept = format!(
                                "kept in the spool {}, tried again every {:.0}s and at the next start",
                                spool.dir().display(),
                                config.max_backoff.as_secs_f64()
                            );
                            if e.is_permanent() {
                                st.stats.permanent += 1;
                                log::error!(
                                    "mail \"{}\" not sent: {e}; not retried now (fix this first; later mails will fail the same way); {kept}",
                                    head.label
                                );
                            } else {
                                st.stats.given_up += 1;
                                log::error!(
                                    "mail \"{}\": try {} of {} failed: {e}; {kept}",
                                    head.label,
                                    head.tries,
                                    config.attempts
                                );
                            }
                        } else {
                            log::debug!("mail \"{}\": try {} failed: {e}", head.label, head.tries);
                        }
                        head.next_try = Instant::now() + config.max_backoff;
                        st.items.push_front(head);
                        shared.cv.notify_all();
                        continue;
                    }
                }
                if e.is_permanent() {
                    st.stats.permanent += 1;
                    log::error!(
                        "mail \"{}\" not sent: {e}; not retried (fix this first; later mails will fail the same way)",
                        head.label
                    );
                } else if head.tries >= config.attempts {
                    st.stats.given_up += 1;
                    log::error!(
                        "mail \"{}\": try {} of {} failed: {e}; giving up",
                        head.label,
                        head.tries,
                        config.attempts
                    );
                } else {
                    let wait = config.backoff(head.tries);
                    log::warn!(
                        "mail \"{}\": try {} of {} failed: {e}; retrying in {:.1}s",
                        head.label,
                        head.tries,
                        config.attempts,
                        wait.as_secs_f64()
                    );
                    head.next_try = Instant::now() + wait;
                    st.items.push_front(head);
                }
            }
        }
        shared.cv.notify_all();
    }
}
