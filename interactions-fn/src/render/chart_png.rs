//! The activity chart image: call time per day over a window, one bar per day and a 7-day
//! average line, on the shared card (`super::image`), with a title, a legend, duration ticks
//! and date labels.
//!
//! The days come in order with their labels (the caller's calendar and language); the
//! y-axis ends at a round duration above the busiest day. A day with no time has no bar; any
//! time at all gets at least a sliver. Labels thin out to every second, third... day when
//! they would touch, counting back from the last day. 800 x 356 pixels, like the heatmap.

use super::image::{
    Align, Canvas, GRID, INK, ImageError, LABEL_SIZE, MUTED, PAD, Rgb, SUBTITLE_BASELINE,
    TITLE_BASELINE, TITLE_SIZE, short_duration,
};

/// The file name embeds reference (`attachment://activity.png`).
pub const FILE_NAME: &str = "activity.png";

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 356;

/// The bars (Discord's blurple) and the average line (a warm yellow that stands out on them).
pub const BAR: Rgb = [0x58, 0x65, 0xf2];
pub const AVERAGE: Rgb = [0xfe, 0xe7, 0x5c];
const AXIS: Rgb = [0x4e, 0x50, 0x58];

/// The plot: bars stand on `BASELINE`; the top of the y-axis is at `PLOT_TOP`.
pub const PLOT_LEFT: f32 = 100.0;
pub const PLOT_RIGHT: f32 = WIDTH as f32 - PAD;
pub const PLOT_TOP: f32 = 120.0;
pub const BASELINE: f32 = 300.0;
const DATES_BASELINE: f32 = BASELINE + 28.0;
/// The share of a day's slot its bar fills.
const BAR_SHARE: f32 = 0.68;
/// How many days the average looks back over, the day itself included.
pub const AVERAGE_DAYS: usize = 7;

/// What the chart shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartImage {
    /// The first line, e.g. "Call time per day".
    pub title: String,
    /// The line under it, e.g. "Last 30 days · Europe/Berlin"; may be empty.
    pub subtitle: String,
    /// Each day in order: its label ("3 Nov") and its seconds.
    pub days: Vec<(String, u64)>,
}

/// The x of the middle of day `index`'s bar among `days`, where a test can look for it.
#[must_use]
pub fn bar_center(days: usize, index: usize) -> Option<f32> {
    (index < days).then(|| PLOT_LEFT + slot(days) * (index as f32 + 0.5))
}

fn slot(days: usize) -> f32 {
    (PLOT_RIGHT - PLOT_LEFT) / days.max(1) as f32
}

/// The average of each day and the days before it, up to [`AVERAGE_DAYS`] in all (fewer at
/// the start of the window, which has nothing before it).
#[must_use]
pub fn moving_average(secs: &[u64]) -> Vec<f64> {
    let mut sum: u128 = 0;
    secs.iter()
        .enumerate()
        .map(|(i, &s)| {
            sum += u128::from(s);
            if i >= AVERAGE_DAYS {
                sum -= u128::from(secs[i - AVERAGE_DAYS]);
            }
            sum as f64 / (i + 1).min(AVERAGE_DAYS) as f64
        })
        .collect()
}

/// The y-axis for a busiest day of `max` seconds: a round step and the number of steps,
/// at most four, that reach it.
fn axis(max: u64) -> (u128, u128) {
    const STEPS: [u128; 17] = [
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    ];
    // A window with no time gets an hour-high axis.
    let max = if max == 0 { 3600 } else { u128::from(max) };
    let step = STEPS
        .into_iter()
        // Then 20 h, 50 h, 100 h, 200 h...: only a server's total goes that high.
        .chain((1..20).flat_map(|e| [2, 5, 10].map(|m| m * 10u128.pow(e) * 3600)))
        .find(|&step| max <= 4 * step)
        .unwrap_or(max);
    (step, max.div_ceil(step))
}

