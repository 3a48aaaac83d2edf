//! sendmail's command line and args.txt reading, case by case.

use super::*;
use crate::mail::{compose_body, Layout, Message};

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const BASE: &[&str] = &[
    "--user=u@example.org",
    "--password=Secr3t",
    "--server=mail.example.org",
    "--sender=u@example.org",
    "--subject=PGPOOL Status Script - Failure",
    "--receivers=bill@example.com page@example.com",
];

fn parse(extra: &[&str]) -> Result<MailOptions, MailError> {
    let mut a = args(BASE);
    a.extend(args(extra));
    options_from_args(&a)
}

#[test]
fn args_txt_sample_parses_with_defaults() {
    let o = parse(&[]).expect("parse");
    assert_eq!(o.settings.user, "u@example.org");
    assert_eq!(o.settings.password.expose(), "Secr3t");
    assert_eq!(o.settings.server, "mail.example.org");
    assert_eq!(o.settings.port, 587);
    assert_eq!(o.subject, "PGPOOL Status Script - Failure");
    assert_eq!(
        o.settings.receivers,
        vec!["bill@example.com", "page@example.com"]
    );
    assert_eq!(o.body, "");
    assert_eq!(o.failed_node, "none");
    assert_eq!(o.new_master, "none");
    assert!(!o.mail_on_success);
    assert_eq!(o.settings.tls, TlsOptions::default());
    assert_eq!(o.settings.timeout, Duration::from_secs(30));
    assert_eq!(o.settings.tls.mode_for(o.settings.port), TlsMode::StartTls);
}

#[test]
fn space_separated_values_and_later_wins() {
    let o = parse(&[
        "--subject",
        "X",
        "--port",
        "465",
        "--body",
        "<b>hi</b>",
        "--failed-node=db1",
        "--new-master",
        "db2",
        "--mail-on-success",
        "--timeout=2.5",
    ])
    .expect("parse");
    assert_eq!(o.subject, "X");
    assert_eq!(o.settings.port, 465);
    assert_eq!(o.settings.tls.mode_for(o.settings.port), TlsMode::Implicit);
    assert_eq!(o.body, "<b>hi</b>");
    assert_eq!(o.failed_node, "db1");
    assert_eq!(o.new_master, "db2");
    assert!(o.mail_on_success);
    assert_eq!(o.settings.timeout, Duration::from_millis(2500));
}

