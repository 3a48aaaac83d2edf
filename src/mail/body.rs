//! The HTML body exactly as sendmail.py assembled it around the caller's
//! body: the local time and, for pgpool's failover script, the Failed Node /
//! New Master paragraph; or the "PGPOOL Success Mail" layout.

use super::{Layout, Message};

/// The body sendmail.py sent for `msg`; `local_now` is Python's
/// `str(datetime.now())` (see [`crate::plumbing::localtime`]).
pub fn compose_body(msg: &Message, local_now: &str) -> String {
    if msg.layout == Layout::Success {
        return format!("<b>PGPOOL Success Mail</b> - {local_now}<br>{}", msg.body);
    }
    let mut body = format!("{}<p>{local_now}</p>", msg.body);
    if let Some(f) = &msg.failover {
        body.push_str(&format!(
            "<p>Failed Node: {}<br>New Master: {}<br></p>",
            f.failed_node, f.new_master
        ));
    }
    body
}
