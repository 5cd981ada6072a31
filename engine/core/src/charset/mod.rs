//! The characters a document can show.
//!
//! A document embeds every glyph it uses (PDF/A) from the fonts compiled into the binary, so
//! an answer holding a character none of them has (an emoji, a CJK ideograph) cannot go into
//! a document. Control and format characters are refused as well, although some fonts map
//! them: a bidi override (U+202E) or a zero-width character makes the text a signer reads
//! differ from the text that is stored. Answers are checked against this list where they are
//! typed (step validation, the REST API), so nobody learns of it only when the document is
//! made. The renderer's tests check that the list matches its fonts exactly.

mod table;

/// Whether a document can show `c`. Line breaks and tabs count as shown (the field decides
/// whether it takes several lines).
pub fn can_show(c: char) -> bool {
    if matches!(c, '\n' | '\t') {
        return true;
    }
    if c.is_control() || is_format(c) {
        return false;
    }
    let cp = c as u32;
    table::SHOWN
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Unicode's format characters (general category Cf) and the line and paragraph separators:
/// invisible, and able to reorder or hide text.
pub fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The distinct characters of `text` a document cannot show, in the order they first appear.
pub fn unshowable(text: &str) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if !can_show(c) && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `U+202E, U+1F600`: characters as code points, which show even when the character is
/// invisible (at most eight, then "…").
pub fn code_points(chars: &[char]) -> String {
    let mut list: Vec<String> = chars
        .iter()
        .take(8)
        .map(|c| format!("U+{:04X}", *c as u32))
        .collect();
    if chars.len() > 8 {
        list.push("…".into());
    }
    list.join(", ")
}

/// The ranges of [`table`], for the renderer's test that compares them with its fonts.
pub fn shown_ranges() -> &'static [(u32, u32)] {
    table::SHOWN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_of_the_nordic_languages_show_and_emoji_cjk_and_overrides_do_not() {
        for c in "Åsa Öberg, Ærø, Čážšđ Áŋŋá, “citat” 1 234,50 € – §".chars()
        {
            assert!(can_show(c), "{c:?}");
        }
        assert_eq!(
            unshowable("a😀b\u{202E}c漢\u{2066}\u{0007}😀"),
            vec!['😀', '\u{202E}', '漢', '\u{2066}', '\u{0007}']
        );
        assert_eq!(code_points(&['\u{202E}', '😀']), "U+202E, U+1F600");
        assert!(can_show('\n') && can_show('\t') && !can_show('\r'));
    }
}
