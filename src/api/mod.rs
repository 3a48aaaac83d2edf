//! The API port and the agent-check port: what HAProxy, an F5 and
//! Prometheus ask a watcher, answered from the last check. Both listen
//! always (from start to stop, whatever the gate does) on the gate's
//! bounded poller ([`crate::gate::Gate::serving`]: one thread each, no
//! thread per connection, the gate's timeouts and descriptor limits); both
//! read the [`Snapshot`] the act side publishes after every check on an
//! [`ApiBoard`], so no request ever runs a probe.
//!
//! - [`routes`]: the HTTP/1.0 paths (Patroni's `/primary`, `/replica?lag=N`,
//!   `/read-only`, `/health`, `/liveness`; ours `/gate`, `/status`, `/`);
//! - [`agent`]: HAProxy's agent-check replies;
//! - [`metrics`]: `GET /metrics`, Prometheus text format 0.0.4;
//! - [`snapshot`]: the published state and the roles computed from it.

pub mod agent;
pub mod metrics;
pub mod routes;
pub mod snapshot;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use snapshot::{NodeView, PgpoolView, RepmgrView, Snapshot, Stats};

use crate::gate::http::{ends_head, looks_like_method};
use crate::gate::{Gate, GateError, Service, FIRST_BYTE_TIMEOUT};

/// The snapshot the API answers from: written by the act side after each
/// check, read by the API's and the agent's poller threads.
#[derive(Clone, Debug)]
pub struct ApiBoard(Arc<Mutex<Snapshot>>);

impl ApiBoard {
    /// A board showing `initial`.
    pub fn new(initial: Snapshot) -> ApiBoard {
        ApiBoard(Arc::new(Mutex::new(initial)))
    }

    /// Replaces the snapshot.
    pub fn publish(&self, snap: Snapshot) {
        match self.0.lock() {
            Ok(mut g) => *g = snap,
            Err(p) => *p.into_inner() = snap,
        }
    }

    /// Runs `f` on the current snapshot (under the lock: keep it short).
    pub fn read<T>(&self, f: impl FnOnce(&Snapshot) -> T) -> T {
        match self.0.lock() {
            Ok(g) => f(&g),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// A copy of the current snapshot.
    pub fn current(&self) -> Snapshot {
        self.read(Snapshot::clone)
    }
}

/// The API port's answers.
struct HttpApi(ApiBoard);

impl Service for HttpApi {
    fn plausible(&self, head: &[u8]) -> bool {
        looks_like_method(head)
    }
    fn complete(&self, head: &[u8]) -> bool {
        ends_head(head)
    }
    fn respond(&self, head: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.0.read(|s| routes::http_answer(s, head, now))
    }
    fn first_byte_timeout(&self) -> Duration {
        FIRST_BYTE_TIMEOUT
    }
}

/// The agent-check port's answers.
struct AgentCheck(ApiBoard);

impl Service for AgentCheck {
    fn plausible(&self, head: &[u8]) -> bool {
        agent::line_plausible(head)
    }
    fn complete(&self, head: &[u8]) -> bool {
        agent::line_complete(head)
    }
    fn respond(&self, head: &[u8]) -> Option<Vec<u8>> {
        let line = agent::request_line(head);
        Some(self.0.read(|s| agent::agent_reply(s, &line)).into_bytes())
    }
    fn first_byte_timeout(&self) -> Duration {
        agent::AGENT_SILENCE
    }
    fn on_silence(&self) -> Option<Vec<u8>> {
        Some(
            self.0
                .read(|s| agent::agent_reply(s, "primary"))
                .into_bytes(),
        )
    }
}

/// The API and agent-check listeners of one watcher (each optional).
pub struct ApiPorts {
    board: ApiBoard,
    api: Option<Gate>,
    agent: Option<Gate>,
}

impl ApiPorts {
    /// Listeners on `api` and `agent` (`None`: that one is off), answering
    /// from `board`. A port that cannot be bound is an error naming it.
    pub fn open(
        board: ApiBoard,
        api: Option<SocketAddr>,
        agent: Option<SocketAddr>,
    ) -> Result<ApiPorts, GateError> {
        let mut ports = ApiPorts {
            board,
            api: None,
            agent: None,
        };
        ports.rebind(api, agent)?;
        Ok(ports)
    }

    /// The board the listeners answer from.
    pub fn board(&self) -> &ApiBoard {
        &self.board
    }

    /// Moves the listeners to `api` and `agent` (a reload): one whose
    /// address did not change keeps listening, and one that cannot be
    /// bound at its new address keeps listening at its old one (the error
    /// says so; the caller retries). Both are tried; the first error is
    /// returned.
    pub fn rebind(
        &mut self,
        api: Option<SocketAddr>,
        agent: Option<SocketAddr>,
    ) -> Result<(), GateError> {
        let board = self.board.clone();
        let a = move_listener(
            &mut self.api,
            api,
            || Arc::new(HttpApi(board.clone())) as Arc<dyn Service>,
            "api",
        );
        let board = self.board.clone();
        let b = move_listener(
            &mut self.agent,
            agent,
            || Arc::new(AgentCheck(board.clone())) as Arc<dyn Service>,
            "agent",
        );
        a.and(b)
    }

    /// Whether the listeners are where `api` and `agent` say.
    pub fn bound_as(&self, api: Option<SocketAddr>, agent: Option<SocketAddr>) -> bool {
        self.api.as_ref().map(Gate::bind_addr) == api
            && self.agent.as_ref().map(Gate::bind_addr) == agent
    }

    /// Where the API listens (port 0 resolved).
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().and_then(Gate::local_addr)
    }

    /// Where the agent-check port listens.
    pub fn agent_addr(&self) -> Option<SocketAddr> {
        self.agent.as_ref().and_then(Gate::local_addr)
    }

    /// Stops both listeners (joined when this returns).
    pub fn close(&mut self) {
        self.api = None;
        self.agent = None;
    }
}

/// Moves `slot` to `want`: the new listener opens before the old one
/// closes, so a failed bind leaves the old one serving. When the old one
/// itself holds the port (a wildcard address, the same port), it steps
/// aside for the new one and comes back if that still fails.
fn move_listener(
    slot: &mut Option<Gate>,
    want: Option<SocketAddr>,
    service: impl Fn() -> Arc<dyn Service>,
    kind: &'static str,
) -> Result<(), GateError> {
    let old = slot.as_ref().map(Gate::bind_addr);
    if old == want {
        return Ok(());
    }
    let Some(addr) = want else {
        *slot = None; // dropping closes and joins it
        return Ok(());
    };
    let mut g = Gate::serving(addr, service(), kind);
    let first = match g.open() {
        Ok(()) => {
            *slot = Some(g);
            return Ok(());
        }
        Err(e) => e,
    };
    match old {
        Some(o) if o.port() == addr.port() && crate::gate::conflict::is_taken(&first) => {
            *slot = None;
            if g.open().is_ok() {
                *slot = Some(g);
                return Ok(());
            }
            let mut back = Gate::serving(o, service(), kind);
            if back.open().is_ok() {
                *slot = Some(back);
            }
            Err(first)
        }
        _ => Err(first),
    }
}

#[cfg(test)]
mod tests;
