//! sendmail against a real SMTP server (STARTTLS or implicit TLS, AUTH): what
//! arrives (envelope, headers, HTML body) and how each failure is reported
//! (exit status and one line, never the password).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::mailbox::{free_port, Mailbox, MailboxOptions};

const SENDER: &str = "watch@example.test";
const WAIT: Duration = Duration::from_secs(20);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the built sendmail with `args` and a clean TLS environment (this
/// machine exports SSL_CERT_FILE/SSL_CERT_DIR; the tests must not depend on it).
fn sendmail_env(args: &[String], env: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sendmail"));
    cmd.args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn sendmail");
    let limit = started + Duration::from_secs(90);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() >= limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait sendmail");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

fn sendmail(args: &[String]) -> Run {
    sendmail_env(args, &[])
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Connection arguments plus the mail arguments of a test.
fn args(mb: &Mailbox, extra: &[&str]) -> Vec<String> {
    let mut a = mb.connect_args();
    a.push(format!("--sender={SENDER}"));
    a.extend(s(extra));
    a
}

fn assert_ok(run: &Run, mb: &Mailbox) {
    assert_eq!(
        run.code,
        Some(0),
        "sendmail failed: {}\nserver log:\n{}",
        run.all(),
        mb.log()
    );
}

/// Exit status, the one-line message, and no password anywhere.
fn assert_fails(run: &Run, code: i32, want: &[&str], secrets: &[&str]) {
    assert_eq!(run.code, Some(code), "exit status; output: {}", run.all());
    let err = run.stderr.trim_end();
    let first = err.lines().last().unwrap_or("");
    assert!(first.starts_with("sendmail: "), "message line: {err}");
    for w in want {
        assert!(err.contains(w), "expected {w:?} in: {err}");
    }
    for secret in secrets {
        assert!(
            !run.all().contains(secret),
            "password printed: {}",
            run.all()
        );
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` (Python's str(datetime)) in `<p>...</p>`.
fn body_time(html: &str, prefix: &str) -> String {
    let rest = html
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("body {html:?} does not start with {prefix:?}"));
    let end = rest.find('<').unwrap_or(rest.len());
    let t = &rest[..end];
    let b = t.as_bytes();
    let shape_ok = (t.len() == 19 || t.len() == 26)
        && t.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        })
        && b.len() >= 19;
    assert!(shape_ok, "not a Python datetime string: {t:?} in {html:?}");
    t.to_string()
}

fn secs_of(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().expect("digits");
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let a = if mo <= 2 { y - 1 } else { y };
    let era = a.div_euclid(400);
    let yoe = a - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn one_receivers_value_with_spaces_reaches_every_address() {
    let mb = Mailbox::start(MailboxOptions::default());
    let run = sendmail(&args(
        &mb,
        &[
            "--subject=PGPOOL Status Script - Failure",
            "--receivers=bill@example.test page@example.test",
            "--body=<b>pgpool down</b>",
        ],
    ));
    assert_ok(&run, &mb);
    assert_eq!(run.all(), "", "a successful send prints nothing");
    let msgs = mb.wait_for(1, WAIT);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.from, SENDER);
    assert_eq!(m.to, vec!["bill@example.test", "page@example.test"]);
    assert_eq!(m.auth_user, mb.opts.user);
    assert_eq!(mb.auth_attempts(), vec![format!("{} ok", mb.opts.user)]);
    assert_eq!(m.from_header, SENDER);
    assert_eq!(m.to_header, "bill@example.test, page@example.test");
    assert_eq!(m.subject, "PGPOOL Status Script - Failure");
    assert_eq!(m.content_type, "multipart/alternative");
    assert_eq!(m.parts, vec!["text/html"]);
    let t = body_time(m.html_body(), "<b>pgpool down</b><p>");
    assert_eq!(m.html_body(), format!("<b>pgpool down</b><p>{t}</p>"));
    assert!(
        m.raw.contains("\nDate: ") || m.raw.starts_with("Date: "),
        "{}",
        m.raw
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn receivers_as_separate_arguments_all_get_mail() {
    let mb = Mailbox::start(MailboxOptions::default());
    let mut a = mb.connect_args();
    // --receivers consumes the following values up to the next option.
    a.extend(s(&[
        "--receivers",
        "a@example.test",
        "b@example.test c@example.test",
        "--sender",
        SENDER,
        "--subject",
        "three",
    ]));
    let run = sendmail(&a);
    assert_ok(&run, &mb);
    let m = &mb.wait_for(1, WAIT)[0];
    assert_eq!(
        m.to,
        vec!["a@example.test", "b@example.test", "c@example.test"]
    );
    assert_eq!(
        m.to_header,
        "a@example.test, b@example.test, c@example.test"
    );
    assert_eq!(m.subject, "three");
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn failed_node_and_new_master_paragraph_and_success_layout() {
    let mb = Mailbox::start(MailboxOptions::default());
    let base = [
        "--subject=failover",
        "--receivers=ops@example.test",
        "--body=<p>pgpool switched</p>",
    ];
    let mut a = args(&mb, &base);
    a.extend(s(&["--failed-node=db1", "--new-master=db2"]));
    assert_ok(&sendmail(&a), &mb);
    let m = mb.wait_for(1, WAIT).remove(0);
    let t = body_time(m.html_body(), "<p>pgpool switched</p><p>");
    assert_eq!(
        m.html_body(),
        format!("<p>pgpool switched</p><p>{t}</p><p>Failed Node: db1<br>New Master: db2<br></p>")
    );

    // Only one of the two given: no paragraph.
    let mut a = args(&mb, &base);
    a.push("--failed-node=db1".into());
    assert_ok(&sendmail(&a), &mb);
    let m = mb.wait_for(2, WAIT).remove(1);
    let t = body_time(m.html_body(), "<p>pgpool switched</p><p>");
    assert_eq!(m.html_body(), format!("<p>pgpool switched</p><p>{t}</p>"));

    let mut a = args(&mb, &base);
    a.push("--mail-on-success".into());
    assert_ok(&sendmail(&a), &mb);
    let m = mb.wait_for(3, WAIT).remove(2);
    let t = body_time(m.html_body(), "<b>PGPOOL Success Mail</b> - ");
    assert_eq!(
        m.html_body(),
        format!("<b>PGPOOL Success Mail</b> - {t}<br><p>pgpool switched</p>")
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn args_file_like_the_sample_with_a_later_subject_winning() {
    let mb = Mailbox::start(MailboxOptions::default());
    // Same shape as the original args.txt.sample, CRLF and a blank line included.
    let file = mb.dir().join("args.txt");
    let text = format!(
        "--user={}\r\n--password={}\r\n--sender={SENDER}\r\n--server=127.0.0.1\r\n--port={}\r\n\
         \r\n--subject=PGPOOL Status Script - Failure\r\n--receivers=bill@example.test page@example.test\r\n\
         --cacert={}\r\n",
        mb.opts.user,
        mb.opts.password,
        mb.port,
        mb.ca_cert().display()
    );
    std::fs::write(&file, text).expect("write args.txt");
    let run = sendmail(&[
        format!("@{}", file.display()),
        "--subject=Pgpool node 1 down".into(),
        "--body=<i>watcher</i>".into(),
    ]);
    assert_ok(&run, &mb);
    let m = mb.wait_for(1, WAIT).remove(0);
    assert_eq!(m.subject, "Pgpool node 1 down");
    assert_eq!(m.to, vec!["bill@example.test", "page@example.test"]);
    assert!(
        m.html_body().starts_with("<i>watcher</i><p>"),
        "{}",
        m.html_body()
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn implicit_tls_server() {
    let mb = Mailbox::start(MailboxOptions {
        implicit_tls: true,
        ..MailboxOptions::default()
    });
    let run = sendmail(&args(
        &mb,
        &["--subject=smtps", "--receivers=ops@example.test"],
    ));
    assert_ok(&run, &mb);
    let m = mb.wait_for(1, WAIT).remove(0);
    assert_eq!(m.subject, "smtps");
    assert_eq!(m.to, vec!["ops@example.test"]);

    // The same server spoken to with STARTTLS fails clearly (it sends TLS, not a greeting).
    let mut a = args(
        &mb,
        &["--subject=x", "--receivers=ops@example.test", "--timeout=3"],
    );
    a.push("--tls=starttls".into());
    let run = sendmail(&a);
    assert_fails(&run, 1, &["smtp 127.0.0.1:"], &[&mb.opts.password]);
    assert_eq!(mb.messages().len(), 1, "nothing more delivered");
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn subject_and_body_with_non_ascii_arrive_decoded() {
    let mb = Mailbox::start(MailboxOptions::default());
    let run = sendmail(&args(
        &mb,
        &[
            "--subject=Ausfall – Knoten ö",
            "--receivers=ops@example.test",
            "--body=<p>Grüße</p>",
        ],
    ));
    assert_ok(&run, &mb);
    let m = mb.wait_for(1, WAIT).remove(0);
    assert_eq!(m.subject, "Ausfall – Knoten ö");
    assert!(
        m.html_body().starts_with("<p>Grüße</p><p>"),
        "{}",
        m.html_body()
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn wrong_password_fails_with_the_servers_answer() {
    let mb = Mailbox::start(MailboxOptions::default());
    let wrong = "pw-Wr0ng-never-printed";
    let mut a = args(&mb, &["--subject=x", "--receivers=ops@example.test"]);
    a.push(format!("--password={wrong}"));
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[&format!(
            "sendmail: smtp 127.0.0.1:{}: authentication failed: 535 5.7.8 Authentication credentials invalid",
            mb.port
        )],
        &[wrong, &mb.opts.password],
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert!(mb.messages().is_empty(), "nothing delivered");
    assert_eq!(mb.auth_attempts(), vec![format!("{} bad", mb.opts.user)]);
}

#[test]
fn server_down_fails_with_connection_refused() {
    let port = free_port();
    let a = s(&[
        "--user=u",
        "--password=pw-S3cr3t-never-printed",
        "--server=127.0.0.1",
        &format!("--port={port}"),
        "--sender=watch@example.test",
        "--subject=x",
        "--receivers=ops@example.test",
    ]);
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[
            &format!("sendmail: smtp 127.0.0.1:{port}: cannot connect: "),
            "refused",
        ],
        &["pw-S3cr3t-never-printed"],
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn untrusted_certificate_fails_without_cacert() {
    let mb = Mailbox::start(MailboxOptions::default());
    let a: Vec<String> = args(&mb, &["--subject=x", "--receivers=ops@example.test"])
        .into_iter()
        .filter(|a| !a.starts_with("--cacert"))
        .collect();
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[
            &format!("sendmail: smtp 127.0.0.1:{}: tls: ", mb.port),
            "certificate verify failed",
            "--cacert",
        ],
        &[&mb.opts.password],
    );
    assert!(mb.messages().is_empty(), "nothing delivered");

    // A CA file that is not the server's CA does not help either.
    let other = Mailbox::start(MailboxOptions::default());
    let mut a = a.clone();
    a.push(format!("--cacert={}", other.ca_cert().display()));
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &["certificate verify failed"],
        &[&mb.opts.password],
    );

    // Implicit TLS verifies too.
    let smtps = Mailbox::start(MailboxOptions {
        implicit_tls: true,
        ..MailboxOptions::default()
    });
    let a: Vec<String> = args(&smtps, &["--subject=x", "--receivers=ops@example.test"])
        .into_iter()
        .filter(|a| !a.starts_with("--cacert"))
        .collect();
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &["tls: ", "certificate verify failed"],
        &[&smtps.opts.password],
    );
    assert!(smtps.messages().is_empty(), "nothing delivered");
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn server_without_tls_is_refused_before_the_password_is_sent() {
    let mb = Mailbox::start(MailboxOptions {
        no_tls: true,
        ..MailboxOptions::default()
    });
    let a: Vec<String> = args(&mb, &["--subject=x", "--receivers=ops@example.test"])
        .into_iter()
        .filter(|a| !a.starts_with("--cacert"))
        .chain(["--insecure".to_string()])
        .collect();
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[&format!(
            "sendmail: smtp 127.0.0.1:{}: tls: the server does not offer STARTTLS",
            mb.port
        )],
        &[&mb.opts.password],
    );
    assert!(
        mb.auth_attempts().is_empty(),
        "AUTH sent: {:?}",
        mb.auth_attempts()
    );
    assert!(mb.messages().is_empty(), "nothing delivered");
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn insecure_accepts_an_untrusted_certificate_with_a_warning() {
    let mb = Mailbox::start(MailboxOptions::default());
    let mut a: Vec<String> = args(&mb, &["--subject=insecure", "--receivers=ops@example.test"])
        .into_iter()
        .filter(|a| !a.starts_with("--cacert"))
        .collect();
    a.push("--insecure".into());
    let run = sendmail(&a);
    assert_ok(&run, &mb);
    assert!(
        run.stderr.contains("warning: --insecure") && run.stderr.lines().count() == 1,
        "one warning line: {}",
        run.stderr
    );
    assert!(!run.all().contains(&mb.opts.password));
    assert_eq!(mb.wait_for(1, WAIT)[0].subject, "insecure");
}

#[test]
fn missing_arguments_exit_2_naming_the_option() {
    let run = sendmail(&[]);
    assert_fails(
        &run,
        2,
        &["sendmail: the following argument is required: --user"],
        &[],
    );
    let run = sendmail(&s(&[
        "--user=u",
        "--password=pw-S3cr3t-never-printed",
        "--server=127.0.0.1",
        "--sender=watch@example.test",
        "--subject=x",
    ]));
    assert_fails(
        &run,
        2,
        &["the following argument is required: --receivers"],
        &["pw-S3cr3t-never-printed"],
    );
    let run = sendmail(&s(&["@/nonexistent/args.txt"]));
    assert_fails(&run, 2, &["/nonexistent/args.txt"], &[]);
    let run = sendmail(&s(&["--user=u", "--port=smtp"]));
    assert_fails(&run, 2, &["--port: invalid port"], &[]);
}

#[test]
fn help_and_version_exit_0() {
    let run = sendmail(&s(&["--help"]));
    assert_eq!(run.code, Some(0), "{}", run.all());
    for opt in [
        "--receivers",
        "--cacert",
        "--insecure",
        "--tls",
        "--timeout",
    ] {
        assert!(run.stdout.contains(opt), "--help lacks {opt}");
    }
    let run = sendmail(&s(&["--version"]));
    assert_eq!(run.code, Some(0), "{}", run.all());
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        run.stdout
    );
}

#[test]
fn frozen_server_fails_within_the_timeout() {
    // Accepts TCP (kernel backlog) but never says a word.
    let frozen = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = frozen.local_addr().expect("addr").port();
    let mut a = s(&[
        "--user=u",
        "--password=pw-S3cr3t-never-printed",
        "--server=127.0.0.1",
        &format!("--port={port}"),
        "--sender=watch@example.test",
        "--subject=x",
        "--receivers=ops@example.test",
        "--timeout=1",
    ]);
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[&format!(
            "smtp 127.0.0.1:{port}: greeting: no answer within 1s"
        )],
        &["pw-S3cr3t-never-printed"],
    );
    assert!(
        run.elapsed < Duration::from_secs(4),
        "took {:?}",
        run.elapsed
    );

    // Implicit TLS: lettre has no timeout on that handshake; the overall
    // deadline (4 x --timeout) ends it.
    a.push("--tls=implicit".into());
    let run = sendmail(&a);
    assert_fails(
        &run,
        1,
        &[&format!(
            "smtp 127.0.0.1:{port}: delivery not finished within 4s"
        )],
        &["pw-S3cr3t-never-printed"],
    );
    assert!(
        run.elapsed >= Duration::from_secs(4) && run.elapsed < Duration::from_secs(8),
        "took {:?}",
        run.elapsed
    );
    drop(frozen);
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn date_in_body_is_local_time_from_tz() {
    let mb = Mailbox::start(MailboxOptions::default());
    let a = args(&mb, &["--subject=tz", "--receivers=ops@example.test"]);
    assert_ok(&sendmail_env(&a, &[("TZ", "UTC0")]), &mb);
    // POSIX TZ: "PGW-5:30" is 5 h 30 min east of UTC.
    assert_ok(&sendmail_env(&a, &[("TZ", "PGW-5:30")]), &mb);
    let msgs = mb.wait_for(2, WAIT);
    let utc = secs_of(&body_time(msgs[0].html_body(), "<p>"));
    let east = secs_of(&body_time(msgs[1].html_body(), "<p>"));
    let offset = east - utc;
    assert!(
        (5 * 3600 + 30 * 60..5 * 3600 + 30 * 60 + 60).contains(&offset),
        "offset {offset}s between {:?} and {:?}",
        msgs[0].html_body(),
        msgs[1].html_body()
    );
}

#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn mailbox_stop_and_restart_keep_port_and_certificate() {
    let mut mb = Mailbox::start(MailboxOptions::default());
    let a = args(&mb, &["--subject=first", "--receivers=ops@example.test"]);
    assert_ok(&sendmail(&a), &mb);
    mb.wait_for(1, WAIT);

    mb.stop();
    let run = sendmail(&a);
    assert_fails(&run, 1, &["cannot connect"], &[&mb.opts.password]);

    mb.restart();
    let a = args(&mb, &["--subject=second", "--receivers=ops@example.test"]);
    assert_ok(&sendmail(&a), &mb);
    let msgs = mb.wait_for(2, WAIT);
    assert_eq!(msgs[1].subject, "second");
}

/// A DNS server that never answers: the SMTP host's look-up is bounded by
/// `--timeout` like the connection (before, getaddrinfo held the send until
/// the whole delivery deadline, 4 x --timeout). The resolver is pointed at
/// a UDP socket of this test on 127.0.0.153 that reads nothing, inside a
/// private mount namespace (the machine's /etc/resolv.conf is untouched and
/// no query leaves loopback).
#[test]
#[ignore = "needs root: bin/test runs it, or cargo test -- --include-ignored"]
fn smtp_host_lookup_is_bounded_by_the_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.153:53").expect("bind 127.0.0.153:53 (root)");
    let dir = std::env::temp_dir().join(format!("pgpw-resolv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.153\noptions timeout:5 attempts:2\n",
    )
    .expect("write resolv.conf");
    let started = Instant::now();
    let out = Command::new("unshare")
        .args(["--mount", "--", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/resolv.conf && exec "$@""#)
        .arg(&resolv)
        .arg(env!("CARGO_BIN_EXE_sendmail"))
        .args([
            "--server=smtp.never-answers.test",
            "--port=2525",
            "--user=u",
            "--password=secret-pw",
            "--sender=s@example.test",
            "--receivers=r@example.test",
            "--subject=x",
            "--body=y",
            "--timeout=1",
        ])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("unshare (util-linux)");
    let took = started.elapsed();
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "silent DNS: sendmail returned after {took:.2?}: {}",
        stderr.trim()
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("smtp.never-answers.test") && stderr.contains("resolve"),
        "names the host and the step: {stderr}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "look-up bounded by --timeout=1: took {took:?}; {stderr}"
    );
    assert!(!stderr.contains("secret-pw"), "{stderr}");
}

/// `sendmail --check @args.txt` (issue 18 item 2): connects, STARTTLS,
/// AUTH, QUIT; nothing is sent; exit 0, or one line naming the step.
#[test]
#[ignore = "needs the capture SMTP server (python3-aiosmtpd): bin/test runs it, or cargo test -- --include-ignored"]
fn check_logs_in_and_quits_without_sending() {
    let mb = Mailbox::start(MailboxOptions::default());
    let dir = std::env::temp_dir().join(format!("pgpw-sendmail-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("args.txt");
    let mut lines = args(&mb, &["--receivers=ops@example.test"]);
    lines.push(String::new());
    std::fs::write(&file, lines.join("\n")).expect("write args.txt");
    // 0600, as README asks for a file holding --password (else sendmail
    // adds its one warning line about the mode)
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 0600");
    }
    let at = format!("@{}", file.display());

    let run = sendmail(&s(&["--check", &at]));
    assert_ok(&run, &mb);
    assert_eq!(
        run.stdout,
        format!(
            "sendmail: smtp 127.0.0.1:{}: connected, TLS up, login accepted; nothing sent\n",
            mb.port
        )
    );
    assert!(mb.messages().is_empty(), "nothing delivered");
    assert_eq!(mb.auth_attempts(), vec![format!("{} ok", mb.opts.user)]);

    // A wrong password: the server's answer, one line, exit 1.
    let wrong = "pw-Wr0ng-never-printed";
    let run = sendmail(&s(&["--check", &at, &format!("--password={wrong}")]));
    assert_fails(
        &run,
        1,
        &["authentication failed: 535"],
        &[wrong, &mb.opts.password],
    );
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    // Nobody listening.
    let run = sendmail(&s(&["--check", &at, &format!("--port={}", free_port())]));
    assert_fails(
        &run,
        1,
        &["cannot connect: ", "refused"],
        &[&mb.opts.password],
    );
    // What a watcher needs must be there (args.txt without --receivers).
    std::fs::write(&file, args(&mb, &[]).join("\n")).expect("write args.txt");
    let run = sendmail(&s(&["--check", &at]));
    assert_fails(&run, 2, &["required: --receivers"], &[&mb.opts.password]);
    assert!(mb.messages().is_empty(), "still nothing delivered");
    let _ = std::fs::remove_dir_all(&dir);
}
