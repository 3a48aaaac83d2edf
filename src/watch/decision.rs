//! What a decision asks for: the port position, the mails (of the
//! original's fixed kinds and subjects) and the one-sentence reason. The
//! pure `decide` functions of [`super::pgp`] and [`super::repmgr`] return a
//! [`Decision`]; the act side ([`super::act`]) carries it out.

/// Which of the original's mails this is; the subject is fixed per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// pgpwatch: the port opened after the pgpool came back.
    PgpUp,
    /// pgpwatch: the port closed because the pgpool failed.
    PgpDown,
    /// pgpwatch: a failed check (once per failure episode, then reminders).
    PgpError,
    /// pgpwatch: the periodic "all fine" mail (`mail_on_success`).
    PgpStatusOk,
    /// repmgrwatch: the list of masters could not be read.
    RepmgrCouldntGetMasters,
    /// repmgrwatch: more than one node claims to be master (split brain).
    RepmgrMultipleMasters,
    /// repmgrwatch: this master opened its port because no pgpool answers.
    RepmgrUpBad,
    /// repmgrwatch: this master opened its port because of force_open.
    RepmgrUpForceopen,
    /// repmgrwatch: this master closed its port because a pgpool is back.
    RepmgrDownGood,
    /// repmgrwatch: this node is no longer the master and closed its port.
    RepmgrSlaveSteppingDown,
    /// Either watcher (new): another process answers on the gate's port.
    GateConflict,
    /// repmgrwatch (new): a pgpool's name cannot be resolved, so whether
    /// the master may open is unknown; the port is kept as it is.
    RepmgrPgpoolUnknown,
}

impl MailKind {
    /// The subject line, exactly as the original sent it.
    pub fn subject(self) -> &'static str {
        match self {
            MailKind::PgpUp => "PGPWATCH - Status Change - PGP Up",
            MailKind::PgpDown => "PGPWATCH - Status Change - PGP Down",
            MailKind::PgpError => "PGPWATCH - Error",
            MailKind::PgpStatusOk => "PGPWATCH - Status OK",
            MailKind::RepmgrCouldntGetMasters => "PGPWATCH - Repmgr - Couldn't Get Masters",
            MailKind::RepmgrMultipleMasters => "PGPWATCH - Repmgr - Multiple Masters",
            MailKind::RepmgrUpBad => "PGPWATCH - Repmgr - UP (This is bad)",
            MailKind::RepmgrUpForceopen => "PGPWATCH - Repmgr - Up (Forceopen)",
            MailKind::RepmgrDownGood => "PGPWATCH - Repmgr - Down (This is good)",
            MailKind::RepmgrSlaveSteppingDown => {
                "PGPWATCH - Repmgr - Slave Stepping Down (This is good)"
            }
            MailKind::GateConflict => "PGPWATCH - Gate Conflict",
            MailKind::RepmgrPgpoolUnknown => "PGPWATCH - Repmgr - Pgpool Unknown",
        }
    }

    /// What a full mail queue may drop first: pgpwatch's Error reminders
    /// and Status OK mails; every other kind reports a change.
    pub fn class(self) -> crate::mailqueue::Class {
        match self {
            MailKind::PgpError | MailKind::PgpStatusOk => crate::mailqueue::Class::Reminder,
            _ => crate::mailqueue::Class::StatusChange,
        }
    }

    /// A short stable name for logs and the gate's JSON.
    pub fn name(self) -> &'static str {
        match self {
            MailKind::PgpUp => "pgp_up",
            MailKind::PgpDown => "pgp_down",
            MailKind::PgpError => "pgp_error",
            MailKind::PgpStatusOk => "pgp_status_ok",
            MailKind::RepmgrCouldntGetMasters => "repmgr_couldnt_get_masters",
            MailKind::RepmgrMultipleMasters => "repmgr_multiple_masters",
            MailKind::RepmgrUpBad => "repmgr_up_bad",
            MailKind::RepmgrUpForceopen => "repmgr_up_forceopen",
            MailKind::RepmgrDownGood => "repmgr_down_good",
            MailKind::RepmgrSlaveSteppingDown => "repmgr_slave_stepping_down",
            MailKind::GateConflict => "gate_conflict",
            MailKind::RepmgrPgpoolUnknown => "repmgr_pgpool_unknown",
        }
    }
}

/// One mail a decision asks for; the body is HTML as the original's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub subject: String,
    pub body: String,
    /// The poolstatus report is appended right after the gate moved (so it
    /// shows the cluster at the failure, and never delays the port).
    pub with_report: bool,
}

impl Mail {
    /// A mail of `kind` with its fixed subject.
    pub fn new(kind: MailKind, body: String) -> Mail {
        Mail {
            kind,
            subject: kind.subject().to_string(),
            body,
            with_report: false,
        }
    }

    /// The same mail, with the poolstatus report to be appended when sent.
    pub fn with_report(mut self) -> Mail {
        self.with_report = true;
        self
    }
}

/// What a decision asks the runner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Where the port must be after this check.
    pub port_open: bool,
    /// Mails to queue (empty when `[general] sendmail` is off).
    pub mails: Vec<Mail>,
    /// One sentence saying why, for the log and the gate's JSON.
    pub reason: String,
    /// An alarm starts at this check (a split brain): the reason is logged
    /// at WARN rather than INFO.
    pub warn: bool,
}

/// The value of `key` in a state record line (`gate=open failing=no`),
/// the form the decisions persist across restarts.
pub fn record_field<'a>(record: &'a str, key: &str) -> Option<&'a str> {
    record
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The `gate=open|closed` of a state record line.
pub fn record_gate(record: &str) -> Option<bool> {
    match record_field(record, "gate")? {
        "open" => Some(true),
        "closed" => Some(false),
        _ => None,
    }
}

/// Text (a report, an error) as the original put it in mails: every line
/// break becomes `<br>`; and escaped, so what a peer said (a node name, a
/// server's message) arrives as text, never as markup.
pub fn html_lines(report: &str) -> String {
    crate::mail::html_escape(report)
        .replace("\r\n", "\n")
        .replace('\n', "<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_lines_turns_every_newline_into_br() {
        assert_eq!(html_lines("a\nb\r\nc"), "a<br>b<br>c");
        assert_eq!(html_lines(""), "");
        assert_eq!(
            html_lines("node <img src=x> & co\nok"),
            "node &lt;img src=x&gt; &amp; co<br>ok"
        );
    }
}
