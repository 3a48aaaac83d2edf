//! Unit tests of the parent module.

use super::*;
use std::time::{Duration, Instant};

/// A fresh directory on the worktree's disk (not a tmpfs: fsync counts).
fn dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("spool-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn entry(subject: &str, state: Option<&str>) -> Entry {
    Entry {
        class: Class::StatusChange,
        subject: subject.into(),
        success_layout: false,
        report_pending: false,
        state: state.map(str::to_string),
        body: "This is the pgp1.<br>line\n\nwith a blank line inside".into(),
    }
}

#[test]
fn mails_survive_a_reopen_in_order_and_removed_ones_do_not() {
    let d = dir("reopen");
    let (spool, rec) = Spool::open(&d).expect("open");
    assert!(rec.mails.is_empty() && rec.state.is_none());
    let a = spool.add(&entry("A", None)).expect("spooled");
    let b = spool.add(&entry("B", None)).expect("spooled");
    let c = spool.add(&Entry {
        class: Class::Reminder,
        success_layout: true,
        report_pending: true,
        ..entry("C", None)
    });
    assert!(a < b);
    spool.remove(b);
    drop(spool);
    let (_spool, rec) = Spool::open(&d).expect("reopen");
    let got: Vec<(SpoolId, Entry)> = rec.mails;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], (a, entry("A", None)));
    assert_eq!(got[1].0, c.expect("spooled"));
    assert_eq!(got[1].1.class, Class::Reminder);
    assert!(got[1].1.success_layout && got[1].1.report_pending);
    assert_eq!(got[1].1.body, entry("C", None).body);
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn the_newest_gate_state_wins_whether_in_the_state_file_or_a_mail() {
    let d = dir("state");
    let (spool, _) = Spool::open(&d).expect("open");
    assert!(spool.save_state("gate=open"));
    // A crash after the decision's mail, before its state file.
    spool.add(&entry("PGP Down", Some("gate=closed")));
    drop(spool);
    let (spool, rec) = Spool::open(&d).expect("reopen");
    assert_eq!(
        rec.state.as_deref(),
        Some("gate=closed"),
        "the mail is newer"
    );
    assert!(spool.save_state("gate=closed failing=yes"));
    drop(spool);
    let (_spool, rec) = Spool::open(&d).expect("reopen");
    assert_eq!(
        rec.state.as_deref(),
        Some("gate=closed failing=yes"),
        "the state file is newer"
    );
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn a_second_process_or_watcher_cannot_share_the_directory() {
    let d = dir("lock");
    let (_spool, _) = Spool::open(&d).expect("open");
    // flock locks belong to open file descriptions: a second open in this
    // process conflicts as another process's would.
    let e = Spool::open(&d).map(|_| ()).unwrap_err();
    assert!(matches!(e, SpoolError::Locked { .. }), "{e}");
    assert!(e.to_string().contains("used by another process"), "{e}");
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn half_written_files_go_and_unreadable_ones_are_moved_aside() {
    let d = dir("junk");
    fs::create_dir_all(&d).expect("mkdir");
    fs::write(d.join("0000000000000007.mail.tmp"), "half").expect("write");
    fs::write(d.join("0000000000000009.mail"), "garbage").expect("write");
    let (spool, rec) = Spool::open(&d).expect("open");
    assert!(rec.mails.is_empty());
    assert!(!d.join("0000000000000007.mail.tmp").exists());
    assert!(d.join("0000000000000009.mail.bad").exists());
    // Numbering continues past what was there.
    assert!(spool.add(&entry("X", None)).expect("spooled") > SpoolId(9));
    let _ = fs::remove_dir_all(&d);
}

#[test]
fn an_unwritable_spool_is_an_error_not_a_crash() {
    let d = dir("unwritable");
    fs::create_dir_all(d.parent().expect("parent")).expect("mkdir");
    // A file where the directory should be: root cannot write under it either.
    fs::write(&d, "a file").expect("write");
    let e = Spool::open(&d.join("pgpwatch")).map(|_| ()).unwrap_err();
    assert!(e.to_string().starts_with("mail spool "), "{e}");
    let _ = fs::remove_file(&d);
    // The directory vanishes under a running spool: writes fail, no panic.
    let (spool, _) = Spool::open(&d).expect("open");
    fs::remove_dir_all(&d).expect("rm");
    assert_eq!(spool.add(&entry("A", None)), None);
    assert!(!spool.save_state("gate=open"));
    fs::create_dir_all(&d).expect("mkdir again");
    assert!(spool.add(&entry("B", None)).is_some(), "writable again");
    let _ = fs::remove_dir_all(&d);
}

/// The time the spool adds to a transition: its mails (PGP Down and Error)
/// and the gate state, each written and fsync'd with its directory.
#[test]
fn time_a_transition_adds() {
    let d = dir("timing");
    let (spool, _) = Spool::open(&d).expect("open");
    let mut times = Vec::new();
    for _ in 0..20 {
        let st = Some("gate=closed failing=yes");
        let t = Instant::now();
        let ids = spool.add_batch(&[entry("PGP Down", st), entry("Error", st)], st);
        times.push(t.elapsed());
        assert!(ids.iter().all(Option::is_some));
        for id in ids.into_iter().flatten() {
            spool.remove(id);
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "spool: a transition (2 mails + gate state: 3 file fsyncs, 1 directory fsync) takes median {:.2} ms, max {:.2} ms over {} runs",
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        times.len()
    );
    let _ = fs::remove_dir_all(&d);
}
