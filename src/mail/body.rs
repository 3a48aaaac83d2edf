//! The HTML body exactly as sendmail.py assembled it around the caller's
//! body: the local time and, for pgpool's failover script, the Failed Node /
//! New Master paragraph; or the "PGPOOL Success Mail" layout.

use super::{Layout, Message};

/// The body sendmail.py sent for `msg`; `local_now` is Python's
/// `str(datetime.now())` (see [`crate::plumbing::localtime`]). `msg.body`
/// is HTML (sendmail's `--body` is, and the watchers escape what they put
/// in theirs); the failover paragraph's node names are escaped here.
pub fn compose_body(msg: &Message, local_now: &str) -> String {
    if msg.layout == Layout::Success {
        return format!("<b>PGPOOL Success Mail</b> - {local_now}<br>{}", msg.body);
    }
    let mut body = format!("{}<p>{local_now}</p>", msg.body);
    if let Some(f) = &msg.failover {
        body.push_str(&format!(
            "<p>Failed Node: {}<br>New Master: {}<br></p>",
            html_escape(&f.failed_node),
            html_escape(&f.new_master)
        ));
    }
    body
}

/// `text` as HTML text: `&`, `<` and `>` escaped, so a node name, a
/// server's message or a report line arrives as the text it is (`<img
/// src=x>` shows as such, loads nothing).
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! What a peer names (a node, a server's message) arrives as text in
    //! every mail body: the report appended to pgpwatch's mails, the
    //! reasons of repmgrwatch's, sendmail's failover paragraph.
    use super::*;
    use crate::cluster::repmgr::MastersError;
    use crate::cluster::text;
    use crate::cluster::{ProbeError, TextRow};
    use crate::watch::repmgr::{RepmgrObservation, RepmgrRules, RepmgrState};

    const TAG: &str = "<img src=x>";

    fn assert_text(what: &str, body: &str) {
        assert!(
            !body.contains("<img") && body.contains("&lt;img src=x&gt;"),
            "{what}: {body}"
        );
    }

    #[test]
    fn a_node_name_with_markup_arrives_as_text() {
        // pgpwatch: the report, appended as the act side does.
        let row = |id: &str, name: &str, kind: &str| -> TextRow {
            [
                ("node_id", id),
                ("node_name", name),
                ("type", kind),
                ("conninfo", "host=db9"),
                ("active", "t"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        };
        let nodes = text::repmgr_nodes(&[row("1", TAG, "primary")]).expect("rows");
        let report = crate::poolstatus::Report {
            generated_at: std::time::SystemTime::UNIX_EPOCH,
            pgpool: "pgp1:5432".into(),
            pool_nodes: Err(crate::poolstatus::ReportError::NoHostKnown),
            nodes: Vec::new(),
            repmgr: Ok(crate::poolstatus::RepmgrMeta {
                source: "db9:5432".into(),
                schema: text::RepmgrSchema::V4,
                nodes,
                events: Ok((0, 0)),
                last_event: None,
            }),
            disk_path: "/".into(),
        };
        assert!(report.render_text().contains(TAG));
        let body = crate::watch::mailside::append_report("fine.<br><br>", &report.render_text());
        let msg = Message::new("S", body, Layout::Success);
        assert_text("pgpwatch's Status OK", &compose_body(&msg, "now"));

        // pgpwatch's Error mail: the server's message.
        let rules = crate::watch::pgp::PgpRules {
            rise: 1,
            fall: 1,
            success_period: 1,
            mail_on_success: false,
            sendmail: true,
            hostname: "pgp1".into(),
            open_port: 5559,
            dry_run: false,
        };
        let why = ProbeError::failed("pgp1", 5432, "connect", format!("FATAL: no {TAG}"));
        let obs = crate::watch::pgp::PgpObservation::Unhealthy(
            crate::cluster::pgpool::PgpoolError::Probe(why.clone()),
        );
        let (_, d) = crate::watch::pgp::decide(&Default::default(), &obs, &rules);
        let error = d.mails.iter().find(|m| m.with_report).expect("Error mail");
        assert_text("pgpwatch's Error", &error.body);

        // repmgrwatch: the reason names the masters and the error.
        let rrules = RepmgrRules {
            node_name: "db1".into(),
            force_open: false,
            single_pgpool: false,
            rise: 1,
            fall: 1,
            sendmail: true,
            hostname: "db1".into(),
            open_port: 5559,
            dry_run: false,
        };
        let open = RepmgrState {
            port_open: true,
            ..RepmgrState::default()
        };
        for masters in [
            Ok(vec!["db1".to_string(), TAG.to_string()]),
            Err(MastersError::Read(why)),
        ] {
            let obs = RepmgrObservation {
                masters,
                pgpools_up: (false, false),
                pgpools_unknown: (None, None),
                startup_grace_left: std::time::Duration::ZERO,
                stale_primaries: Vec::new(),
            };
            let (_, d) = crate::watch::repmgr::decide(&open, &obs, &rrules);
            assert!(!d.mails.is_empty());
            for m in &d.mails {
                assert_text("a repmgrwatch mail", &m.body);
            }
        }

        // sendmail's failover paragraph (pgpool's failover script).
        let mut msg = Message::new("S", "<b>body</b>", Layout::Normal);
        msg.failover = Some(crate::mail::Failover {
            failed_node: TAG.into(),
            new_master: "db2 & co".into(),
        });
        let body = compose_body(&msg, "now");
        assert!(body.starts_with("<b>body</b>"), "the body is HTML: {body}");
        assert_text("sendmail's failover paragraph", &body);
        assert!(body.contains("New Master: db2 &amp; co<br>"), "{body}");
    }
}
