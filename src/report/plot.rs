//! SVG charts (plotters): scaling curves, training curves, confusion matrices.
//!
//! Each chart is drawn into memory and then written with [`atomic::write`]: a file that cannot
//! be written (a full disk) is an error naming it, and no empty or partial SVG is left behind.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::atomic;

/// One named series of (x, y) points.
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in x order.
    pub points: Vec<(f64, f64)>,
    /// A reference line (e.g. ideal speedup): drawn thin and grey, without point markers.
    pub reference: bool,
}

impl Series {
    /// A series of measured points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points, reference: false }
    }

    /// A reference line through `points`.
    pub fn reference(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self { label: label.into(), points, reference: true }
    }
}

/// Tick labels for the x axis: whole numbers only when every x is one (epochs, thread counts),
/// so the axis never reads 1.1, 1.2, ... threads; at most this many.
const MAX_X_TICKS: usize = 12;

/// How many x labels to ask for over `x0..=x1` when every x is whole: one per integer while
/// they fit, so the chosen steps are whole numbers.
fn integer_ticks(x0: f64, x1: f64) -> usize {
    let span = (x1 - x0).round().max(0.0);
    if span >= MAX_X_TICKS as f64 { MAX_X_TICKS } else { span as usize + 1 }
}

/// Draws line charts side by side, one panel per `(title, y label, series)`, sharing `x_label`.
pub fn line_panels(path: &Path, x_label: &str, panels: &[(&str, &str, Vec<Series>)]) -> Result<()> {
    let mut svg = String::new();
    draw_line_panels(&mut svg, path, x_label, panels)?;
    atomic::write(path, svg.as_bytes())
}

fn draw_line_panels(svg: &mut String, path: &Path, x_label: &str, panels: &[(&str, &str, Vec<Series>)]) -> Result<()> {
    let width = 560 * panels.len().max(1) as u32;
    let root = SVGBackend::with_string(svg, (width, 420)).into_drawing_area();
    let err =
        |e: &dyn std::fmt::Display| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e.to_string()) };
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for ((title, y_label, series), area) in panels.iter().zip(areas) {
        let pts = series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        let mut whole_x = true;
        for &(x, y) in pts {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
            whole_x &= x.fract() == 0.0;
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        if whole_x && x1 <= x0 {
            // One x value: an axis one unit wide around it, labelled with it alone.
            (x0, x1) = (x0 - 0.5, x0 + 0.5);
        }
        let pad = ((y1 - y0) * 0.08).max(1e-9);
        let mut chart = ChartBuilder::on(&area)
            .caption(*title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1.max(x0 + 1e-9), (y0 - pad)..(y1 + pad))
            .map_err(|e| err(&e))?;
        let whole = |x: &f64| format!("{x:.0}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_label).y_desc(*y_label);
        if whole_x {
            mesh.x_labels(integer_ticks(x0.ceil(), x1.floor())).x_label_formatter(&whole);
        }
        mesh.draw().map_err(|e| err(&e))?;
        let mut measured = 0;
        for s in series {
            let (color, width) = if s.reference {
                (RGBAColor(110, 110, 110, 1.0), 1)
            } else {
                measured += 1;
                (Palette99::pick(measured - 1).to_rgba(), 2)
            };
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(width)))
                .map_err(|e| err(&e))?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width)));
            if !s.reference {
                chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(|e| err(&e))?;
            }
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Draws a confusion matrix as a heat map: rows the true class, columns the predicted class,
/// each cell shaded by its share of the row and labelled with its count.
pub fn confusion(path: &Path, names: &[String], counts: &[Vec<u64>]) -> Result<()> {
    let mut svg = String::new();
    draw_confusion(&mut svg, path, names, counts)?;
    atomic::write(path, svg.as_bytes())
}

