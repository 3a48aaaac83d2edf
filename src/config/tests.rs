//! The configuration's unit tests: the original's sample, required keys,
//! bad values, warnings, the alias, the [poolstatus] defaults, TLS keys,
//! startup_grace, flags, and the table's own consistency.

use super::*;
use crate::account::this_hostname;
use crate::config::tls::{SslMode, TlsSettings};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ORIGINAL: &str = "[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=yes\nopen_port = 5559\n\n[repmgr]\ncheck_period=10\npgp_server_1=192.168.168.90\npgp_server_2=192.168.255.90\ncheck_port = 5559\nopen_port = 5559\nforce_open = yes\n\n[general]\nsendmail=yes\nsendmail_path=/root/pgpoolwatch/sendmail.py\nsendmail_settings_path=/root/pgpoolwatch/args.txt\npoolstatus_path=/root/pgpoolwatch/poolstatus.py\npoolstatus_user=postgres\n";

fn parse(text: &str, p: Program) -> Result<Settings, ConfigError> {
    Settings::parse(text, Path::new("/etc/x/config.ini"), p)
}

#[test]
fn original_sample_gives_original_values_and_new_defaults() {
    let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
    assert_eq!(s.pgp.check_period, Duration::from_secs(10));
    assert_eq!(s.pgp.success_period, 5);
    assert!(s.pgp.mail_on_success);
    assert_eq!(s.pgp.open_port, 5559);
    assert_eq!(s.repmgr.pgp_server_1, "192.168.168.90");
    assert_eq!(s.repmgr.pgp_server_2, "192.168.255.90");
    assert!(s.repmgr.force_open);
    assert!(s.general.sendmail);
    assert_eq!(
        s.general.sendmail_settings_path,
        PathBuf::from("/root/pgpoolwatch/args.txt")
    );
    assert_eq!(
        s.general.poolstatus_path,
        PathBuf::from("/root/pgpoolwatch/poolstatus.py")
    );
    assert_eq!(s.pgp.pgpool_user, "pgpool");
    assert_eq!(s.pgp.pgpool_database, "postgres");
    assert_eq!(s.pgp.bind_address.to_string(), "0.0.0.0");
    assert_eq!(s.repmgr.repmgr_user, "repmgr");
    assert_eq!(s.poolstatus.ssh_user, "postgres");
    assert_eq!(s.poolstatus.ssh_port, 22);
    assert_eq!(s.poolstatus.disk_path, "/");
    assert_eq!(s.poolstatus.ssh_key, None);
    assert_eq!(s.source, PathBuf::from("/etc/x/config.ini"));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    for p in [Program::Repmgrwatch, Program::Poolstatus] {
        assert_eq!(parse(ORIGINAL, p).expect("parse").pgp, s.pgp);
    }
}

#[test]
fn required_keys_only_for_their_program() {
    let e = parse(
        "[repmgr]\npgp_server_1=a\npgp_server_2=b\n",
        Program::Pgpwatch,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Missing);
    assert_eq!(
        e.to_string(),
        "/etc/x/config.ini: [pgp] check_period: missing, pgpwatch needs it (the file has no [pgp] section); expected seconds > 0, e.g. 10 or 2.5"
    );
    let s = parse(
        "[repmgr]\npgp_server_1=a\npgp_server_2=b\n",
        Program::Repmgrwatch,
    )
    .expect("repmgrwatch");
    assert_eq!(s.pgp.check_period, Duration::from_secs(10));
    assert_eq!(s.pgp.success_period, 1);
    assert!(!s.pgp.mail_on_success);
    let e = parse(
        "[pgp]\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n[repmgr]\npgp_server_1=a\n",
        Program::Repmgrwatch,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("[repmgr] pgp_server_2: missing, repmgrwatch needs it"),
        "{e}"
    );
    let s = parse("", Program::Poolstatus).expect("poolstatus needs nothing");
    assert_eq!(s.repmgr.pgp_server_1, "");
}

