//! No password reaches any output: conninfo strings of every form holding
//! a marker password (key=value and URI, quoted, escaped, percent-encoded,
//! malformed) go through every output the programs have that is a pure
//! function — poolstatus's text, JSON and Nagios line, the watchers' mail
//! bodies with the report appended, the API's `/status`, `/metrics` and
//! agent replies, the decisions' reasons (logged), errors and `Debug` —
//! and so do command lines and args.txt lines that hold an SMTP password
//! where no option takes it. The outputs are rendered by
//! [`crate::every_output`], which `fuzz/fuzz_targets/secret_leak.rs` calls
//! with random input.

use std::ffi::OsString;

use crate::cluster::ProbeError;
use crate::every_output::{render_args, render_conninfo, Output, SENDMAIL_BASE};
use crate::secret::Secret;

/// The password of every case.
const MARK: &str = "Mk7pwLEAKq9";
/// What no output may hold: a piece of the marker that survives
/// percent-encoding of its first letter.
const CORE: &str = "k7pwLEAK";

/// Conninfo strings that hold [`MARK`] as a password, or where a password
/// may stand (a word libpq would refuse).
pub(super) fn conninfos() -> Vec<String> {
    let m = MARK;
    vec![
        format!("host=db2 port=5433 user=repmgr password={m} dbname=repmgr"),
        format!("host=db2 user=repmgr password='{m} a\\'b' connect_timeout=2"),
        format!("host=db2 password={m}\\ x dbname=repmgr"),
        format!("host=db2 password = '{m}"),
        format!("host=db2 {m}"),
        format!("host=db2 pasword={m}"),
        format!("host=db2 sslpassword={m}"),
        format!("host=db2 port=x password={m}"),
        format!("password={m} host=db2 sslmode=bogus"),
        format!("postgresql://repmgr:{m}@db2:5433/repmgr"),
        format!("postgresql://repmgr:%4D{}@db2/repmgr", &m[1..]),
        format!("postgresql://repmgr:{m}%FF@db2/repmgr"),
        format!("postgresql://repmgr:{m}@x@db2/repmgr"),
        format!("postgresql://repmgr:{m}?x@db2/repmgr"),
        format!("postgresql://repmgr:pa/{m}@db2/repmgr"),
        format!("postgresql://db2/repmgr?password={m}"),
        format!("postgresql://db2/repmgr?password={m}%zz"),
        format!("postgresql://db2/repmgr?sslmode=require&{m}"),
        format!("postgresql://db2/repmgr?{m}%zz=1"),
        format!("postgresql://db2:5433/repmgr?password={m}&port=x"),
        format!("postgres://repmgr:{m}@db2:notaport/repmgr"),
        format!("postgres://repmgr:{m}@[::1/repmgr"),
    ]
}

fn assert_clean(what: &str, case: &str, out: &str) {
    assert!(
        !out.contains(CORE),
        "{what} shows the password of {case:?}:\n{out}"
    );
}

fn assert_none_leaks(outputs: &[Output], case: &str) {
    for o in outputs {
        assert_clean(&o.what, case, &o.text);
    }
}

/// The text of the output named `what`, if it was rendered.
fn output<'a>(outputs: &'a [Output], what: &str) -> Option<&'a str> {
    outputs
        .iter()
        .find(|o| o.what == what)
        .map(|o| o.text.as_str())
}

/// A server's error that quotes the password, as the probes keep it.
fn server_error() -> ProbeError {
    ProbeError::failed(
        "db2",
        5432,
        "connect",
        format!("FATAL: password \"{MARK}\" does not match for user \"repmgr\""),
    )
    .redacted(Some(&Secret::new(MARK)))
}

