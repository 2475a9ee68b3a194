//! Human formats (spans, sizes, times, hex) and JSON on stdout.

use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

use crate::fail::Fail;

/// `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    // A closed pipe downstream is not memo's failure.
    let _ = serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(out));
    Ok(())
}

/// A span of seconds, two units at most: `45s`, `3m04s`, `2h05m`, `3d04h`.
pub(crate) fn span(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    if seconds < 10.0 {
        return format!("{seconds:.1}s");
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "finite, >= 10"
    )]
    let s = seconds as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// A byte count: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[expect(clippy::cast_precision_loss, reason = "a display rounded to 0.1")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix seconds as a UTC time, `2026-12-02T09:30:00Z`.
pub(crate) fn when(unix: f64) -> String {
    if !unix.is_finite() {
        return format!("{unix}");
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "any finite time fits after floor"
    )]
    let secs = unix.floor() as i64;
    let (days, rest) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Bytes as space-separated hex, at most `limit` bytes, then how many were left out.
pub(crate) fn hex(bytes: &[u8], limit: usize) -> String {
    let mut out = String::with_capacity(bytes.len().min(limit) * 3);
    for (i, b) in bytes.iter().take(limit).enumerate() {
        if i > 0 && limit != usize::MAX {
            out.push(' ');
        }
        let _ = write!(out, "{b:02x}");
    }
    if bytes.len() > limit {
        let _ = write!(out, " … ({} more bytes)", bytes.len() - limit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_sizes_read_well() {
        assert_eq!(span(3.25), "3.2s");
        assert_eq!(span(184.0), "3m04s");
        assert_eq!(span(7500.0), "2h05m");
        assert_eq!(span(3.0 * 86400.0 + 4.0 * 3600.0), "3d04h");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(when(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(when(1_709_210_096.7), "2024-02-29T12:34:56Z");
        assert_eq!(when(-1.0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn hex_is_cut_at_its_limit() {
        assert_eq!(hex(&[0, 1, 0xab], 8), "00 01 ab");
        assert_eq!(hex(&[0, 1, 0xab], 2), "00 01 … (1 more bytes)");
        assert_eq!(hex(&[0, 1, 0xab], usize::MAX), "0001ab");
    }
}