/// Renders the chart as a PNG.
pub fn render(image: &ChartImage) -> Result<Vec<u8>, ImageError> {
    let mut canvas = Canvas::card(WIDTH, HEIGHT)?;
    let days = image.days.len();
    let secs: Vec<u64> = image.days.iter().map(|&(_, s)| s).collect();
    let max = secs.iter().copied().max().unwrap_or(0);

    let legend_left = legend(&mut canvas);
    let room = legend_left - 32.0 - PAD;
    let title = canvas.clip(&image.title, TITLE_SIZE, room);
    canvas.text(&title, PAD, TITLE_BASELINE, TITLE_SIZE, INK, Align::Left);
    let subtitle = canvas.clip(&image.subtitle, LABEL_SIZE, room);
    canvas.text(
        &subtitle,
        PAD,
        SUBTITLE_BASELINE,
        LABEL_SIZE,
        MUTED,
        Align::Left,
    );

    let (step, steps) = axis(max);
    let top = (step * steps) as f64;
    let height = f64::from(BASELINE - PLOT_TOP);
    let y_of = |secs: f64| BASELINE - (secs / top * height) as f32;
    // With no time at all, only the baseline: the note says the rest.
    let steps = if max == 0 { 0 } else { steps };
    for k in 0..=steps {
        let y = y_of((k * step) as f64);
        let color = if k == 0 { AXIS } else { GRID };
        canvas.rect(
            PLOT_LEFT - 4.0,
            y - 1.0,
            PLOT_RIGHT - PLOT_LEFT + 4.0,
            2.0,
            color,
        );
        let label = short_duration(u64::try_from(k * step).unwrap_or(u64::MAX));
        canvas.text(
            &label,
            PLOT_LEFT - 14.0,
            y + 7.0,
            LABEL_SIZE,
            MUTED,
            Align::Right,
        );
    }

    let slot = slot(days);
    // Past a few months, bars too thin to leave gaps between touch instead.
    let bar_width = if slot < 4.0 { slot } else { slot * BAR_SHARE };
    for (i, &s) in secs.iter().enumerate() {
        let Some(center) = bar_center(days, i) else {
            continue;
        };
        if s == 0 {
            continue;
        }
        // At least three pixels, so a few seconds still show; standing on the axis line.
        let bar_height = (BASELINE - y_of(s as f64)).max(3.0);
        let radius = (bar_width / 2.0).min(5.0);
        canvas.bar(
            center - bar_width / 2.0,
            BASELINE - 1.0 - bar_height,
            bar_width,
            bar_height,
            radius,
            BAR,
        );
    }

    let averages = moving_average(&secs);
    let points: Vec<(f32, f32)> = averages
        .iter()
        .enumerate()
        .filter_map(|(i, &a)| Some((bar_center(days, i)?, y_of(a) - 1.0)))
        .collect();
    match points.as_slice() {
        _ if max == 0 => {}
        [] => {}
        [(x, y)] => canvas.dot(*x, *y, 4.0, AVERAGE),
        points => canvas.polyline(points, 3.5, AVERAGE),
    }

    dates(&mut canvas, &image.days);
    if days == 0 || max == 0 {
        let note = if days == 0 {
            "No days to show"
        } else {
            "No call time on these days"
        };
        let middle = f32::midpoint(PLOT_LEFT, PLOT_RIGHT);
        canvas.text(
            note,
            middle,
            f32::midpoint(PLOT_TOP, BASELINE),
            LABEL_SIZE,
            MUTED,
            Align::Center,
        );
    }
    canvas.png()
}

