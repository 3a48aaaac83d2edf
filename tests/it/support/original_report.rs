//! The original README's "Sample poolstatus Output" as a checklist for our
//! text report (issue 16 item 3): its three "Output of:" sections, the
//! columns of their table headers, and every `- Parameter | Value` row
//! label, each present in the same section of our report with a value.
//! Pure (text in, list out), so it is tested here against fixture reports
//! and called by the cluster tests against a live report.
//!
//! The sample lives in the repository:
//! `tests/fixtures/original/poolstatus_sample.txt` (verbatim).

use std::path::PathBuf;

/// The original README's sample report.
pub fn original_sample() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/original/poolstatus_sample.txt");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    // Our header lines start with '#'; the sample follows them.
    text.lines()
        .skip_while(|l| l.starts_with('#') || l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What of the original README's "Sample poolstatus Output" is missing
/// from `report` (our text report, as `poolstatus` prints it), one line per
/// finding; empty when everything is there. Checked, section by section:
/// - each of the original's three `Output of: <name>` headings (ours may
///   add to the heading, e.g. `(on db1 127.0.0.1:5432)`), its body holds
///   no `error:` line, its table header holds the original's columns (any
///   case: repmgr 3 says `Connection String`, 4+ `Connection string`), and
///   the table has at least one row;
/// - every `- label | ...` row of the original's pg_stat_replication block
///   is in ours (PostgreSQL 10+ names such as `sent_lsn` stand for
///   `sent_location`), with a value where the original had one;
/// - every `- label | ...` row of the original's summary block (Current
///   Datetime ... SLAVE) is in ours, and every such row of ours has a real
///   value in each cell the original filled: not empty, not `-`, not
///   `error: ...`.
pub fn missing_original_parts(report: &str) -> Vec<String> {
    missing_parts(&original_sample(), report)
}

/// [`missing_original_parts`] against any `original`.
pub fn missing_parts(original: &str, report: &str) -> Vec<String> {
    let want = Layout::read(original);
    let got = Layout::read(report);
    let mut missing = Vec::new();
    for (name, want_sec) in &want.sections {
        let heading = format!("Output of: {name}");
        let Some(got_sec) = got.section(name) else {
            missing.push(format!("section {heading:?}: missing"));
            continue;
        };
        if let Some(e) = got_sec.lines.iter().find(|l| l.starts_with("error:")) {
            missing.push(format!("section {heading:?}: {e}"));
        }
        if let Some(cols) = &want_sec.table_columns() {
            let have = got_sec.table_columns().unwrap_or_default();
            let have: Vec<String> = have.iter().map(|c| c.to_lowercase()).collect();
            for c in cols {
                if !have.contains(&c.to_lowercase()) {
                    missing.push(format!("section {heading:?}: no column {c:?} in its table"));
                }
            }
            if got_sec.table_rows() == 0 {
                missing.push(format!("section {heading:?}: no table row"));
            }
        }
    }
    let blocks = [
        ("pg_stat_replication", &want.replication, &got.replication),
        ("summary", &want.summary, &got.summary),
    ];
    for (block, want_rows, got_rows) in blocks {
        for w in want_rows {
            let found: Vec<&Row> = got_rows
                .iter()
                .filter(|g| same_label(&w.label, &g.label))
                .collect();
            if found.is_empty() {
                missing.push(format!("{block} row {:?}: missing", w.label));
                continue;
            }
            for g in found {
                for (i, cell) in w.cells.iter().enumerate() {
                    if cell.is_empty() {
                        continue;
                    }
                    let ours = g.cells.get(i).map_or("", String::as_str);
                    if ours.is_empty() || ours == "-" || ours.starts_with("error:") {
                        missing.push(format!(
                            "{block} row {:?}: no value in cell {} (the original: {cell:?}) in {:?}",
                            w.label,
                            i + 1,
                            g.line
                        ));
                        break;
                    }
                }
            }
        }
    }
    missing
}

/// PostgreSQL 10 renamed pg_stat_replication's `*_location` to `*_lsn`.
fn same_label(original: &str, ours: &str) -> bool {
    original == ours
        || original
            .strip_suffix("_location")
            .is_some_and(|stem| ours == format!("{stem}_lsn"))
}

/// A `- label | cell | cell` row.
#[derive(Debug)]
struct Row {
    label: String,
    cells: Vec<String>,
    line: String,
}

impl Row {
    fn read(line: &str) -> Option<Row> {
        let rest = line.strip_prefix("- ")?;
        let mut parts = rest.split('|').map(|p| p.trim().to_string());
        let label = parts.next()?;
        if !rest.contains('|') {
            return None;
        }
        Some(Row {
            label,
            cells: parts.collect(),
            line: line.to_string(),
        })
    }
}

/// An `Output of:` section: its lines after the heading, up to the next
/// heading or the replication/summary blocks.
#[derive(Debug)]
struct Section {
    lines: Vec<String>,
}

impl Section {
    /// The columns of its table header (the first line holding `|` that
    /// is no `- ` row), when it has one.
    fn table_columns(&self) -> Option<Vec<String>> {
        let header = self
            .lines
            .iter()
            .find(|l| l.contains('|') && !l.starts_with("- "))?;
        Some(
            header
                .split('|')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect(),
        )
    }

    /// Table rows after the header's `---` line.
    fn table_rows(&self) -> usize {
        self.lines
            .iter()
            .skip_while(|l| !l.starts_with("--"))
            .skip(1)
            .take_while(|l| l.contains('|'))
            .count()
    }
}

/// A report cut into the original's parts.
#[derive(Debug, Default)]
struct Layout {
    /// (name after `Output of: `, without our `(on ...)`, body).
    sections: Vec<(String, Section)>,
    /// Rows of the pg_stat_replication block(s), header rows left out.
    replication: Vec<Row>,
    /// Rows of the summary block (from its `- Parameter` header on).
    summary: Vec<Row>,
}

impl Layout {
    fn read(text: &str) -> Layout {
        let lines: Vec<&str> = text.lines().collect();
        // The summary starts at the last `- Parameter` header.
        let summary_at = lines
            .iter()
            .rposition(|l| Row::read(l).is_some_and(|r| r.label == "Parameter"))
            .unwrap_or(lines.len());
        let mut layout = Layout::default();
        let mut current: Option<(String, Section)> = None;
        for (i, line) in lines.iter().enumerate() {
            if i >= summary_at {
                if let Some(r) = Row::read(line) {
                    layout.summary.push(r);
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("Output of: ") {
                if let Some(done) = current.take() {
                    layout.sections.push(done);
                }
                let name = rest.split(" (").next().unwrap_or(rest).trim().to_string();
                current = Some((name, Section { lines: Vec::new() }));
                continue;
            }
            if let Some((name, sec)) = &mut current {
                sec.lines.push(line.to_string());
                if name == "pg_stat_replication" {
                    if let Some(r) = Row::read(line).filter(|r| r.label != "Parameter") {
                        layout.replication.push(r);
                    }
                }
            }
        }
        if let Some(done) = current.take() {
            layout.sections.push(done);
        }
        layout
    }

    fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/poolstatus")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn the_original_sample_has_three_sections_and_its_rows() {
        let l = Layout::read(&original_sample());
        let names: Vec<&str> = l.sections.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "show pool_nodes",
                "repmgr cluster show",
                "pg_stat_replication"
            ]
        );
        assert_eq!(l.replication.len(), 16, "pid .. sync_state");
        let summary: Vec<&str> = l.summary.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            summary,
            [
                "Parameter",
                "Current Datetime",
                "xlog_location (master)",
                "xlog_location (slave)",
                "WAL Process (master)",
                "WAL Process (slave)",
                "Number of Events (all)",
                "Number of Events (24h)",
                "MASTER",
                "SLAVE"
            ]
        );
        assert_eq!(
            missing_original_parts(&original_sample()),
            Vec::<String>::new(),
            "the original passes its own checklist"
        );
    }

    #[test]
    fn a_healthy_legacy_report_has_everything_the_original_had() {
        let report = fixture("report_legacy_healthy.txt");
        assert_eq!(
            missing_original_parts(&report),
            Vec::<String>::new(),
            "{report}"
        );
    }

    #[test]
    fn a_degraded_report_names_each_row_without_a_value() {
        let report = fixture("report_pg96_repmgr3.txt");
        assert_eq!(
            missing_original_parts(&report),
            [
                "summary row \"SLAVE\": no value in cell 3 (the original: \"5%\") in \
              \"- SLAVE                  | dbser1                     | Disk | error: ssh host key \
              dbser1:22: host not in /var/lib/pgsql/.ssh/known_hosts\""
            ],
            "{report}"
        );
    }

    #[test]
    fn missing_sections_columns_and_rows_are_named() {
        let healthy = fixture("report_legacy_healthy.txt");
        // No repmgr section, no lb_weight column, no sent_location, no SLAVE.
        let mangled: String = healthy
            .replace(
                "Output of: repmgr cluster show",
                "Output of: something else",
            )
            .replace(" lb_weight |", " weight    |")
            .replace("- sent_location ", "- sent          ")
            .lines()
            .filter(|l| !l.starts_with("- SLAVE"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            missing_original_parts(&mangled),
            [
                "section \"Output of: show pool_nodes\": no column \"lb_weight\" in its table",
                "section \"Output of: repmgr cluster show\": missing",
                "pg_stat_replication row \"sent_location\": missing",
                "summary row \"SLAVE\": missing",
            ]
        );
    }

    #[test]
    fn an_unreachable_pgpool_misses_nearly_everything() {
        let report = "Output of: show pool_nodes\n\
                      error: connect 127.0.0.1:5432: connection refused\n\n\n\
                      Output of: repmgr cluster show\n\
                      error: not read: no database host known (pgpool did not answer)\n\n\
                      Output of: pg_stat_replication\n\
                      error: no primary found to read it from\n\n\
                      - Parameter              | Value\n\
                      -------------------------------------------------------------------\n\
                      - Current Datetime       | 2026-11-26 00:30:00 UTC\n\
                      - xlog_location (master) | error: no primary found\n\
                      - Number of Events (all) | error: not read\n\
                      - Number of Events (24h) | error: not read\n\n\
                      Status: CRITICAL: pgpool unreachable: connect 127.0.0.1:5432: connection refused\n";
        let m = missing_original_parts(report);
        for part in [
            "section \"Output of: show pool_nodes\": error: connect 127.0.0.1:5432: connection refused",
            "section \"Output of: repmgr cluster show\": no table row",
            "pg_stat_replication row \"pid\": missing",
            "summary row \"xlog_location (master)\": no value in cell 1 (the original: \"0/801FBC8\") in \"- xlog_location (master) | error: no primary found\"",
            "summary row \"xlog_location (slave)\": missing",
            "summary row \"MASTER\": missing",
        ] {
            assert!(m.iter().any(|x| x == part), "{part:?} not in {m:#?}");
        }
        assert!(!m.iter().any(|x| x.contains("Current Datetime")), "{m:#?}");
    }

    #[test]
    fn postgresql_10_names_stand_for_the_96_ones() {
        assert!(same_label("sent_location", "sent_lsn"));
        assert!(same_label("replay_location", "replay_lsn"));
        assert!(!same_label("sent_location", "write_lsn"));
        assert!(same_label("pid", "pid"));
    }
}
