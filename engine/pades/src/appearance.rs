//! The visible signature: a small drawing in the field's rectangle (who signed, in which
//! role, when and with which eID).
//!
//! Text is drawn as the outlines of the bundled Libertinus Serif glyphs, not with a font:
//! nothing has to be embedded, so PDF/A stays valid (a PDF/A file may not use an unembedded
//! font), the appearance costs microseconds to make, and it looks the same in every reader.
//! The signer's name is also in the field's tooltip (`/TU`) and in the certificate, where
//! assistive technology and verifiers read it.

use std::fmt::Write;
use std::sync::LazyLock;

use ttf_parser::{Face, GlyphId, OutlineBuilder};

/// One line of text in the appearance.
pub struct Line {
    pub text: String,
    /// Font size in points (shrunk when the line does not fit).
    pub size: f32,
    pub weight: Weight,
    /// RGB, 0–1.
    pub color: [f32; 3],
}

#[derive(Clone, Copy)]
pub enum Weight {
    Regular,
    Semibold,
}

struct Fonts {
    regular: Face<'static>,
    semibold: Face<'static>,
}

static FONTS: LazyLock<Option<Fonts>> = LazyLock::new(|| {
    let find = |postscript: &str| {
        typst_assets::fonts().find_map(|data| {
            let face = Face::parse(data, 0).ok()?;
            let name = face
                .names()
                .into_iter()
                .find(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)?
                .to_string()?;
            (name == postscript).then_some(face)
        })
    };
    Some(Fonts {
        regular: find("LibertinusSerif-Regular")?,
        semibold: find("LibertinusSerif-Semibold")?,
    })
});

const PADDING: f32 = 5.0;
const BAR: f32 = 2.5;
const ACCENT: [f32; 3] = [0.11, 0.27, 0.50];

/// The content stream of an appearance `width` × `height` points large.
pub fn draw(lines: &[Line], width: f32, height: f32) -> Vec<u8> {
    let mut out = String::new();
    // White background (covers the dashed placeholder frame), then an accent bar on the left.
    let _ = writeln!(out, "q 1 1 1 rg 0 0 {width:.2} {height:.2} re f");
    let _ = writeln!(
        out,
        "{:.3} {:.3} {:.3} rg 0 0 {BAR:.2} {height:.2} re f",
        ACCENT[0], ACCENT[1], ACCENT[2]
    );
    let Some(fonts) = FONTS.as_ref() else {
        out.push_str("Q\n");
        return out.into_bytes();
    };
    let left = BAR + PADDING;
    let room = (width - left - PADDING).max(1.0);

    // Fit each line to the width, then all of them to the height.
    let sizes: Vec<f32> = lines
        .iter()
        .map(|line| {
            let face = face(fonts, line.weight);
            let natural = text_width(face, &line.text, line.size);
            if natural > room {
                line.size * room / natural
            } else {
                line.size
            }
        })
        .collect();
    let leading = 1.22;
    let total: f32 = sizes.iter().map(|s| s * leading).sum();
    let fit = ((height - 2.0 * PADDING) / total).min(1.0);

    let mut baseline = height - PADDING;
    for (line, size) in lines.iter().zip(sizes) {
        let size = size * fit;
        baseline -= size * leading * 0.82;
        let face = face(fonts, line.weight);
        let _ = writeln!(
            out,
            "{:.3} {:.3} {:.3} rg",
            line.color[0], line.color[1], line.color[2]
        );
        let mut pen = left;
        let scale = size / f32::from(face.units_per_em());
        for c in line.text.chars() {
            let glyph = glyph(face, c);
            // Each glyph in its own coordinate system (font units), so that repeated letters
            // are repeated bytes, which the stream's compression folds away.
            let _ = write!(
                out,
                "q {scale:.5} 0 0 {scale:.5} {pen:.2} {baseline:.2} cm "
            );
            let mut path = PathWriter {
                out: &mut out,
                last: (0.0, 0.0),
            };
            if face.outline_glyph(glyph, &mut path).is_some() {
                out.push_str("f ");
            }
            out.push_str("Q\n");
            pen += f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) * scale;
        }
        baseline -= size * leading * 0.18;
    }
    out.push_str("Q\n");
    out.into_bytes()
}

