//! The three configuration-reading binaries as an operator runs them: the
//! shipped config.ini.sample passes `--check-config`, a bad file gives one
//! line and exit 2, and `@file` arguments work on the real command line.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {bin}: {e}"))
}

fn sample() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config.ini.sample")
        .display()
        .to_string()
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgpw-it-config-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Root may create /var/lib/pgpoolwatch and look into /root; a
/// contributor running plain `cargo test` may not.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

const BINS: [&str; 3] = [
    env!("CARGO_BIN_EXE_pgpwatch"),
    env!("CARGO_BIN_EXE_repmgrwatch"),
    env!("CARGO_BIN_EXE_poolstatus"),
];

/// config.ini.sample with the files it names made real: its args.txt
/// (`sendmail=yes`) written, mode 0600, and `state_dir` in `dir`.
fn sample_with_its_files(dir: &std::path::Path) -> String {
    let args = dir.join("args.txt");
    std::fs::write(
        &args,
        "--user=u\n--password=p\n--server=mail.example.org\n--sender=pgpoolwatch@example.org\n--receivers=dba@example.org\n",
    )
    .expect("write args.txt");
    std::fs::set_permissions(&args, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let text = std::fs::read_to_string(sample()).expect("sample");
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
fn shipped_sample_passes_check_config_in_every_binary() {
    // As shipped: the settings are valid; the watchers, which mail
    // (sendmail=yes), fail only for want of /root/pgpoolwatch/args.txt:
    // "No such file or directory (os error 2)" as root, and the OS's
    // "Permission denied (os error 13)" for a user who may not look in /root.
    let cfg = sample();
    let args_error = std::fs::metadata("/root/pgpoolwatch/args.txt").err();
    let args_missing = args_error.is_some();
    for bin in BINS {
        let out = run(bin, &["--config", &cfg, "--check-config"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mails = bin != BINS[2];
        if mails && args_missing {
            assert_eq!(out.status.code(), Some(2), "{bin}: {out:?}");
            let errors: Vec<&str> = stdout
                .lines()
                .filter(|l| l.starts_with("error: "))
                .collect();
            let reason = match &args_error {
                Some(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    "No such file or directory (os error 2)".to_string()
                }
                Some(e) => e.to_string(),
                None => unreachable!("args_missing"),
            };
            assert_eq!(
                errors,
                vec![format!("error: [general] sendmail_settings_path /root/pgpoolwatch/args.txt: {reason} (sendmail = yes: every mail would fail)")],
                "{bin}:\n{stdout}"
            );
        } else {
            assert_eq!(out.status.code(), Some(0), "{bin}: {out:?}");
        }
        assert!(
            stdout.contains("pgp.success_period = 5\n"),
            "{bin}:\n{stdout}"
        );
        assert!(
            stdout.contains("general.sendmail_settings_path = /root/pgpoolwatch/args.txt\n"),
            "{bin}:\n{stdout}"
        );
        // A user other than root may not create the default state_dir
        // (/var/lib/pgpoolwatch): that one warning, word for word, and no other.
        let program = bin.rsplit('/').next().unwrap_or(bin);
        let state_dir_warning = format!(
            "warning: [general] state_dir: /var/lib/pgpoolwatch/{program} cannot be created \
             (/var/lib is not a writable directory); mail would be queued in memory only \
             (lost if the process dies) and the gate state not kept\n"
        );
        let rest = if running_as_root() {
            stdout.to_string()
        } else {
            stdout.replacen(&state_dir_warning, "", 1)
        };
        assert!(!rest.contains("warning"), "{bin}:\n{stdout}");
    }
    // With the files it names in place, every binary passes, silently.
    let cfg = sample_with_its_files(&temp_dir("sample"));
    for bin in BINS {
        let out = run(bin, &["--config", &cfg, "--check-config"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{bin}: {out:?}");
        assert!(
            stdout.contains("pgp.success_period = 5\n"),
            "{bin}:\n{stdout}"
        );
        assert!(
            !stdout.contains("warning") && !stdout.contains("error"),
            "{bin}:\n{stdout}"
        );
    }
}

#[test]
fn bad_config_is_one_line_and_exit_2() {
    let dir = temp_dir("bad");
    let cfg = dir.join("config.ini");
    std::fs::write(
        &cfg,
        "[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=perhaps\n",
    )
    .expect("write");
    let cfg = cfg.display().to_string();
    let out = run(BINS[0], &["--config", &cfg, "--check-config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        stderr,
        format!("pgpwatch: {cfg}:4: [pgp] mail_on_success: \"perhaps\" is not valid; expected yes/no, true/false, on/off or 1/0\n")
    );
    // repmgrwatch needs pgp_server_1/2, which this file lacks.
    let out = run(BINS[1], &[&format!("--config={cfg}"), "--check-config"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[repmgr] pgp_server_1: missing"),
        "{out:?}"
    );
    // With them, [pgp]'s bad value is only a warning for repmgrwatch, which
    // does not read [pgp] (the original ignored the sections it did not read).
    let with_repmgr = dir.join("with-repmgr.ini");
    std::fs::write(
        &with_repmgr,
        "[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=perhaps\n[repmgr]\npgp_server_1=a\npgp_server_2=b\n",
    )
    .expect("write");
    let out = run(
        BINS[1],
        &[
            "--conf",
            &with_repmgr.display().to_string(),
            "--check-config",
        ],
    );
    // --check-config prints its warnings with the settings.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains(":4: [pgp] mail_on_success: \"perhaps\" is not valid")
            && stdout.contains("ignored: repmgrwatch does not read this key"),
        "{stdout}"
    );
    let out = run(
        BINS[0],
        &[
            "--conf",
            &with_repmgr.display().to_string(),
            "--check-config",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "pgpwatch reads [pgp]: {out:?}");
}

#[test]
fn at_file_and_flags_on_a_real_command_line() {
    let dir = temp_dir("args");
    let args = dir.join("pgpwatch.args");
    std::fs::write(
        &args,
        format!(
            "--config={}\n--check-period=2.5\n",
            sample_with_its_files(&dir)
        ),
    )
    .expect("write");
    let out = run(
        BINS[0],
        &[&format!("@{}", args.display()), "--check-config"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout.contains("pgp.check_period = 2.5\n"), "{stdout}");
    let out = run(BINS[0], &["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"--frobnicate\""),
        "{out:?}"
    );
}

#[test]
fn poolstatus_without_readable_config_uses_defaults() {
    let out = run(
        BINS[2],
        &["--config", "/nonexistent/config.ini", "--check-config"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout.contains("# effective settings from <built-in defaults>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: /nonexistent/config.ini: cannot read"),
        "{stdout}"
    );
    // The watchers need their file.
    let out = run(BINS[1], &["--config", "/nonexistent/config.ini"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn help_of_every_binary_lists_the_keys_it_reads_from_the_table() {
    use pgpoolwatch::config::{Program, KEYS};
    let programs = [Program::Pgpwatch, Program::Repmgrwatch, Program::Poolstatus];
    for (bin, program) in BINS.iter().zip(programs) {
        let out = run(bin, &["--help"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{bin}: {out:?}");
        assert!(
            stdout.contains(&pgpoolwatch::config::help_text(program)),
            "{bin}:\n{stdout}"
        );
        let mut listed = 0;
        for k in KEYS {
            let line = k.help_line();
            if k.read_by.contains(&program) {
                assert!(stdout.contains(&line), "{bin}: {line:?} in\n{stdout}");
                listed += 1;
            } else {
                assert!(
                    !stdout.contains(&format!("  [{}]\n{line}", k.section)),
                    "{bin} does not read {k:?}:\n{stdout}"
                );
            }
        }
        assert!(listed >= 16, "{bin}: {listed} keys");
    }
}

#[test]
fn seconds_above_their_cap_are_refused_in_the_file_and_on_the_command_line() {
    let dir = temp_dir("cap");
    let cfg = dir.join("config.ini");
    std::fs::write(
        &cfg,
        "[pgp]\ncheck_period = 1e19\nsuccess_period=5\nmail_on_success=no\n",
    )
    .expect("write");
    let cfg = cfg.display().to_string();
    let out = run(BINS[0], &["--config", &cfg, "--check-config"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("pgpwatch: {cfg}:2: [pgp] check_period: \"1e19\" is too large; expected seconds > 0, e.g. 10 or 2.5, at most 86400 (one day)\n")
    );
    // The flag's typed value is checked against the same cap.
    let out = run(
        BINS[0],
        &[
            "--config",
            &sample(),
            "--check-period=86401",
            "--check-config",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "pgpwatch: command line: --check-period: \"86401\" is too large; expected seconds > 0, e.g. 10 or 2.5, at most 86400 (one day)\n"
    );
    let out = run(
        BINS[0],
        &[
            "--config",
            &sample_with_its_files(&temp_dir("cap")),
            "--check-period=86400",
            "--check-config",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pgp.check_period = 86400\n"),
        "{out:?}"
    );
}
