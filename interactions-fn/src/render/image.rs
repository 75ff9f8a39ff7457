//! What the images share: the card they are drawn on, their colours, text in the bundled font,
//! and PNG encoding.
//!
//! Every image is a dark rounded card (transparent outside its corners), so it reads the same
//! in Discord's dark and light themes; on the card, light text and a colour-blind-safe ramp
//! (viridis). Everything is anti-aliased. Lines, the colour scale's gradient and dots are
//! tiny-skia paths; rounded rectangles (the card's corners, cells, bars) are filled here from
//! their distance to the edge, because `/callstats show` draws 168 cells per reply and
//! tiny-skia's per-path set-up cost more than the pixels. Text is Inter Medium (`fonts/`, SIL
//! Open Font License 1.1), parsed once per process, each glyph rasterised by `ab_glyph` once
//! per size and quarter-pixel position. Nothing here reads a file, a clock or the system's
//! fonts. A heatmap takes about a millisecond to draw and encode (BENCHMARKS.md, "Images").

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use tiny_skia::{
    Color, FillRule, GradientStop, IntSize, LineCap, LineJoin, LinearGradient, Paint, Path,
    PathBuilder, Pixmap, PremultipliedColorU8, Rect, Shader, SpreadMode, Stroke, Transform,
};

/// An opaque colour.
pub type Rgb = [u8; 3];

/// The card, and a hairline just inside its edge that keeps it apart from Discord's own dark
/// backgrounds.
pub const CARD: Rgb = [0x1e, 0x1f, 0x22];
const CARD_EDGE: Rgb = [0x3a, 0x3c, 0x42];
/// Titles and values.
pub const INK: Rgb = [0xf2, 0xf3, 0xf5];
/// Labels and notes.
pub const MUTED: Rgb = [0xb5, 0xba, 0xc1];
/// Grid lines.
pub const GRID: Rgb = [0x33, 0x35, 0x3b];

/// Text sizes in pixels per em. A desktop embed shows an 800-pixel image about 400 pixels
/// wide, so these are about 15 and 10 pixels on screen.
pub const TITLE_SIZE: f32 = 30.0;
pub const LABEL_SIZE: f32 = 20.0;

/// The corner radius of the card, and the padding inside it.
const CARD_RADIUS: f32 = 22.0;
pub const PAD: f32 = 28.0;
/// Baselines of the title and of the line under it.
pub const TITLE_BASELINE: f32 = 54.0;
pub const SUBTITLE_BASELINE: f32 = 86.0;

/// Viridis, from dark violet to yellow, at nine even steps.
const VIRIDIS: [Rgb; 9] = [
    [0x44, 0x01, 0x54],
    [0x47, 0x2d, 0x7b],
    [0x3b, 0x52, 0x8b],
    [0x2c, 0x72, 0x8e],
    [0x21, 0x91, 0x8c],
    [0x28, 0xae, 0x80],
    [0x5e, 0xc9, 0x62],
    [0xad, 0xdc, 0x30],
    [0xfd, 0xe7, 0x25],
];

/// The ramp at `t` in `0.0..=1.0` (clamped; NaN is the start): the last stop exactly at 1.
#[must_use]
pub fn ramp(t: f32) -> Rgb {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let at = t * (VIRIDIS.len() - 1) as f32;
    let stop = (at.floor() as usize).min(VIRIDIS.len() - 2);
    let past = at - stop as f32;
    let (from, to) = (VIRIDIS[stop], VIRIDIS[stop + 1]);
    std::array::from_fn(|c| {
        (f32::from(from[c]) + (f32::from(to[c]) - f32::from(from[c])) * past + 0.5) as u8
    })
}

/// A failure to draw an image; none is expected with the bundled font and the fixed sizes.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The bundled font does not parse (a defect of the build, which a test guards).
    #[error("the bundled font does not parse")]
    Font,
    /// No canvas of that size could be made.
    #[error("no {width}x{height} canvas")]
    Canvas { width: u32, height: u32 },
    /// The PNG encoder failed.
    #[error("png encoding: {0}")]
    Encode(#[from] png::EncodingError),
}

