//! The API port and the agent-check port: what HAProxy, an F5 and
//! Prometheus ask a watcher, answered from the last check. Both listen
//! always (from start to stop, whatever the gate does) on a bounded
//! [`Listener`] each (no thread per connection, the gate's timeouts and
//! descriptor limits); both read the [`Snapshot`](super::Snapshot) the
//! driver publishes on the [`Board`] after every check, so no request ever
//! runs a probe.
//!
//! - [`super::routes`]: the HTTP/1.0 paths (Patroni's `/primary`,
//!   `/replica?lag=N`, `/read-only`, `/health`, `/liveness`; ours `/gate`,
//!   `/status`, `/`);
//! - [`super::agent`]: HAProxy's agent-check replies;
//! - [`super::metrics`]: `GET /metrics`, Prometheus text format 0.0.4.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::board::Board;
use super::{agent, http, routes};
use super::{ListenError, Listener, Service, FIRST_BYTE_TIMEOUT};

/// The API port's answers.
struct HttpApi(Board);

impl Service for HttpApi {
    fn plausible(&self, head: &[u8]) -> bool {
        http::plausible(head)
    }
    fn complete(&self, head: &[u8]) -> bool {
        http::complete(head)
    }
    fn respond(&self, head: &[u8]) -> Option<Vec<u8>> {
        let now = Instant::now();
        self.0
            .read_held(|s, holds| routes::http_answer_held(s, head, now, holds))
    }
    fn first_byte_timeout(&self) -> Duration {
        FIRST_BYTE_TIMEOUT
    }
}

/// The agent-check port's answers.
struct AgentCheck(Board);

impl Service for AgentCheck {
    fn plausible(&self, head: &[u8]) -> bool {
        agent::line_plausible(head)
    }
    fn complete(&self, head: &[u8]) -> bool {
        agent::line_complete(head)
    }
    fn respond(&self, head: &[u8]) -> Option<Vec<u8>> {
        let line = agent::request_line(head);
        let reply = self
            .0
            .read_held(|s, holds| agent::agent_reply_held(s, &line, holds));
        Some(reply.into_bytes())
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
    board: Board,
    api: Option<Listener>,
    agent: Option<Listener>,
}

impl ApiPorts {
    /// Listeners on `api` and `agent` (`None`: that one is off), answering
    /// from `board`. A port that cannot be bound is an error naming it.
    pub fn open(
        board: Board,
        api: Option<SocketAddr>,
        agent: Option<SocketAddr>,
    ) -> Result<ApiPorts, ListenError> {
        let mut ports = ApiPorts {
            board,
            api: None,
            agent: None,
        };
        ports.rebind(api, agent)?;
        Ok(ports)
    }

    /// The board the listeners answer from.
    pub fn board(&self) -> &Board {
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
    ) -> Result<(), ListenError> {
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
        self.api.as_ref().map(Listener::bind_addr) == api
            && self.agent.as_ref().map(Listener::bind_addr) == agent
    }

    /// Where the API listens (port 0 resolved).
    pub fn api_addr(&self) -> Option<SocketAddr> {
        self.api.as_ref().and_then(Listener::local_addr)
    }

    /// Where the agent-check port listens.
    pub fn agent_addr(&self) -> Option<SocketAddr> {
        self.agent.as_ref().and_then(Listener::local_addr)
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
    slot: &mut Option<Listener>,
    want: Option<SocketAddr>,
    service: impl Fn() -> Arc<dyn Service>,
    kind: &'static str,
) -> Result<(), ListenError> {
    let old = slot.as_ref().map(Listener::bind_addr);
    if old == want {
        return Ok(());
    }
    let Some(addr) = want else {
        *slot = None; // dropping closes and joins it
        return Ok(());
    };
    let mut g = Listener::new(addr, service(), kind);
    let first = match g.open() {
        Ok(()) => {
            *slot = Some(g);
            return Ok(());
        }
        Err(e) => e,
    };
    match old {
        Some(o) if o.port() == addr.port() && super::conflict::is_taken(&first) => {
            *slot = None;
            if g.open().is_ok() {
                *slot = Some(g);
                return Ok(());
            }
            let mut back = Listener::new(o, service(), kind);
            if back.open().is_ok() {
                *slot = Some(back);
            }
            Err(first)
        }
        _ => Err(first),
    }
}
