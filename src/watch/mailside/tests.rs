//! Unit tests of the parent module.

use super::*;
use crate::mailqueue::MailQueue;
use std::sync::mpsc;
use std::time::SystemTime;

#[test]
fn watcher_mails_never_carry_args_txt_failed_node_and_new_master() {
    let dir = std::env::temp_dir().join(format!("pgpoolwatch-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let args = dir.join("args.txt");
    std::fs::write(
        &args,
        "--user=u\n--password=p\n--server=127.0.0.1\n--sender=s@x\n--receivers=a@x\n--failed-node=db1\n--new-master=db2\n",
    )
    .expect("write args.txt");
    let m = Mail::new(MailKind::RepmgrUpBad, "body".into());
    let file = crate::mail::read_args_file(&args).expect("options");
    let _ = std::fs::remove_dir_all(&dir);
    // What send_watcher_mail delivers: args.txt's settings, no failover.
    let sent = file.message_for(&mail_message(&m));
    assert_eq!(sent.failover, None, "failed_node and new_master are none");
    let body = crate::mail::compose_body(&sent, "2026-12-01 10:00:00");
    assert!(!body.contains("Failed Node"), "{body}");
    assert!(body.starts_with("body"), "{body}");
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn report_is_appended_as_html_after_the_body() {
    let port = closed_port();
    let target = Target {
        pgpool_host: "127.0.0.1".into(),
        pgpool_port: port,
        connect_timeout: Duration::from_secs(1),
        ..Target::default()
    };
    let report = crate::poolstatus::run(&target, SystemTime::now()).render_text();
    let ok = append_report("fine.<br><br>", &report);
    assert!(
        ok.starts_with("fine.<br><br>Output of: show pool_nodes<br>"),
        "{ok}"
    );
    assert!(ok.contains(&format!("127.0.0.1:{port}")), "{ok}");
    assert!(!ok.contains('\n'), "newlines become <br>: {ok}");
    let err = append_report("<b>failed!</b><br><br>connect refused", &report);
    assert!(
        err.starts_with("<b>failed!</b><br><br>connect refused<br><br>Output of:"),
        "{err}"
    );
}

#[test]
fn the_report_worker_keeps_order_and_never_blocks_the_caller() {
    // The pgpool of the report is a listener that never answers: each
    // report takes its connect_timeout.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hang.local_addr().expect("addr").port();
    let target = Target {
        pgpool_host: "127.0.0.1".into(),
        pgpool_port: port,
        connect_timeout: Duration::from_millis(700),
        ..Target::default()
    };
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let queue = MailQueue::start(QueueConfig::default(), move |m: &Message| {
        tx.lock()
            .map_err(|_| "poisoned".to_string())?
            .send((m.subject.clone(), m.body.clone()))
            .map_err(|e| e.to_string())
    })
    .expect("mail thread");
    let mut side = MailSide::with_queue("pgpwatch", queue, Some(target));
    let down = Mail::new(MailKind::PgpDown, "down".into());
    let error = Mail::new(MailKind::PgpError, "failed!<br><br>why".into()).with_report();
    let up = Mail::new(MailKind::PgpUp, "up".into());
    let t = Instant::now();
    side.send(&[down, error], None);
    side.send(&[up], None);
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "send waited for the report: {:?}",
        t.elapsed()
    );
    let got: Vec<(String, String)> = (0..3)
        .map(|_| rx.recv_timeout(Duration::from_secs(20)).expect("mail"))
        .collect();
    let subjects: Vec<&str> = got.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        vec![
            "PGPWATCH - Status Change - PGP Down",
            "PGPWATCH - Error",
            "PGPWATCH - Status Change - PGP Up"
        ],
        "order kept"
    );
    assert!(
        got[1]
            .1
            .starts_with("failed!<br><br>why<br><br>Output of: show pool_nodes<br>"),
        "{}",
        got[1].1
    );
    assert_eq!(got[0].1, "down", "no report on PGP Down");
    assert_eq!(side.finish(Instant::now() + Duration::from_secs(5)), 0);
    drop(hang);
}
