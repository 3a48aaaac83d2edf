//! The two watchers as values you can read top to bottom: each owns its
//! settings and the rules derived from them, and has `observe` (the probe,
//! bounded by its own timeouts), `decide` (pure: [`super::pgp::decide`],
//! [`super::repmgr::decide`]) and `reload` (new settings after SIGHUP). One
//! generic loop ([`super::act::Watch`]) drives either.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::decision::Decision;
use super::fast::{targets, Aim};
use super::{pgp, repmgr};
use crate::account::{credentials_user, this_hostname};
use crate::cluster::pgpool::PgpoolFault;
use crate::cluster::pgpool::{backends_health, pgpool_endpoint, read_backends, split_brain};
use crate::cluster::repmgr::{masters_of, probe_nodes_at, stale_primaries_of};
use crate::cluster::repmgr::{MastersError, NodeAnswer};
use crate::cluster::{tcp::tcp_port_state, text::Backend, Endpoint};
use crate::config::{Override, Program, Settings};
use crate::plumbing::net::host_port;
use crate::poolstatus::Target;
use crate::serve::board::{NodeView, PgpoolView, RepmgrView};

/// What the loop needs of a watcher.
pub trait Watcher {
    /// What the decisions remember between checks.
    type State: Default;
    /// What one check saw.
    type Observation;

    /// Which program this is (config sections, log prefix).
    fn program(&self) -> Program;
    /// The settings in force.
    fn settings(&self) -> &Settings;
    /// Command-line values standing in for keys; a reload keeps them.
    fn overrides(&self) -> &[Override] {
        &[]
    }
    /// One check: probes, each bounded by its timeout.
    fn observe(&mut self) -> Self::Observation;
    /// The pure decision for this check.
    fn decide(&self, state: &Self::State, obs: &Self::Observation) -> (Self::State, Decision);
    /// Takes the settings read again after SIGHUP.
    fn reload(&mut self, settings: Settings);
    /// Time between checks.
    fn period(&self) -> Duration;
    /// Where the gate listens.
    fn bind(&self) -> SocketAddr;
    /// Where the report of `with_report` mails is gathered (pgpwatch).
    fn report_target(&self) -> Option<Target> {
        None
    }
    /// What the API shows of the check that saw `obs` (the probe's details
    /// the decision does not need); `None`: nothing beyond the decision.
    fn view(&self, _obs: &Self::Observation) -> Option<NodeView> {
        None
    }
    /// Where the API port and the agent-check port listen (`None`: off).
    fn api_binds(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (None, None)
    }
    /// How long a check may take to come round: 2 × check_period +
    /// connect_timeout (`/liveness`).
    fn liveness_bound(&self) -> Duration {
        self.period().saturating_mul(2)
    }
    /// What it watches, for the start line (`pgpool 127.0.0.1:5432 ... every 2s`).
    fn watching(&self) -> String {
        format!("every {}s", self.period().as_secs_f64())
    }
    /// The part of the decisions' state a restart resumes from, one line
    /// kept in the spool (`None`: nothing is kept).
    fn record(&self, _state: &Self::State) -> Option<String> {
        None
    }
    /// The state to start from after a restart, from the last
    /// [`Watcher::record`] (`None`: a fresh start).
    fn resume(&self, _record: &str) -> Option<Self::State> {
        None
    }
    /// What the fast path watches after the check that saw `obs`.
    fn fast_targets(&self, _obs: &Self::Observation) -> Vec<Aim> {
        Vec::new()
    }
}

/// The one INFO line a watcher logs when it starts: version, config file,
/// what it watches, where its gate listens and that it starts closed (the
/// first check decides), and the API ports.
pub fn start_line<W: Watcher>(w: &W) -> String {
    let name = w.program().name();
    let api = match w.api_binds() {
        (None, None) => "API off".to_string(),
        (api, agent) => {
            let show = |a: Option<SocketAddr>| a.map_or("off".to_string(), |a| a.to_string());
            format!("API {}, agent-check {}", show(api), show(agent))
        }
    };
    format!(
        "{name} {} starting: config {}; watching {}; gate {} starts closed (the first check decides); {api}",
        crate::VERSION,
        w.settings().source.display(),
        w.watching(),
        w.bind(),
    )
}

fn api_binds(
    ip: std::net::IpAddr,
    api: Option<u16>,
    agent: Option<u16>,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    (
        api.map(|p| SocketAddr::new(ip, p)),
        agent.map(|p| SocketAddr::new(ip, p)),
    )
}

