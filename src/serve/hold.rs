//! `rise` and `fall` of `/replica` (and agent `replica`): a standby
//! catching up hovers around its lag limit, and an answer that follows
//! every check flaps a load balancer's pool. With `rise=N` a no turns yes
//! only after N checks in a row say yes, with `fall=N` a yes turns no only
//! after N checks in a row say no, so the answer flips at most once per
//! direction.
//!
//! Counted over the watcher's checks, not the requests: the [`Holds`] sit
//! on the board and the driver's publish steps every query they hold with
//! each new check ([`Holds::observe`]), however often (or seldom) the
//! query is asked. Bounded: a query is held from its first request, keyed
//! by the parsed query (so `lag=10s&rise=3` and `rise=3&lag=10000ms` are
//! one), at most [`MAX_HELD`] of them, the least recently asked making
//! room. Pure: a snapshot in, a state stepped.

use super::board::Snapshot;
use super::routes::{replica_result, NotReady, ReplicaQuery};

/// Queries held at most.
pub const MAX_HELD: usize = 16;

/// One held query.
#[derive(Debug, Clone)]
struct Entry {
    query: ReplicaQuery,
    /// The answer given.
    up: bool,
    /// Checks in a row that disagreed with it.
    streak: u32,
    /// The last check counted.
    check: u64,
    /// When it was last asked (a tick of [`Holds`]).
    asked: u64,
}

impl Entry {
    /// Counts check `check` whose own answer is `ok`.
    fn step(&mut self, check: u64, ok: bool) {
        if check <= self.check {
            return;
        }
        self.check = check;
        if ok == self.up {
            self.streak = 0;
            return;
        }
        self.streak += 1;
        let need = if ok { self.query.rise } else { self.query.fall };
        if self.streak >= need.unwrap_or(1) {
            self.up = ok;
            self.streak = 0;
        }
    }
}

/// The held queries of one board.
#[derive(Debug, Default)]
pub struct Holds {
    entries: Vec<Entry>,
    tick: u64,
}

/// A held answer that differs from the check's own.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    /// The check's own answer stands.
    Agrees,
    /// Still yes: the check says no (`why`), for `streak` of `fall` checks.
    StillUp {
        why: NotReady,
        streak: u32,
        fall: u32,
    },
    /// Still no: the check says yes, for `agreed` of `rise` checks.
    StillDown(NotReady),
}

fn check_of(snap: &Snapshot) -> u64 {
    snap.last.as_ref().map_or(0, |l| l.n)
}

impl Holds {
    /// Steps every held query with `snap`'s check (a no-op for a check
    /// already counted).
    pub fn observe(&mut self, snap: &Snapshot) {
        let check = check_of(snap);
        for e in &mut self.entries {
            let ok = replica_result(snap, &e.query).is_ok();
            e.step(check, ok);
        }
    }

    /// How many queries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answer to `q` on `snap`: the check's own (`own`), or the held
    /// one. A query asked for the first time starts from its own answer.
    pub fn answer(
        &mut self,
        snap: &Snapshot,
        q: &ReplicaQuery,
        own: &Result<(), NotReady>,
    ) -> Held {
        self.tick += 1;
        let check = check_of(snap);
        let i = match self.entries.iter().position(|e| &e.query == q) {
            Some(i) => i,
            None => {
                if self.entries.len() >= MAX_HELD {
                    let oldest = (0..self.entries.len())
                        .min_by_key(|&i| self.entries[i].asked)
                        .unwrap_or(0);
                    self.entries.swap_remove(oldest);
                }
                self.entries.push(Entry {
                    query: q.clone(),
                    up: own.is_ok(),
                    streak: 0,
                    check,
                    asked: self.tick,
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[i];
        e.asked = self.tick;
        e.step(check, own.is_ok());
        match (e.up, own) {
            (true, Err(why)) => Held::StillUp {
                why: why.clone(),
                streak: e.streak,
                fall: q.fall.unwrap_or(1),
            },
            (false, Ok(())) => Held::StillDown(NotReady::Rising {
                agreed: e.streak,
                rise: q.rise.unwrap_or(1),
            }),
            _ => Held::Agrees,
        }
    }
}

#[cfg(test)]
mod tests;
