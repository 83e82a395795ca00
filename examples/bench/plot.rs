//! `--plot FILE.svg`: a log-log roofline of every timed row against the
//! limits measured in the same run.
//!
//! x: arithmetic intensity, ops (2·m·n·k) per byte a call moves at least
//! (packed weights + f32 activations + f32 results, as in the rows'
//! `bytes`); y: GOP/s. Diagonal: the L2, L3 and DRAM read bandwidths
//! (GOP/s = GB/s × intensity), each stopped at the highest compute
//! ceiling. Horizontal: the int8 multiply-add peak of each ISA among the rows,
//! the byte-shuffle peak × ops per lookup of each table-kernel kind among
//! them, and the f32 FMA peak if the dense baseline is plotted. Ceilings
//! are those of the run's thread count (`--threads`; the dense baseline
//! always runs on one thread). A point is a row: colour by kernel family,
//! filled for Exact, hollow for Fast, a cross for Float; labelled with its
//! format, n (and shape, if there are several) when there are at most
//! [`MAX_LABELS`] points.
//!
//! SVG only: plotters' SVG backend writes text as `<text>` elements and
//! needs no font; a PNG would need a font rasterizer and font files
//! (plotters' `ttf` feature links the system's FreeType and fontconfig).

use crate::limits::{Level, Limits, Work};
use crate::report::Row;
use plotters::prelude::*;

/// Points labelled individually up to this many.
const MAX_LABELS: usize = 60;

/// Checks the chart's file name before the run starts.
pub fn check_path(path: &str) -> Result<(), String> {
    let ext = std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("svg") => Ok(()),
        Some("png") => Err(
            "--plot: PNG is not built in (rasterizing text needs a font library); \
             write .svg and convert it, e.g. rsvg-convert -o chart.png chart.svg"
                .into(),
        ),
        _ => Err(format!("--plot: {path:?} must end in .svg")),
    }
}

const FAMILIES: [(&str, RGBColor); 8] = [
    ("mad", RGBColor(31, 119, 180)),
    ("mad5", RGBColor(23, 190, 207)),
    ("lut_g2", RGBColor(255, 127, 14)),
    ("lut_g4", RGBColor(214, 39, 40)),
    ("bitlut_g4", RGBColor(44, 160, 44)),
    ("veclut_g4", RGBColor(148, 103, 189)),
    ("veclut_int", RGBColor(188, 189, 34)),
    ("dense", RGBColor(127, 127, 127)),
];

/// A horizontal compute ceiling.
struct Ceiling {
    label: String,
    gops: f64,
}

/// The compute ceilings of the plotted rows' kinds, highest first.
fn ceilings(rows: &[Row], limits: &Limits, threads: usize) -> Vec<Ceiling> {
    let mut out: Vec<Ceiling> = Vec::new();
    let mut push = |label: String, gops: f64| {
        if !out.iter().any(|c| c.label == label) {
            out.push(Ceiling { label, gops });
        }
    };
    for r in rows {
        let Some(peaks) = limits.peaks_for(r.limits_isa) else {
            if let (Some(Work::DenseF32), Some((insn, f))) = (r.work, limits.fma) {
                push(format!("f32 FMA ({insn})"), f.at(1) / 1e9);
            }
            continue;
        };
        match r.work {
            Some(Work::MultiplyAdd) => push(
                format!("{} int8 multiply-add ({})", peaks.isa, peaks.mad_insn),
                peaks.mad.at(threads) / 1e9,
            ),
            Some(Work::Table { ops_per_lookup }) => push(
                format!(
                    "{} shuffle ({}) x {ops_per_lookup} op per byte lookup",
                    peaks.isa, peaks.shuffle_insn
                ),
                peaks.lookups.at(threads) * ops_per_lookup / 1e9,
            ),
            Some(Work::RowLookup { weights }) => push(
                format!(
                    "{} vector-LUT row adds ({} x {} rate)",
                    peaks.isa,
                    weights as f64 / 2.0,
                    peaks.mad_insn
                ),
                weights as f64 / 2.0 * peaks.mad.at(threads) / 1e9,
            ),
            Some(Work::DenseF32) => {
                if let Some((insn, f)) = limits.fma {
                    push(format!("f32 FMA ({insn})"), f.at(1) / 1e9);
                }
            }
            None => {}
        }
    }
    out.sort_by(|a, b| b.gops.total_cmp(&a.gops));
    // Ceilings within 3% of each other share one line and label.
    let mut merged: Vec<Ceiling> = Vec::new();
    for c in out {
        match merged.last_mut() {
            Some(m) if m.gops <= c.gops * 1.03 => {
                m.label.push_str(" = ");
                m.label.push_str(&c.label);
            }
            _ => merged.push(c),
        }
    }
    merged
}