static FONT_BYTES: &[u8] = include_bytes!("../../fonts/Inter-Medium.otf");
static FONT: LazyLock<Option<FontRef<'static>>> =
    LazyLock::new(|| FontRef::try_from_slice(FONT_BYTES).ok());

/// A glyph's coverage (0 to 255), and where its top left pixel is from the pen on the baseline.
#[derive(Debug)]
struct Raster {
    left: i64,
    top: i64,
    width: usize,
    coverage: Vec<u8>,
}

/// Glyphs drawn so far, by glyph, size and quarter-pixel pen position.
type RasterKey = (u16, u32, u8);
static RASTERS: LazyLock<Mutex<HashMap<RasterKey, Arc<Raster>>>> = LazyLock::new(Mutex::default);

/// The largest canvas, in bytes: far more than the images need.
const MAX_BYTES: usize = 16 << 20;

thread_local! {
    /// The pixels of the last image drawn on this thread, for the next one: a fresh megabyte
    /// costs more in page faults than drawing on it does.
    static SPARE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Horizontal placement of text against its x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// A card being drawn on.
pub struct Canvas {
    pixmap: Pixmap,
    font: &'static FontRef<'static>,
    /// From pixels per em to `ab_glyph`'s scale (which counts ascent to descent).
    em: f32,
}

impl std::fmt::Debug for Canvas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Canvas")
            .field("width", &self.pixmap.width())
            .field("height", &self.pixmap.height())
            .finish_non_exhaustive()
    }
}

impl Canvas {
    /// A blank card of `width` x `height` pixels.
    pub fn card(width: u32, height: u32) -> Result<Self, ImageError> {
        let font = FONT.as_ref().ok_or(ImageError::Font)?;
        let no_canvas = ImageError::Canvas { width, height };
        let size = IntSize::from_wh(width, height).ok_or(no_canvas)?;
        let bytes = width as usize * height as usize * 4;
        if bytes > MAX_BYTES {
            return Err(ImageError::Canvas { width, height });
        }
        let mut data = SPARE.with_borrow_mut(std::mem::take);
        data.clear();
        data.resize(bytes, 0);
        let pixmap = Pixmap::from_vec(data, size).ok_or(ImageError::Canvas { width, height })?;
        let em = font.height_unscaled() / font.units_per_em().unwrap_or(1000.0);
        let mut canvas = Self { pixmap, font, em };
        let [red, green, blue] = CARD;
        canvas.pixmap.fill(Color::from_rgba8(red, green, blue, 255));
        canvas.card_edge();
        Ok(canvas)
    }

    /// The card's hairline edge and its rounded corners, transparent outside: only the pixels
    /// near the edge change, the rest keeps the card's plain fill (a render's time is mostly
    /// per pixel, so the card costs little).
    fn card_edge(&mut self) {
        let (w, h) = (self.pixmap.width(), self.pixmap.height());
        let card = Shape {
            left: 0.0,
            top: 0.0,
            width: w as f32,
            height: h as f32,
            radii: (CARD_RADIUS, CARD_RADIUS),
        };
        let corner = (CARD_RADIUS.ceil() as usize + 1)
            .min(w as usize / 2)
            .min(h as usize / 2);
        let (w, h) = (w as usize, h as usize);
        let edge = over(PremultipliedColorU8::TRANSPARENT, CARD_EDGE, 1.0);
        let pixels = self.pixmap.pixels_mut();
        // The straight edges: one pixel of the edge's colour.
        pixels[..w].fill(edge);
        pixels[(h - 1) * w..].fill(edge);
        for y in 0..h {
            pixels[y * w] = edge;
            pixels[y * w + w - 1] = edge;
        }
        // The corners: the edge's colour blends into the card within a pixel of the rim, and
        // the rim itself fades out.
        let xs = (0..corner).chain(w - corner..w);
        for y in (0..corner).chain(h - corner..h) {
            for x in xs.clone() {
                let distance = card.distance(x as f32 + 0.5, y as f32 + 0.5);
                let alpha = (0.5 - distance).clamp(0.0, 1.0);
                let rim = (distance + 1.5).clamp(0.0, 1.0);
                let color: Rgb = std::array::from_fn(|c| {
                    (f32::from(CARD[c])
                        + (f32::from(CARD_EDGE[c]) - f32::from(CARD[c])) * rim
                        + 0.5) as u8
                });
                let transparent = PremultipliedColorU8::TRANSPARENT;
                pixels[y * w + x] = over(transparent, color, alpha);
            }
        }
    }