#[test]
fn no_conninfo_password_reaches_a_report_a_mail_or_the_api() {
    for case in conninfos() {
        let outputs = render_conninfo(&case, &server_error());
        assert_none_leaks(&outputs, &case);
        let text = output(&outputs, "the text report").expect("a text report");
        assert!(text.contains("db2"), "{text}");
        for what in [
            "the JSON report",
            "the Nagios line",
            "the report's reasons",
            "a pgpwatch mail starting healthy",
            "a pgpwatch mail failing",
            "repmgrwatch's reason",
            "/status",
            "/metrics",
            "the agent",
            "the snapshot's Debug",
        ] {
            assert!(output(&outputs, what).is_some(), "{case}: no {what}");
        }
        match output(&outputs, "an endpoint's error") {
            Some(e) => assert!(e.starts_with("node db2's conninfo"), "{e}"),
            None => assert!(output(&outputs, "an endpoint's Debug").is_some(), "{case}"),
        }
    }
}

#[test]
fn no_smtp_password_reaches_an_argument_error() {
    let m = MARK;
    let base = SENDMAIL_BASE;
    let strays = [
        format!("--password {m}"),
        format!("--passwd={m}"),
        format!("--pass word={m}"),
        format!("-p={m}"),
        m.to_string(),
        format!("--password={m} --port=25"),
        format!("--port {m}"),
    ];
    for stray in &strays {
        let outputs = render_args(std::slice::from_ref(stray));
        assert_none_leaks(&outputs, stray);
        assert!(
            output(&outputs, "sendmail's options").is_some()
                || output(&outputs, "sendmail's usage error").is_some(),
            "{stray}: {outputs:?}"
        );
    }
    // An argument that is not UTF-8 is named, not shown.
    {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec([b"--password=", m.as_bytes(), b"\xff"].concat());
        let e = crate::flags::argv::expand([bad.clone()]).expect_err("not UTF-8");
        assert_eq!(
            e.to_string(),
            "argument --password (its value is not shown): not valid UTF-8"
        );
        let e = crate::cli::parse_pgpwatch(vec![bad]).expect_err("not UTF-8");
        assert_clean("a watcher's UTF-8 error", m, &e.to_string());
    }
    // `--password` then a value that starts with '@' (argparse reads it as
    // a file name): the error does not show it.
    {
        let args = [
            OsString::from("--password"),
            OsString::from(format!("@{m}")),
        ];
        let e = crate::flags::argv::expand(args).expect_err("no such file");
        assert!(
            e.to_string().starts_with(
                "the argument after --password starts with '@', so it names an argument file, which cannot be read: "
            ),
            "{e}"
        );
        assert_clean("an @file error", m, &e.to_string());
    }
    // The same lines in args.txt, as the watchers read it for every mail.
    let dir = std::env::temp_dir().join(format!("pgpw-leaks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (i, stray) in strays.iter().enumerate() {
        let file = dir.join(format!("args{i}.txt"));
        let mut text = base.join("\n");
        text.push('\n');
        text.push_str(stray);
        text.push('\n');
        std::fs::write(&file, text).expect("write");
        if let Err(e) = crate::mail::read_args_file(&file) {
            assert_clean("args.txt's error", stray, &e.to_string());
            assert_clean("args.txt's error (Debug)", stray, &format!("{e:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_server_error_never_quotes_the_password_sent() {
    let e = server_error();
    assert!(e.to_string().contains("does not match"), "{e}");
    assert_clean("a probe error", MARK, &e.to_string());
    let smtp = crate::mail::MailError::Auth {
        server: "smtp".into(),
        port: 587,
        answer: format!(
            "535 5.7.8 {} {} {MARK}",
            crate::secret::base64(format!("\0u\0{MARK}").as_bytes()),
            crate::secret::base64(MARK.as_bytes())
        ),
    }
    .redacted("u", &Secret::new(MARK));
    let text = smtp.to_string();
    assert!(
        text.starts_with("smtp smtp:587: authentication failed: 535"),
        "{text}"
    );
    assert!(
        !text.contains(MARK)
            && !text.contains(&crate::secret::base64(MARK.as_bytes()))
            && !text.contains(&crate::secret::base64(format!("\0u\0{MARK}").as_bytes())),
        "{text}"
    );
}