/// The legend at the top right, one entry per line; returns its left edge.
fn legend(canvas: &mut Canvas) -> f32 {
    let right = canvas.width() - PAD;
    let per_day = "per day";
    let average = "7-day average";
    let text_left = right
        - canvas
            .text_width(per_day, LABEL_SIZE)
            .max(canvas.text_width(average, LABEL_SIZE));
    let key_left = text_left - 36.0;
    canvas.text(
        per_day,
        text_left,
        TITLE_BASELINE - 4.0,
        LABEL_SIZE,
        MUTED,
        Align::Left,
    );
    canvas.bar(key_left + 6.0, TITLE_BASELINE - 20.0, 14.0, 16.0, 3.0, BAR);
    canvas.text(
        average,
        text_left,
        SUBTITLE_BASELINE,
        LABEL_SIZE,
        MUTED,
        Align::Left,
    );
    let y = SUBTITLE_BASELINE - 7.0;
    canvas.polyline(&[(key_left, y), (key_left + 26.0, y)], 3.5, AVERAGE);
    key_left
}

/// The date labels under the bars: every day's, or every second, third... day's when they
/// would touch, counting back from the last day, which always has its label.
fn dates(canvas: &mut Canvas, days: &[(String, u64)]) {
    const SPACE: f32 = 16.0;
    let labels: Vec<(String, f32)> = days
        .iter()
        .map(|(label, _)| {
            let label = canvas.clip(label, LABEL_SIZE, 120.0);
            let width = canvas.text_width(&label, LABEL_SIZE);
            (label, width)
        })
        .collect();
    let widest = labels.iter().map(|&(_, w)| w).fold(0.0, f32::max);
    let every = ((widest + SPACE) / slot(days.len())).ceil().max(1.0) as usize;
    // Labels at the ends may reach into the card's padding, not past it.
    let (low, high) = (PAD / 2.0, canvas.width() - PAD / 2.0);
    let mut free_until = high;
    for (i, (label, width)) in labels.iter().enumerate().rev().step_by(every) {
        let Some(center) = bar_center(days.len(), i) else {
            continue;
        };
        let half = width / 2.0;
        let x = center.clamp(low + half, (free_until - half).max(low + half));
        // Moved left to stay inside, it would cover its neighbour: leave it out.
        if x + half > free_until || (x - center).abs() > half {
            continue;
        }
        canvas.text(label, x, DATES_BASELINE, LABEL_SIZE, MUTED, Align::Center);
        free_until = x - half - SPACE;
    }
}

#[cfg(test)]
mod tests {
    use super::super::image::{CARD, decode, on_backdrops};
    use super::*;

    fn chart(secs: &[u64]) -> ChartImage {
        ChartImage {
            title: "Call time per day".into(),
            subtitle: format!("Last {} days · Europe/Berlin", secs.len()),
            days: secs
                .iter()
                .enumerate()
                .map(|(i, &s)| (format!("{} Nov", i + 1), s))
                .collect(),
        }
    }

    fn rgb(rgba: &[u8], x: u32, y: u32) -> Rgb {
        let i = ((y * WIDTH + x) * 4) as usize;
        [rgba[i], rgba[i + 1], rgba[i + 2]]
    }

    /// The y of the highest bar-coloured pixel in the column through a bar's middle.
    fn bar_top(rgba: &[u8], days: usize, index: usize) -> Option<u32> {
        let x = bar_center(days, index).unwrap() as u32;
        (PLOT_TOP as u32 - 10..BASELINE as u32).find(|&y| rgb(rgba, x, y) == BAR)
    }

