//! Unit tests of the parent module.

use super::*;
use crate::config::Value;
use crate::flags::table;
use crate::mail::options as sendmail;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(name)
        .display()
        .to_string()
}

fn pgp_args(v: &[&str]) -> PgpwatchArgs {
    match parse_pgpwatch(os(v)) {
        Ok(Parsed::Args(a)) => a,
        other => panic!("{v:?}: {other:?}"),
    }
}

#[test]
fn config_forms_and_last_wins() {
    assert_eq!(
        pgp_args(&[]).common.config,
        None,
        "no --config: the default search decides at load time"
    );
    assert_eq!(
        pgp_args(&["--config", "/a"]).common.config,
        Some(PathBuf::from("/a"))
    );
    assert_eq!(
        pgp_args(&["--config=/a"]).common.config,
        Some(PathBuf::from("/a"))
    );
    assert_eq!(
        pgp_args(&["--config=/a", "--config", "/b"]).common.config,
        Some(PathBuf::from("/b"))
    );
    assert_eq!(
        pgp_args(&["--config", "/b", "--config=/a"]).common.config,
        Some(PathBuf::from("/a"))
    );
}

#[test]
fn unique_abbreviations_stand_for_long_options_as_in_argparse() {
    let a = pgp_args(&[
        "--conf",
        "/a",
        "--check-p=2",
        "--succ",
        "4",
        "--mail",
        "--run",
    ]);
    assert_eq!(a.common.config, Some(PathBuf::from("/a")));
    assert_eq!(a.check_period, Some(Duration::from_secs(2)));
    assert_eq!(a.success_period, Some(4));
    assert!(a.mail_on_success && a.run_once);
    assert!(pgp_args(&["--check-c"]).common.check_config);
    let err = |v: &[&str]| match parse_pgpwatch(os(v)) {
        Err(e) => e.to_string(),
        other => panic!("{v:?}: {other:?}"),
    };
    assert_eq!(
        err(&["--c", "x"]),
        "ambiguous option: --c could match --config, --check-period, --check-config (see --help)"
    );
    assert_eq!(
        err(&["--check=1"]),
        "ambiguous option: --check could match --check-period, --check-config (see --help)"
    );
    // repmgrwatch has one --c... option that takes a value.
    match parse_repmgrwatch(os(&["--conf=/r", "--he"])) {
        Ok(Parsed::Help) => {}
        other => panic!("{other:?}"),
    }
    match parse_repmgrwatch(os(&["--conf=/r"])) {
        Ok(Parsed::Args(a)) => assert_eq!(a.common.config, Some(PathBuf::from("/r"))),
        other => panic!("{other:?}"),
    }
    let e = parse_poolstatus(os(&["--c"])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ambiguous option: --c could match --config, --check-config, --critical-lag (see --help)"
    );
    match parse_poolstatus(os(&["--js", "--co", "/p"])) {
        Ok(Parsed::Args(a)) => {
            assert!(a.json);
            assert_eq!(a.common.config, Some(PathBuf::from("/p")));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pgpwatch_original_flags() {
    let a = pgp_args(&[
        "--check-period",
        "2.5",
        "--success-period=3",
        "--mail-on-success",
        "--run-once",
        "--check-config",
    ]);
    assert_eq!(a.check_period, Some(Duration::from_millis(2500)));
    assert_eq!(a.success_period, Some(3));
    assert!(a.mail_on_success && a.run_once && a.common.check_config);
    let o = a.overrides();
    assert_eq!(o.len(), 3);
    assert_eq!(
        (o[0].key, &o[0].value),
        ("check_period", &Value::Seconds(Duration::from_millis(2500)))
    );
}

#[test]
fn usage_errors_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--bogus"], "unknown argument \"--bogus\""),
        (&["--config"], "--config needs a value"),
        (&["--config", "--check-config"], "--config needs a value"),
        (&["--config="], "--config needs a value"),
        (&["--run-once=yes"], "--run-once takes no value"),
        (
            &["--check-period", "abc"],
            "--check-period \"abc\": expected seconds > 0",
        ),
        (
            &["--check-period=0"],
            "--check-period \"0\": expected seconds > 0",
        ),
        (
            &["--success-period", "0"],
            "--success-period \"0\": expected a whole number",
        ),
        (
            &["stray"],
            "unknown argument (5 characters, not an option; not shown)",
        ),
        (
            &["--pass=Secret"],
            "unknown argument --pass (its value is not shown)",
        ),
    ];
    for (args, want) in cases {
        let e = parse_pgpwatch(os(args)).unwrap_err();
        assert!(e.to_string().contains(want), "{args:?}: {e}");
        assert_eq!(e.exit_code(), 2, "{args:?}");
    }
    // repmgrwatch has --run-once (issue 18); other pgpwatch flags stay unknown to it.
    let e = parse_repmgrwatch(os(&["--mail-on-success"])).unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown argument \"--mail-on-success\""),
        "{e}"
    );
    match parse_repmgrwatch(os(&["--run-once"])) {
        Ok(Parsed::Args(a)) => assert!(a.run_once),
        other => panic!("repmgrwatch --run-once: {other:?}"),
    }
    match parse_repmgrwatch(os(&[])) {
        Ok(Parsed::Args(a)) => assert!(!a.run_once),
        other => panic!("repmgrwatch: {other:?}"),
    }
    let e = parse_poolstatus(os(&["--check-period", "1"])).unwrap_err();
    assert!(e.to_string().contains("--check-period"), "{e}");
}

