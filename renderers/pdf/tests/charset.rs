//! The core's table of characters a document can show (`blankett_core::charset`) is exactly
//! what the bundled fonts cover. With `BLANKETT_WRITE_CHARSET=1` the table is written anew.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;

use blankett_pdf::TypstRenderer;

#[test]
fn the_core_charset_table_is_the_coverage_of_the_bundled_fonts() {
    let ranges = TypstRenderer::new().font_coverage();
    assert!(ranges.len() > 10, "the fonts cover something: {ranges:?}");
    if std::env::var_os("BLANKETT_WRITE_CHARSET").is_some() {
        let mut text = String::from(
            "//! Generated from the fonts compiled into the renderer: run\n//! `BLANKETT_WRITE_CHARSET=1 cargo test -p blankett-pdf --test charset` after changing fonts.\n\n/// Inclusive ranges of code points some bundled font has a glyph for, sorted.\n#[rustfmt::skip]\npub(super) static SHOWN: &[(u32, u32)] = &[\n",
        );
        for (lo, hi) in &ranges {
            writeln!(text, "    (0x{lo:04X}, 0x{hi:04X}),").unwrap();
        }
        text.push_str("];\n");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../engine/core/src/charset/table.rs"
        );
        std::fs::write(path, text).unwrap();
    }
    assert_eq!(
        blankett_core::charset::shown_ranges(),
        ranges.as_slice(),
        "engine/core/src/charset/table.rs is not the fonts' coverage: run BLANKETT_WRITE_CHARSET=1 cargo test -p blankett-pdf --test charset"
    );
}