#[test]
fn misspelt_send_mail_settings_path_is_honoured_and_the_documented_key_wins() {
    let s = parse(
        "[general]\nsendmail=yes\nsend_mail_settings_path=/etc/pgpoolwatch/args.txt\n",
        Program::Poolstatus,
    )
    .expect("parse");
    assert_eq!(
        s.general.sendmail_settings_path,
        PathBuf::from("/etc/pgpoolwatch/args.txt")
    );
    assert_eq!(
        s.warnings,
        vec!["/etc/x/config.ini:3: [general] send_mail_settings_path (the original's misspelling) read as sendmail_settings_path; rename the key".to_string()]
    );
    let s = parse(
        "[general]\nsend_mail_settings_path=/old/args.txt\nsendmail_settings_path=/new/args.txt\n",
        Program::Poolstatus,
    )
    .expect("parse");
    assert_eq!(
        s.general.sendmail_settings_path,
        PathBuf::from("/new/args.txt")
    );
    assert_eq!(
        s.warnings,
        vec!["/etc/x/config.ini:2: [general] send_mail_settings_path ignored: sendmail_settings_path is set and wins".to_string()]
    );
    let e = parse("[general]\nsend_mail_settings_path=\n", Program::Poolstatus).unwrap_err();
    assert!(
        e.to_string()
            .contains(":2: [general] send_mail_settings_path: "),
        "{e}"
    );
}

#[test]
fn bad_values_in_sections_a_program_does_not_read_only_warn() {
    let text = "[pgp]\ncheck_period=1\nsuccess_period = 0\nmail_on_success=no\n[repmgr]\npgp_server_1=a\npgp_server_2=b\n";
    let s = parse(text, Program::Repmgrwatch).expect("repmgrwatch ignores [pgp]");
    assert_eq!(
        s.warnings,
        vec!["/etc/x/config.ini:3: [pgp] success_period: \"0\" is not valid; expected a whole number >= 1; ignored: repmgrwatch does not read this key".to_string()],
    );
    let e = parse(text, Program::Pgpwatch).unwrap_err();
    assert!(
        e.to_string().contains(":3: [pgp] success_period:"),
        "pgpwatch reads [pgp]: {e}"
    );
    // pgpwatch does not read [repmgr] rise; repmgrwatch does.
    let other = text.replace("success_period = 0", "success_period = 1") + "rise = none\n";
    let s = parse(&other, Program::Pgpwatch).expect("pgpwatch ignores [repmgr] rise");
    assert!(
        s.warnings[0].contains(":8: [repmgr] rise:")
            && s.warnings[0].ends_with("ignored: pgpwatch does not read this key"),
        "{:?}",
        s.warnings
    );
    let e = parse(&other, Program::Repmgrwatch).unwrap_err();
    assert!(e.to_string().contains(":8: [repmgr] rise:"), "{e}");
    // A key the program reads through [poolstatus] defaults stays an error.
    let e = parse("[repmgr]\nrepmgr_user = a b\n", Program::Poolstatus).unwrap_err();
    assert!(e.to_string().contains(":2: [repmgr] repmgr_user:"), "{e}");
}

#[test]
fn startup_grace_defaults_to_check_period_plus_connect_timeout() {
    let base = "[repmgr]\npgp_server_1=a\npgp_server_2=b\ncheck_period=3\nconnect_timeout=2\n";
    let s = parse(base, Program::Repmgrwatch).expect("parse");
    assert_eq!(s.repmgr.grace(), Duration::from_secs(5));
    assert!(s.render().contains("repmgr.startup_grace = 5\n"));
    let s = parse(&format!("{base}startup_grace = 0\n"), Program::Repmgrwatch).expect("0 = off");
    assert_eq!(s.repmgr.grace(), Duration::ZERO);
    let s = parse(
        &format!("{base}startup_grace = 30.5\n"),
        Program::Repmgrwatch,
    )
    .expect("parse");
    assert_eq!(s.repmgr.grace(), Duration::from_secs_f64(30.5));
    let e = parse(&format!("{base}startup_grace = -1\n"), Program::Repmgrwatch).unwrap_err();
    assert!(
        e.to_string()
            .contains(":6: [repmgr] startup_grace: \"-1\" is not valid; expected seconds >= 0"),
        "{e}"
    );
}