/// Picks a label offset (pixels from the point) whose box stays inside
/// the plot's x pixel range `area` and does not overlap an already placed
/// one (else the first that stays inside).
fn place_label(
    at: (i32, i32),
    width: i32,
    area: &std::ops::Range<i32>,
    placed: &mut Vec<(i32, i32, i32, i32)>,
) -> (i32, i32) {
    const H: i32 = 11;
    let left = -7 - width;
    let candidates = [
        (7, -4),
        (7, 8),
        (7, -16),
        (left, -4),
        (left, 8),
        (left, -16),
        (7, 20),
        (left, 20),
        (7, -28),
        (left, -28),
        (7, 32),
        (left, 32),
        (7, -40),
        (left, -40),
    ];
    let boxed = |(dx, dy): (i32, i32)| {
        (
            at.0 + dx,
            at.1 + dy - H + 2,
            at.0 + dx + width,
            at.1 + dy + 2,
        )
    };
    let inside = |b: (i32, i32, i32, i32)| area.start <= b.0 && b.2 <= area.end;
    let free = |b: (i32, i32, i32, i32)| {
        placed
            .iter()
            .all(|p| b.2 <= p.0 || p.2 <= b.0 || b.3 <= p.1 || p.3 <= b.1)
    };
    let off = candidates
        .into_iter()
        .find(|&c| inside(boxed(c)) && free(boxed(c)))
        .or_else(|| candidates.into_iter().find(|&c| inside(boxed(c))))
        .unwrap_or(candidates[0]);
    placed.push(boxed(off));
    off
}

