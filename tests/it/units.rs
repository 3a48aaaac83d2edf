//! The systemd units in `systemd/`: they order after the database and
//! pgpool units but never pull them in (a PostgreSQL an operator stopped on
//! purpose must stay stopped), raise the descriptor limit, and
//! `systemd-analyze verify` accepts them.

use std::path::{Path, PathBuf};
use std::process::Command;

const UNITS: &[(&str, &str)] = &[
    ("pgpwatch.service", env!("CARGO_BIN_EXE_pgpwatch")),
    ("repmgrwatch.service", env!("CARGO_BIN_EXE_repmgrwatch")),
];

fn unit_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name)
}

fn unit_text(name: &str) -> String {
    std::fs::read_to_string(unit_path(name))
        .unwrap_or_else(|e| panic!("read {}: {e}", unit_path(name).display()))
}

/// Every value of `key=` in `section` (space-separated items flattened).
fn values(text: &str, section: &str, key: &str) -> Vec<String> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == key {
                out.extend(v.split_whitespace().map(str::to_string));
            }
        }
    }
    out
}

fn is_database_or_pgpool(unit: &str) -> bool {
    let u = unit.to_ascii_lowercase();
    u.starts_with("postgresql") || u.starts_with("pgpool") || u.starts_with("repmgr")
}

#[test]
fn units_order_after_the_database_but_never_start_it() {
    for (name, _) in UNITS {
        let text = unit_text(name);
        for key in [
            "Wants",
            "Requires",
            "Requisite",
            "BindsTo",
            "PartOf",
            "Upholds",
        ] {
            let pulled: Vec<String> = values(&text, "Unit", key)
                .into_iter()
                .filter(|u| is_database_or_pgpool(u))
                .collect();
            assert!(
                pulled.is_empty(),
                "{name}: {key}= pulls in {pulled:?}; starting the watcher would start a database or pgpool an operator stopped"
            );
        }
        let after = values(&text, "Unit", "After");
        assert!(
            after.iter().any(|u| is_database_or_pgpool(u)),
            "{name}: After= should still order after the database/pgpool unit: {after:?}"
        );
    }
}

#[test]
fn units_raise_the_descriptor_limit() {
    for (name, _) in UNITS {
        let v = values(&unit_text(name), "Service", "LimitNOFILE");
        let limit: u64 = v
            .last()
            .and_then(|s| s.split(':').next_back())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{name}: LimitNOFILE= missing or not a number: {v:?}"));
        assert!(
            limit >= 4096,
            "{name}: LimitNOFILE={limit} is below the gate's full table (4096)"
        );
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let dir = std::env::temp_dir().join(format!("pgpoolwatch-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut paths = Vec::new();
    for (name, bin) in UNITS {
        // The installed path does not exist here: point ExecStart at the
        // binary cargo built, keep everything else byte for byte.
        let text = unit_text(name).replace(
            &format!("/usr/local/bin/{}", name.trim_end_matches(".service")),
            bin,
        );
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write unit copy");
        paths.push(p);
    }
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&paths)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (package systemd, installed by bin/install-deps)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Complaints about other units (Debian's own pgpool2.service) are not ours.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| UNITS.iter().any(|(n, _)| l.contains(n)))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}
