//! How the GSLB tests' PowerDNS is set up (support/gslb.rs runs it):
//! which server (the host's 4.7 or 4.9 from the Debian 13 root), the command
//! that starts it, and the config and zone it serves — among them the 4.9
//! combined `pgp` record the README gives a DBA.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::gslb::{DB_PORT, PGP_PORT};

/// Which PowerDNS serves the zone, and so what `pgp.<zone>` is.
pub enum Flavour {
    /// The host's 4.7: `pgp` = `ifportup(5559, pgpools)` alone.
    Host,
    /// The host's 4.7 with the combined record of [`Flavour::Trixie`].
    HostCombined { none_up: Ipv4Addr },
    /// 4.9 chrooted in the trixie root: `pgp` = [`combined_pgp_record`],
    /// whose checks include `none_up`, an address never listening.
    Trixie { root: PathBuf, none_up: Ipv4Addr },
}

impl Flavour {
    /// The combined record's "nothing up" address, if it has that record.
    pub fn none_up(&self) -> Option<Ipv4Addr> {
        match self {
            Flavour::Host => None,
            Flavour::HostCombined { none_up } | Flavour::Trixie { none_up, .. } => Some(*none_up),
        }
    }
}

/// `pdns_server --config-dir=DIR`, on the host or chrooted in the trixie
/// root in a private mount namespace (DIR bind-mounted at the same path).
pub fn pdns_command(flavour: &Flavour, dir: &Path) -> Command {
    let config_dir = format!("--config-dir={}", dir.display());
    match flavour {
        Flavour::Host | Flavour::HostCombined { .. } => {
            let mut c = Command::new(pdns_server());
            c.arg(config_dir);
            c
        }
        Flavour::Trixie { root, .. } => {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--"])
                .arg(roots_script())
                .arg("enter")
                .arg(root)
                .arg(dir)
                .arg("/usr/sbin/pdns_server")
                .arg(config_dir);
            c
        }
    }
}

fn roots_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bin/roots")
}

/// The Debian 13 root with PowerDNS 4.9: `bin/roots ensure trixie` builds it
/// when it is missing or its recipe changed (minutes), else just prints it.
pub fn trixie_root() -> PathBuf {
    let out = Command::new(roots_script())
        .args(["ensure", "trixie"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("gslb: run {} ensure trixie: {e}", roots_script().display()));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "gslb: bin/roots ensure trixie failed ({}); its output is above",
        out.status
    );
    let root = PathBuf::from(path);
    let server = root.join("usr/sbin/pdns_server");
    assert!(
        server.exists(),
        "gslb: {} is missing: the trixie root lacks pdns-server (bin/roots packages())",
        server.display()
    );
    root
}

fn pdns_server() -> &'static str {
    if Path::new("/usr/sbin/pdns_server").exists() {
        "/usr/sbin/pdns_server"
    } else {
        "pdns_server"
    }
}

fn lua_list(addrs: &[Ipv4Addr]) -> String {
    lua_list_then(addrs, None)
}

/// `{'a', 'b'}`, or `{'a', 'b', last}` with `last` a Lua expression.
fn lua_list_then(addrs: &[Ipv4Addr], last: Option<&str>) -> String {
    let mut items: Vec<String> = addrs.iter().map(|a| format!("'{a}'")).collect();
    items.extend(last.map(str::to_string));
    format!("{{{}}}", items.join(", "))
}

/// The rdata of the 4.9 `pgp` LUA record (what the README gives a DBA):
/// a multi-statement snippet (leading `;`) over two `ifportup` results.
/// With `backupSelector='all'` a check over `{..., none}` returns the up
/// addresses, or, when none is up, every address in order — `none` last,
/// which is how the snippet tells the two apart (`none` never listens).
/// One quoted part per statement, each ending in `;` so the parts also
/// join without `lua-records-insert-whitespace`.
pub fn combined_pgp_record(pgpools: &[Ipv4Addr], dbs: &[Ipv4Addr], none_up: Ipv4Addr) -> String {
    let parts = [
        ";local all = {selector='all', backupSelector='all'};".to_string(),
        format!("local none = '{none_up}';"),
        format!(
            "local p = ifportup({PGP_PORT}, {}, all);",
            lua_list_then(pgpools, Some("none"))
        ),
        format!(
            "local d = ifportup({DB_PORT}, {}, all);",
            lua_list_then(dbs, Some("none"))
        ),
        "if p[#p] ~= none then return p end;".to_string(),
        "if d[#d] ~= none then return d end;".to_string(),
        format!("return {}", lua_list(pgpools)),
    ];
    let quoted: Vec<String> = parts.iter().map(|p| format!("\"{p}\"")).collect();
    format!("( {} )", quoted.join("\n    "))
}

pub fn write_files(
    dir: &Path,
    zone: &str,
    server: SocketAddr,
    pgpools: &[Ipv4Addr],
    dbs: &[Ipv4Addr],
    flavour: &Flavour,
) {
    let d = dir.display();
    let conf = format!(
        "# private PowerDNS for the pgpoolwatch tests (tests/it/support/gslb.rs)
launch=bind
bind-config={d}/named.conf
enable-lua-records=yes
local-address={ip}
local-port={port}
socket-dir={d}
daemon=no
guardian=no
write-pid=no
disable-syslog=yes
loglevel=6
# checks every second; expiry stays long (see the module doc)
lua-health-checks-interval=1
lua-health-checks-expire-delay=3600
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
# no query to the outside world, no listener besides DNS
security-poll-suffix=
primary=no
secondary=no
webserver=no
api=no
",
        ip = server.ip(),
        port = server.port()
    );
    let named = format!("zone \"{zone}\" {{ type master; file \"{d}/zone\"; }};\n");
    let (pgp, db) = match flavour.none_up() {
        None => (
            format!(
                "\"ifportup({PGP_PORT}, {}, {{selector='all'}})\"",
                lua_list(pgpools)
            ),
            format!(
                "\"ifportup({DB_PORT}, {}, {{selector='all'}})\"",
                lua_list(dbs)
            ),
        ),
        // db gets the combined record's options, so both share one check per address
        Some(none_up) => (
            combined_pgp_record(pgpools, dbs, none_up),
            format!(
                "\"ifportup({DB_PORT}, {}, {{selector='all', backupSelector='all'}})\"",
                lua_list(dbs)
            ),
        ),
    };
    // 4.9 only (4.7's ifportup takes one set): both gates on 5559, the
    // original's default for both watchers, in one call over two sets.
    let sets = match flavour {
        Flavour::Trixie { .. } => format!(
            "sets IN LUA A \"ifportup({PGP_PORT}, {{{}, {}}}, {{selector='all', backupSelector='all'}})\"\n",
            lua_list(pgpools),
            lua_list(dbs)
        ),
        Flavour::Host | Flavour::HostCombined { .. } => String::new(),
    };
    let records = format!(
        "$TTL 1
@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 1
@ IN NS ns1.{zone}.
ns1 IN A {ip}
pgp IN LUA A {pgp}
db IN LUA A {db}
{sets}",
        ip = server.ip(),
    );
    for (name, text) in [
        ("pdns.conf", conf),
        ("named.conf", named),
        ("zone", records),
    ] {
        let path = dir.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("gslb: write {}: {e}", path.display()));
    }
}
