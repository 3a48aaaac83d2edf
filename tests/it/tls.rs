//! PostgreSQL over TLS (libpq's sslmode) against a real `SANDBOX_SSL=on`
//! cluster on net 9: PostgreSQL and pgpool run with `ssl = on`, every TCP
//! hba line is `hostssl`, so a plaintext connection is refused by the server
//! and every probe that works here went over TLS. The three connections of
//! issue 8 are exercised as an operator runs them: `pgpwatch --run-once`,
//! `poolstatus`, and repmgrwatch's masters probe (`watch::probe_masters`,
//! repmgr metadata then one session per node from its conninfo).
//!
//! The tests take turns on one cluster, built by the first of them and taken
//! down when the test process exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, Once};

use pgpoolwatch::config::{Program, Settings};

const NET: &str = "9";
const PGP1: &str = "127.9.10.1";
const DB1: &str = "127.9.20.1";

fn dir() -> PathBuf {
    PathBuf::from(format!("/tmp/pgpoolwatch-it-net{NET}"))
}

fn sandbox(args: &[&str], ssl: bool) -> Result<String, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bin/sandbox");
    let mut cmd = Command::new(&script);
    cmd.args(args)
        .env("SANDBOX_NET", NET)
        .env("SANDBOX_DIR", dir());
    if ssl {
        cmd.env("SANDBOX_SSL", "on");
    }
    let out = cmd.output().map_err(|e| format!("run bin/sandbox: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("bin/sandbox {args:?} failed: {text}"))
    }
}

/// true once the cluster is built.
static TURN: Mutex<bool> = Mutex::new(false);
static DOWN_AT_EXIT: Once = Once::new();

/// A turn on the TLS cluster (built on first use, healed afterwards).
fn cluster() -> MutexGuard<'static, bool> {
    let mut built = TURN.lock().unwrap_or_else(|p| p.into_inner());
    if *built {
        sandbox(&["heal"], false).expect("heal the TLS sandbox");
    } else {
        let _ = sandbox(&["down"], false);
        DOWN_AT_EXIT.call_once(register_down_at_exit);
        let up = sandbox(&["up"], true);
        if let Err(e) = up {
            let _ = sandbox(&["down"], false);
            panic!("{e}");
        }
        let env = sandbox(&["env"], false).expect("bin/sandbox env");
        assert!(env.contains("SANDBOX_SSL=on\n"), "{env}");
        assert!(
            env.contains(&format!("SANDBOX_CA={}\n", ca().display())),
            "{env}"
        );
        *built = true;
    }
    built
}

/// `down` from a C atexit handler: libtest has no suite teardown (see
/// support/cluster.rs, which does the same for the shared cluster).
#[allow(unsafe_code)]
fn register_down_at_exit() {
    extern "C" fn down() {
        let _ = sandbox(&["down"], false);
    }
    // SAFETY: atexit stores the pointer of a plain extern "C" fn without
    // arguments; the handler only runs bin/sandbox.
    let rc = unsafe { libc::atexit(down) };
    assert_eq!(rc, 0, "atexit: cannot register the TLS sandbox's down");
}

/// The sandbox's CA (printed by `bin/sandbox env` as SANDBOX_CA).
fn ca() -> PathBuf {
    dir().join("tls/ca.crt")
}