/// This machine's name as the mail bodies say it.
fn hostname() -> String {
    this_hostname().unwrap_or_else(|| "localhost".into())
}

/// pgpwatch: beside each pgpool, opens `[pgp] open_port` while that pgpool
/// answers `SHOW pool_nodes` with a primary up.
pub struct PgpoolWatcher {
    settings: Settings,
    overrides: Vec<Override>,
    rules: pgp::PgpRules,
    hostname: String,
    /// Whose .pgpass, TLS files and ~/.ssh are used.
    os_user: String,
    /// The backends the last check read (for the API).
    backends: Vec<Backend>,
    /// The pgpool as the last check asked it (the fast path holds it too).
    endpoint: Option<Endpoint>,
}

impl PgpoolWatcher {
    /// A watcher for `settings`; `overrides` are the flags that stood in for keys.
    pub fn new(settings: Settings, overrides: Vec<Override>) -> PgpoolWatcher {
        let hostname = hostname();
        PgpoolWatcher {
            rules: Self::rules(&settings, &hostname),
            os_user: credentials_user(&settings.general.poolstatus_user),
            settings,
            overrides,
            hostname,
            backends: Vec::new(),
            endpoint: None,
        }
    }

    fn rules(s: &Settings, hostname: &str) -> pgp::PgpRules {
        pgp::PgpRules {
            rise: s.pgp.rise,
            fall: s.pgp.fall,
            success_period: s.pgp.success_period,
            mail_on_success: s.pgp.mail_on_success,
            sendmail: s.general.sendmail,
            hostname: hostname.to_string(),
            open_port: s.pgp.open_port,
            dry_run: false,
        }
    }

    /// The same watcher for `--run-once`: its reasons say what a running
    /// pgpwatch would do with the port.
    pub fn for_run_once(mut self) -> PgpoolWatcher {
        self.rules.dry_run = true;
        self
    }
}

impl Watcher for PgpoolWatcher {
    type State = pgp::PgpState;
    type Observation = pgp::PgpObservation;

