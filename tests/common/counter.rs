//! A counter's output: a file with 1, 2, 3, ... one a line.

use std::path::Path;

/// The complete lines of `path`: a writer may be halfway through the last.
pub fn complete_lines(path: &Path) -> String {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    text.truncate(text.rfind('\n').map_or(0, |i| i + 1));
    text
}

/// The numbers on the complete lines of `path`.
pub fn numbers(path: &Path) -> Vec<u64> {
    complete_lines(path)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// 1, 2, ..., n with nothing skipped, repeated or restarted.
pub fn assert_consecutive(values: &[u64]) {
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            *v,
            i as u64 + 1,
            "sequence broken at line {}: {values:?}",
            i + 1
        );
    }
}
