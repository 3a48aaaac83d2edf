//! The act side's part in gate conflicts ([`crate::serve::conflict`]): the
//! start-up check of the ports, and each check's conflict episode with its
//! log lines and its one mail.

use std::time::Duration;

use super::{Watch, Watcher};
use crate::serve::conflict::{self, Change};
use crate::serve::ListenError;
use crate::watch::decision::{Mail, MailKind};

impl<W: Watcher> Watch<W> {
    /// This check's gate conflict: the gate could not open because the port
    /// is taken, or (meant closed) something else answers on it. Logs the
    /// closed case's start and either's end; returns the change and, when a
    /// conflict began, who holds the port.
    pub(super) fn watch_conflict(
        &mut self,
        want_open: bool,
        moved: &Result<(), ListenError>,
    ) -> (Change, Option<String>) {
        let name = self.name();
        let bind = self.gate.bind_addr();
        let found = match moved {
            Err(e) => conflict::is_taken(e),
            Ok(()) if !want_open => conflict::answers(bind, Duration::from_secs(1)),
            Ok(()) => false,
        };
        let change = self.conflict.observe(found);
        match change {
            Change::Began => {
                let holder = crate::serve::holder::describe(conflict::reach(bind));
                if !want_open {
                    log::error!(
                        "{name}: gate {bind} is meant to be closed, but another process answers on it ({holder}): \
                         a GSLB sees this port up whatever {name} decides; stop that process, or move [{}] open_port",
                        section(name)
                    );
                }
                (change, Some(holder))
            }
            Change::Ended => {
                log::info!("{name}: gate {bind}: no other process holds or answers on it any more");
                (change, None)
            }
            Change::Same => (change, None),
        }
    }

    /// The mail of a conflict that began (new kind: Gate Conflict).
    pub(super) fn conflict_mail(&self, want_open: bool, holder: &str) -> Mail {
        let name = self.name();
        let bind = self.gate.bind_addr();
        let host = crate::account::this_hostname().unwrap_or_else(|| "localhost".into());
        let what = if want_open {
            format!("{name} cannot open it: the port is {holder}")
        } else {
            format!("{name} keeps it closed, yet another process answers on it ({holder})")
        };
        Mail::new(
            MailKind::GateConflict,
            format!(
                "This is the {host}.<br>Port {} ({bind}) is the gate a GSLB checks, and {what}. \
                 While this lasts, the GSLB sees this host up or down whatever {name} decides. \
                 Stop that process, or move [{}] open_port.",
                bind.port(),
                section(name)
            ),
        )
    }
}

/// The config section of a watcher's own keys.
pub(super) fn section(name: &str) -> &'static str {
    if name == "repmgrwatch" {
        "repmgr"
    } else {
        "pgp"
    }
}

/// At start: the gate's and the API ports' addresses must not be held by
/// another process.
pub(super) fn ports_free<W: Watcher>(watcher: &W) -> Result<(), conflict::Held> {
    let name = watcher.program().name();
    let keys = match section(name) {
        "repmgr" => [
            "[repmgr] open_port",
            "[repmgr] api_port",
            "[repmgr] agent_port",
        ],
        _ => ["[pgp] open_port", "[pgp] api_port", "[pgp] agent_port"],
    };
    conflict::check_free("gate", keys[0], watcher.bind())?;
    let (api, agent) = watcher.api_binds();
    if let Some(a) = api {
        conflict::check_free("api", keys[1], a)?;
    }
    if let Some(a) = agent {
        conflict::check_free("agent", keys[2], a)?;
    }
    Ok(())
}
