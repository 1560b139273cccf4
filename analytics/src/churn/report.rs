//! The model report: one HTML page, no script, charts drawn as inline SVG
//! from the model file alone: the ROC curve, the gain chart, the score
//! distribution of churners and the others, calibration, and the feature
//! weights.

use std::fmt::Write as _;

use super::train::ModelFile;

/// Feature weights drawn (the largest).
pub const WEIGHTS_SHOWN_MAX: usize = 15;

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 300.0;
/// Room left of and below a plot for the ticks and the axis titles.
const MARGIN: f64 = 56.0;
/// Room above a plot for its legend.
const LEGEND_HEIGHT: f64 = 28.0;
const CHURN: &str = "#c0392b";
const OTHER: &str = "#2e86c1";
const GREY: &str = "#999";
const GRID: &str = "#e6e6e6";
const AXIS: &str = "#333";
/// Where the axes are ticked and gridlined, in the unit square.
const TICKS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The page for `file`, titled `title`.
#[must_use]
pub fn render(file: &ModelFile, title: &str) -> String {
    let t = &file.test;
    let mut html = String::with_capacity(32 * 1024);
    let _ = write!(
        html,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; background: #fff; }}
h1 {{ font-size: 22px; margin: 0 0 6px; }}
.sub {{ color: #555; margin-bottom: 16px; }}
.figures {{ display: flex; gap: 14px; margin-bottom: 18px; flex-wrap: wrap; }}
.figure {{ border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; min-width: 120px; }}
.figure b {{ display: block; font-size: 24px; }}
.figure span {{ color: #555; font-size: 13px; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 18px; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 10px; }}
.card h2 {{ font-size: 16px; margin: 0 0 4px; }}
.card p {{ font-size: 13px; color: #555; margin: 0 0 6px; }}
.card svg {{ display: block; width: 100%; max-width: 640px; height: auto; }}
svg text {{ font-size: 12px; fill: #333; }}
</style></head><body>
<h1>{title}</h1>
<div class="sub">Chosen model: <b>{kind}</b> (validation ROC AUC {validation}); split: {split}; test rows: {rows}, churners: {positives}.</div>
<div class="figures">
<div class="figure" id="auc"><b>{auc:.3}</b><span>ROC AUC (test)</span></div>
<div class="figure"><b>{p5:.1}%</b><span>precision, top 5%</span></div>
<div class="figure"><b>{p10:.1}%</b><span>precision, top 10%</span></div>
<div class="figure"><b>{base:.1}%</b><span>base rate (random pick)</span></div>
<div class="figure"><b>{brier:.3}</b><span>Brier score</span></div>
</div>
<div class="grid">
"#,
        title = escape(title),
        kind = file.model.kind().name(),
        validation = file.validation_roc_auc.iter().map(|(k, v)| format!("{k} {v:.3}")).collect::<Vec<_>>().join(", "),
        split = escape(&file.split),
        rows = t.rows,
        positives = t.positives,
        auc = t.roc_auc,
        p5 = 100.0 * t.precision_at_5pct,
        p10 = 100.0 * t.precision_at_10pct,
        base = 100.0 * t.base_rate,
        brier = t.brier,
    );
    card(
        &mut html,
        "roc",
        "ROC curve",
        "True positive rate against false positive rate; the diagonal is a coin.",
        &curve(&t.roc, "false positive rate", "true positive rate", "coin"),
    );
    card(
        &mut html,
        "gain",
        "Gain chart",
        "Churners found against accounts contacted, riskiest first; the diagonal is a random pick.",
        &curve(&t.gain, "share of accounts contacted", "share of churners found", "random pick"),
    );
    card(
        &mut html,
        "distribution",
        "Score distribution",
        "Share of each group per score bin: churners in red, the others in blue.",
        &histogram(&t.histogram_positives, &t.histogram_negatives),
    );
    card(
        &mut html,
        "calibration",
        "Calibration",
        "Observed churn rate against mean score per score bin; on the diagonal, scores are probabilities.",
        &calibration(file),
    );
    card(
        &mut html,
        "weights",
        "Feature weights",
        "Red raises the risk, blue lowers it (tree: size of the score changes at its splits).",
        &weights(file),
    );
    html.push_str("</div>\n</body></html>\n");
    html
}

fn card(html: &mut String, id: &str, title: &str, note: &str, svg: &str) {
    let _ = write!(html, "<div class=\"card\" id=\"{id}\"><h2>{title}</h2><p>{note}</p>\n{svg}</div>\n");
}

/// Plot coordinates of a point in the unit square.
fn at(x: f64, y: f64) -> (f64, f64) {
    (
        MARGIN + x.clamp(0.0, 1.0) * (WIDTH - MARGIN - 14.0),
        HEIGHT - MARGIN - y.clamp(0.0, 1.0) * (HEIGHT - MARGIN - LEGEND_HEIGHT),
    )
}

/// Axes with gridlines and ticks at [`TICKS`], and their labels.
fn axes(svg: &mut String, x_label: &str, y_label: &str) {
    let (x0, y0) = at(0.0, 0.0);
    let (x1, y1) = at(1.0, 1.0);
    for tick in TICKS {
        let (x, _) = at(tick, 0.0);
        let (_, y) = at(0.0, tick);
        if tick > 0.0 {
            let _ = write!(svg, r#"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="{GRID}"/>"#);
            let _ = write!(svg, r#"<line x1="{x}" y1="{y0}" x2="{x}" y2="{y1}" stroke="{GRID}"/>"#);
        }
        let _ = write!(svg, r#"<text x="{x}" y="{}" text-anchor="middle">{tick}</text>"#, y0 + 15.0);
        let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="end">{tick}</text>"#, x0 - 4.0, y + 4.0);
    }
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="{AXIS}"/>"#);
    let _ = write!(svg, r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="{AXIS}"/>"#);
    let _ = write!(svg, r#"<text x="{}" y="{}" text-anchor="middle">{x_label}</text>"#, (x0 + x1) / 2.0, y0 + 30.0);
    let _ = write!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{y_label}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
}

/// A legend in a row above the plot, clear of the data: a swatch and a
/// label per entry.
fn legend(svg: &mut String, entries: &[(&str, Swatch, &str)]) {
    // An estimate of the label's width at 12px, for the next entry's place.
    const CHAR_WIDTH: f64 = 7.0;
    let y = LEGEND_HEIGHT / 2.0;
    let mut x = MARGIN;
    for (colour, swatch, label) in entries {
        let _ = match swatch {
            Swatch::Line => {
                write!(
                    svg,
                    r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2.5"/>"#,
                    x + 20.0
                )
            }
            Swatch::Dashed => write!(
                svg,
                r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-dasharray="4 4"/>"#,
                x + 20.0
            ),
            Swatch::Block => write!(svg, r#"<rect x="{x}" y="{}" width="20" height="10" fill="{colour}"/>"#, y - 5.0),
            Swatch::Dot => {
                write!(svg, r#"<circle cx="{}" cy="{y}" r="5" fill="{colour}" fill-opacity="0.7"/>"#, x + 10.0)
            }
        };
        let _ = write!(svg, r#"<text x="{}" y="{}">{label}</text>"#, x + 26.0, y + 4.0);
        x += 26.0 + CHAR_WIDTH * label.chars().count() as f64 + 18.0;
    }
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    /// A line, as the model's curves.
    Line,
    /// A dashed line, as the diagonals.
    Dashed,
    /// A block, as the histogram's bars.
    Block,
    /// A dot, as the calibration's bins.
    Dot,
}

fn open_svg() -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">"#
    )
}

fn curve(points: &[[f64; 2]], x_label: &str, y_label: &str, diagonal: &str) -> String {
    let mut svg = open_svg();
    axes(&mut svg, x_label, y_label);
    legend(&mut svg, &[(CHURN, Swatch::Line, "the model"), (GREY, Swatch::Dashed, diagonal)]);
    let (a, b) = (at(0.0, 0.0), at(1.0, 1.0));
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GREY}" stroke-dasharray="4 4"/>"#,
        a.0, a.1, b.0, b.1
    );
    let path: Vec<String> = points
        .iter()
        .map(|p| {
            let (x, y) = at(p[0], p[1]);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(svg, r#"<polyline points="{}" fill="none" stroke="{CHURN}" stroke-width="2.5"/>"#, path.join(" "));
    svg.push_str("</svg>\n");
    svg
}

fn histogram(positives: &[usize], negatives: &[usize]) -> String {
    let mut svg = open_svg();
    let share = |counts: &[usize]| -> Vec<f64> {
        let total = counts.iter().sum::<usize>().max(1) as f64;
        counts.iter().map(|&c| c as f64 / total).collect()
    };
    let (p, n) = (share(positives), share(negatives));
    let top = p.iter().chain(&n).copied().fold(0.0, f64::max).max(1e-9);
    axes(&mut svg, "score", "share of group (scaled)");
    legend(&mut svg, &[(CHURN, Swatch::Block, "churners"), (OTHER, Swatch::Block, "the others")]);
    let bins = p.len().max(1) as f64;
    for (i, (sp, sn)) in p.iter().zip(&n).enumerate() {
        let from = i as f64 / bins;
        let half = 0.5 / bins;
        for (offset, value, colour) in [(0.0, sn, OTHER), (half, sp, CHURN)] {
            let (x, y) = at(from + offset, value / top);
            let (x_end, base) = at(from + offset + half * 0.9, 0.0);
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
                x_end - x,
                base - y
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn calibration(file: &ModelFile) -> String {
    let mut svg = open_svg();
    axes(&mut svg, "mean score", "observed churn rate");
    legend(&mut svg, &[(CHURN, Swatch::Dot, "a score bin (size: its rows)"), (GREY, Swatch::Dashed, "calibrated")]);
    let (a, b) = (at(0.0, 0.0), at(1.0, 1.0));
    let _ = write!(
        svg,
        r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{GREY}" stroke-dasharray="4 4"/>"#,
        a.0, a.1, b.0, b.1
    );
    for bin in &file.test.calibration {
        let (x, y) = at(bin.predicted, bin.observed);
        let radius = 3.0 + (bin.rows as f64).log10().max(0.0) * 2.0;
        let _ = write!(svg, r#"<circle cx="{x:.1}" cy="{y:.1}" r="{radius:.1}" fill="{CHURN}" fill-opacity="0.7"/>"#);
    }
    svg.push_str("</svg>\n");
    svg
}

fn weights(file: &ModelFile) -> String {
    // A tree leaves most features unused: their weight of 0 says nothing.
    let shown: Vec<&(String, f64)> =
        file.feature_weights.iter().filter(|(_, w)| *w != 0.0).take(WEIGHTS_SHOWN_MAX).collect();
    let row_height = 18.0;
    let height = 10.0 + row_height * shown.len().max(1) as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    let largest = shown.iter().map(|(_, w)| w.abs()).fold(0.0, f64::max).max(1e-9);
    let (label_width, bar_max) = (190.0, WIDTH - 190.0 - 60.0);
    for (i, (name, weight)) in shown.iter().enumerate() {
        let y = 5.0 + i as f64 * row_height;
        let colour = if *weight >= 0.0 { CHURN } else { OTHER };
        let width = (weight.abs() / largest * bar_max).max(1.0);
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{label_width}" y="{}" width="{width:.1}" height="{}" fill="{colour}"/><text x="{}" y="{}">{}</text>"#,
            label_width - 6.0,
            y + 12.0,
            escape(&shorten(name)),
            y + 2.0,
            row_height - 5.0,
            label_width + width + 4.0,
            y + 12.0,
            signed(*weight),
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A weight with its sign and two significant digits (at least two
/// decimals): a tree's small score changes stay apart.
fn signed(weight: f64) -> String {
    let magnitude = weight.abs().log10().floor();
    let decimals = if magnitude.is_finite() { (1.0 - magnitude).clamp(2.0, 6.0) as usize } else { 2 };
    format!("{weight:+.decimals$}")
}

/// A feature name cut to fit its label space.
fn shorten(name: &str) -> String {
    const CHARS_MAX: usize = 30;
    if name.chars().count() <= CHARS_MAX {
        name.to_string()
    } else {
        name.chars().take(CHARS_MAX - 1).chain(std::iter::once('…')).collect()
    }
}

/// Text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::churn::encode::labels;
    use crate::churn::table::Table;
    use crate::churn::train::{Split, train};

    #[test]
    fn a_page_with_every_chart() {
        let mut csv = String::from("a,b,y\n");
        let mut rng = fastrand::Rng::with_seed(2);
        for _ in 0..200 {
            let a = rng.f64();
            csv.push_str(&format!("{a:.3},{},{}\n", ["x<y", "z"][rng.usize(0..2)], u8::from(rng.f64() < a)));
        }
        let t = Table::from_csv(&csv, "t.csv").unwrap();
        let split = Split::stratified(&labels(&t, "y").unwrap(), "y", 1).unwrap();
        let file = train(&t, "y", &[], &split).unwrap();
        let html = render(&file, "Churn <test>");
        for id in ["roc", "gain", "distribution", "calibration", "weights", "auc"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "no {id}");
        }
        assert!(html.contains("Churn &lt;test&gt;"));
        assert!(html.contains("b=x&lt;y"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn weights_keep_two_significant_digits() {
        assert_eq!(signed(1.234), "+1.23");
        assert_eq!(signed(-0.5), "-0.50");
        assert_eq!(signed(0.031), "+0.031");
        assert_eq!(signed(-0.00424), "-0.0042");
        assert_eq!(signed(0.0), "+0.00");
    }
}