/// `1`, `0.5`, `250`, `2e3`: short tick labels for a log axis.
fn tick(v: f64) -> String {
    if !(1e-2..1e4).contains(&v) {
        format!("{v:.0e}")
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes the chart of `rows` (timed) to `path` (.svg).
pub fn write(
    path: &str,
    rows: &[Row],
    limits: Option<&Limits>,
    threads: usize,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let points: Vec<(f64, f64, &Row)> = rows
        .iter()
        .filter_map(|r| Some((r.intensity(), r.gops()?, r)))
        .collect();
    if points.is_empty() {
        return Err("no timed rows to plot".into());
    }
    let ceils = limits.map_or_else(Vec::new, |l| ceilings(rows, l, threads));
    let bws: Vec<(Level, f64)> = limits.map_or_else(Vec::new, |l| {
        Level::ALL
            .iter()
            .map(|&lv| (lv, l.bandwidth[lv as usize].at(threads) / 1e9))
            .collect()
    });
    let top = ceils.first().map_or(0.0, |c| c.gops);
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, 0f64, f64::MAX, top);
    for &(x, y, _) in &points {
        x_lo = x_lo.min(x);
        x_hi = x_hi.max(x);
        y_lo = y_lo.min(y);
        y_hi = y_hi.max(y);
    }
    // Show every ridge point (where a bandwidth meets the top ceiling).
    for &(_, bw) in &bws {
        if top > 0.0 {
            x_hi = x_hi.max(top / bw);
        }
    }
    let (x_lo, x_hi, y_lo, y_hi) = (x_lo / 3.0, x_hi * 3.0, y_lo / 3.0, y_hi * 3.0);

    let root = SVGBackend::new(path, (1200, 780)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "lutgemm roofline: {} row(s), best ISA {}, {} thread(s); limits measured in the same run",
        points.len(),
        lutgemm::Isa::best(),
        match threads {
            0 => limits.map_or(0, |l| l.threads),
            t => t,
        }
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((x_lo..x_hi).log_scale(), (y_lo..y_hi).log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(
            "arithmetic intensity: ops (2·m·n·k) per byte moved (packed weights + f32 x + f32 y)",
        )
        .y_desc("GOP/s")
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;

    let font = ("sans-serif", 12).into_font();
    let ceiling_color = RGBColor(60, 60, 60);
    let bandwidth_color = RGBColor(140, 140, 170);
    for (lv, bw) in &bws {
        let x0 = x_lo.max(y_lo / bw);
        let x1 = if top > 0.0 { x_hi.min(top / bw) } else { x_hi };
        if x1 <= x0 {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                [(x0, bw * x0), (x1, bw * x1)],
                ShapeStyle::from(&bandwidth_color).stroke_width(1),
            ))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x0, bw * x0))
                    + Text::new(
                        format!("{} {bw:.0} GB/s", lv.name()),
                        (4, -16),
                        font.clone(),
                    ),
            ))
            .map_err(|e| err(&e))?;
    }
    for c in &ceils {
        chart
            .draw_series(LineSeries::new(
                [(x_lo, c.gops), (x_hi, c.gops)],
                ShapeStyle::from(&ceiling_color).stroke_width(1),
            ))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x_lo, c.gops))
                    + Text::new(
                        format!("{} {:.0} GOP/s", c.label, c.gops),
                        (8, -14),
                        font.clone(),
                    ),
            ))
            .map_err(|e| err(&e))?;
    }

    let several_shapes = points
        .iter()
        .any(|p| (p.2.m, p.2.k) != (points[0].2.m, points[0].2.k));
    let label = |r: &Row| {
        let c = match r.contract {
            "exact" => "",
            "fast" => " fast",
            _ => " float",
        };
        let shape = if several_shapes {
            format!(" {}x{}", r.m, r.k)
        } else {
            String::new()
        };
        format!("{} {}{c} n={}{shape}", r.family, r.format, r.n)
    };
    let labelled = points.len() <= MAX_LABELS;
    let mut placed = Vec::new();
    let x_pixels = chart.plotting_area().get_pixel_range().0;
    for (family, color) in FAMILIES {
        let mine: Vec<_> = points.iter().filter(|p| p.2.family == family).collect();
        if mine.is_empty() {
            continue;
        }
        let style = ShapeStyle::from(&color);
        chart
            .draw_series(mine.iter().map(|&&(x, y, r)| {
                let marker: DynElement<'static, SVGBackend, (f64, f64)> = match r.contract {
                    "exact" => Circle::new((x, y), 5, style.filled()).into_dyn(),
                    "fast" => Circle::new((x, y), 5, style.stroke_width(2)).into_dyn(),
                    _ => Cross::new((x, y), 5, style.stroke_width(2)).into_dyn(),
                };
                marker
            }))
            .map_err(|e| err(&e))?
            .label(family)
            .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
        if labelled {
            let texts: Vec<_> = mine
                .iter()
                .map(|&&(x, y, r)| {
                    let text = label(r);
                    // ~5.5 px per character at 10 px.
                    let width = (text.len() as f64 * 5.5) as i32;
                    let off =
                        place_label(chart.backend_coord(&(x, y)), width, &x_pixels, &mut placed);
                    EmptyElement::at((x, y)) + Text::new(text, off, ("sans-serif", 10).into_font())
                })
                .collect();
            chart.draw_series(texts).map_err(|e| err(&e))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
        .map_err(|e| err(&e))?;
    root.draw(&Text::new(
        "filled: exact, hollow: fast, cross: float",
        (90, 760),
        ("sans-serif", 12),
    ))
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}
