//! A small hand-written SVG line chart: categorical x axis, linear or logarithmic y axis,
//! one polyline per series and a legend.

use std::fmt::Write as _;

/// One line of a chart: a name for the legend and a value per x category (`None`: no point).
#[derive(Clone, Debug)]
pub struct Series {
    /// The legend's label.
    pub name: String,
    /// One value per category of the chart's x axis.
    pub values: Vec<Option<f64>>,
    /// Drawn dashed (a reference beside a solid memo line).
    pub dashed: bool,
    /// Index into the palette; a store and its reference share one colour.
    pub colour: usize,
}

/// A line chart over categories.
#[derive(Clone, Debug)]
pub struct LineChart {
    /// The title above the plot.
    pub title: String,
    /// The x axis's label.
    pub x_label: String,
    /// The y axis's label.
    pub y_label: String,
    /// The x categories, left to right.
    pub categories: Vec<String>,
    /// Whether the y axis is logarithmic (base 10); values at or below zero are then skipped.
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl LineChart {
    /// The chart as a standalone SVG document.
    pub fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let shown = |v: f64| v.is_finite() && (!self.log_y || v > 0.0);
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .filter(|&v| shown(v))
            .collect();
        let scale = |v: f64| if self.log_y { v.log10() } else { v };
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(scale(v)), hi.max(scale(v)))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if self.log_y {
            (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
        } else {
            lo = lo.min(0.0);
            if hi <= lo {
                hi = lo + 1.0;
            }
        }
        let y_of = |v: f64| TOP + plot_h * (1.0 - (scale(v) - lo) / (hi - lo));
        let n = self.categories.len().max(1);
        let x_of = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / n as f64;

        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            LEFT + plot_w / 2.0,
            escape(&self.title)
        );
        // Grid lines and y ticks: each power of ten, or five even steps.
        let ticks: Vec<f64> = if self.log_y {
            (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=5)
                .map(|i| lo + (hi - lo) * f64::from(i) / 5.0)
                .collect()
        };
        for t in ticks {
            let y = y_of(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/>"##,
                LEFT + plot_w
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                escape(&tick_label(t))
            );
        }
        let _ = writeln!(
            svg,
            r#"<polyline points="{LEFT},{TOP} {LEFT},{} {},{}" fill="none" stroke="black"/>"#,
            TOP + plot_h,
            LEFT + plot_w,
            TOP + plot_h
        );
        for (i, c) in self.categories.iter().enumerate() {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x_of(i),
                TOP + plot_h + 18.0,
                escape(c)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            HEIGHT - 14.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        for (k, s) in self.series.iter().enumerate() {
            let colour = COLOURS[s.colour % COLOURS.len()];
            let dash = if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let points: Vec<String> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.filter(|&v| shown(v)).map(|v| (i, v)))
                .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(v)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                points.join(" ")
            );
            for p in &points {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(svg, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
            }
            let ly = TOP + 10.0 + 18.0 * k as f64;
            let lx = WIDTH - RIGHT + 16.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"{dash}/>"#,
                lx + 24.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}">{}</text>"#,
                lx + 30.0,
                ly + 4.0,
                escape(&s.name)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.0e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        crate::markdown::significant(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every element opened is closed in order (the writer emits no comments,
    /// declarations or self-closing tricks beyond `/>`).
    fn well_formed(svg: &str) -> bool {
        let mut stack = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let Some(end) = rest[start..].find('>') else {
                return false;
            };
            let tag = &rest[start + 1..start + end];
            rest = &rest[start + end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop() != Some(name.trim().to_owned()) {
                    return false;
                }
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().unwrap_or("").to_owned();
                stack.push(name);
            }
        }
        stack.is_empty() && !rest.contains('>')
    }

    fn chart(log_y: bool) -> LineChart {
        LineChart {
            title: "latency <by> size".into(),
            x_label: "value size".into(),
            y_label: "ns/op".into(),
            categories: vec!["64 B".into(), "4 KiB".into(), "1 MiB".into()],
            log_y,
            series: vec![
                Series {
                    name: "MemStore & co".into(),
                    values: vec![Some(60.0), Some(400.0), Some(90_000.0)],
                    dashed: false,
                    colour: 0,
                },
                Series {
                    name: "raw Mutex<HashMap>".into(),
                    values: vec![Some(35.0), None, Some(0.0)],
                    dashed: true,
                    colour: 0,
                },
            ],
        }
    }

    #[test]
    fn charts_are_well_formed_and_name_every_series() {
        for log_y in [false, true] {
            let svg = chart(log_y).render();
            assert!(svg.starts_with("<svg "), "{svg}");
            assert!(well_formed(&svg), "{svg}");
            assert!(svg.contains("MemStore &amp; co"));
            assert!(svg.contains("raw Mutex&lt;HashMap&gt;"));
            assert!(svg.contains("latency &lt;by&gt; size"));
            assert_eq!(
                svg.matches("<polyline").count(),
                3,
                "the axes and two series"
            );
        }
    }

    #[test]
    fn log_axis_skips_non_positive_values() {
        let svg = chart(true).render();
        // Three points of the first line, one of the second (None and 0 are not drawn).
        assert_eq!(svg.matches("<circle").count(), 4);
        // Decades from 10 (below 35) to 100,000 (above 90,000) label the axis.
        assert!(svg.contains(">10<") && svg.contains(">1e5<"), "{svg}");
    }

    #[test]
    fn the_checker_rejects_unclosed_elements() {
        assert!(!well_formed("<svg><g></svg>"));
        assert!(well_formed("<svg><g/></svg>"));
    }
}
