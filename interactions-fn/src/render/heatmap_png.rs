//! The heatmap image: 7 weekdays x 24 hours in the viewer's timezone, as a small indexed PNG.
//!
//! It is drawn on its own opaque dark card, so it reads the same in Discord's dark and light
//! themes; cells go from a muted grey (no time) through a colour-blind-safe viridis ramp to
//! yellow (the busiest hour). Labels use a built-in 3x5 pixel font (weekdays `MO`..`SU`,
//! hours every three), so no font files are needed. About 600 x 200 pixels and a few
//! kilobytes; encoding takes well under a millisecond.

/// The file name embeds reference (`attachment://heatmap.png`).
pub const FILE_NAME: &str = "heatmap.png";

const CELL: u32 = 22;
const GAP: u32 = 2;
const PITCH: u32 = CELL + GAP;
const SCALE: u32 = 2;
const LEFT: u32 = 30;
const TOP: u32 = 10;
const BOTTOM: u32 = 24;
const RIGHT: u32 = 10;
pub const WIDTH: u32 = LEFT + 24 * PITCH - GAP + RIGHT;
pub const HEIGHT: u32 = TOP + 7 * PITCH - GAP + BOTTOM;

/// Palette indexes: the card, label ink, and a cell with no time.
pub const BACKGROUND: u8 = 0;
const INK: u8 = 1;
pub const EMPTY: u8 = 2;
/// Palette: card, label ink, empty cell, then seven levels (viridis, dark to bright).
const PALETTE: [[u8; 3]; 10] = [
    [0x23, 0x24, 0x28],
    [0xdb, 0xde, 0xe1],
    [0x3a, 0x3c, 0x43],
    [0x3b, 0x52, 0x8b],
    [0x2c, 0x72, 0x8e],
    [0x21, 0x91, 0x8c],
    [0x28, 0xae, 0x80],
    [0x5e, 0xc9, 0x62],
    [0xad, 0xdc, 0x30],
    [0xfd, 0xe7, 0x25],
];
/// Levels of a cell with time: palette indexes `EMPTY + 1 ..= EMPTY + LEVELS`.
pub const LEVELS: u64 = 7;

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// The palette index of a cell with `secs` when the busiest cell has `max`.
#[must_use]
pub fn level(secs: u64, max: u64) -> u8 {
    if secs == 0 || max == 0 {
        return EMPTY;
    }
    // 1..=LEVELS: any time at all shows.
    let step = 1 + (u128::from(secs) * u128::from(LEVELS - 1) / u128::from(max)) as u64;
    EMPTY + step.min(LEVELS) as u8
}

/// Renders `grid[weekday][hour]` (Monday first) as a PNG.
pub fn render(grid: &[[u64; 24]; 7]) -> Result<Vec<u8>, png::EncodingError> {
    let max = grid.iter().flatten().copied().max().unwrap_or(0);
    let mut pixels = vec![BACKGROUND; (WIDTH * HEIGHT) as usize];
    let mut fill = |x0: u32, y0: u32, w: u32, h: u32, index: u8| {
        for y in y0..(y0 + h).min(HEIGHT) {
            let row = (y * WIDTH) as usize;
            for x in x0..(x0 + w).min(WIDTH) {
                pixels[row + x as usize] = index;
            }
        }
    };
    for (day, hours) in grid.iter().enumerate() {
        let y = TOP + day as u32 * PITCH;
        for (hour, &secs) in hours.iter().enumerate() {
            fill(LEFT + hour as u32 * PITCH, y, CELL, CELL, level(secs, max));
        }
        let label_y = y + (CELL - 5 * SCALE) / 2;
        text(&mut fill, DAYS[day], 4, label_y);
    }
    for hour in (0..24).step_by(3) {
        let label = hour.to_string();
        let width = label.len() as u32 * 4 * SCALE - SCALE;
        let x = LEFT + hour * PITCH + (CELL - width) / 2;
        text(&mut fill, &label, x, TOP + 7 * PITCH + 4);
    }

    let mut out = Vec::with_capacity(8 * 1024);
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_palette(PALETTE.concat());
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

/// Draws `s` in the 3x5 font, scaled, with its top left at `(x, y)`.
fn text(fill: &mut impl FnMut(u32, u32, u32, u32, u8), s: &str, x: u32, y: u32) {
    for (i, c) in s.chars().enumerate() {
        let origin = x + i as u32 * 4 * SCALE;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..3 {
                if bits & (0b100 >> col) != 0 {
                    fill(
                        origin + col * SCALE,
                        y + row as u32 * SCALE,
                        SCALE,
                        SCALE,
                        INK,
                    );
                }
            }
        }
    }
}

/// 3x5 glyphs: five rows of three bits, high bit on the left.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' | 'O' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'A' => [0b010, 0b101, 0b111, 0b101, 0b101],
        'E' => [0b111, 0b100, 0b110, 0b100, 0b111],
        'F' => [0b111, 0b100, 0b110, 0b100, 0b100],
        'H' => [0b101, 0b101, 0b111, 0b101, 0b101],
        'M' => [0b101, 0b111, 0b111, 0b101, 0b101],
        'R' => [0b110, 0b101, 0b110, 0b101, 0b101],
        'S' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'T' => [0b111, 0b010, 0b010, 0b010, 0b010],
        'U' => [0b101, 0b101, 0b101, 0b101, 0b111],
        'W' => [0b101, 0b101, 0b111, 0b111, 0b101],
        _ => [0; 5],
    }
}

/// The pixel (inside its cell) at which a test can read a cell's colour.
#[must_use]
pub fn cell_center(day: usize, hour: usize) -> (u32, u32) {
    (
        LEFT + hour as u32 * PITCH + CELL / 2,
        TOP + day as u32 * PITCH + CELL / 2,
    )
}

/// The RGB colour of palette index `index`.
#[must_use]
pub fn color(index: u8) -> [u8; 3] {
    PALETTE[usize::from(index).min(PALETTE.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info, buf)
    }

    #[test]
    fn a_valid_small_png_with_cells_coloured_by_time() {
        let mut grid = [[0u64; 24]; 7];
        grid[0][4] = 3600;
        grid[6][23] = 500;
        let bytes = render(&grid).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() < 16 * 1024, "{} bytes", bytes.len());
        let (info, rgb) = decode(&bytes);
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let at = |(x, y): (u32, u32)| {
            let i = ((y * WIDTH + x) * 3) as usize;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        assert_eq!(at(cell_center(0, 4)), color(EMPTY + 7));
        assert_eq!(at(cell_center(6, 23)), color(EMPTY + 1));
        assert_eq!(at(cell_center(3, 12)), color(EMPTY));
        assert_eq!(at((0, 0)), color(BACKGROUND));
    }

    #[test]
    fn levels_cover_the_range() {
        assert_eq!(level(0, 100), EMPTY);
        assert_eq!(level(1, 100), EMPTY + 1);
        assert_eq!(level(100, 100), EMPTY + 7);
        assert_eq!(level(u64::MAX, u64::MAX), EMPTY + 7);
        // Every palette colour is distinct, so no level hides in the background.
        for (i, a) in PALETTE.iter().enumerate() {
            assert!(PALETTE.iter().skip(i + 1).all(|b| a != b));
        }
        assert!(render(&[[0; 24]; 7]).is_ok());
    }
}