/// Issue 18 item 5: an unknown option a couple of edits from a known one
/// says which, and still never shows a value.
#[test]
fn an_unknown_option_near_a_known_one_says_did_you_mean() {
    for (args, want) in [
        (
            &["--confg", "x"][..],
            "unknown argument --confg (did you mean --config?)",
        ),
        (
            &["--chek-config"][..],
            "unknown argument --chek-config (did you mean --check-config?)",
        ),
        (
            &["--run-onse"][..],
            "unknown argument --run-onse (did you mean --run-once?)",
        ),
        (
            &["--confgi=/etc/x.ini"][..],
            "unknown argument --confgi (its value is not shown) (did you mean --config?)",
        ),
    ] {
        let e = parse_pgpwatch(os(args)).unwrap_err();
        assert!(e.to_string().contains(want), "{args:?}: {e}");
        assert!(!e.to_string().contains("/etc/x.ini"), "{args:?}: {e}");
    }
    // far from every option: no guess
    let e = parse_pgpwatch(os(&["--bogus"])).unwrap_err();
    assert!(!e.to_string().contains("did you mean"), "{e}");
}

#[test]
fn help_and_version() {
    assert_eq!(
        parse_repmgrwatch(os(&["--bogus", "-h"])).ok(),
        Some(Parsed::Help)
    );
    assert_eq!(
        parse_poolstatus(os(&["--version"])).ok(),
        Some(Parsed::Version)
    );
    let mut out = Vec::new();
    let start = start_pgpwatch(os(&["--help"]), &mut out).expect("help");
    assert!(matches!(start, Start::Done(0)));
    let text = String::from_utf8(out).expect("utf8");
    for flag in [
        "--check-period",
        "--run-once",
        "--config",
        "--check-config",
        "@FILE",
    ] {
        assert!(text.contains(flag), "{flag} in help:\n{text}");
    }
    // Every option line is indented alike (a `\` continuation in the
    // help text used to eat the indent of `--config`).
    for program in [Program::Pgpwatch, Program::Repmgrwatch, Program::Poolstatus] {
        let h = help(program);
        assert!(h.contains("\n  --config PATH "), "{program:?}:\n{h}");
    }
    let mut out = Vec::new();
    start_poolstatus(os(&["-V"]), &mut out).expect("version");
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        format!("poolstatus {VERSION}\n")
    );
}