fn face(fonts: &Fonts, weight: Weight) -> &Face<'static> {
    match weight {
        Weight::Regular => &fonts.regular,
        Weight::Semibold => &fonts.semibold,
    }
}

/// The glyph for `c`, or a question mark for a character the font lacks.
fn glyph(face: &Face<'_>, c: char) -> GlyphId {
    face.glyph_index(c)
        .or_else(|| face.glyph_index('?'))
        .unwrap_or(GlyphId(0))
}

fn text_width(face: &Face<'_>, text: &str, size: f32) -> f32 {
    let units: f32 = text
        .chars()
        .map(|c| f32::from(face.glyph_hor_advance(glyph(face, c)).unwrap_or(0)))
        .sum();
    units * size / f32::from(face.units_per_em())
}

/// A coordinate in whole font units (a thousandth of an em: finer than any printer). Integer
/// formatting is an order of magnitude cheaper than formatting floats with a precision.
fn units(v: f32) -> i32 {
    v.round() as i32
}

/// Writes a glyph outline as PDF path operators, in font units.
struct PathWriter<'a> {
    out: &'a mut String,
    /// The current point (for turning quadratic curves into cubic ones).
    last: (f32, f32),
}

impl OutlineBuilder for PathWriter<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let _ = write!(self.out, "{} {} m ", units(x), units(y));
        self.last = (x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let _ = write!(self.out, "{} {} l ", units(x), units(y));
        self.last = (x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (x0, y0) = self.last;
        let c1 = (x0 + 2.0 / 3.0 * (x1 - x0), y0 + 2.0 / 3.0 * (y1 - y0));
        let c2 = (x + 2.0 / 3.0 * (x1 - x), y + 2.0 / 3.0 * (y1 - y));
        self.curve_to(c1.0, c1.1, c2.0, c2.1, x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let _ = write!(
            self.out,
            "{} {} {} {} {} {} c ",
            units(x1),
            units(y1),
            units(x2),
            units(y2),
            units(x),
            units(y)
        );
        self.last = (x, y);
    }

    fn close(&mut self) {
        self.out.push_str("h ");
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_fonts_are_found() {
        assert!(FONTS.is_some());
    }

    #[test]
    fn text_becomes_filled_paths_and_long_names_shrink() {
        let line = |text: &str| Line {
            text: text.into(),
            size: 11.0,
            weight: Weight::Semibold,
            color: [0.0, 0.0, 0.0],
        };
        let short = String::from_utf8(draw(&[line("Åsa Öberg")], 200.0, 60.0)).unwrap_or_default();
        assert!(short.contains(" c ") && short.contains(" f Q"), "{short}");
        assert_eq!(short.matches(" cm ").count(), "Åsa Öberg".chars().count());
        // Every glyph starts inside the box and ends before its right edge, however long
        // the name.
        let long = "Wolfeschlegelsteinhausenberger ".repeat(4);
        let long = String::from_utf8(draw(&[line(&long)], 200.0, 60.0)).unwrap_or_default();
        let mut glyphs = 0;
        for glyph in long.split("\nq ").skip(1) {
            let numbers: Vec<f32> = glyph
                .split_whitespace()
                .take(6)
                .filter_map(|n| n.parse().ok())
                .collect();
            let [scale, _, _, _, x, y] = numbers[..] else {
                panic!("not a glyph: {glyph}")
            };
            assert!(
                (0.0..200.0).contains(&x) && (0.0..60.0).contains(&y),
                "{glyph}"
            );
            assert!(x + 500.0 * scale < 201.0, "{glyph}");
            glyphs += 1;
        }
        assert_eq!(glyphs, 4 * 31);
    }
}
