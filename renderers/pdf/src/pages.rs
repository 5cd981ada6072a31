//! Page images of a finished PDF, drawn from its bytes (not from the Typst document), so a
//! signer sees exactly the bytes that will be signed. Uses hayro, the pure-Rust PDF
//! rasteriser Typst itself uses for PDF images.

use hayro::hayro_interpret::InterpreterSettings;
use hayro::hayro_syntax::Pdf;
use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::{RenderCache, RenderSettings};

/// Why a page image could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PageImageError {
    #[error("the PDF could not be read")]
    Unreadable,
    #[error("the PDF has no page {0}")]
    NoSuchPage(usize),
    #[error("the page image could not be encoded: {0}")]
    Encode(String),
}

/// The number of pages.
pub fn page_count(pdf: &[u8]) -> Result<usize, PageImageError> {
    let doc = Pdf::new(pdf.to_vec()).map_err(|_| PageImageError::Unreadable)?;
    Ok(doc.pages().len())
}

/// Page `index` (from 0) as PNG at `scale` pixels per point; also its size in pixels.
pub fn page_png(
    pdf: &[u8],
    index: usize,
    scale: f32,
) -> Result<(Vec<u8>, u32, u32), PageImageError> {
    let doc = Pdf::new(pdf.to_vec()).map_err(|_| PageImageError::Unreadable)?;
    let pages = doc.pages();
    let page = pages
        .get(index)
        .ok_or(PageImageError::NoSuchPage(index + 1))?;
    let cache = RenderCache::new();
    let pixmap = hayro::render(
        page,
        &cache,
        &InterpreterSettings::default(),
        &RenderSettings {
            x_scale: scale,
            y_scale: scale,
            bg_color: WHITE,
            ..Default::default()
        },
    );
    let (w, h) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
    let png = pixmap
        .into_png()
        .map_err(|e| PageImageError::Encode(e.to_string()))?;
    Ok((png, w, h))
}
