//! Markdown tables and the number formats of the report.

use std::fmt::Write as _;

/// A Markdown table: a header row and body rows of cells.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        Self {
            header: header.iter().map(|h| h.as_ref().to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells render empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// How many body rows the table has.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no body rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as GitHub-flavoured Markdown, a line per row, ending in a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
            out.push('|');
            for cell in cells {
                let _ = write!(out, " {} |", cell.replace('|', "\\|").replace('\n', " "));
            }
            out.push('\n');
        };
        line(&mut out, &mut self.header.iter().cloned());
        line(&mut out, &mut self.header.iter().map(|_| "---".to_owned()));
        let width = self.header.len();
        for row in &self.rows {
            let mut cells = row
                .iter()
                .cloned()
                .chain(std::iter::repeat(String::new()))
                .take(width);
            line(&mut out, &mut cells);
        }
        out
    }
}

/// A duration in nanoseconds with three significant digits and its unit: `61.2 ns`,
/// `5.20 µs`, `12.3 ms`, `1.05 s`.
pub fn nanos(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", significant(value))
}

/// `x` with three significant digits (no exponent).
pub fn significant(x: f64) -> String {
    let digits = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    format!("{x:.digits$}")
}

/// A ratio as `1.23x`.
pub fn ratio(x: f64) -> String {
    format!("{x:.2}x")
}

/// A byte count in binary units: `64 B`, `4 KiB`, `1 MiB`, `1.5 GiB`.
pub fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value.abs() >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", units[unit])
    } else {
        format!("{} {}", significant(value), units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_header_separator_and_padded_rows() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "x|y".into()]);
        t.row(vec!["2".into()]);
        assert_eq!(
            t.render(),
            "| a | b |\n| --- | --- |\n| 1 | x\\|y |\n| 2 |  |\n"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(nanos(61.24), "61.2 ns");
        assert_eq!(nanos(5_203.0), "5.20 µs");
        assert_eq!(nanos(338_000.0), "338 µs");
        assert_eq!(nanos(50_400_000.0), "50.4 ms");
        assert_eq!(ratio(1.456), "1.46x");
        assert_eq!(bytes(64.0), "64 B");
        assert_eq!(bytes(4096.0), "4 KiB");
        assert_eq!(bytes(1_572_864.0), "1.50 MiB");
    }
}
