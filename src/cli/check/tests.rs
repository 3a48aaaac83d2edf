//! Unit tests of the parent module.

use super::*;
use std::path::PathBuf;
use std::time::Duration;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pgpw-check-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

const GOOD_ARGS: &str = "--user=u\n--password=secret\n--server=mail.example.org\n--sender=pgpoolwatch@example.org\n--receivers=dba@example.org\n";

fn mail_settings(program: Program, d: &Path) -> Settings {
    let mut s = Settings::defaults(program);
    s.general.sendmail = true;
    s.general.sendmail_settings_path = d.join("args.txt");
    s.general.state_dir = d.join("state");
    s
}

fn texts(f: &[Finding]) -> Vec<String> {
    f.iter().map(ToString::to_string).collect()
}

#[test]
fn a_mail_setup_that_cannot_work_is_an_error_naming_the_file() {
    let d = dir("mail");
    let s = mail_settings(Program::Pgpwatch, &d);
    let f = check(Program::Pgpwatch, &s);
    assert_eq!(f.len(), 1, "{:?}", texts(&f));
    assert_eq!(f[0].severity, Severity::Error);
    let t = f[0].to_string();
    assert!(
        t.starts_with("error: [general] sendmail_settings_path ")
            && t.contains("args.txt: No such file"),
        "{t}"
    );
    // Present but without receivers.
    write(
        &d.join("args.txt"),
        "--user=u\n--password=p\n--server=s\n--sender=a@b.c\n",
        0o600,
    );
    let t = texts(&check(Program::Repmgrwatch, &s)).join("\n");
    assert!(t.contains("required: --receivers"), "{t}");
    // A --cacert that is not there.
    write(
        &d.join("args.txt"),
        &format!("{GOOD_ARGS}--cacert={}\n", d.join("ca.pem").display()),
        0o600,
    );
    let t = texts(&check(Program::Pgpwatch, &s)).join("\n");
    assert!(t.contains("--cacert in ") && t.contains("ca.pem"), "{t}");
    // Good, mode 0600: nothing to say.
    write(&d.join("args.txt"), GOOD_ARGS, 0o600);
    assert_eq!(texts(&check(Program::Pgpwatch, &s)), Vec::<String>::new());
    // poolstatus sends no mail; sendmail off checks nothing of mail.
    std::fs::remove_file(d.join("args.txt")).expect("rm");
    assert!(check(Program::Poolstatus, &s).is_empty());
    let off = Settings {
        general: crate::config::GeneralSettings {
            sendmail: false,
            ..s.general.clone()
        },
        ..s.clone()
    };
    assert!(check(Program::Pgpwatch, &off).is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_password_others_can_read_is_a_warning() {
    let d = dir("mode");
    let s = mail_settings(Program::Pgpwatch, &d);
    write(&d.join("args.txt"), GOOD_ARGS, 0o644);
    let f = check(Program::Pgpwatch, &s);
    assert_eq!(f.len(), 1, "{:?}", texts(&f));
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].text
            .contains("readable by everyone (mode 0644): chmod 600"),
        "{}",
        f[0]
    );
    assert!(
        !f[0].text.contains("secret"),
        "never the password: {}",
        f[0]
    );
    write(&d.join("args.txt"), GOOD_ARGS, 0o640);
    assert!(check(Program::Pgpwatch, &s)[0]
        .text
        .contains("by its group"));
    // No password in it: nothing to hide.
    let no_pw = GOOD_ARGS.replace("--password=secret\n", "--password-free=\n");
    write(
        &d.join("args.txt"),
        &no_pw.replace("--password-free=\n", ""),
        0o644,
    );
    let f = check(Program::Pgpwatch, &s);
    assert!(
        f.iter().all(|f| !f.text.contains("mode 0644")),
        "{:?}",
        texts(&f)
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn named_tls_and_ssh_files_must_be_readable_by_the_programs_that_use_them() {
    let d = dir("files");
    let mut s = Settings::defaults(Program::Pgpwatch);
    s.pgp.tls.root_cert = Some(d.join("root.crt"));
    s.poolstatus.ssh_key = Some(d.join("id_ed25519"));
    s.repmgr.tls.key = Some(d.join("repmgr.key"));
    let t = texts(&check(Program::Pgpwatch, &s));
    assert!(
        t.iter()
            .any(|l| l.starts_with("error: [pgp] sslrootcert ") && l.contains("root.crt")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .any(|l| l.starts_with("error: [poolstatus] ssh_key ")),
        "{t:?}"
    );
    assert!(
        !t.iter().any(|l| l.contains("repmgr.key")),
        "pgpwatch does not read [repmgr]: {t:?}"
    );
    let t = texts(&check(Program::Repmgrwatch, &s));
    assert_eq!(t.len(), 1, "{t:?}");
    assert!(t[0].starts_with("error: [repmgr] sslkey "), "{t:?}");
    std::fs::write(d.join("root.crt"), "x").expect("write");
    std::fs::write(d.join("id_ed25519"), "x").expect("write");
    assert!(check(Program::Pgpwatch, &s).is_empty());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_state_dir_that_cannot_be_written_is_a_warning() {
    let d = dir("state");
    let mut s = mail_settings(Program::Repmgrwatch, &d);
    write(&d.join("args.txt"), GOOD_ARGS, 0o600);
    // Not there yet, but creatable: fine.
    s.general.state_dir = d.join("not/yet");
    assert!(check(Program::Repmgrwatch, &s).is_empty());
    // A file where the directory should be.
    std::fs::write(d.join("file"), "x").expect("write");
    s.general.state_dir = d.join("file");
    let f = check(Program::Repmgrwatch, &s);
    assert_eq!(f.len(), 1, "{:?}", texts(&f));
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].text.starts_with("[general] state_dir: ")
            && f[0].text.contains("repmgrwatch cannot be created"),
        "{}",
        f[0]
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_check_that_may_outlast_half_the_watchdog_is_a_warning() {
    let mut out = Vec::new();
    let assumed = (UNIT_WATCHDOG, true);
    watchdog(&mut out, "pgp", Duration::from_secs(5), assumed);
    assert!(out.is_empty(), "10 s < 15 s: {:?}", texts(&out));
    watchdog(&mut out, "pgp", Duration::from_millis(7500), assumed);
    assert_eq!(out.len(), 1);
    let t = out[0].to_string();
    assert!(
        t.starts_with("warning: [pgp] connect_timeout 7.5 s: a check may take 2 x 7.5 s = 15 s, half or more of the systemd watchdog interval (30 s, assumed: WatchdogSec=30"),
        "{t}"
    );
    assert!(t.contains("lower connect_timeout below 7.5 s"), "{t}");
    let mut out = Vec::new();
    watchdog(
        &mut out,
        "repmgr",
        Duration::from_secs(3),
        (Duration::from_secs(10), false),
    );
    assert!(out[0].text.contains("(10 s, $WATCHDOG_USEC)"), "{}", out[0]);
    // The shipped sample's 5 s passes.
    let s = Settings::defaults(Program::Repmgrwatch);
    assert!(!texts(&check(Program::Repmgrwatch, &s))
        .iter()
        .any(|t| t.contains("watchdog")));
}