#[test]
fn bad_values_name_file_line_section_key_and_expectation() {
    let cases = [
        ("check_period = abc", 3, "check_period", "seconds > 0"),
        ("check_period = 0", 3, "check_period", "seconds > 0"),
        ("check_period = -1", 3, "check_period", "seconds > 0"),
        ("check_period = inf", 3, "check_period", "seconds > 0"),
        ("check_period = nan", 3, "check_period", "seconds > 0"),
        ("check_period = 1e300", 3, "check_period", "seconds > 0"),
        ("success_period = 0", 3, "success_period", ">= 1"),
        ("success_period = 2.5", 3, "success_period", ">= 1"),
        ("mail_on_success = maybe", 3, "mail_on_success", "yes/no"),
        ("open_port = 0", 3, "open_port", "1..65535"),
        ("open_port = 65536", 3, "open_port", "1..65535"),
        ("rise = 0", 3, "rise", ">= 1"),
        ("fall = -2", 3, "fall", ">= 1"),
        ("connect_timeout = 0", 3, "connect_timeout", "seconds > 0"),
        ("bind_address = localhost", 3, "bind_address", "IP address"),
        ("mail_on_success", 3, "mail_on_success", "has no value"),
    ];
    for (line, lineno, key, expected) in cases {
        let text = format!(
            "# comment\n[pgp]\n{line}\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n"
        );
        // The bad key stands first; move the valid ones out of its way.
        let text = text.replacen(&format!("\n{key}="), &format!("\nx_{key}="), 1);
        let e = parse(&text, Program::Pgpwatch).unwrap_err();
        let msg = e.to_string();
        assert_eq!(e.line, Some(lineno), "{line}: {msg}");
        assert!(
            msg.starts_with(&format!("/etc/x/config.ini:{lineno}: [pgp] {key}: ")),
            "{line}: {msg}"
        );
        assert!(msg.contains(expected), "{line}: {msg}");
        assert!(!msg.contains('\n'), "{line}: one line: {msg}");
    }
}

#[test]
fn python2_value_forms_are_accepted() {
    let text = "[DEFAULT]\nconnect_timeout = 3\n[pgp]\ncheck_period: 2.5 ; every 2.5 s\nsuccess_period=  7\nMail_On_Success = ON\nopen_port = 05559\n[general]\nsendmail = \"\"\n";
    let err = parse(text, Program::Pgpwatch).unwrap_err();
    // `""` is an empty value, which is not a boolean.
    assert_eq!((err.line, err.key), (Some(9), Some("sendmail")), "{err}");
    let s = parse(
        &text.replace("sendmail = \"\"", "sendmail = 1"),
        Program::Pgpwatch,
    )
    .expect("parse");
    assert_eq!(s.pgp.check_period, Duration::from_millis(2500));
    assert_eq!(s.pgp.success_period, 7);
    assert!(s.pgp.mail_on_success);
    assert_eq!(s.pgp.open_port, 5559);
    assert!(s.general.sendmail);
    // DEFAULT reaches every section present.
    assert_eq!(s.pgp.connect_timeout, Duration::from_secs(3));
}

#[test]
fn poolstatus_follows_pgp_repmgr_and_general() {
    let text = "[pgp]\npgpool_host=10.0.0.1\npgpool_port=9999\n[repmgr]\nrepmgr_user=rm\n[general]\npoolstatus_user=pgadmin\n[poolstatus]\npgpool_user=monitor\nssh_key=/k/id\nssh_known_hosts=\n";
    let s = parse(text, Program::Poolstatus).expect("parse");
    let p = &s.poolstatus;
    assert_eq!((p.pgpool_host.as_str(), p.pgpool_port), ("10.0.0.1", 9999));
    assert_eq!(p.pgpool_user, "monitor");
    assert_eq!(p.pgpool_database, "postgres");
    assert_eq!(p.repmgr_user, "rm");
    assert_eq!(p.ssh_user, "pgadmin");
    assert_eq!(p.ssh_key, Some(PathBuf::from("/k/id")));
    assert_eq!(p.ssh_known_hosts, None);
}