    #[must_use]
    pub fn width(&self) -> f32 {
        self.pixmap.width() as f32
    }

    /// A filled rectangle, edges anti-aliased.
    pub fn rect(&mut self, left: f32, top: f32, width: f32, height: f32, color: Rgb) {
        if let Some(rect) = Rect::from_xywh(left, top, width, height) {
            self.pixmap
                .fill_rect(rect, &paint(color), Transform::identity(), None);
        }
    }

    /// A filled rectangle with every corner rounded by `radius`.
    pub fn round_rect(
        &mut self,
        left: f32,
        top: f32,
        width: f32,
        height: f32,
        radius: f32,
        color: Rgb,
    ) {
        let radii = (radius, radius);
        self.shape(
            Shape {
                left,
                top,
                width,
                height,
                radii,
            },
            color,
        );
    }

    /// Rounded squares of one size, each at a whole-pixel position with its colour: the
    /// square's coverage is worked out once for all of them (a heatmap's cells).
    pub fn tiles(
        &mut self,
        size: u32,
        radius: f32,
        tiles: impl IntoIterator<Item = ((u32, u32), Rgb)>,
    ) {
        let square = Shape {
            left: 0.0,
            top: 0.0,
            width: size as f32,
            height: size as f32,
            radii: (radius, radius),
        };
        let size = size as usize;
        let coverage: Vec<f32> = (0..size * size)
            .map(|i| 0.5 - square.distance((i % size) as f32 + 0.5, (i / size) as f32 + 0.5))
            .collect();
        let (w, h) = (self.pixmap.width() as usize, self.pixmap.height() as usize);
        let pixels = self.pixmap.pixels_mut();
        for ((left, top), color) in tiles {
            let (left, top) = (left as usize, top as usize);
            let solid = over(PremultipliedColorU8::TRANSPARENT, color, 1.0);
            for (row, coverages) in coverage.chunks_exact(size).enumerate() {
                let y = top + row;
                if y >= h {
                    break;
                }
                let start = y * w + left.min(w);
                let end = y * w + (left + size).min(w);
                for (pixel, &c) in pixels[start..end].iter_mut().zip(coverages) {
                    if c >= 1.0 {
                        *pixel = solid;
                    } else if c > 0.0 {
                        *pixel = over(*pixel, color, c);
                    }
                }
            }
        }
    }

    /// A bar standing on `top + height`: its top corners rounded by `radius`, its foot square.
    pub fn bar(&mut self, left: f32, top: f32, width: f32, height: f32, radius: f32, color: Rgb) {
        let radii = (radius, 0.0);
        self.shape(
            Shape {
                left,
                top,
                width,
                height,
                radii,
            },
            color,
        );
    }

    /// Fills `shape`, each pixel as far as the shape covers it (from its distance to the
    /// edge: exact for straight edges, close for the corners). Cells and bars are drawn this
    /// way rather than as paths: hundreds of small paths cost tiny-skia far more.
    fn shape(&mut self, shape: Shape, color: Rgb) {
        let Shape {
            left,
            top,
            width,
            height,
            radii,
        } = shape;
        let finite = [left, top, width, height].iter().all(|v| v.is_finite());
        if !(finite && width > 0.0 && height > 0.0) {
            return;
        }
        let (right, bottom) = (left + width, top + height);
        let limit = (width / 2.0).min(height / 2.0);
        let (upper, lower) = (radii.0.clamp(0.0, limit), radii.1.clamp(0.0, limit));
        let w = self.pixmap.width() as usize;
        let (x0, x1) = (
            (left.floor() as usize).min(w),
            (right.ceil() as usize).min(w),
        );
        let rows = self.pixmap.height() as usize;
        let (y0, y1) = (
            (top.floor() as usize).min(rows),
            (bottom.ceil() as usize).min(rows),
        );
        let solid = over(PremultipliedColorU8::TRANSPARENT, color, 1.0);
        let pixels = self.pixmap.pixels_mut();
        for y in y0..y1 {
            let cy = y as f32 + 0.5;
            let row = &mut pixels[y * w..(y + 1) * w];
            // Between the corners only straight edges: no square roots.
            let straight = cy >= top + upper && cy <= bottom - lower;
            let vertical = (cy - top).min(bottom - cy) + 0.5;
            for (x, pixel) in row.iter_mut().enumerate().take(x1).skip(x0) {
                let cx = x as f32 + 0.5;
                let coverage = if straight {
                    ((cx - left).min(right - cx) + 0.5).min(vertical)
                } else {
                    0.5 - shape.distance(cx, cy)
                };
                if coverage >= 1.0 {
                    *pixel = solid;
                } else if coverage > 0.0 {
                    *pixel = over(*pixel, color, coverage);
                }
            }
        }
    }