    fn program(&self) -> Program {
        Program::Pgpwatch
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn overrides(&self) -> &[Override] {
        &self.overrides
    }

    fn observe(&mut self) -> pgp::PgpObservation {
        let pgp = &self.settings.pgp;
        let at = host_port(&pgp.pgpool_host, pgp.pgpool_port);
        // With `SHOW pool_nodes`' details: 4.2+'s pg_role shows a split brain.
        let ep = pgpool_endpoint(pgp, &self.os_user);
        self.backends.clear();
        let health = read_backends(&ep, pgp.connect_timeout).and_then(|backends| {
            self.backends = backends;
            backends_health(&self.backends, &at)
        });
        self.endpoint = Some(ep);
        match health {
            Ok(health) => {
                log::debug!("pgpwatch: {health}");
                if let Some(sb) = split_brain(&self.backends, &at) {
                    pgp::PgpObservation::SplitBrain(sb)
                } else if health.primary_waiting {
                    pgp::PgpObservation::PrimaryWaiting {
                        primary: health.primary,
                    }
                } else {
                    pgp::PgpObservation::Healthy
                }
            }
            Err(e) => pgp::PgpObservation::Unhealthy(e),
        }
    }

    fn decide(
        &self,
        state: &pgp::PgpState,
        obs: &pgp::PgpObservation,
    ) -> (pgp::PgpState, Decision) {
        pgp::decide(state, obs, &self.rules)
    }

    fn reload(&mut self, settings: Settings) {
        self.rules = Self::rules(&settings, &self.hostname);
        self.os_user = credentials_user(&settings.general.poolstatus_user);
        self.settings = settings;
    }

    fn record(&self, state: &pgp::PgpState) -> Option<String> {
        Some(pgp::record(state))
    }

    fn resume(&self, record: &str) -> Option<pgp::PgpState> {
        pgp::resume(record)
    }

    fn fast_targets(&self, obs: &pgp::PgpObservation) -> Vec<Aim> {
        use crate::cluster::pgpool::PgpoolError::Probe;
        let answered = !matches!(obs, pgp::PgpObservation::Unhealthy(Probe(_)));
        let ep = self.endpoint.as_ref();
        ep.map_or_else(Vec::new, |ep| targets::pgpool(&self.settings, ep, answered))
    }

    fn period(&self) -> Duration {
        self.settings.pgp.check_period
    }

    fn bind(&self) -> SocketAddr {
        SocketAddr::new(self.settings.pgp.bind_address, self.settings.pgp.open_port)
    }

    fn report_target(&self) -> Option<Target> {
        Some(Target::from_settings(
            &self.settings.poolstatus,
            &self.os_user,
        ))
    }

    fn view(&self, obs: &pgp::PgpObservation) -> Option<NodeView> {
        Some(NodeView::Pgpool(PgpoolView {
            error: match obs {
                pgp::PgpObservation::Healthy | pgp::PgpObservation::PrimaryWaiting { .. } => None,
                pgp::PgpObservation::SplitBrain(sb) => Some(PgpoolFault::SplitBrain(sb.clone())),
                pgp::PgpObservation::Unhealthy(e) => Some(PgpoolFault::Unhealthy(e.clone())),
            },
            backends: self.backends.clone(),
        }))
    }

    fn api_binds(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let p = &self.settings.pgp;
        api_binds(p.api_bind(), p.api_port, p.agent_port)
    }

    fn liveness_bound(&self) -> Duration {
        let p = &self.settings.pgp;
        p.check_period
            .saturating_mul(2)
            .saturating_add(p.connect_timeout)
    }

    fn watching(&self) -> String {
        let p = &self.settings.pgp;
        format!(
            "pgpool {} as {}/{} every {}s (connect_timeout {}s, rise {}, fall {})",
            host_port(&p.pgpool_host, p.pgpool_port),
            p.pgpool_user,
            p.pgpool_database,
            p.check_period.as_secs_f64(),
            p.connect_timeout.as_secs_f64(),
            p.rise,
            p.fall
        )
    }
}

/// repmgrwatch: beside each database node, opens `[repmgr] open_port` on
/// the lone master while no pgpool's gate answers (or force_open).
pub struct RepmgrWatcher {
    settings: Settings,
    rules: repmgr::RepmgrRules,
    hostname: String,
    /// When the process started, for the start-up grace.
    started: Instant,
    /// What the last check's nodes answered (for the API).
    nodes: Result<Vec<NodeAnswer>, MastersError>,
    /// Where each of `nodes` was asked (the fast path holds sessions there).
    endpoints: Vec<Option<Endpoint>>,
    /// The pgpool gates the last check probed.
    gates: Vec<(String, bool)>,
    /// `--run-once`: no start-up grace.
    run_once: bool,
}

impl RepmgrWatcher {
    /// A watcher for `settings`, its start-up grace counted from now.
    pub fn new(settings: Settings) -> RepmgrWatcher {
        let hostname = hostname();
        RepmgrWatcher {
            rules: Self::rules(&settings, &hostname),
            settings,
            hostname,
            started: Instant::now(),
            nodes: Ok(Vec::new()),
            endpoints: Vec::new(),
            gates: Vec::new(),
            run_once: false,
        }
    }

    fn rules(s: &Settings, hostname: &str) -> repmgr::RepmgrRules {
        let r = &s.repmgr;
        repmgr::RepmgrRules {
            node_name: r.node_name.clone(),
            force_open: r.force_open,
            single_pgpool: r.pgp_server_1 == r.pgp_server_2,
            rise: r.rise,
            fall: r.fall,
            sendmail: s.general.sendmail,
            hostname: hostname.to_string(),
            open_port: r.open_port,
            dry_run: false,
        }
    }

    /// The same watcher for `--run-once`: no start-up grace (the question
    /// is what it decides once running) and reasons that say what a
    /// running repmgrwatch would do with the port.
    pub fn for_run_once(mut self) -> RepmgrWatcher {
        self.rules.dry_run = true;
        self.run_once = true;
        self
    }
}

impl Watcher for RepmgrWatcher {
    type State = repmgr::RepmgrState;
    type Observation = repmgr::RepmgrObservation;

