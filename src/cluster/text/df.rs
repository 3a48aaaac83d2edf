//! `df -P` output: disk use of one file system (POSIX format).

use super::ParseError;

/// Disk use of one file system from `df -P`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUse {
    pub filesystem: String,
    pub size_kb: u64,
    pub used_kb: u64,
    pub available_kb: u64,
    pub use_percent: u8,
    pub mounted_on: String,
}

/// Reads `df -P PATH` output (POSIX format: a header line, then one line
/// per file system; the mount point may hold spaces).
pub fn df(output: &str) -> Result<DiskUse, ParseError> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().ok_or(ParseError::DfEmpty)?;
    if !header.starts_with("Filesystem") {
        return Err(ParseError::DfHeader {
            line: header.trim().to_string(),
        });
    }
    let line = lines.next().ok_or(ParseError::DfNoFilesystem)?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    // Find "<n> <n> <n> <p>%" after the file system name.
    for i in 1..fields.len().saturating_sub(3) {
        let pct = fields[i + 3];
        let (Some(p), Ok(size), Ok(used), Ok(avail)) = (
            pct.strip_suffix('%').and_then(|p| p.parse::<u8>().ok()),
            fields[i].parse::<u64>(),
            fields[i + 1].parse::<u64>(),
            fields[i + 2].parse::<u64>(),
        ) else {
            continue;
        };
        let mount_start = i + 4;
        return Ok(DiskUse {
            filesystem: fields[..i].join(" "),
            size_kb: size,
            used_kb: used,
            available_kb: avail,
            use_percent: p,
            mounted_on: fields[mount_start..].join(" "),
        });
    }
    Err(ParseError::DfNoUse {
        line: line.trim().to_string(),
    })
}