    /// A rounded rectangle filled left to right with the ramp from `from` to `to`.
    pub fn ramp_rect(
        &mut self,
        left: f32,
        top: f32,
        width: f32,
        height: f32,
        (from, to): (f32, f32),
    ) {
        let stops = (0..=8)
            .map(|i| {
                let at = i as f32 / 8.0;
                let [red, green, blue] = ramp(from + (to - from) * at);
                GradientStop::new(at, Color::from_rgba8(red, green, blue, 255))
            })
            .collect();
        let shader = LinearGradient::new(
            tiny_skia::Point::from_xy(left, top),
            tiny_skia::Point::from_xy(left + width, top),
            stops,
            SpreadMode::Pad,
            Transform::identity(),
        );
        let radius = height / 2.0;
        let path = rounded(left, top, width, height, (radius, radius));
        if let (Some(shader), Some(path)) = (shader, path) {
            let paint = Paint {
                shader,
                anti_alias: true,
                ..Paint::default()
            };
            self.fill(&path, &paint);
        }
    }

    /// A line through `points`, `width` wide, with round joins and ends.
    pub fn polyline(&mut self, points: &[(f32, f32)], width: f32, color: Rgb) {
        let mut path = PathBuilder::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            if i == 0 {
                path.move_to(x, y);
            } else {
                path.line_to(x, y);
            }
        }
        let Some(path) = path.finish() else { return };
        let stroke = Stroke {
            width,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        self.pixmap
            .stroke_path(&path, &paint(color), &stroke, Transform::identity(), None);
    }

    /// A filled circle.
    pub fn dot(&mut self, x: f32, y: f32, r: f32, color: Rgb) {
        if let Some(path) = PathBuilder::from_circle(x, y, r) {
            self.fill(&path, &paint(color));
        }
    }

    fn fill(&mut self, path: &Path, paint: &Paint<'_>) {
        self.pixmap
            .fill_path(path, paint, FillRule::Winding, Transform::identity(), None);
    }

    /// The width of `text` at `size` pixels per em.
    #[must_use]
    pub fn text_width(&self, text: &str, size: f32) -> f32 {
        self.glyphs(text, size).1
    }

    /// `text` shortened with an ellipsis to at most `max` pixels wide at `size`.
    #[must_use]
    pub fn clip(&self, text: &str, size: f32, max: f32) -> String {
        // No title needs more than this: it bounds the work for any input.
        let mut chars: Vec<char> = text.chars().filter(|c| !c.is_control()).take(200).collect();
        let whole: String = chars.iter().collect();
        if self.text_width(&whole, size) <= max && chars.len() < 200 {
            return whole;
        }
        while !chars.is_empty() {
            chars.pop();
            let shorter: String = chars.iter().collect::<String>().trim_end().to_owned() + "…";
            if self.text_width(&shorter, size) <= max {
                return shorter;
            }
        }
        String::new()
    }