#[test]
fn at_file_arguments_expand() {
    let dir = std::env::temp_dir().join(format!("pgpw-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("args.txt");
    std::fs::write(&f, "--check-period=4\r\n--config=/from/file\n").expect("write");
    let a = pgp_args(&[&format!("@{}", f.display()), "--config", "/later"]);
    assert_eq!(a.check_period, Some(Duration::from_secs(4)));
    assert_eq!(a.common.config, Some(PathBuf::from("/later")));
}

/// config.ini.sample with the files it names made real: its args.txt
/// (`sendmail = yes`) written, mode 0600, and `state_dir` in a temporary
/// directory. Returns the copy's path.
fn sample_with_its_files(tag: &str) -> String {
    let dir = std::env::temp_dir().join(format!("pgpw-cli-sample-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let args = dir.join("args.txt");
    std::fs::write(
        &args,
        "--user=u\n--password=p\n--server=mail.example.org\n--sender=pgpoolwatch@example.org\n--receivers=dba@example.org\n",
    )
    .expect("write args.txt");
    std::fs::set_permissions(&args, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let text = std::fs::read_to_string(sample("config.ini.sample")).expect("sample");
    let text = text
        .replace(
            "sendmail_settings_path=/root/pgpoolwatch/args.txt",
            &format!("sendmail_settings_path={}", args.display()),
        )
        .replace(
            "#state_dir = /var/lib/pgpoolwatch",
            &format!("state_dir = {}", dir.join("state").display()),
        );
    let cfg = dir.join("config.ini");
    std::fs::write(&cfg, text).expect("write config");
    cfg.display().to_string()
}

#[test]
fn check_config_fails_the_shipped_sample_while_its_args_txt_is_missing() {
    let missing = Path::new("/root/pgpoolwatch/args.txt");
    // Why the file cannot be read: "No such file" as root, "Permission
    // denied" for a user who may not look in /root (plain `cargo test`).
    let reason = match std::fs::metadata(missing) {
        Ok(_) => return, // a host with the original installed: nothing is missing
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "No such file".to_string(),
        Err(e) => e.to_string(),
    };
    let cfg = sample("config.ini.sample");
    type StartFn = fn(Vec<OsString>, &mut dyn Write) -> Result<u8, CliError>;
    let starts: [(&str, StartFn); 2] = [
        ("pgpwatch", |a, o| start_pgpwatch(a, o).map(done_code)),
        ("repmgrwatch", |a, o| start_repmgrwatch(a, o).map(done_code)),
    ];
    for (name, start) in starts {
        let mut out = Vec::new();
        let code = start(os(&["--config", &cfg, "--check-config"]), &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(code, 2, "{name}: sendmail = yes with no args.txt:\n{text}");
        assert!(
            text.contains(&format!(
                "error: [general] sendmail_settings_path /root/pgpoolwatch/args.txt: {reason}"
            )),
            "{name}:\n{text}"
        );
    }
}

#[test]
fn check_config_accepts_the_shipped_sample_for_every_program() {
    let cfg = sample_with_its_files("accepts");
    type StartFn = fn(Vec<OsString>, &mut dyn Write) -> Result<u8, CliError>;
    let starts: [(&str, StartFn); 3] = [
        ("pgpwatch", |a, o| start_pgpwatch(a, o).map(done_code)),
        ("repmgrwatch", |a, o| start_repmgrwatch(a, o).map(done_code)),
        ("poolstatus", |a, o| start_poolstatus(a, o).map(done_code)),
    ];
    for (name, start) in starts {
        let mut out = Vec::new();
        let code = start(os(&["--config", &cfg, "--check-config"]), &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(code, 0, "{name}");
        assert!(text.contains("pgp.check_period = 10\n"), "{name}:\n{text}");
        assert!(
            text.contains("repmgr.pgp_server_1 = 192.168.168.90\n"),
            "{name}:\n{text}"
        );
        assert!(!text.contains("warning:"), "{name}:\n{text}");
    }
}

#[test]
fn check_config_warns_once_per_other_host_below_verify_full() {
    let dir = std::env::temp_dir().join(format!("pgpw-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("config.ini");
    let cfg = f.display().to_string();
    // What --check-config now checks must exist: a writable state_dir and
    // the CA file named.
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, "").expect("ca.crt");
    let general = format!("[general]\nstate_dir = {}\n", state.display());
    let run = |text: &str, program: &str| {
        let text = text.replace("/ca.crt", &ca.display().to_string());
        let text = if text.contains("[general]\n") {
            text.replace("[general]\n", &general)
        } else {
            format!("{text}{general}")
        };
        std::fs::write(&f, text).expect("write");
        let mut out = Vec::new();
        let args = os(&["--config", &cfg, "--check-config"]);
        let code = match program {
            "pgpwatch" => start_pgpwatch(args, &mut out).map(done_code),
            "repmgrwatch" => start_repmgrwatch(args, &mut out).map(done_code),
            _ => start_poolstatus(args, &mut out).map(done_code),
        }
        .expect("check-config");
        assert_eq!(code, 0);
        let text = String::from_utf8(out).expect("utf8");
        text.lines()
            .filter(|l| l.starts_with("warning:"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let pgp = "[pgp]\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n";
    let repmgr = "[repmgr]\npgp_server_1=a\npgp_server_2=b\n";
    // pgpwatch: [pgp] and the report's [poolstatus] name the same pgpool:
    // one line.
    let w = run(
        &format!("{pgp}pgpool_host = pgp1.example\n{repmgr}"),
        "pgpwatch",
    );
    assert_eq!(
        w,
        vec!["warning: [pgp] pgpool_host pgp1.example:5432: sslmode=prefer is below verify-full: \
              the connection may be plain text (a password asked for in cleartext is still refused); \
              set [pgp] sslmode = verify-full and sslrootcert"
            .to_string()]
    );
    let w = run(
        &format!("{pgp}pgpool_host = 10.0.0.11\nsslmode = require\n{repmgr}repmgr_host = db1\n[general]\nallow_cleartext_password = yes\n"),
        "repmgrwatch",
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("warning: [repmgr] repmgr_host db1:5432: sslmode=prefer is below verify-full: the connection may be plain text, and a password asked for in cleartext is sent (allow_cleartext_password = yes)"),
        "{w:?}"
    );
    let w = run(
        &format!("{pgp}pgpool_host = 10.0.0.11\nsslmode = require\n"),
        "poolstatus",
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("[poolstatus] pgpool_host 10.0.0.11:5432: sslmode=require is below verify-full: the server's name is not checked"), "{w:?}");
    // verify-full, or this host: nothing to say.
    assert!(run(
        &format!("{pgp}pgpool_host = pgp1\nsslmode = verify-full\nsslrootcert = /ca.crt\n"),
        "pgpwatch"
    )
    .is_empty());
    assert!(run(
        &format!("{pgp}pgpool_host = 127.0.0.1\n{repmgr}repmgr_host = localhost\n"),
        "repmgrwatch"
    )
    .is_empty());
}

fn done_code<A>(s: Start<A>) -> u8 {
    match s {
        Start::Done(c) => c,
        Start::Run { .. } => 255,
    }
}

#[test]
fn check_config_flags_override_and_errors_exit_2() {
    let dir = std::env::temp_dir().join(format!("pgpw-cli-cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("config.ini");
    std::fs::write(&f, "[pgp]\nsuccess_period=2\nmail_on_success=no\n").expect("write");
    let cfg = f.display().to_string();
    // check_period is missing from the file but given as a flag.
    let mut out = Vec::new();
    let s = start_pgpwatch(
        os(&["--config", &cfg, "--check-period", "3", "--mail-on-success"]),
        &mut out,
    )
    .expect("start");
    match s {
        Start::Run { settings, args } => {
            assert_eq!(settings.pgp.check_period, Duration::from_secs(3));
            assert!(settings.pgp.mail_on_success);
            assert!(!args.run_once);
        }
        Start::Done(c) => panic!("done {c}"),
    }
    let e = start_pgpwatch(os(&["--config", &cfg, "--check-config"]), &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        format!("{cfg}: [pgp] check_period: missing, pgpwatch needs it; expected seconds > 0, e.g. 10 or 2.5")
    );
    let e = start_repmgrwatch(os(&["--config=/nonexistent/c.ini"]), &mut Vec::new()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/c.ini: cannot read: "),
        "{e}"
    );
}

#[test]
fn poolstatus_falls_back_to_defaults_when_config_unreadable() {
    let mut out = Vec::new();
    let s = start_poolstatus(os(&["--config", "/nonexistent/c.ini", "--json"]), &mut out)
        .expect("start");
    match s {
        Start::Run { args, settings } => {
            assert!(args.json);
            assert_eq!(settings.source, PathBuf::from("<built-in defaults>"));
            assert_eq!(settings.poolstatus.pgpool_user, "pgpool");
            let w = settings.warnings.join("\n");
            assert!(
                w.contains("/nonexistent/c.ini: cannot read") && w.contains("built-in defaults"),
                "{w}"
            );
        }
        Start::Done(c) => panic!("done {c}"),
    }
    // A file that exists but is wrong is still an error.
    let dir = std::env::temp_dir().join(format!("pgpw-cli-ps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("bad.ini");
    std::fs::write(&f, "[poolstatus]\nssh_port = 0\n").expect("write");
    let e =
        start_poolstatus(os(&["--config", &f.display().to_string()]), &mut Vec::new()).unwrap_err();
    assert!(
        e.to_string()
            .contains(":2: [poolstatus] ssh_port: \"0\" is not valid; expected a port number"),
        "{e}"
    );
}

#[test]
fn poolstatus_nagios_takes_lag_limits_in_bytes_and_1024_based_units() {
    match parse_poolstatus(os(&["--nag", "--warning-lag=64kB", "--crit", "1 MB"])) {
        Ok(Parsed::Args(a)) => {
            assert!(a.nagios && !a.json);
            assert_eq!(a.lag.warning, Some(64 * 1024));
            assert_eq!(a.lag.critical, Some(1 << 20));
        }
        other => panic!("{other:?}"),
    }
    match parse_poolstatus(os(&["--nagios", "--critical-lag", "500"])) {
        Ok(Parsed::Args(a)) => {
            assert_eq!((a.lag.warning, a.lag.critical), (None, Some(500)));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn poolstatus_bad_nagios_arguments_are_named_and_unknown_with_nagios() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--nagios", "--warning-lag", "lots"],
            "--warning-lag \"lots\": expected bytes or a number with kB, MB, GB or TB",
        ),
        (
            &["--nagios", "--critical-lag=1XB"],
            "--critical-lag \"1XB\": expected bytes",
        ),
        (
            &["--nagios", "--warning-lag=2MB", "--critical-lag=1MB"],
            "--warning-lag 2097152 B is above --critical-lag 1048576 B",
        ),
        (&["--nagios", "--json"], "--json and --nagios"),
        (&["--warning-lag=1MB"], "apply to --nagios only"),
        (&["--nagios", "--bogus"], "unknown argument \"--bogus\""),
    ];
    for (args, want) in cases {
        let e = parse_poolstatus(os(args)).unwrap_err();
        assert!(e.to_string().contains(want), "{args:?}: {e}");
        // The parse itself says whether the line asked for --nagios.
        let unknown = matches!(e, CliError::Nagios(_));
        assert_eq!(unknown, args.contains(&"--nagios"), "{args:?}");
        let code = report::<()>(Program::Poolstatus, Err(e)).unwrap_err();
        assert_eq!(code, if unknown { 3 } else { 2 }, "{args:?}");
    }
    for (args, want) in [
        (&["--nag"][..], true),
        (&["--n=x"], true),
        (&["--json", "--config", "/etc/nagios"], false),
        (&["--", "--nagiosx"], false),
        (&["--config", "--nagios"], true),
        (&["@/nonexistent/args.txt", "--nagios"], true),
    ] {
        let nagios = match parse_poolstatus(os(args)) {
            Ok(Parsed::Args(a)) => a.nagios,
            Ok(other) => panic!("{args:?}: {other:?}"),
            Err(e) => matches!(e, CliError::Nagios(_)),
        };
        assert_eq!(nagios, want, "{args:?}");
    }
    // A config that cannot be used is the plugin's UNKNOWN too.
    let dir = std::env::temp_dir().join(format!("pgpw-cli-nagios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let f = dir.join("bad.ini");
    std::fs::write(&f, "[poolstatus]\nssh_port = 0\n").expect("write");
    let cfg = f.display().to_string();
    let e = start_poolstatus(os(&["--config", &cfg, "--nagios"]), &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    let e = start_poolstatus(os(&["--config", &cfg]), &mut Vec::new()).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
}

/// Every program's flags table, with its `--help` text.
fn tables_and_help() -> Vec<(&'static table::Table, String)> {
    let mut out: Vec<(&'static table::Table, String)> =
        [Program::Pgpwatch, Program::Repmgrwatch, Program::Poolstatus]
            .into_iter()
            .map(|p| (table_of(p), help(p)))
            .collect();
    out.push((&sendmail::SENDMAIL, sendmail_help()));
    out
}

/// Issue 19: `--help` is made from the table, so every row shows there:
/// its left column and each line of its text, in table order.
#[test]
fn every_flag_of_each_table_is_in_that_programs_help() {
    for (t, text) in tables_and_help() {
        let mut from = 0;
        for f in t.flags {
            let head = format!("\n  {} ", f.synopsis());
            let at = text[from..]
                .find(&head)
                .unwrap_or_else(|| panic!("{}: {head:?} (in order) in\n{text}", t.program));
            from += at + head.len();
            for line in f.help_text().lines() {
                assert!(
                    text.contains(&format!(" {line}\n")),
                    "{}: {line:?} of {} in\n{text}",
                    t.program,
                    f.name
                );
            }
        }
        assert!(t.flags.len() >= 5, "{}", t.program);
    }
}

/// Issue 19: what is not a row is refused, with the argument named: a
/// made-up flag, and every other program's flag that is neither a row
/// here nor a unique prefix of one.
#[test]
fn each_program_refuses_a_flag_not_in_its_table() {
    let all = tables_and_help();
    let mut refused = 0;
    for (t, _) in &all {
        let mut strangers = vec![("--not-a-flag", table::Takes::Switch)];
        for (other, _) in &all {
            for f in other.flags {
                let rows_it_starts = t.flags.iter().filter(|r| r.name.starts_with(f.name));
                if t.flag(f.name).is_none() && rows_it_starts.count() == 0 {
                    strangers.push((f.name, f.takes));
                }
            }
        }
        for (name, takes) in strangers {
            let arg = match takes {
                table::Takes::Switch => name.to_string(),
                _ => format!("{name}=x"),
            };
            let text = match t.program {
                "pgpwatch" => parse_pgpwatch(os(&[&arg]))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                "repmgrwatch" => parse_repmgrwatch(os(&[&arg]))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                "poolstatus" => parse_poolstatus(os(&[&arg]))
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                _ => {
                    let mut line = vec![
                        "--user=u",
                        "--password=p",
                        "--server=s",
                        "--sender=a@b.c",
                        "--subject=S",
                        "--receivers=a@b.c",
                    ];
                    line.push(&arg);
                    sendmail::parse(os(&line), &mut Vec::new())
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            };
            let e = text.expect_err(&format!("{} accepted {arg}", t.program));
            let want = if t.dialect == table::Dialect::Argparse {
                "unrecognized argument: "
            } else {
                "unknown argument "
            };
            assert!(
                e.contains(want) && e.contains(name),
                "{} {arg}: {e}",
                t.program
            );
            refused += 1;
        }
    }
    assert!(refused > 30, "{refused}");
}

/// The text between docs/operating.md's flags markers.
fn docs_flags(doc: &str) -> Option<&str> {
    let begin = "<!-- flags tables: begin -->\n";
    let start = doc.find(begin)? + begin.len();
    let end = doc[start..].find("<!-- flags tables: end -->")?;
    Some(&doc[start..start + end])
}

/// docs/operating.md's "Command lines" are the flags tables, as
/// [`flags_markdown`] writes them. `PGPOOLWATCH_WRITE_DOCS=1` writes them
/// there first.
#[test]
fn flags_doc_matches_the_tables() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operating.md");
    let mut doc = std::fs::read_to_string(&path).expect("docs/operating.md");
    let want = flags_markdown();
    if std::env::var_os("PGPOOLWATCH_WRITE_DOCS").is_some() {
        let old = docs_flags(&doc).expect("the flags markers").to_string();
        doc = doc.replacen(
            &format!("<!-- flags tables: begin -->\n{old}"),
            &format!("<!-- flags tables: begin -->\n{want}"),
            1,
        );
        std::fs::write(&path, &doc).expect("write docs/operating.md");
    }
    assert_eq!(
        docs_flags(&doc),
        Some(want.as_str()),
        "docs/operating.md's Command lines drifted from the flags tables (src/cli/watchers.rs, src/mail/options.rs); \
         PGPOOLWATCH_WRITE_DOCS=1 cargo test --lib flags_doc writes them"
    );
    for t in [&watchers::PGPWATCH, &sendmail::SENDMAIL] {
        assert!(want.contains(&t.markdown()), "{}", t.program);
    }
}