fn draw_confusion(svg: &mut String, path: &Path, names: &[String], counts: &[Vec<u64>]) -> Result<()> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let k = names.len().max(1) as i32;
    let cell = (600 / k).clamp(28, 80);
    let (left, top) = (110, 70);
    let side = cell * k;
    let width = (left + side + 30).max(520);
    let root = SVGBackend::with_string(svg, (width as u32, (top + side + 60) as u32)).into_drawing_area();
    let err =
        |e: &dyn std::fmt::Display| Error::Io { path: path.to_path_buf(), err: std::io::Error::other(e.to_string()) };
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let centre = Pos::new(HPos::Center, VPos::Center);
    let font = |size: i32, colour: RGBColor| ("sans-serif", size).into_font().color(&colour).pos(centre);
    let title = "Confusion matrix (rows: true class, columns: predicted class)";
    root.draw(&Text::new(title, (width / 2, 20), font(15, BLACK))).map_err(|e| err(&e))?;
    root.draw(&Text::new("predicted", (left + side / 2, 45), font(14, BLACK))).map_err(|e| err(&e))?;
    root.draw(&Text::new("true", (25, top + side / 2), font(14, BLACK))).map_err(|e| err(&e))?;
    let label_size = (cell / 3).clamp(10, 16);
    for (i, name) in names.iter().enumerate() {
        let i = i as i32;
        root.draw(&Text::new(name.clone(), (left + i * cell + cell / 2, top - 10), font(label_size, BLACK)))
            .map_err(|e| err(&e))?;
        root.draw(&Text::new(name.clone(), (left - 30, top + i * cell + cell / 2), font(label_size, BLACK)))
            .map_err(|e| err(&e))?;
    }
    for (t, row) in counts.iter().enumerate() {
        let total = row.iter().sum::<u64>().max(1) as f64;
        for (p, &c) in row.iter().enumerate() {
            let share = c as f64 / total;
            let (x, y) = (left + p as i32 * cell, top + t as i32 * cell);
            let shade = RGBColor(255 - (share * 225.0) as u8, 255 - (share * 160.0) as u8, 255);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], shade.filled())).map_err(|e| err(&e))?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200))).map_err(|e| err(&e))?;
            let colour = if share > 0.6 { WHITE } else { BLACK };
            root.draw(&Text::new(c.to_string(), (x + cell / 2, y + cell / 2), font(label_size, colour)))
                .map_err(|e| err(&e))?;
        }
    }
    let acc = (0..counts.len()).map(|i| counts[i].get(i).copied().unwrap_or(0)).sum::<u64>() as f64
        / counts.iter().flatten().sum::<u64>().max(1) as f64;
    let note = format!("accuracy {:.2}%", 100.0 * acc);
    root.draw(&Text::new(note, (left + side / 2, top + side + 30), font(14, BLACK))).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers an SVG shows as text (plotters writes each text's content on its own line).
    fn numbers_in(svg: &str) -> Vec<String> {
        svg.split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.parse::<f64>().is_ok())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn whole_x_values_get_whole_tick_labels_and_reference_lines_have_no_markers() {
        // Thread counts 1, 2, 4 against values in the hundreds: the y ticks are whole numbers
        // too, so any fraction among the labels is an x tick such as 1.1 or 1.5.
        let measured = Series::new("w", vec![(1.0, 100.0), (2.0, 190.0), (4.0, 350.0)]);
        let ideal = Series::reference("ideal", vec![(1.0, 100.0), (2.0, 200.0), (4.0, 400.0)]);
        let mut svg = String::new();
        draw_line_panels(&mut svg, Path::new("t.svg"), "threads", &[("s", "y", vec![measured, ideal])]).unwrap();
        let numbers = numbers_in(&svg);
        let fraction = |n: &String| n.parse::<f64>().is_ok_and(|v| v.fract() != 0.0);
        assert!(!numbers.iter().any(fraction), "fractional tick labels: {numbers:?}");
        for x in ["1", "2", "3", "4"] {
            assert!(numbers.iter().any(|n| n == x), "no tick {x}: {numbers:?}");
        }
        assert!(svg.contains("\nideal\n</text>"), "the reference line is in the legend");
        // Point markers (circles) for the measured series' 3 points only.
        assert_eq!(svg.matches("<circle").count(), 3, "markers");

        // Fractional x values keep plotters' own ticks.
        let mut svg = String::new();
        let s = Series::new("w", vec![(0.5, 100.0), (1.25, 200.0)]);
        draw_line_panels(&mut svg, Path::new("t.svg"), "x", &[("s", "y", vec![s])]).unwrap();
        assert!(numbers_in(&svg).iter().any(fraction), "{:?}", numbers_in(&svg));
    }
}