    /// Draws `text` with its baseline at `y`, placed against `x` by `align`; returns its width.
    pub fn text(&mut self, text: &str, x: f32, y: f32, size: f32, color: Rgb, align: Align) -> f32 {
        let (glyphs, width) = self.glyphs(text, size);
        let left = match align {
            Align::Left => x,
            Align::Center => x - width / 2.0,
            Align::Right => x - width,
        };
        let (w, h) = (
            i64::from(self.pixmap.width()),
            i64::from(self.pixmap.height()),
        );
        let baseline = y.round() as i64;
        for (id, caret) in glyphs {
            let pen = left + caret;
            let whole = pen.floor();
            let Some(raster) = self.raster(id, size, pen - whole) else {
                continue;
            };
            let (x0, y0) = (whole as i64 + raster.left, baseline + raster.top);
            let pixels = self.pixmap.pixels_mut();
            for (row, coverages) in raster.coverage.chunks_exact(raster.width).enumerate() {
                let py = y0 + row as i64;
                if !(0..h).contains(&py) {
                    continue;
                }
                for (column, &coverage) in coverages.iter().enumerate() {
                    let px = x0 + column as i64;
                    if coverage > 0 && (0..w).contains(&px) {
                        let pixel = &mut pixels[(py * w + px) as usize];
                        *pixel = over(*pixel, color, f32::from(coverage) / 255.0);
                    }
                }
            }
        }
        width
    }

    /// Glyph `id` at `size`, its pen `fraction` of a pixel right of a whole pixel (in quarters),
    /// rasterised once per process: the images draw the same few dozen glyphs again and again.
    fn raster(&self, id: GlyphId, size: f32, fraction: f32) -> Option<Arc<Raster>> {
        let quarter = ((fraction * 4.0) as u8).min(3);
        let key = (id.0, size.to_bits(), quarter);
        let mut rasters = RASTERS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(raster) = rasters.get(&key) {
            return Some(Arc::clone(raster));
        }
        let position = point(f32::from(quarter) / 4.0, 0.0);
        let outline = self
            .font
            .outline_glyph(id.with_scale_and_position(self.scale(size), position))?;
        let bounds = outline.px_bounds();
        let width = bounds.width() as usize;
        let mut coverage = vec![0u8; width * bounds.height() as usize];
        outline.draw(|x, y, c| {
            if let Some(cell) = coverage.get_mut(y as usize * width + x as usize) {
                *cell = (c.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
            }
        });
        if width == 0 {
            return None;
        }
        let raster = Arc::new(Raster {
            left: bounds.min.x as i64,
            top: bounds.min.y as i64,
            width,
            coverage,
        });
        // Only text the code chooses, and titles, come through here; a bound all the same.
        if rasters.len() >= 4096 {
            rasters.clear();
        }
        rasters.insert(key, Arc::clone(&raster));
        Some(raster)
    }

    fn scale(&self, size: f32) -> PxScale {
        PxScale::from(size * self.em)
    }

    /// Each glyph with its x from the start, and the total advance. Characters the font lacks
    /// show as `?`.
    fn glyphs(&self, text: &str, size: f32) -> (Vec<(GlyphId, f32)>, f32) {
        let scaled = self.font.as_scaled(self.scale(size));
        let fallback = scaled.glyph_id('?');
        let mut caret = 0.0;
        let mut previous = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars().filter(|c| !c.is_control()) {
            let id = match scaled.glyph_id(c) {
                GlyphId(0) => fallback,
                id => id,
            };
            if let Some(previous) = previous {
                caret += scaled.kern(previous, id);
            }
            glyphs.push((id, caret));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret)
    }

    /// The image as an RGBA PNG.
    pub fn png(self) -> Result<Vec<u8>, ImageError> {
        let (width, height) = (self.pixmap.width(), self.pixmap.height());
        // Premultiplied to straight alpha: only the corners are not opaque.
        let mut rgba = self.pixmap.take();
        for pixel in rgba.chunks_exact_mut(4) {
            let alpha = u32::from(pixel[3]);
            if alpha != 0 && alpha != 255 {
                for c in &mut pixel[..3] {
                    *c = ((u32::from(*c) * 255 + alpha / 2) / alpha).min(255) as u8;
                }
            }
        }
        let mut out = Vec::with_capacity(rgba.len() / 8);
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        // One filter for every row rather than the adaptive choice among five: about 40 %
        // less encoding time for files about 10 % larger (BENCHMARKS.md, "Images").
        encoder.set_filter(png::Filter::Paeth);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgba)?;
        writer.finish()?;
        SPARE.set(rgba);
        Ok(out)
    }
}

