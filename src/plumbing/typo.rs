//! Typos: the known name a mistyped one was probably meant to be, for the
//! "did you mean ...?" of an unknown config key or command-line option.

/// The name of `names` within a couple of edits of `word` (a typo:
/// `force_opne`, `--chek-config`), the closest first; `None` when none is.
/// Up to 2 edits, fewer for short words (3 letters: 1 edit).
pub fn closest<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).clamp(1, 2);
    names
        .map(|n| (edits(word, n), n))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Edit distance with adjacent swaps counted as one edit (optimal string
/// alignment), over chars.
pub fn edits(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name_and_a_stranger_finds_none() {
        let keys = ["force_open", "check_period", "open_port"];
        assert_eq!(
            closest("force_opne", keys.iter().copied()),
            Some("force_open")
        );
        assert_eq!(
            closest("chek_period", keys.iter().copied()),
            Some("check_period")
        );
        assert_eq!(closest("password", keys.iter().copied()), None);
        let opts = ["--config", "--check-config", "--run-once"];
        assert_eq!(closest("--confg", opts.iter().copied()), Some("--config"));
        assert_eq!(
            closest("--run-onse", opts.iter().copied()),
            Some("--run-once")
        );
        assert_eq!(closest("--verbose", opts.iter().copied()), None);
        assert_eq!(edits("ab", "ba"), 1);
    }
}