#[test]
fn receivers_take_several_values_each_split_on_spaces() {
    let o = parse(&["--receivers", "a@x.org", "b@y.org c@z.org", "--port=25"]).expect("parse");
    assert_eq!(o.settings.receivers, vec!["a@x.org", "b@y.org", "c@z.org"]);
    assert_eq!(o.settings.port, 25);
    // A later --receivers replaces the earlier list.
    let o = parse(&["--receivers=d@x.org"]).expect("parse");
    assert_eq!(o.settings.receivers, vec!["d@x.org"]);
    // `=` form takes exactly one value: what follows is not consumed.
    let err = parse(&["--receivers=d@x.org", "e@x.org"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("unrecognized argument: (7 characters, not an option; not shown)"),
        "{err}"
    );
}

#[test]
fn tls_options() {
    let o = parse(&["--cacert=/etc/ca.pem", "--insecure", "--tls=implicit"]).expect("parse");
    assert_eq!(
        o.settings.tls.cacert.as_deref(),
        Some(Path::new("/etc/ca.pem"))
    );
    assert!(o.settings.tls.insecure);
    assert_eq!(o.settings.tls.mode_for(587), TlsMode::Implicit);
    let o = parse(&["--port=465", "--tls", "starttls"]).expect("parse");
    assert_eq!(o.settings.tls.mode_for(o.settings.port), TlsMode::StartTls);
}

#[test]
fn abbreviations_like_argparse() {
    let o = parse(&["--subj=Y", "--mail-on"]).expect("parse");
    assert_eq!(o.subject, "Y");
    assert!(o.mail_on_success);
    let err = parse(&["--s=Y"]).unwrap_err();
    assert!(err.to_string().contains("ambiguous option: --s"), "{err}");
}

#[test]
fn each_missing_required_option_is_named() {
    for (i, name) in [
        "--user",
        "--password",
        "--server",
        "--sender",
        "--subject",
        "--receivers",
    ]
    .iter()
    .enumerate()
    {
        let mut a = args(BASE);
        a.remove(i);
        let err = options_from_args(&a).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{name}");
        assert!(
            err.to_string()
                .contains(&format!("the following argument is required: {name}")),
            "{name}: {err}"
        );
    }
}

#[test]
fn bad_values_are_usage_errors_naming_the_option() {
    let cases: &[(&[&str], &str)] = &[
        (&["--port=0"], "--port: invalid port"),
        (&["--port=smtp"], "--port: invalid port"),
        (&["--timeout=0"], "--timeout: invalid value"),
        (&["--timeout=-1"], "--timeout: invalid value"),
        (&["--tls=ssl"], "--tls: invalid mode"),
        (&["--subject"], "--subject: expected one value"),
        (
            &["--password", "--port=25"],
            "--password: expected one value",
        ),
        (
            &["--receivers"],
            "--receivers: expected at least one address",
        ),
        (
            &["--receivers=not-an-address"],
            "--receivers: invalid address",
        ),
        (&["--sender=@@"], "--sender: invalid address"),
        (&["--server="], "--server: empty"),
        (&["--bogus=1"], "unrecognized argument: --bogus"),
        (
            &["stray"],
            "unrecognized argument: (5 characters, not an option; not shown)",
        ),
        (&["--insecure=yes"], "--insecure: takes no value"),
    ];
    for (extra, want) in cases {
        let err = parse(extra).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{extra:?}");
        assert!(err.to_string().contains(want), "{extra:?}: {err}");
    }
}

#[test]
fn values_may_start_with_dash_in_equals_form() {
    let o = parse(&["--password=-x-", "--body", "-"]).expect("parse");
    assert_eq!(o.settings.password.expose(), "-x-");
    assert_eq!(o.body, "-");
}

#[test]
fn debug_masks_the_password() {
    let o = parse(&[]).expect("parse");
    let dbg = format!("{o:?}");
    assert!(!dbg.contains("Secr3t"), "{dbg}");
    assert!(dbg.contains("********"), "{dbg}");
}

#[test]
fn an_args_file_then_overrides_later_ones_win() {
    let dir = std::env::temp_dir().join(format!("pgpw-mail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("args.txt");
    std::fs::write(&file, BASE.join("\n") + "\n--body=from file\n").expect("write");
    let from_file = |file: &Path, overrides: &[&str]| {
        let mut argv = vec![OsString::from(format!("@{}", file.display()))];
        argv.extend(overrides.iter().map(OsString::from));
        super::parse(argv, &mut Vec::new())
    };
    let o = match from_file(&file, &["--subject=Failover", "--body=<p>x</p>"]) {
        Ok(Request::Run(Command::Send(o))) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(o.subject, "Failover");
    assert_eq!(o.body, "<p>x</p>");
    assert_eq!(
        o.settings.receivers,
        vec!["bill@example.com", "page@example.com"]
    );
    let err = from_file(&dir.join("missing.txt"), &[]).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("missing.txt"), "{err}");
}

#[test]
fn compose_body_normal_mode() {
    let mut o = parse(&["--body=<b>pgpool down</b>"]).expect("parse");
    let now = "2017-07-29 17:33:54.419750";
    assert_eq!(
        compose_body(&o.message(), now),
        "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>"
    );
    o.failed_node = "db1".into();
    assert_eq!(
        compose_body(&o.message(), now),
        "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>",
        "only one of failed-node/new-master given: no paragraph"
    );
    o.new_master = "db2".into();
    assert_eq!(
        compose_body(&o.message(), now),
        "<b>pgpool down</b><p>2017-07-29 17:33:54.419750</p>\
         <p>Failed Node: db1<br>New Master: db2<br></p>"
    );
}

#[test]
fn compose_body_success_mode() {
    let o = parse(&[
        "--body=all good",
        "--mail-on-success",
        "--failed-node=a",
        "--new-master=b",
    ])
    .expect("parse");
    assert_eq!(
        compose_body(&o.message(), "2017-07-29 17:33:54"),
        "<b>PGPOOL Success Mail</b> - 2017-07-29 17:33:54<br>all good"
    );
}

#[test]
fn args_file_for_watchers_needs_no_subject_and_names_what_is_missing() {
    let dir = std::env::temp_dir().join(format!("pgpw-argsfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("args.txt");
    let without_subject: Vec<&str> = BASE
        .iter()
        .copied()
        .filter(|a| !a.starts_with("--subject"))
        .collect();
    std::fs::write(&file, without_subject.join("\n") + "\n--port=2525\n").expect("write");
    let f = read_args_file(&file).expect("read");
    assert_eq!(f.settings.server, "mail.example.org");
    assert_eq!(f.settings.port, 2525);
    assert_eq!(
        f.settings.receivers,
        vec!["bill@example.com", "page@example.com"]
    );
    assert!(!f.success_layout);
    let msg = Message::new("S", "b", Layout::Normal);
    assert_eq!(f.message_for(&msg), msg);
    // args.txt's own --mail-on-success turns every watcher mail into the
    // success layout, as the original's did.
    std::fs::write(&file, BASE.join("\n") + "\n--mail-on-success\n").expect("write");
    let f = read_args_file(&file).expect("read");
    assert_eq!(f.message_for(&msg).layout, Layout::Success);
    std::fs::write(&file, BASE[1..].join("\n")).expect("write");
    let e = read_args_file(&file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the following argument is required: --user (see --help)"
    );
    std::fs::write(&file, BASE.join("\n") + "\n--port=smtp\n").expect("write");
    let e = read_args_file(&file).unwrap_err();
    assert!(e.to_string().contains("--port: invalid port"), "{e}");
}

fn request(v: &[&str]) -> Result<Request, MailError> {
    super::parse(v.iter().map(OsString::from).collect(), &mut Vec::new())
}

/// The early decisions come from the table-driven parse (issue 19; the
/// binary used to scan argv for `--help` first): `-h`/`--help` and then
/// `--version` win wherever they stand, over any other error, but not
/// over an `@file` that cannot be read.
#[test]
fn help_and_version_win_over_a_bad_line_but_not_over_a_missing_at_file() {
    for line in [
        &["--help"][..],
        &["-h"],
        &["--bogus", "--help"],
        &["--help", "--bogus"],
        &["--port=smtp", "-h"],
        &["--subject", "--help"],
        &["--s=x", "--help"],
        &["--version", "--help"],
        &["--insecure=1", "--he"],
    ] {
        assert_eq!(request(line).ok(), Some(Request::Help), "{line:?}");
    }
    for line in [&["--version"][..], &["--bogus", "--version"], &["--vers"]] {
        assert_eq!(request(line).ok(), Some(Request::Version), "{line:?}");
    }
    let e = request(&["@/nonexistent/args.txt", "--help"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("/nonexistent/args.txt"), "{e}");
    // Without them, the line is what it says.
    let e = request(&["--bogus"]).unwrap_err();
    assert!(
        e.to_string().contains("unrecognized argument: --bogus"),
        "{e}"
    );
    let mut a = args(BASE);
    a.push("--check".into());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    assert!(matches!(request(&a), Ok(Request::Run(Command::Check(_)))));
}

/// The table's defaults are the values sendmail runs with when an option
/// is not given, and the mail layer's defaults say the same.
#[test]
fn table_defaults_are_the_mail_layers_defaults() {
    let default = |name: &str| {
        SENDMAIL
            .flag(name)
            .and_then(|f| f.default)
            .unwrap_or_else(|| panic!("{name} has a default"))
    };
    let d = MailSettings::default();
    assert_eq!(parse_port(default("--port")), Ok(d.port));
    assert_eq!(parse_timeout(default("--timeout")), Ok(d.timeout));
    let o = MailOptions::default();
    assert_eq!(default("--body"), o.body);
    assert_eq!(default("--failed-node"), o.failed_node);
    assert_eq!(default("--new-master"), o.new_master);
    let parsed = parse(&[]).expect("parse");
    assert_eq!(
        (parsed.settings.port, parsed.settings.timeout),
        (d.port, d.timeout)
    );
}