fn paint(color: Rgb) -> Paint<'static> {
    let [r, g, b] = color;
    Paint {
        shader: Shader::SolidColor(Color::from_rgba8(r, g, b, 255)),
        anti_alias: true,
        ..Paint::default()
    }
}

/// `color` at `coverage` over a premultiplied pixel.
fn over(under: PremultipliedColorU8, color: Rgb, coverage: f32) -> PremultipliedColorU8 {
    let a = if coverage.is_nan() {
        0.0
    } else {
        coverage.clamp(0.0, 1.0)
    };
    let keep = 1.0 - a;
    // Adding a half and truncating rounds these non-negative values, without the library call
    // `round` is on x86-64's baseline.
    let mix = |top: u8, bottom: u8| (f32::from(top) * a + f32::from(bottom) * keep + 0.5) as u8;
    PremultipliedColorU8::from_rgba(
        mix(color[0], under.red()),
        mix(color[1], under.green()),
        mix(color[2], under.blue()),
        mix(255, under.alpha()),
    )
    .unwrap_or(under)
}

/// A rectangle with its top corners rounded by `radii.0` and its bottom ones by `radii.1`.
#[derive(Clone, Copy, Debug)]
struct Shape {
    left: f32,
    top: f32,
    width: f32,
    height: f32,
    radii: (f32, f32),
}

impl Shape {
    /// The signed distance from `(x, y)` to the shape's edge, negative inside.
    fn distance(&self, x: f32, y: f32) -> f32 {
        let (half_w, half_h) = (self.width / 2.0, self.height / 2.0);
        let (dx, dy) = (x - self.left - half_w, y - self.top - half_h);
        let radius = if dy < 0.0 { self.radii.0 } else { self.radii.1 };
        let radius = radius.clamp(0.0, half_w.min(half_h));
        let (qx, qy) = (dx.abs() - (half_w - radius), dy.abs() - (half_h - radius));
        let (ox, oy) = (qx.max(0.0), qy.max(0.0));
        (ox * ox + oy * oy).sqrt() + qx.max(qy).min(0.0) - radius
    }
}

/// The path of a [`Shape`], for what tiny-skia fills (the colour scale's gradient).
fn rounded(left: f32, top: f32, width: f32, height: f32, radii: (f32, f32)) -> Option<Path> {
    // How far along a corner's tangents a cubic's control points sit to draw a quarter circle.
    const K: f32 = 0.552_284_8;
    let finite = [left, top, width, height].iter().all(|v| v.is_finite());
    if !(finite && width > 0.0 && height > 0.0) {
        return None;
    }
    let limit = (width / 2.0).min(height / 2.0);
    let (upper, lower) = (radii.0.clamp(0.0, limit), radii.1.clamp(0.0, limit));
    let (right, bottom) = (left + width, top + height);
    let mut path = PathBuilder::new();
    path.move_to(left + upper, top);
    path.line_to(right - upper, top);
    let bend = upper * K;
    path.cubic_to(
        right - upper + bend,
        top,
        right,
        top + upper - bend,
        right,
        top + upper,
    );
    path.line_to(right, bottom - lower);
    let bend = lower * K;
    path.cubic_to(
        right,
        bottom - lower + bend,
        right - lower + bend,
        bottom,
        right - lower,
        bottom,
    );
    path.line_to(left + lower, bottom);
    path.cubic_to(
        left + lower - bend,
        bottom,
        left,
        bottom - lower + bend,
        left,
        bottom - lower,
    );
    path.line_to(left, top + upper);
    let bend = upper * K;
    path.cubic_to(
        left,
        top + upper - bend,
        left + upper - bend,
        top,
        left + upper,
        top,
    );
    path.close();
    path.finish()
}

/// A duration as an axis or a scale shows it: "0", "45 s", "30 min", "2 h", "1 h 30".
#[must_use]
pub fn short_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match secs {
        0 => "0".into(),
        1..60 => format!("{s} s"),
        60..3600 if s == 0 => format!("{m} min"),
        60..3600 => format!("{m} min {s:02}"),
        _ if m == 0 => format!("{h} h"),
        _ => format!("{h} h {m:02}"),
    }
}

