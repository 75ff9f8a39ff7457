//! The heatmap image: call time by weekday and hour in the viewer's timezone, 7 rows of 24
//! rounded cells on the shared card (`super::image`), with a title, weekday and hour labels and
//! a colour scale from no time to the busiest hour.
//!
//! A cell with no time is a muted grey; any time at all lifts a cell onto the viridis ramp,
//! whose brightest yellow is the busiest hour. 800 x 356 pixels.

use super::image::{
    Align, Canvas, INK, ImageError, LABEL_SIZE, MUTED, PAD, Rgb, SUBTITLE_BASELINE, TITLE_BASELINE,
    TITLE_SIZE, ramp, short_duration,
};

/// The file name embeds reference (`attachment://heatmap.png`).
pub const FILE_NAME: &str = "heatmap.png";

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 356;

/// The colour of a cell with no time.
pub const EMPTY: Rgb = [0x2e, 0x30, 0x35];
/// The colour of the busiest cell.
pub const STRONGEST: Rgb = [0xfd, 0xe7, 0x25];
/// Where on the ramp the least time shows, so that a minute is visible next to hours.
const LOWEST: f32 = 0.12;

/// The grid, in whole pixels: every cell is the same square.
const GRID_LEFT: u32 = 100;
const GRID_TOP: u32 = 110;
const PITCH: u32 = 28;
const CELL: u32 = 24;
const CELL_RADIUS: f32 = 5.0;
const HOURS_BASELINE: f32 = (GRID_TOP + 7 * PITCH + 24) as f32;
/// The colour scale, top right: a swatch of the empty colour, then the ramp.
const SCALE_WIDTH: f32 = 220.0;
const SCALE_HEIGHT: f32 = 14.0;
const SWATCH: f32 = 22.0;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// What the heatmap shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeatmapImage {
    /// The first line, e.g. "Call time by weekday and hour".
    pub title: String,
    /// The line under it, e.g. "All time · Europe/Berlin"; may be empty.
    pub subtitle: String,
    /// Seconds per local weekday (0 = Monday) and hour.
    pub grid: [[u64; 24]; 7],
}

/// The colour of a cell with `secs` when the busiest cell has `max`.
#[must_use]
pub fn cell_color(secs: u64, max: u64) -> Rgb {
    if secs == 0 || max == 0 {
        return EMPTY;
    }
    let share = (secs as f64 / max as f64) as f32;
    ramp(LOWEST + (1.0 - LOWEST) * share)
}

/// The pixel at the centre of a cell, where a test can read its colour.
#[must_use]
pub fn cell_center(day: usize, hour: usize) -> (u32, u32) {
    let (x, y) = cell_origin(day, hour);
    (x + CELL / 2, y + CELL / 2)
}

/// The top left pixel of a cell (a weekday from 0 to 6, an hour from 0 to 23).
fn cell_origin(day: usize, hour: usize) -> (u32, u32) {
    (
        GRID_LEFT + hour.min(23) as u32 * PITCH,
        GRID_TOP + day.min(6) as u32 * PITCH,
    )
}

/// Renders the heatmap as a PNG.
pub fn render(image: &HeatmapImage) -> Result<Vec<u8>, ImageError> {
    let mut canvas = Canvas::card(WIDTH, HEIGHT)?;
    let max = image.grid.iter().flatten().copied().max().unwrap_or(0);

    let scale_left = scale(&mut canvas, max);
    let room = scale_left - 32.0 - PAD;
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

    let cells = image.grid.iter().enumerate().flat_map(|(day, hours)| {
        let cell = move |(hour, &secs)| (cell_origin(day, hour), cell_color(secs, max));
        hours.iter().enumerate().map(cell)
    });
    canvas.tiles(CELL, CELL_RADIUS, cells);
    for (day, name) in DAYS.iter().enumerate() {
        let (_, y) = cell_origin(day, 0);
        let baseline = (y + CELL / 2) as f32 + 7.0;
        let right = GRID_LEFT as f32 - 14.0;
        canvas.text(name, right, baseline, LABEL_SIZE, MUTED, Align::Right);
    }
    for hour in (0..24).step_by(3) {
        let (x, _) = cell_origin(0, hour);
        let label = format!("{hour:02}");
        let center = (x + CELL / 2) as f32;
        canvas.text(
            &label,
            center,
            HOURS_BASELINE,
            LABEL_SIZE,
            MUTED,
            Align::Center,
        );
    }
    canvas.png()
}

