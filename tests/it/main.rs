//! Integration tests: one binary, one module per topic, shared helpers in
//! `support` (the sandbox cluster handle, the capture SMTP server, PowerDNS,
//! the nspawn container).

mod support;

mod config_cli;
mod conflict;
mod conninfo;
mod flood;
mod gslb;
mod gslb_one_name;
mod haproxy;
mod layout;
mod legacy;
mod mail_and_signals;
mod matrix;
mod nagios;
mod partition;
mod poolstatus;
mod prometheus;
mod sandbox;
mod sendmail;
mod split_brain;
mod spool;
mod tls;
mod units;
mod watchers;
mod witness;
