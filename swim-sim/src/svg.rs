//! Hand-written SVG line charts: axes with round ticks, a legend, lines,
//! an optional shaded band. Enough for the report's plots, no dependency.

use std::fmt::Write;

/// One line on a chart.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label (empty: not in the legend).
    pub label: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// CSS colour.
    pub color: &'static str,
    /// Stroke width in pixels.
    pub width: f64,
    /// Opacity in `0..=1`.
    pub opacity: f64,
    /// Dashed stroke.
    pub dashed: bool,
    /// Draw as a staircase (for CDFs).
    pub steps: bool,
}

impl Series {
    /// A solid line.
    pub fn line(label: &str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        Series {
            label: label.to_string(),
            points,
            color,
            width: 2.0,
            opacity: 1.0,
            dashed: false,
            steps: false,
        }
    }
}

/// A shaded band: its legend label and `(x, low, high)` points.
pub type Band = (String, Vec<(f64, f64, f64)>);

/// A chart.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Lines, drawn in order.
    pub series: Vec<Series>,
    /// Shaded band `(x, low, high)` drawn under the lines, with its label.
    pub band: Option<Band>,
    /// Force the y axis to include this value (e.g. 0).
    pub y_floor: Option<f64>,
    /// Text shown when there is nothing to plot.
    pub empty_note: Option<String>,
}

const W: f64 = 860.0;
const H: f64 = 420.0;
const L: f64 = 70.0;
const R: f64 = 20.0;
const T: f64 = 50.0;
const B: f64 = 55.0;

/// Round tick positions covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= target as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `chart` as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let mut xs: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    let mut ys: Vec<f64> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    if let Some((_, band)) = &chart.band {
        xs.extend(band.iter().map(|b| b.0));
        ys.extend(band.iter().flat_map(|b| [b.1, b.2]));
    }
    ys.extend(chart.y_floor);
    let finite = |v: &Vec<f64>| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .collect::<Vec<_>>()
    };
    let (xs, ys) = (finite(&xs), finite(&ys));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        svg,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="17" font-weight="bold">{}</text>"#,
        W / 2.0,
        esc(&chart.title)
    );
    if xs.is_empty() || ys.is_empty() {
        let note = chart.empty_note.as_deref().unwrap_or("no data");
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="gray">{}</text></svg>"#,
            W / 2.0,
            H / 2.0,
            esc(note)
        );
        return svg;
    }
    let (mut x0, mut x1) = (
        xs.iter().copied().fold(f64::MAX, f64::min),
        xs.iter().copied().fold(f64::MIN, f64::max),
    );
    let (mut y0, mut y1) = (
        ys.iter().copied().fold(f64::MAX, f64::min),
        ys.iter().copied().fold(f64::MIN, f64::max),
    );
    if x1 - x0 < 1e-9 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    if y1 - y0 < 1e-9 {
        y0 -= 1.0;
        y1 += 1.0;
    }
    let pad = (y1 - y0) * 0.05;
    y1 += pad;
    if chart.y_floor.is_none_or(|f| y0 < f) {
        y0 -= pad;
    }
    let px = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let py = |y: f64| H - B - (y - y0) / (y1 - y0) * (H - T - B);
    // Grid and ticks.
    for t in ticks(y0, y1, 6) {
        let y = py(t);
        let _ = write!(
            svg,
            r##"<line x1="{L}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#444">{}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0,
            fmt_num(t)
        );
    }
    for t in ticks(x0, x1, 10) {
        let x = px(t);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{T}" x2="{x:.1}" y2="{:.1}" stroke="#f0f0f0"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text>"##,
            H - B,
            H - B + 18.0,
            fmt_num(t)
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{L}" y="{T}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
        W - L - R,
        H - T - B
    );
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 12.0,
        esc(&chart.x_label)
    );
    let _ = write!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (T + H - B) / 2.0,
        esc(&chart.y_label)
    );
    let mut legend: Vec<(String, &'static str, bool, f64)> = Vec::new();
    if let Some((label, band)) = &chart.band {
        let mut d = String::new();
        for (i, (x, _, hi)) in band.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                px(*x),
                py(*hi)
            );
        }
        for (x, lo, _) in band.iter().rev() {
            let _ = write!(d, "L{:.1},{:.1} ", px(*x), py(*lo));
        }
        let _ = write!(
            svg,
            r##"<path d="{d}Z" fill="#9ecae1" fill-opacity="0.45" stroke="none"/>"##
        );
        legend.push((label.clone(), "#9ecae1", false, 8.0));
    }
    for s in &chart.series {
        if s.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in &s.points {
            let (x, y) = (px(x), py(y));
            match prev {
                None => {
                    let _ = write!(d, "M{x:.1},{y:.1}");
                }
                Some((_, py0)) if s.steps => {
                    let _ = write!(d, " L{x:.1},{py0:.1} L{x:.1},{y:.1}");
                }
                Some(_) => {
                    let _ = write!(d, " L{x:.1},{y:.1}");
                }
            }
            prev = Some((x, y));
        }
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{}" stroke-width="{}" stroke-opacity="{}"{dash} stroke-linejoin="round"/>"#,
            s.color, s.width, s.opacity
        );
        if !s.label.is_empty() {
            legend.push((s.label.clone(), s.color, s.dashed, s.width));
        }
    }
    for (i, (label, color, dashed, width)) in legend.iter().enumerate() {
        let y = T + 16.0 + i as f64 * 18.0;
        let x = W - R - 230.0;
        let dash = if *dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="{}"{dash}/><text x="{}" y="{}">{}</text>"#,
            x + 26.0,
            width.max(2.0),
            x + 32.0,
            y + 4.0,
            esc(label)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0, 1.0, 4), [0.0, 0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn renders_lines_and_empty_charts() {
        let chart = Chart {
            title: "t<1>".into(),
            series: vec![Series::line("a", "red", vec![(0.0, 1.0), (1.0, 2.0)])],
            ..Chart::default()
        };
        let s = render(&chart);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("t&lt;1&gt;") && s.contains("<path"));
        let empty = render(&Chart {
            empty_note: Some("nothing".into()),
            ..Chart::default()
        });
        assert!(empty.contains("nothing"));
    }
}
