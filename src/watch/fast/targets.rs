//! What each watcher's fast path watches, from its settings and the last
//! check (pure: no I/O beyond the `.pgpass` read every endpoint does).

use super::{Aim, Target};
use crate::cluster::held::HeldKind;
use crate::cluster::Endpoint;
use crate::config::Settings;
use crate::plumbing::net::host_port;

/// pgpwatch: its pgpool, the session held while the last check was
/// answered by pgpool (`answered`).
/// `ep` is the endpoint the check asked (its `.pgpass` is not read again).
pub fn pgpool(settings: &Settings, ep: &Endpoint, answered: bool) -> Vec<Aim> {
    let p = &settings.pgp;
    vec![Aim {
        target: Target {
            name: format!("pgpool {}", host_port(&p.pgpool_host, p.pgpool_port)),
            host: p.pgpool_host.clone(),
            port: p.pgpool_port,
            session: Some((ep.clone(), HeldKind::Pgpool)),
            wake_on_accept: true,
        },
        hold: answered,
        poll_promotion: false,
    }]
}

/// A database node as the last check asked it: its name, whether it
/// answered, and where it was asked.
pub struct NodeAt<'a> {
    pub name: &'a str,
    pub answered: bool,
    pub endpoint: &'a Endpoint,
}

/// repmgrwatch: the pgpools' gates (TCP only) and each active node (a
/// session held while it answered the last check; a standby polled for
/// promotion while `promotion_matters`: no pgpool up, or force_open). A
/// node reached over a Unix socket has no TCP probe and is left to the
/// checks.
pub fn repmgr(settings: &Settings, nodes: &[NodeAt<'_>], promotion_matters: bool) -> Vec<Aim> {
    let r = &settings.repmgr;
    let mut gates = vec![r.pgp_server_1.clone()];
    if r.pgp_server_2 != r.pgp_server_1 {
        gates.push(r.pgp_server_2.clone());
    }
    let mut aims: Vec<Aim> = gates
        .into_iter()
        .map(|host| Aim {
            target: Target {
                name: format!("pgpool gate {}", host_port(&host, r.check_port)),
                host,
                port: r.check_port,
                session: None,
                wake_on_accept: true,
            },
            hold: true,
            poll_promotion: false,
        })
        .collect();
    for n in nodes.iter().filter(|n| !n.endpoint.host.starts_with('/')) {
        let ep = n.endpoint;
        aims.push(Aim {
            target: Target {
                name: format!("node {} ({})", n.name, host_port(&ep.host, ep.port)),
                host: ep.host.clone(),
                port: ep.port,
                session: Some((ep.clone(), HeldKind::Postgres)),
                wake_on_accept: false,
            },
            hold: n.answered,
            poll_promotion: promotion_matters,
        });
    }
    aims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Program;

    #[test]
    fn pgpwatch_watches_its_pgpool_and_repmgrwatch_both_gates_and_each_node() {
        let mut s = Settings::defaults(Program::Pgpwatch);
        s.pgp.pgpool_host = "10.0.0.11".into();
        let ep = crate::cluster::pgpool::pgpool_endpoint(&s.pgp, "nobody");
        let aims = pgpool(&s, &ep, false);
        assert_eq!(aims.len(), 1);
        assert_eq!(aims[0].target.name, "pgpool 10.0.0.11:5432");
        assert!(!aims[0].hold, "no session while pgpool did not answer");
        assert!(aims[0].target.session.is_some());

        let mut s = Settings::defaults(Program::Repmgrwatch);
        s.repmgr.pgp_server_1 = "pgp1".into();
        s.repmgr.pgp_server_2 = "pgp2".into();
        let db1 = Endpoint::new("db1", 5432, "repmgr", "repmgr", None, Default::default());
        let sock = Endpoint::new(
            "/run/pg",
            5432,
            "repmgr",
            "repmgr",
            None,
            Default::default(),
        );
        let nodes = [
            NodeAt {
                name: "db1",
                answered: true,
                endpoint: &db1,
            },
            NodeAt {
                name: "db9",
                answered: true,
                endpoint: &sock,
            },
        ];
        let aims = repmgr(&s, &nodes, false);
        let names: Vec<&str> = aims.iter().map(|a| a.target.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pgpool gate pgp1:5559",
                "pgpool gate pgp2:5559",
                "node db1 (db1:5432)"
            ]
        );
        assert!(aims[2].hold && !aims[2].poll_promotion);
        assert!(repmgr(&s, &nodes, true)[2].poll_promotion);
        s.repmgr.pgp_server_2 = "pgp1".into();
        assert_eq!(repmgr(&s, &[], true).len(), 1, "one pgpool, one gate");
    }
}