#[test]
fn unknown_keys_and_sections_warn() {
    let text =
        format!("{ORIGINAL}\n[PGP]\nx=1\n[extra]\n[pgp]\nchek_period=3\n[DEFAULT]\nnonsense=1\n");
    let s = parse(&text, Program::Pgpwatch).expect("parse");
    let w = s.warnings.join("\n");
    assert_eq!(s.warnings.len(), 4, "{w}");
    assert!(
        w.contains("unknown section [PGP] ignored (did you mean [pgp]?"),
        "{w}"
    );
    assert!(w.contains("unknown section [extra] ignored"), "{w}");
    assert!(
        w.contains("/etc/x/config.ini:26: [pgp] unknown key 'chek_period' ignored (did you mean check_period?)"),
        "{w}"
    );
    assert!(
        w.contains("[DEFAULT] unknown key 'nonsense' ignored\n")
            || w.ends_with("[DEFAULT] unknown key 'nonsense' ignored"),
        "no far-fetched guess: {w}"
    );
}

#[test]
fn a_typo_in_a_key_gets_did_you_mean() {
    let text = format!("{ORIGINAL}\n[repmgr]\npgp_server_1=a\npgp_server_2=b\nforce_opne = yes\nsslmdoe = require\nx = 1\n");
    let s = parse(&text, Program::Repmgrwatch).expect("parse");
    let w = s.warnings.join("\n");
    assert!(
        w.contains("[repmgr] unknown key 'force_opne' ignored (did you mean force_open?)"),
        "{w}"
    );
    assert!(
        w.contains("[repmgr] unknown key 'sslmdoe' ignored (did you mean sslmode?)"),
        "{w}"
    );
    assert!(
        w.contains("[repmgr] unknown key 'x' ignored") && !w.contains("'x' ignored (did"),
        "{w}"
    );
}

#[test]
fn overrides_replace_keys_and_errors_name_the_flag() {
    let o = |key: &'static str, value: Value, flag: &'static str| Override {
        section: "pgp",
        key,
        value,
        flag,
    };
    let s = Settings::parse_with(
        "[pgp]\nsuccess_period=3\nmail_on_success=no\n",
        Path::new("c.ini"),
        Program::Pgpwatch,
        &[
            o(
                "check_period",
                Value::Seconds(Duration::from_millis(500)),
                "--check-period",
            ),
            o("mail_on_success", Value::Bool(true), "--mail-on-success"),
        ],
    )
    .expect("parse");
    assert_eq!(s.pgp.check_period, Duration::from_millis(500));
    assert!(s.pgp.mail_on_success);
    // A flag's value is typed (text like "x" is refused by the command
    // line parser); a typed value out of the key's range still names the flag.
    let e = Settings::parse_with(
        "",
        Path::new("c.ini"),
        Program::Pgpwatch,
        &[o(
            "check_period",
            Value::Seconds(Duration::ZERO),
            "--check-period",
        )],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "command line: --check-period: \"0\" is not valid; expected seconds > 0, e.g. 10 or 2.5"
    );
    let e = Settings::parse_with(
        "",
        Path::new("c.ini"),
        Program::Pgpwatch,
        &[o(
            "check_period",
            Value::Seconds(Duration::from_secs(86_401)),
            "--check-period",
        )],
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "command line: --check-period: \"86401\" is too large; expected seconds > 0, e.g. 10 or 2.5, at most 86400 (one day)");
    let e = Settings::parse_with(
        "[pgp]\ncheck_period=1\nmail_on_success=no\n",
        Path::new("c.ini"),
        Program::Pgpwatch,
        &[o("success_period", Value::Count(0), "--success-period")],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "command line: --success-period: \"0\" is not valid; expected a whole number >= 1"
    );
}

#[test]
fn syntax_and_read_errors_are_one_line() {
    let e = parse("[pgp]\ncheck_period=1\n= 3\n", Program::Pgpwatch).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert!(
        e.to_string()
            .starts_with("/etc/x/config.ini:3: cannot read \"= 3\""),
        "{e}"
    );
    let e = Settings::load(Path::new("/nonexistent/config.ini"), Program::Pgpwatch).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unreadable);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/config.ini: cannot read: "),
        "{e}"
    );
}

