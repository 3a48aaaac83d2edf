//! The port gate a GSLB or load balancer checks (`bind_address:open_port`):
//! a [`Listener`] that the driver opens and closes with each decision. A
//! plain TCP check passes while it listens; an HTTP check (HAProxy `option
//! httpchk`, curl) gets `200 OK` with the board's [`Snapshot::gate_json`]
//! (HEAD and OPTIONS: status line and headers only); any other bytes are
//! closed without an answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::board::{Board, Snapshot};
use super::http::{self, Reply};
use super::{ListenError, ListenStats, Listener, Service, Sizing, FIRST_BYTE_TIMEOUT};

/// The gate on one address. Dropping it closes it.
pub struct Gate {
    listener: Listener,
    board: Board,
}

impl Gate {
    /// A closed gate for `bind` (port 0 picks a free port on open, for
    /// tests) with a board of its own, showing that no check has run yet.
    pub fn new(bind: SocketAddr) -> Gate {
        let board = Board::new(Snapshot::starting("", Instant::now(), Duration::ZERO));
        Gate::on_board(bind, board)
    }

    /// A closed gate for `bind` answering from `board` (the driver's).
    pub fn on_board(bind: SocketAddr, board: Board) -> Gate {
        let service = Arc::new(GateService {
            board: board.clone(),
        });
        Gate {
            listener: Listener::new(bind, service, "gate"),
            board,
        }
    }

    /// A closed gate with a fixed sizing instead of one from the limit.
    pub fn with_sizing(bind: SocketAddr, sizing: Sizing) -> Gate {
        let Gate { listener, board } = Gate::new(bind);
        Gate {
            listener: listener.with_sizing(sizing),
            board,
        }
    }

    /// The board whose snapshot HTTP checks receive.
    pub fn board(&self) -> Board {
        self.board.clone()
    }

    /// The configured bind address.
    pub fn bind_addr(&self) -> SocketAddr {
        self.listener.bind_addr()
    }

    /// The address actually listened on while open.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether a listener is up.
    pub fn is_open(&self) -> bool {
        self.listener.is_open()
    }

    /// Connections accepted since the gate was made.
    pub fn accepted(&self) -> u64 {
        self.listener.accepted()
    }

    /// Counters since the gate was made.
    pub fn stats(&self) -> ListenStats {
        self.listener.stats()
    }

    /// Opens the gate; a no-op when already open.
    pub fn open(&mut self) -> Result<(), ListenError> {
        self.listener.open()
    }

    /// Closes the gate: the port refuses connections and the gate's thread
    /// is joined when this returns. A no-op when already closed.
    pub fn close(&mut self) {
        self.listener.close()
    }

    /// Opens or closes to match `open`.
    pub fn set(&mut self, open: bool) -> Result<(), ListenError> {
        self.listener.set(open)
    }
}

/// The gate's answers: an HTTP request gets `200 OK` with the board's
/// gate JSON.
struct GateService {
    board: Board,
}

impl Service for GateService {
    fn plausible(&self, head: &[u8]) -> bool {
        http::plausible(head)
    }

    fn complete(&self, head: &[u8]) -> bool {
        http::complete(head)
    }

    fn respond(&self, head: &[u8]) -> Option<Vec<u8>> {
        let line = http::parse(head)?;
        let with_body = match line.method.as_str() {
            "HEAD" | "OPTIONS" => false,
            "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "TRACE" => true,
            _ => return None,
        };
        let reply = Reply::json(200, self.board.read(Snapshot::gate_json));
        Some(reply.to_http(with_body))
    }

    fn first_byte_timeout(&self) -> Duration {
        FIRST_BYTE_TIMEOUT
    }
}