/// A PNG decoded to its width, height and RGBA pixels, for tests.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// For looking at an image as Discord shows it: `png` on its dark chat background above its
/// light one, as an RGB PNG.
#[cfg(test)]
pub(crate) fn on_backdrops(png: &[u8]) -> Vec<u8> {
    const MARGIN: u32 = 24;
    const BACKDROPS: [Rgb; 2] = [[0x31, 0x33, 0x38], [0xff, 0xff, 0xff]];
    let (w, h, rgba) = decode(png);
    let (width, height) = (w + 2 * MARGIN, 2 * (h + 2 * MARGIN));
    let mut out = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        let backdrop = BACKDROPS[(y / (h + 2 * MARGIN)) as usize];
        let iy = (y % (h + 2 * MARGIN))
            .checked_sub(MARGIN)
            .filter(|&iy| iy < h);
        for x in 0..width {
            let ix = x.checked_sub(MARGIN).filter(|&ix| ix < w);
            let pixel = match (ix, iy) {
                (Some(ix), Some(iy)) => {
                    let i = ((iy * w + ix) * 4) as usize;
                    let a = u32::from(rgba[i + 3]);
                    std::array::from_fn(|c| {
                        ((u32::from(rgba[i + c]) * a + u32::from(backdrop[c]) * (255 - a)) / 255)
                            as u8
                    })
                }
                _ => backdrop,
            };
            out.extend_from_slice(&pixel);
        }
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&out).unwrap();
    writer.finish().unwrap();
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_parses_and_draws() {
        let mut canvas = Canvas::card(200, 60).unwrap();
        let width = canvas.text("Mon 12 h", 10.0, 40.0, LABEL_SIZE, INK, Align::Left);
        assert!(width > 40.0 && width < 120.0, "{width}");
        let bytes = canvas.png().unwrap();
        let (_, _, rgba) = decode(&bytes);
        // Some pixel on the text's line is ink-coloured.
        let row = |y: usize| {
            rgba[y * 200 * 4..(y + 1) * 200 * 4]
                .chunks(4)
                .any(|p| p[0] > 0xe0)
        };
        assert!((25..40).any(row));
    }

    #[test]
    fn the_card_is_opaque_and_its_corners_transparent() {
        let (_, _, rgba) = decode(&Canvas::card(100, 50).unwrap().png().unwrap());
        assert_eq!(&rgba[0..4], &[0, 0, 0, 0]);
        let centre = (25 * 100 + 50) * 4;
        assert_eq!(&rgba[centre..centre + 4], &[CARD[0], CARD[1], CARD[2], 255]);
    }

    #[test]
    fn clipping_ends_with_an_ellipsis_and_fits() {
        let canvas = Canvas::card(10, 10).unwrap();
        let long = "Call time by weekday and hour ".repeat(20);
        let clipped = canvas.clip(&long, TITLE_SIZE, 300.0);
        assert!(clipped.ends_with('…'));
        assert!(canvas.text_width(&clipped, TITLE_SIZE) <= 300.0);
        assert_eq!(canvas.clip("Short", TITLE_SIZE, 300.0), "Short");
        assert_eq!(canvas.clip("Anything", TITLE_SIZE, 1.0), "");
        // Characters the font lacks are drawn as something, never a panic.
        assert!(canvas.text_width("日本 🎧", LABEL_SIZE) > 0.0);
    }

    #[test]
    fn the_ramp_ends_exactly_and_stays_in_range() {
        assert_eq!(ramp(0.0), VIRIDIS[0]);
        assert_eq!(ramp(1.0), VIRIDIS[8]);
        assert_eq!(ramp(7.0), VIRIDIS[8]);
        assert_eq!(ramp(f32::NAN), VIRIDIS[0]);
        assert_eq!(ramp(0.5), VIRIDIS[4]);
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(0), "0");
        assert_eq!(short_duration(45), "45 s");
        assert_eq!(short_duration(1800), "30 min");
        assert_eq!(short_duration(725), "12 min 05");
        assert_eq!(short_duration(7200), "2 h");
        assert_eq!(short_duration(5400), "1 h 30");
        assert_eq!(short_duration(u64::MAX), "5124095576030431 h");
    }
}
