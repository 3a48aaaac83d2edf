//! `Container`: a copy of the Debian 12 root that `bin/test-packages`
//! caches, booted with systemd-nspawn, so that a test runs the shipped
//! systemd units under a real systemd (252) as PID 1 — the sandboxing,
//! `User=`, sd_notify and reload as a host would apply them — while
//! sharing the host's network with the sandbox cluster and the mailbox.
//! nspawn wants `/run/systemd/nspawn` on a tmpfs, which this host's `/run`
//! is not: it gets one in a mount namespace of its own. Drop powers the
//! container off (SIGTERM to nspawn) and removes the copy (kept, and said
//! so, when the test failed).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A copy of the cached Debian 12 root (`bin/test-packages --root`) booted
/// with systemd-nspawn: systemd 252 as its PID 1, sharing the host's network,
/// so a unit started in it reaches the sandbox cluster and the mailbox, and
/// its gate is seen from here. Drop powers it off and removes the copy.
pub struct Container {
    /// The root directory of the container (a copy).
    pub dir: PathBuf,
    nspawn: Child,
    pid1: u32,
}

impl Container {
    /// A fresh copy of the root in a directory of its own.
    pub fn prepare(name: &str) -> PathBuf {
        let out = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/test-packages"))
            .arg("--root")
            .output()
            .expect("run bin/test-packages --root");
        let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && Path::new(&root).join("usr/lib/systemd/systemd").exists(),
            "bin/test-packages --root (the Debian 12 root with systemd): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = std::env::temp_dir().join(format!("pgpoolwatch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ok = Command::new("cp")
            .args(["-a", &root])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cp -a {root} {}", dir.display());
        dir
    }

    /// Boots `dir` and waits until its systemd has finished starting up.
    pub fn boot(dir: PathBuf) -> Container {
        let log = std::fs::File::create(dir.with_extension("log")).expect("create nspawn log");
        // nspawn wants /run/systemd/nspawn on a tmpfs, which this host's /run
        // is not: give it one in a mount namespace of its own.
        let nspawn = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && \
                 exec systemd-nspawn --keep-unit --register=no --quiet -D \"$0\" -b --console=pipe",
            )
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("unshare and systemd-nspawn (package systemd-container, installed by bin/install-deps)");
        let mut c = Container {
            dir,
            nspawn,
            pid1: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while c.pid1 == 0 {
            c.pid1 = c.find_pid1().unwrap_or(0);
            if let Ok(Some(status)) = c.nspawn.try_wait() {
                panic!("systemd-nspawn exited {status}:\n{}", c.nspawn_log());
            }
            assert!(
                Instant::now() < deadline,
                "no systemd booted:\n{}",
                c.nspawn_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let state = c.run(&["systemctl", "is-system-running", "--wait"]);
        assert!(
            state.contains("running") || state.contains("degraded"),
            "the container's systemd: {state}\n{}",
            c.run(&["systemctl", "--failed", "--no-pager"])
        );
        c
    }

    /// The container's systemd: a process named systemd that nspawn started.
    fn find_pid1(&self) -> Option<u32> {
        let nspawn = self.nspawn.id();
        let parent = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            if comm.trim() != "systemd" {
                return None;
            }
            let mut p = pid;
            for _ in 0..4 {
                p = parent(p)?;
                if p == nspawn {
                    return Some(pid);
                }
            }
            None
        })
    }

    fn nspawn_log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    /// Runs a command inside (all of the container's namespaces); its output.
    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid1.to_string(), "-a", "--"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `systemctl show -p KEY --value UNIT` inside.
    pub fn show(&self, unit: &str, key: &str) -> String {
        self.run(&["systemctl", "show", "-p", key, "--value", unit])
            .trim()
            .to_string()
    }

    pub fn journal(&self, unit: &str) -> String {
        self.run(&["journalctl", "-u", unit, "--no-pager", "-o", "cat"])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // SIGTERM: nspawn asks the container's systemd to power off.
        let _ = Command::new("kill")
            .args(["-TERM", &self.nspawn.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.nspawn.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        if std::thread::panicking() {
            eprintln!("container kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
            let _ = std::fs::remove_file(self.dir.with_extension("log"));
        }
    }
}
