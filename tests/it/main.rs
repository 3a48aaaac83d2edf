//! Integration tests: one binary, one module per topic, shared helpers in
//! `support` (the sandbox cluster handle, the capture SMTP server, PowerDNS,
//! the nspawn container). tests/README.md says what each module covers.
//!
//! Plain `cargo test` runs the hermetic tests (no root, no cluster); every
//! test that needs a real server, root or a system tool is `#[ignore]`d with
//! the reason (libtest prints it and counts it as ignored), and `bin/test`
//! runs them: `cargo test --test it -- --ignored`. `suite_index` keeps the
//! reasons and tests/README.md true.

mod support;

mod config_cli;
mod conflict;
mod conninfo;
mod fast_path;
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
mod replica_lag;
mod sandbox;
mod sendmail;
mod split_brain;
mod spool;
mod suite_index;
mod tls;
mod units;
mod watchers;
mod witness;