/// Draws the colour scale at the top right; returns its left edge.
fn scale(canvas: &mut Canvas, max: u64) -> f32 {
    let right = canvas.width() - PAD;
    let left = right - SCALE_WIDTH;
    let top = TITLE_BASELINE - SCALE_HEIGHT - 2.0;
    canvas.round_rect(left, top, SWATCH, SCALE_HEIGHT, SCALE_HEIGHT / 2.0, EMPTY);
    let ramp_left = left + SWATCH + 6.0;
    canvas.ramp_rect(
        ramp_left,
        top,
        right - ramp_left,
        SCALE_HEIGHT,
        (LOWEST, 1.0),
    );
    canvas.text(
        "0",
        left + SWATCH / 2.0,
        SUBTITLE_BASELINE,
        LABEL_SIZE,
        MUTED,
        Align::Center,
    );
    let most = if max == 0 {
        "no time yet".to_owned()
    } else {
        short_duration(max)
    };
    canvas.text(
        &most,
        right,
        SUBTITLE_BASELINE,
        LABEL_SIZE,
        MUTED,
        Align::Right,
    );
    left
}

#[cfg(test)]
mod tests {
    use super::super::image::{CARD, decode, on_backdrops};
    use super::*;

    fn image(grid: &[[u64; 24]; 7]) -> HeatmapImage {
        HeatmapImage {
            title: "Call time by weekday and hour".into(),
            subtitle: "All time · Europe/Berlin".into(),
            grid: *grid,
        }
    }

    fn rgb(rgba: &[u8], (x, y): (u32, u32)) -> Rgb {
        let i = ((y * WIDTH + x) * 4) as usize;
        assert_eq!(rgba[i + 3], 255, "opaque at {x},{y}");
        [rgba[i], rgba[i + 1], rgba[i + 2]]
    }

    #[test]
    fn a_valid_png_whose_cells_carry_the_time() {
        let mut grid = [[0u64; 24]; 7];
        grid[0][4] = 3600;
        grid[6][23] = 500;
        grid[2][12] = 1;
        let bytes = render(&image(&grid)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        // Discord takes attachments of 8 MiB at the least; this is tens of kilobytes.
        assert!(bytes.len() < 100 * 1024, "{} bytes", bytes.len());
        let (width, height, rgba) = decode(&bytes);
        assert_eq!((width, height), (WIDTH, HEIGHT));

        assert_eq!(rgb(&rgba, cell_center(0, 4)), STRONGEST);
        assert_eq!(rgb(&rgba, cell_center(3, 12)), EMPTY);
        assert_eq!(rgb(&rgba, cell_center(6, 23)), cell_color(500, 3600));
        // One second still shows, and differs from no time.
        let least = rgb(&rgba, cell_center(2, 12));
        assert_ne!(least, EMPTY);
        // Between cells, the card.
        let (x, y) = cell_center(1, 1);
        assert_eq!(rgb(&rgba, (x + PITCH / 2, y)), CARD);
        // Brighter means more: the ramp's lightness grows with time.
        let light = |c: Rgb| c.iter().map(|&v| u32::from(v)).sum::<u32>();
        assert!(light(least) < light(cell_color(500, 3600)));
        assert!(light(cell_color(500, 3600)) < light(STRONGEST));
        // Every cell is somewhere inside the image.
        for day in 0..7 {
            for hour in 0..24 {
                let (x, y) = cell_center(day, hour);
                assert!(x < WIDTH && y < HEIGHT);
            }
        }
    }

    #[test]
    fn any_grid_and_any_text_render() {
        let cases = [
            [[0; 24]; 7],
            [[u64::MAX; 24]; 7],
            std::array::from_fn(|d| std::array::from_fn(|h| (d * 24 + h) as u64 * 977)),
        ];
        for grid in cases {
            let mut img = image(&grid);
            img.title = "x".repeat(10_000);
            img.subtitle = "\u{0}\n🎧 日本語 ".repeat(50);
            let bytes = render(&img).unwrap();
            assert_eq!(decode(&bytes).0, WIDTH);
        }
        assert_eq!(cell_color(u64::MAX, u64::MAX), STRONGEST);
        assert_eq!(cell_color(0, 0), EMPTY);
        assert_eq!(cell_color(5, 0), EMPTY);
    }

    /// Writes sample images for a look (`CALLSTATS_SAMPLES=dir`), on the card and on
    /// Discord's dark and light backgrounds.
    #[test]
    #[ignore = "writes files; for looking at the image"]
    fn samples() {
        let Some(dir) = std::env::var_os("CALLSTATS_SAMPLES") else {
            return;
        };
        let grid = std::array::from_fn(|d| {
            std::array::from_fn(|h| {
                let evening = if (18..23).contains(&h) { 3000 } else { 0 };
                let weekend = if d >= 5 && (10..17).contains(&h) {
                    2400
                } else {
                    0
                };
                let lunch = if d < 5 && h == 12 { 900 } else { 0 };
                (evening + weekend + lunch) * (1 + (d as u64 * 7 + h as u64) % 3)
            })
        });
        let dir = std::path::Path::new(&dir);
        let bytes = render(&image(&grid)).unwrap();
        std::fs::write(dir.join("heatmap-on.png"), on_backdrops(&bytes)).unwrap();
        std::fs::write(dir.join("heatmap.png"), bytes).unwrap();
    }
}