#[test]
fn render_lists_every_key_once() {
    let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
    let out = s.render();
    for k in KEYS {
        let prefix = format!("{}.{} = ", k.section, k.key);
        assert_eq!(
            out.lines().filter(|l| l.starts_with(&prefix)).count(),
            1,
            "{prefix} in\n{out}"
        );
    }
    assert!(out.contains("pgp.check_period = 10\n"), "{out}");
    assert!(out.contains("repmgr.force_open = yes\n"), "{out}");
    assert!(
        out.contains("poolstatus.ssh_key = (default: ~postgres/.ssh/"),
        "{out}"
    );
}

#[test]
fn tls_keys_per_section_and_poolstatus_follows_pgp() {
    let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
    for t in [&s.pgp.tls, &s.repmgr.tls, &s.poolstatus.tls] {
        assert_eq!(t, &TlsSettings::default(), "prefer, libpq's default files");
    }
    let text = "[pgp]\nsslmode = verify-full\nsslrootcert = /etc/pg/ca.crt\nsslcert = /etc/pg/c.crt\nsslkey = /etc/pg/c.key\n[repmgr]\nSSLMODE = require\n[poolstatus]\nsslkey =\n";
    let s = parse(text, Program::Poolstatus).expect("parse");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.pgp.tls.mode, SslMode::VerifyFull);
    assert_eq!(s.pgp.tls.root_cert, Some(PathBuf::from("/etc/pg/ca.crt")));
    assert_eq!(s.pgp.tls.cert, Some(PathBuf::from("/etc/pg/c.crt")));
    assert_eq!(s.pgp.tls.key, Some(PathBuf::from("/etc/pg/c.key")));
    assert_eq!(s.repmgr.tls.mode, SslMode::Require);
    assert_eq!(
        s.repmgr.tls.root_cert, None,
        "[repmgr] does not follow [pgp]"
    );
    let p = &s.poolstatus.tls;
    assert_eq!(p.mode, SslMode::VerifyFull, "follows [pgp]");
    assert_eq!(p.root_cert, s.pgp.tls.root_cert, "follows [pgp]");
    assert_eq!(p.key, None, "empty value: back to the default file");
    let out = s.render();
    for row in [
        "pgp.sslmode = verify-full\n",
        "pgp.sslrootcert = /etc/pg/ca.crt\n",
        "repmgr.sslmode = require\n",
        "repmgr.sslrootcert = (default: ~postgres/.postgresql/root.crt, if present)\n",
        "poolstatus.sslkey = (default: ~postgres/.postgresql/postgresql.key, if present)\n",
    ] {
        assert!(out.contains(row), "{row} in\n{out}");
    }
    let pgp_fall = out.find("pgp.fall = ").expect("pgp.fall");
    let pgp_ssl = out.find("pgp.sslmode = ").expect("pgp.sslmode");
    let repmgr_first = out.find("repmgr.check_period = ").expect("repmgr");
    assert!(
        pgp_fall < pgp_ssl && pgp_ssl < repmgr_first,
        "KEYS order:\n{out}"
    );
}

#[test]
fn bad_sslmode_names_file_line_section_key_and_values() {
    let e = parse(
        "[repmgr]\npgp_server_1=a\nsslmode = verify_full\npgp_server_2=b\n",
        Program::Repmgrwatch,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/x/config.ini:3: [repmgr] sslmode: \"verify_full\" is not valid; expected one of disable, allow, prefer, require, verify-ca, verify-full"
    );
    let e = parse("[poolstatus]\nsslmode = on\n", Program::Poolstatus).unwrap_err();
    assert_eq!((e.line, e.key), (Some(2), Some("sslmode")), "{e}");
}