    #[test]
    fn a_valid_png_whose_bars_carry_the_time() {
        // Thirty days: some empty, one clearly the busiest, one barely there.
        let mut secs = vec![0u64; 30];
        for (i, s) in secs.iter_mut().enumerate() {
            if i % 4 != 1 {
                *s = 1800 + (i as u64 * 617) % 5400;
            }
        }
        secs[17] = 4 * 3600 + 120;
        secs[24] = 30;
        let bytes = render(&chart(&secs)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() < 100 * 1024, "{} bytes", bytes.len());
        let (width, height, rgba) = decode(&bytes);
        assert_eq!((width, height), (WIDTH, HEIGHT));

        let tops: Vec<Option<u32>> = (0..30).map(|i| bar_top(&rgba, 30, i)).collect();
        for (i, &s) in secs.iter().enumerate() {
            // An empty day has no bar: no bar colour in its column, and the card just above
            // the baseline, where even the least time's sliver would be.
            if s == 0 {
                assert_eq!(tops[i], None, "day {i}");
                let x = bar_center(30, i).unwrap() as u32;
                for y in [BASELINE as u32 - 3, BASELINE as u32 - 4] {
                    assert_eq!(rgb(&rgba, x, y), CARD, "day {i} at y {y}");
                }
            } else {
                assert!(tops[i].is_some(), "day {i}");
            }
        }
        // The busiest day's bar is the tallest; the 30 s day's bar is still there.
        let busiest = tops[17].unwrap();
        assert!(
            tops.iter()
                .enumerate()
                .all(|(i, t)| i == 17 || t.is_none_or(|t| t > busiest))
        );
        assert!(tops[24].unwrap() >= BASELINE as u32 - 6);
        // Taller means more.
        assert!(tops[2].unwrap() < tops[24].unwrap());
    }

    #[test]
    fn any_window_renders() {
        let many: Vec<u64> = (0..400).map(|i| (i * 7919) % 20_000).collect();
        for secs in [
            vec![],
            vec![0],
            vec![3600],
            vec![0; 7],
            vec![u64::MAX; 31],
            vec![u64::MAX, 0, 1],
            many,
        ] {
            let bytes = render(&chart(&secs)).unwrap();
            assert_eq!(decode(&bytes).0, WIDTH, "{} days", secs.len());
        }
        let mut odd = chart(&[5; 10]);
        odd.title = "🎧".repeat(5000);
        odd.days[3].0 = "a very long label for one day ".repeat(100);
        assert!(render(&odd).is_ok());
    }

    #[test]
    fn axes_end_on_round_durations_above_the_busiest_day() {
        assert_eq!(axis(0), (900, 4));
        assert_eq!(axis(45), (15, 3));
        assert_eq!(axis(3600), (900, 4));
        assert_eq!(axis(4 * 3600 + 120), (3600 * 2, 3));
        assert_eq!(axis(86_400), (21_600, 4));
        assert_eq!(axis(300 * 3600), (100 * 3600, 3));
        let (step, steps) = axis(u64::MAX);
        assert!(step * steps >= u128::from(u64::MAX) && steps <= 4);
    }

    #[test]
    fn the_average_looks_back_a_week() {
        assert_eq!(moving_average(&[]), Vec::<f64>::new());
        assert_eq!(moving_average(&[70, 0]), vec![70.0, 35.0]);
        let week = moving_average(&[7, 7, 7, 7, 7, 7, 7, 0, 0]);
        assert_eq!(week[6..], [7.0, 6.0, 5.0]);
        assert_eq!(moving_average(&[u64::MAX; 9])[8..], [u64::MAX as f64]);
    }

    /// Writes sample charts for a look (`CALLSTATS_SAMPLES=dir`).
    #[test]
    #[ignore = "writes files; for looking at the image"]
    fn samples() {
        let Some(dir) = std::env::var_os("CALLSTATS_SAMPLES") else {
            return;
        };
        let dir = std::path::Path::new(&dir);
        let month: Vec<u64> = (0..30)
            .map(|i| match i % 7 {
                2 => 0,
                5 | 6 => 3 * 3600 + (i * 811) % 4000,
                _ => 1800 + (i * 1301) % 5000,
            })
            .collect();
        let week = &month[23..];
        let year: Vec<u64> = (0..365).map(|i| (i * 7919) % 20_000).collect();
        for (name, secs) in [
            ("chart-30.png", &month[..]),
            ("chart-7.png", week),
            ("chart-365.png", &year[..]),
            ("chart-empty.png", &[0; 30][..]),
        ] {
            let bytes = render(&chart(secs)).unwrap();
            let on = name.replace(".png", "-on.png");
            std::fs::write(dir.join(on), on_backdrops(&bytes)).unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