/// A CA of our own that signed nothing the sandbox serves.
fn wrong_ca() -> PathBuf {
    let d = dir().join("tls-test");
    std::fs::create_dir_all(&d).expect("mkdir tls-test");
    let (key, crt) = (d.join("wrong-ca.key"), d.join("wrong-ca.crt"));
    if !crt.exists() {
        let out = Command::new("openssl")
            .args(["req", "-x509", "-new", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:P-256", "-days", "1"])
            .args(["-subj", "/CN=not the sandbox CA", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "openssl req: {out:?}");
    }
    crt
}

/// A config.ini for pgp1 / db1 of the sandbox whose [pgp], [repmgr] and
/// [poolstatus] sections each carry `ssl` (lines such as `sslmode = require`).
fn config(name: &str, ssl: &str) -> PathBuf {
    let d = dir();
    let text = format!(
        "[pgp]\npgpool_host = {PGP1}\ncheck_period = 1\nsuccess_period = 100\nmail_on_success = no\nconnect_timeout = 5\n{ssl}\n\
         [repmgr]\npgp_server_1 = {PGP1}\npgp_server_2 = 127.9.10.2\nnode_name = db1\nrepmgr_host = {DB1}\nconnect_timeout = 5\n{ssl}\n\
         [general]\nsendmail = no\npoolstatus_user = postgres\n\
         [poolstatus]\npgpool_host = {PGP1}\nssh_user = postgres\nssh_port = 2222\nssh_key = {}\nssh_known_hosts = {}\nconnect_timeout = 5\n{ssl}\n",
        d.join("ssh/id_ed25519").display(),
        d.join("ssh/known_hosts").display(),
    );
    let td = d.join("tls-test");
    std::fs::create_dir_all(&td).expect("mkdir tls-test");
    let path = td.join(format!("{name}.ini"));
    std::fs::write(&path, text).expect("write config.ini");
    path
}

struct Run {
    code: i32,
    out: String,
}

fn run(bin: &str, args: &[&str], cfg: &Path) -> Run {
    let out = Command::new(bin)
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: format!(
            "--- stdout\n{}--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn pgpwatch_once(cfg: &Path) -> Run {
    run(env!("CARGO_BIN_EXE_pgpwatch"), &["--run-once"], cfg)
}

fn poolstatus(cfg: &Path) -> Run {
    run(env!("CARGO_BIN_EXE_poolstatus"), &[], cfg)
}

/// repmgrwatch's masters probe with this config.
fn masters(cfg: &Path) -> Result<Vec<String>, String> {
    let s = Settings::load(cfg, Program::Repmgrwatch).expect("config loads");
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    pgpoolwatch::cluster::repmgr::probe_masters(&s).map_err(|e| e.to_string())
}

/// Every probe works: pgpwatch's check, poolstatus's report (pgpool and
/// every database host), repmgrwatch's masters (repmgr_host and each node).
fn assert_all_work(what: &str, cfg: &Path) {
    let r = pgpwatch_once(cfg);
    assert_eq!(r.code, 0, "{what}: pgpwatch --run-once\n{}", r.out);
    let r = poolstatus(cfg);
    assert_eq!(r.code, 0, "{what}: poolstatus\n{}", r.out);
    assert!(
        r.out.contains("Status: OK"),
        "{what}: poolstatus\n{}",
        r.out
    );
    for n in 1..=3 {
        assert!(
            r.out.contains(&format!("127.9.20.{n}")),
            "{what}: poolstatus lists db{n}\n{}",
            r.out
        );
    }
    assert_eq!(
        masters(cfg),
        Ok(vec!["db1".to_string()]),
        "{what}: repmgrwatch masters"
    );
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn tls_prefer_and_require_reach_pgpool_databases_and_repmgr() {
    let _turn = cluster();
    // prefer is also what an empty section gives (the default, as psql).
    assert_all_work("default", &config("default", ""));
    for mode in ["prefer", "require", "allow"] {
        let cfg = config(mode, &format!("sslmode = {mode}"));
        assert_all_work(mode, &cfg);
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn tls_verify_ca_and_verify_full_with_the_sandbox_ca_work() {
    let _turn = cluster();
    for mode in ["verify-ca", "verify-full"] {
        let ssl = format!("sslmode = {mode}\nsslrootcert = {}", ca().display());
        assert_all_work(mode, &config(mode, &ssl));
    }
    // require with sslrootcert checks the CA (libpq's rule) and passes with the right one.
    let ssl = format!("sslmode = require\nsslrootcert = {}", ca().display());
    assert_all_work("require+ca", &config("require-ca", &ssl));
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn tls_verify_full_with_a_wrong_ca_fails_with_one_line_naming_host_port_and_problem() {
    let _turn = cluster();
    let wrong = wrong_ca();
    // The sandbox's servers send their CA with their certificate (OpenSSL
    // builds the chain from ssl_ca_file), so the untrusted issuer shows as a
    // self-signed certificate in the chain.
    let line = |host: &str, mode: &str| {
        format!(
            "connect {host}:5432: TLS: certificate verify failed: self-signed certificate in certificate chain (sslmode={mode}, sslrootcert={})",
            wrong.display()
        )
    };
    for mode in ["verify-full", "require"] {
        let cfg = config(
            &format!("wrong-{mode}"),
            &format!("sslmode = {mode}\nsslrootcert = {}", wrong.display()),
        );
        let r = pgpwatch_once(&cfg);
        assert_eq!(r.code, 1, "{mode}: pgpwatch\n{}", r.out);
        assert!(
            r.out.contains(&format!(
                // --run-once says what a running pgpwatch would do.
                "pgpool failed: {}; a running pgpwatch would keep the port closed.\n",
                line(PGP1, mode)
            )),
            "{mode}: pgpwatch names host, port and the certificate problem\n{}",
            r.out
        );
        let r = poolstatus(&cfg);
        assert_eq!(r.code, 2, "{mode}: poolstatus\n{}", r.out);
        assert!(
            r.out.contains(&line(PGP1, mode)),
            "{mode}: poolstatus\n{}",
            r.out
        );
        let e = masters(&cfg).expect_err("masters must fail");
        assert_eq!(
            e,
            format!("read repmgr nodes: {}", line(DB1, mode)),
            "{mode}: masters"
        );
        for text in [&r.out, &e] {
            assert!(!text.contains("error:0A"), "no OpenSSL error codes: {text}");
        }
    }
}

#[test]
#[ignore = "needs the sandbox cluster (root, bin/install-deps): bin/test runs it, or cargo test -- --include-ignored"]
fn tls_disable_against_hostssl_only_fails_with_the_servers_hba_message() {
    let _turn = cluster();
    let cfg = config("disable", "sslmode = disable");
    let r = pgpwatch_once(&cfg);
    assert_eq!(r.code, 1, "pgpwatch\n{}", r.out);
    assert!(
        r.out.contains(&format!(
            "pgpool failed: connect {PGP1}:5432: fatal: client authentication failed: no pool_hba.conf entry for host"
        )) && r.out.contains("SSL off (sslmode=disable)"),
        "pgpwatch gives pgpool's pool_hba message and the sslmode\n{}",
        r.out
    );
    let e = masters(&cfg).expect_err("masters must fail");
    assert!(
        e.starts_with(&format!(
            "read repmgr nodes: connect {DB1}:5432: fatal: no pg_hba.conf entry for host"
        )) && e.ends_with("no encryption (sslmode=disable)"),
        "masters gives PostgreSQL's pg_hba message and the sslmode: {e}"
    );
}
