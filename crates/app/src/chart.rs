//! The star chart as SVG: a spoke per area, rings per step with stage bands,
//! one polygon per reading and perspective in a colour-blind-safe palette.

use std::f64::consts::PI;
use std::fmt::Write;

use recovery_journal::ChartModel;

/// Okabe-Ito: distinguishable with every common colour-vision deficiency.
const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
];
/// Stage bands, light to lighter.
const BANDS: [&str; 2] = ["#f2f2f2", "#fafafa"];

/// Wide enough for long area names on the left and right spokes.
const WIDTH: f64 = 860.0;
const SIZE: f64 = 640.0;
const CENTER_X: f64 = 430.0;
const CENTER: f64 = 320.0;
const RADIUS: f64 = 230.0;

/// Break `text` into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last().map_or(0, |l| l.chars().count());
        if last > 0 && last + 1 + word.chars().count() > width {
            lines.push(String::new());
        }
        if let Some(line) = lines.last_mut() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn point(area: usize, areas: usize, fraction: f64) -> (f64, f64) {
    let angle = -PI / 2.0 + 2.0 * PI * area as f64 / areas as f64;
    (
        CENTER_X + RADIUS * fraction * angle.cos(),
        CENTER + RADIUS * fraction * angle.sin(),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The words a chart shows, so a front-end can give them in its language.
#[derive(Clone, Debug)]
pub struct ChartText {
    /// The chart's title (`<title>`).
    pub title: String,
    /// For a reading without a date.
    pub undated: String,
    /// The three perspectives' names.
    pub client: String,
    /// The worker's perspective.
    pub worker: String,
    /// The agreed score.
    pub agreed: String,
    /// When set, the chart is an image with this accessible name (for a
    /// chart inside a page, beside its table).
    pub aria_label: Option<String>,
}

impl ChartText {
    /// English, for the CLI's standalone files.
    pub fn english(instrument: &str) -> Self {
        ChartText {
            title: format!("{instrument} star chart"),
            undated: "undated".into(),
            client: "client".into(),
            worker: "worker".into(),
            agreed: "agreed".into(),
            aria_label: None,
        }
    }
}

/// Render `model` as a standalone SVG document, in English.
pub fn svg(model: &ChartModel) -> String {
    svg_with(model, &ChartText::english(&model.instrument))
}

/// Render `model` with `text`.
pub fn svg_with(model: &ChartModel, text: &ChartText) -> String {
    let n = model.areas.len().max(1);
    let span = f64::from(model.max.saturating_sub(model.min).max(1));
    let frac = |v: u8| (f64::from(v.saturating_sub(model.min)) + 1.0) / (span + 1.0);
    let attribution = wrap(&model.attribution, 120);
    let legend_h = 24.0 * model.series.len() as f64 + 30.0 + 14.0 * attribution.len() as f64;
    let mut s = String::new();
    let role = match &text.aria_label {
        Some(label) => format!(r#" role="img" aria-label="{}""#, escape(label)),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12"{role}>"#,
        w = WIDTH,
        h = SIZE + legend_h
    );
    let _ = writeln!(s, r#"<title>{}</title>"#, escape(&text.title));
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    // Stage bands, outermost first so inner ones paint over.
    for (i, stage) in model.stages.iter().enumerate().rev() {
        let r = RADIUS * frac(stage.max);
        let _ = writeln!(
            s,
            r##"<circle cx="{CENTER_X}" cy="{CENTER}" r="{r:.1}" fill="{}" stroke="#bbbbbb" stroke-width="1"><title>{}</title></circle>"##,
            BANDS[i % 2],
            escape(&stage.name)
        );
    }
    // Rings for every step, and their numbers on the first spoke.
    for step in model.min..=model.max {
        let r = RADIUS * frac(step);
        let _ = writeln!(
            s,
            r##"<circle cx="{CENTER_X}" cy="{CENTER}" r="{r:.1}" fill="none" stroke="#dddddd" stroke-width="0.5"/>"##
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#888888" font-size="9">{step}</text>"##,
            CENTER_X + 3.0,
            CENTER - r + 10.0
        );
    }
    // Spokes and area names.
    for (i, (_, name)) in model.areas.iter().enumerate() {
        let (x, y) = point(i, n, 1.0);
        let (lx, ly) = point(i, n, 1.12);
        let anchor = if (lx - CENTER_X).abs() < 1.0 {
            "middle"
        } else if lx > CENTER_X {
            "start"
        } else {
            "end"
        };
        let _ = writeln!(
            s,
            r##"<line x1="{CENTER_X}" y1="{CENTER}" x2="{x:.1}" y2="{y:.1}" stroke="#999999" stroke-width="1"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}" dominant-baseline="middle">{}</text>"#,
            escape(name)
        );
    }
    // One polygon per reading and perspective; unscored areas sit at the centre.
    for (k, series) in model.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let dash = dash_of(series.perspective.as_str());
        let points: Vec<String> = series
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (x, y) = point(i, n, v.map_or(0.0, frac));
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = writeln!(
            s,
            r#"<polygon points="{}" fill="{colour}" fill-opacity="0.12" stroke="{colour}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
    }
    // Legend.
    let mut y = SIZE + 10.0;
    for (k, series) in model.series.iter().enumerate() {
        let colour = PALETTE[k % PALETTE.len()];
        let date = series
            .date
            .map(|d| d.to_string())
            .unwrap_or_else(|| text.undated.clone());
        let whose = match series.perspective.as_str() {
            "client" => &text.client,
            "worker" => &text.worker,
            _ => &text.agreed,
        };
        // The sample shows the line's pattern too: a perspective is told
        // apart by more than its colour.
        let _ = writeln!(
            s,
            r#"<line x1="38" y1="{:.1}" x2="62" y2="{:.1}" stroke="{colour}" stroke-width="3"{}/>"#,
            y + 6.0,
            y + 6.0,
            dash_of(series.perspective.as_str())
        );
        let _ = writeln!(
            s,
            r#"<text x="66" y="{:.1}">{date} — {}</text>"#,
            y + 10.0,
            escape(whose)
        );
        y += 24.0;
    }
    for (i, line) in attribution.iter().enumerate() {
        let _ = writeln!(
            s,
            r##"<text x="40" y="{:.1}" font-size="10" fill="#555555">{}</text>"##,
            y + 14.0 + 14.0 * i as f64,
            escape(line)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// The line pattern of a perspective: the client's dashed, the worker's
/// dotted, the agreed score's solid.
fn dash_of(perspective: &str) -> &'static str {
    match perspective {
        "client" => r#" stroke-dasharray="6 3""#,
        "worker" => r#" stroke-dasharray="2 3""#,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recovery_journal::{ChartSeries, Instrument, Perspective};

    #[test]
    fn ten_spokes_rings_stage_bands_and_a_polygon_per_series() {
        let star = Instrument::recovery_star();
        let model = ChartModel {
            instrument: star.name.clone(),
            attribution: star.attribution.clone(),
            min: 1,
            max: 10,
            stages: star.stages.clone(),
            areas: star
                .areas
                .iter()
                .map(|a| (a.id.clone(), a.name.clone()))
                .collect(),
            series: vec![
                ChartSeries {
                    reading: "r1".into(),
                    date: Some("2026-11-23".parse().expect("date")),
                    perspective: Perspective::Agreed,
                    values: vec![Some(5); 10],
                },
                ChartSeries {
                    reading: "r1".into(),
                    date: Some("2026-11-23".parse().expect("date")),
                    perspective: Perspective::Client,
                    values: vec![Some(6); 10],
                },
            ],
        };
        let svg = svg(&model);
        // Ten spokes, and a legend sample per series.
        assert_eq!(svg.matches("<line ").count(), 10 + 2);
        assert_eq!(svg.matches("<polygon ").count(), 2);
        // The client's line is dashed in the chart and in its legend sample.
        assert_eq!(svg.matches(r#"stroke-dasharray="6 3""#).count(), 2);
        assert_eq!(svg.matches("<circle ").count(), 5 + 10);
        assert!(svg.contains("2026-11-23 — agreed"));
        assert!(svg.contains("Triangle Consulting"));
        assert!(svg.starts_with("<svg"));
    }
}