    fn program(&self) -> Program {
        Program::Repmgrwatch
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn observe(&mut self) -> repmgr::RepmgrObservation {
        let s = &self.settings;
        let r = &s.repmgr;
        let startup_grace_left = if self.run_once {
            Duration::ZERO
        } else {
            r.grace().saturating_sub(self.started.elapsed())
        };
        let (t, port) = (r.connect_timeout, r.check_port);
        // The two gates and the masters are asked at once.
        let (one, two, nodes) = std::thread::scope(|scope| {
            let a = scope.spawn(|| tcp_port_state(&r.pgp_server_1, port, t));
            let b = (r.pgp_server_2 != r.pgp_server_1)
                .then(|| scope.spawn(|| tcp_port_state(&r.pgp_server_2, port, t)));
            let nodes = probe_nodes_at(s);
            let one = a.join().unwrap_or(Ok(false));
            let two = match b {
                Some(h) => h.join().unwrap_or(Ok(false)),
                None => one.clone(),
            };
            (one, two, nodes)
        });
        // A name that cannot be resolved: up or down is unknown.
        let unknown =
            |r: &Result<bool, crate::cluster::ProbeError>| r.as_ref().err().map(|e| e.to_string());
        let pgpools_unknown = (unknown(&one), unknown(&two));
        let (one, two) = (one.unwrap_or(false), two.unwrap_or(false));
        let (nodes, endpoints): (Result<Vec<_>, _>, Vec<_>) = match nodes {
            Ok(v) => {
                let (n, e): (Vec<_>, Vec<_>) = v.into_iter().unzip();
                (Ok(n), e)
            }
            Err(e) => (Err(e), Vec::new()),
        };
        self.endpoints = endpoints;
        let masters = nodes.as_ref().map(|n| masters_of(n)).map_err(Clone::clone);
        let stale_primaries = nodes
            .as_ref()
            .map(|n| stale_primaries_of(n))
            .unwrap_or_default();
        self.nodes = nodes;
        self.gates = vec![(r.pgp_server_1.clone(), one)];
        if r.pgp_server_2 != r.pgp_server_1 {
            self.gates.push((r.pgp_server_2.clone(), two));
        }
        repmgr::RepmgrObservation {
            masters,
            pgpools_up: (one, two),
            pgpools_unknown,
            startup_grace_left,
            stale_primaries,
        }
    }

    fn decide(
        &self,
        state: &repmgr::RepmgrState,
        obs: &repmgr::RepmgrObservation,
    ) -> (repmgr::RepmgrState, Decision) {
        repmgr::decide(state, obs, &self.rules)
    }

    fn reload(&mut self, settings: Settings) {
        self.rules = Self::rules(&settings, &self.hostname);
        self.settings = settings;
    }

    fn record(&self, state: &repmgr::RepmgrState) -> Option<String> {
        Some(repmgr::record(state))
    }

    fn resume(&self, record: &str) -> Option<repmgr::RepmgrState> {
        repmgr::resume(record)
    }

    fn fast_targets(&self, obs: &repmgr::RepmgrObservation) -> Vec<Aim> {
        let nodes: Vec<targets::NodeAt<'_>> = (self.nodes.iter().flatten())
            .zip(&self.endpoints)
            .filter(|(n, _)| n.active)
            .filter_map(|(n, ep)| {
                Some(targets::NodeAt {
                    name: &n.name,
                    answered: n.answer.is_ok(),
                    endpoint: ep.as_ref()?,
                })
            })
            .collect();
        let matters = obs.pgpools_up == (false, false) || self.settings.repmgr.force_open;
        targets::repmgr(&self.settings, &nodes, matters)
    }

    fn period(&self) -> Duration {
        self.settings.repmgr.check_period
    }

    fn bind(&self) -> SocketAddr {
        SocketAddr::new(
            self.settings.repmgr.bind_address,
            self.settings.repmgr.open_port,
        )
    }

    fn view(&self, _obs: &repmgr::RepmgrObservation) -> Option<NodeView> {
        Some(NodeView::Repmgr(RepmgrView::new(
            &self.settings.repmgr.node_name,
            &self.nodes,
            self.gates.clone(),
        )))
    }

    fn api_binds(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        let r = &self.settings.repmgr;
        api_binds(r.api_bind(), r.api_port, r.agent_port)
    }

    fn liveness_bound(&self) -> Duration {
        let r = &self.settings.repmgr;
        r.check_period
            .saturating_mul(2)
            .saturating_add(r.connect_timeout)
    }

    fn watching(&self) -> String {
        let r = &self.settings.repmgr;
        let gates = if r.pgp_server_1 == r.pgp_server_2 {
            host_port(&r.pgp_server_1, r.check_port)
        } else {
            format!(
                "{} and {}",
                host_port(&r.pgp_server_1, r.check_port),
                host_port(&r.pgp_server_2, r.check_port)
            )
        };
        format!(
            "repmgr's metadata at {} as node {} and the pgpool gates {gates} every {}s \
             (connect_timeout {}s, force_open {}, rise {}, fall {})",
            host_port(&r.repmgr_host, r.repmgr_port),
            r.node_name,
            r.check_period.as_secs_f64(),
            r.connect_timeout.as_secs_f64(),
            if r.force_open { "yes" } else { "no" },
            r.rise,
            r.fall
        )
    }
}

#[cfg(test)]
mod tests;
