//! Where the long-running programs' log records go: stderr, which systemd
//! puts in the journal. One place for the level variable and the filter
//! that keeps the postgres driver's per-query debug records out.

/// Sends `log` records to stderr (the journal under systemd), at the level
/// named by `$PGPOOLWATCH_LOG` (error, warn, info, debug, trace; default
/// info). Called once by the long-running programs.
pub fn init_logging() {
    let level = match std::env::var("PGPOOLWATCH_LOG")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        "off" => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    };
    let config = simplelog::ConfigBuilder::new()
        .set_target_level(log::LevelFilter::Off)
        .set_thread_level(log::LevelFilter::Off)
        // Our records only: the postgres driver logs every query at debug.
        .add_filter_allow_str("pgpoolwatch")
        .build();
    // Whole lines: simplelog writes a record in a dozen pieces, and stderr
    // is unbuffered, so each piece was a write(2) of its own, between
    // which another writer of stderr (a panic message) could cut in.
    // LineWriter hands the journal each record in one write.
    let out = std::io::LineWriter::new(std::io::stderr());
    // A second call (tests) keeps the first logger; nothing to report.
    let _ = simplelog::WriteLogger::init(level, config, out);
}
