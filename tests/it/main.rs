//! Integration tests: one binary, one module per topic, shared helpers in
//! `support` (the capture SMTP server, the sandbox cluster handle).

mod support;

mod config_cli;
mod conflict;
mod conninfo;
mod flood;
mod gslb;
mod gslb49;
mod haproxy;
mod layout;
mod legacy;
mod matrix;
mod nagios;
mod partition;
mod poolstatus;
mod prometheus;
mod recut;
mod sandbox;
mod sendmail;
mod split_brain;
mod spool;
mod tls;
mod units;
mod watchers;
mod witness;