#[test]
fn seconds_keys_above_their_cap_are_refused_with_file_line_key() {
    // The caps, as the table says them: a day for check_period, an hour
    // for the timeouts. 1e19 s was accepted and overflowed `Instant + Duration`.
    let capped: Vec<(&str, &str, u64)> = KEYS
        .iter()
        .filter_map(|k| k.ty.cap().map(|c| (k.section, k.key, c.secs)))
        .collect();
    assert_eq!(
        capped,
        vec![
            ("pgp", "check_period", 86_400),
            ("pgp", "connect_timeout", 3_600),
            ("repmgr", "check_period", 86_400),
            ("repmgr", "connect_timeout", 3_600),
            ("repmgr", "startup_grace", 3_600),
            ("poolstatus", "connect_timeout", 3_600),
        ]
    );
    let base = "[pgp]\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n[repmgr]\npgp_server_1=a\npgp_server_2=b\n";
    for (section, key, cap) in capped {
        let name = if cap == 86_400 { "one day" } else { "one hour" };
        for (value, ok) in [
            (cap.to_string(), true),
            (format!("{cap}.5"), false),
            ((cap + 1).to_string(), false),
            ("1e19".to_string(), false),
            ("1e300".to_string(), false),
        ] {
            // The key in its own section after the base, at line 9.
            let text = format!("{base}[{section}]\n{key} = {value}\n").replacen(
                &format!("[{section}]\n{key}="),
                &format!("[{section}]\nx_{key}="),
                1,
            );
            for program in [Program::Pgpwatch, Program::Repmgrwatch] {
                let reads = find_key(section, key)
                    .expect("row")
                    .read_by
                    .contains(&program);
                let got = parse(&text, program);
                let row = format!("{program:?} [{section}] {key} = {value}");
                match (ok, got) {
                    (true, Ok(s)) => assert!(
                        s.render().contains(&format!("{section}.{key} = {cap}\n")),
                        "{row}"
                    ),
                    (false, Err(e)) if reads => {
                        assert_eq!(e.to_string(), format!(
                            "/etc/x/config.ini:9: [{section}] {key}: \"{value}\" is too large; expected {}, at most {cap} ({name})",
                            find_key(section, key).expect("row").ty.expected()
                        ), "{row}");
                        assert_eq!(e.kind, ErrorKind::Invalid, "{row}");
                    }
                    (false, Ok(s)) if !reads => assert!(
                        s.warnings.iter().any(|w| w
                            .contains(&format!(":9: [{section}] {key}: \"{value}\" is too large"))),
                        "{row}: {:?}",
                        s.warnings
                    ),
                    (_, other) => panic!("{row}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn the_table_is_consistent() {
    let mut seen = Vec::new();
    let mut sections = Vec::new();
    for (i, k) in KEYS.iter().enumerate() {
        assert!(!seen.contains(&(k.section, k.key)), "{k:?} has two rows");
        seen.push((k.section, k.key));
        if sections.last() != Some(&k.section) {
            assert!(
                !sections.contains(&k.section),
                "{k:?}: rows of a section stand together"
            );
            sections.push(k.section);
        }
        assert!(
            !k.doc.is_empty() && !k.doc.contains('\n') && !k.doc.contains('|'),
            "{k:?}: one-line doc"
        );
        for p in k.required_by {
            assert!(
                k.read_by.contains(p),
                "{k:?}: {p:?} requires it, so reads it"
            );
        }
        let mut s = Settings::defaults(Program::Poolstatus);
        match k.default {
            KeyDefault::Is(text) => {
                assert_eq!(k.ty.read(&mut s, text), Ok(()), "{k:?}: its default reads");
                assert_eq!(
                    k.ty.render(&s),
                    text,
                    "{k:?}: the default renders as written"
                );
            }
            KeyDefault::Follows(sec, key) => {
                let at = KEYS
                    .iter()
                    .position(|f| f.section == sec && f.key == key)
                    .unwrap_or_else(|| panic!("{k:?} follows a missing row"));
                assert!(at < i, "{k:?}: the followed key is read first");
                assert!(
                    k.ty.copy_from(&KEYS[at].ty, &mut s),
                    "{k:?}: same form as [{sec}] {key}"
                );
            }
            KeyDefault::Nothing => {
                assert!(!k.required_by.is_empty(), "{k:?}: no default, so required")
            }
            KeyDefault::Hostname | KeyDefault::Described(_) => {}
        }
    }
    assert_eq!(sections, SECTIONS);
    // Every flag lands in a row whose form takes its value.
    let args = crate::cli::PgpwatchArgs {
        common: crate::cli::CommonArgs {
            config: Some(PathBuf::from("c.ini")),
            check_config: false,
        },
        check_period: Some(Duration::from_secs(2)),
        success_period: Some(3),
        mail_on_success: true,
        run_once: false,
    };
    let overrides = args.overrides();
    assert_eq!(overrides.len(), 3);
    for o in &overrides {
        let k = find_key(o.section, o.key).unwrap_or_else(|| panic!("{o:?}: no row"));
        let mut s = Settings::defaults(Program::Pgpwatch);
        assert_eq!(k.ty.give(&mut s, &o.value), Some(Ok(())), "{o:?}");
    }
}

#[test]
fn defaults_from_the_table_are_the_original_defaults() {
    // The literal defaults the code had before the table, field by field.
    let s = Settings::defaults(Program::Poolstatus);
    let any = IpAddr::from([0u8, 0, 0, 0]);
    let five = Duration::from_secs(5);
    let expected = Settings {
        source: PathBuf::from("<built-in defaults>"),
        pgp: PgpSettings {
            check_period: Duration::from_secs(10),
            success_period: 1,
            mail_on_success: false,
            open_port: 5559,
            pgpool_host: "localhost".into(),
            pgpool_port: 5432,
            pgpool_user: "pgpool".into(),
            pgpool_database: "postgres".into(),
            bind_address: any,
            connect_timeout: five,
            rise: 1,
            fall: 1,
            tls: TlsSettings::default(),
            api_port: None,
            api_bind_address: None,
            agent_port: None,
        },
        repmgr: RepmgrSettings {
            check_period: Duration::from_secs(10),
            pgp_server_1: String::new(),
            pgp_server_2: String::new(),
            check_port: 5559,
            open_port: 5559,
            force_open: false,
            node_name: this_hostname().unwrap_or_else(|| "localhost".into()),
            bind_address: any,
            repmgr_host: "localhost".into(),
            repmgr_port: 5432,
            repmgr_user: "repmgr".into(),
            repmgr_database: "repmgr".into(),
            connect_timeout: five,
            rise: 1,
            fall: 1,
            startup_grace: None,
            tls: TlsSettings::default(),
            api_port: None,
            api_bind_address: None,
            agent_port: None,
        },
        general: GeneralSettings {
            sendmail: false,
            sendmail_path: "/root/pgpoolwatch/sendmail.py".into(),
            sendmail_settings_path: "/root/pgpoolwatch/args.txt".into(),
            poolstatus_path: "/var/lib/pgsql/poolstatus.py".into(),
            poolstatus_user: "postgres".into(),
            state_dir: "/var/lib/pgpoolwatch".into(),
            allow_cleartext_password: false,
            fast_path: true,
        },
        poolstatus: PoolstatusSettings {
            pgpool_host: "localhost".into(),
            pgpool_port: 5432,
            pgpool_user: "pgpool".into(),
            pgpool_database: "postgres".into(),
            repmgr_user: "repmgr".into(),
            repmgr_database: "repmgr".into(),
            ssh_user: "postgres".into(),
            ssh_port: 22,
            ssh_key: None,
            ssh_known_hosts: None,
            connect_timeout: five,
            disk_path: "/".into(),
            tls: TlsSettings::default(),
        },
        warnings: s.warnings.clone(),
    };
    assert_eq!(s, expected);
    assert_eq!(s.repmgr.grace(), Duration::from_secs(15));
}

/// docs/configuration.md, whose "## Keys" table is generated from [`KEYS`].
fn configuration_doc() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md")
}

/// The byte range of the "## Keys" section of `doc` (up to the next `## `).
fn keys_section(doc: &str) -> std::ops::Range<usize> {
    let start = doc
        .find("\n## Keys\n")
        .expect("docs/configuration.md has a ## Keys section")
        + 1;
    let end = doc[start + 1..]
        .find("\n## ")
        .map_or(doc.len(), |i| start + 1 + i + 1);
    start..end
}

/// Every table row (a line starting with `|`) of the "## Keys" section.
fn docs_key_table(doc: &str) -> Vec<String> {
    doc[keys_section(doc)]
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(str::to_string)
        .collect()
}

/// `doc` with the "## Keys" section's table (its first run of `|` lines)
/// replaced by `table`.
fn with_key_table(doc: &str, table: &str) -> String {
    let section = &doc[keys_section(doc)];
    let offset = keys_section(doc).start;
    let first = section
        .find("\n|")
        .map(|i| offset + i + 1)
        .expect("docs/configuration.md: the ## Keys section has a table");
    let mut end = first;
    for line in doc[first..].split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    format!("{}{}{}", &doc[..first], table, &doc[end..])
}

#[test]
fn with_key_table_replaces_only_the_table() {
    let doc = "# C\n\n## Keys\n\ntext\n\n| a |\n|---|\n| old |\n\nafter\n\n## Next\n\n| x |\n";
    assert_eq!(
        with_key_table(doc, "| a |\n|---|\n| new |\n| two |\n"),
        "# C\n\n## Keys\n\ntext\n\n| a |\n|---|\n| new |\n| two |\n\nafter\n\n## Next\n\n| x |\n"
    );
    assert_eq!(docs_key_table(doc), ["| a |", "|---|", "| old |"]);
}

/// The key table of docs/configuration.md is generated by [`markdown_table`]:
/// it must read exactly so. `PGPOOLWATCH_WRITE_DOCS=1` writes it there first.
#[test]
fn docs_key_table_matches_the_table() {
    let path = configuration_doc();
    let mut doc = std::fs::read_to_string(&path).expect("docs/configuration.md");
    if std::env::var_os("PGPOOLWATCH_WRITE_DOCS").is_some() {
        doc = with_key_table(&doc, &markdown_table());
        std::fs::write(&path, &doc).expect("write docs/configuration.md");
    }
    let want: Vec<String> = markdown_table().lines().map(str::to_string).collect();
    assert_eq!(
        docs_key_table(&doc),
        want,
        "docs/configuration.md's ## Keys table drifted from KEYS (src/config/keys.rs); \
         it should read (PGPOOLWATCH_WRITE_DOCS=1 cargo test --lib key_table writes it):\n{}",
        markdown_table()
    );
}

#[test]
fn sample_config_has_every_key_with_its_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.ini.sample");
    let text = std::fs::read_to_string(&path).expect("config.ini.sample");
    // (section, key, commented out, value) of every key line, `#key = v`
    // included (a `# ` with a space is prose).
    let mut lines = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let (commented, body) = match line.strip_prefix('#') {
            Some(b) => (true, b),
            None => (false, line),
        };
        if let Some(name) = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = body.split_once(['=', ':']) else {
            continue;
        };
        let key = key.trim_end();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        lines.push((
            section.clone(),
            key.to_string(),
            commented,
            value.trim().to_string(),
        ));
    }
    // The value a commented-out line must show: the default, when it is one.
    fn shown(k: &Key) -> Option<&'static str> {
        match k.default {
            KeyDefault::Is(v) => Some(v),
            KeyDefault::Follows(s, key) => find_key(s, key).and_then(shown),
            _ => None,
        }
    }
    for k in KEYS {
        let hits: Vec<_> = lines
            .iter()
            .filter(|(s, key, _, _)| s == k.section && key == k.key)
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "{k:?}: once in config.ini.sample, commented or not"
        );
        let (_, _, commented, value) = hits[0];
        assert_eq!(
            !commented, k.original,
            "{k:?}: the original's keys stand as in its sample, the new ones are commented out"
        );
        if let (true, Some(want)) = (commented, shown(k)) {
            assert_eq!(value, want, "{k:?}: a commented-out key shows its default");
        }
    }
    for (s, key, _, _) in &lines {
        assert!(
            find_key(s, key).is_some(),
            "[{s}] {key} in config.ini.sample is not in the table"
        );
    }
}

#[test]
fn help_lists_the_keys_each_program_reads() {
    for program in [Program::Pgpwatch, Program::Repmgrwatch, Program::Poolstatus] {
        let help = help_text(program);
        for k in KEYS {
            let line = k.help_line();
            let under = help
                .split("  [")
                .find(|s| s.starts_with(&format!("{}]\n", k.section)))
                .is_some_and(|s| s.contains(&line));
            assert_eq!(
                under,
                k.read_by.contains(&program),
                "{program:?} {k:?}:\n{help}"
            );
        }
    }
    assert!(help_text(Program::Pgpwatch).contains("    check_period (required by pgpwatch): seconds between health checks (may be fractional); at most 86400 s (one day)\n"));
    assert!(help_text(Program::Repmgrwatch).contains("  [repmgr]\n    check_period (default: 10): seconds between checks (may be fractional); at most 86400 s (one day)\n"));
}
