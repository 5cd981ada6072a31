//! Uploaded files as data: what a file is, judged by its content (magic bytes) and never by
//! its name or the browser's word; what a field's `accept` list allows; and a file name made
//! safe to show, store and send in a header.

/// The file types Blankett recognises by content: MIME type and the extensions a flow's
/// `accept` may name for it.
pub const KNOWN_TYPES: &[(&str, &[&str])] = &[
    ("application/pdf", &[".pdf"]),
    ("image/png", &[".png"]),
    ("image/jpeg", &[".jpg", ".jpeg"]),
    ("image/gif", &[".gif"]),
    ("image/webp", &[".webp"]),
    ("image/tiff", &[".tif", ".tiff"]),
    ("text/plain", &[".txt", ".csv"]),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &[".docx"],
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &[".xlsx"],
    ),
    ("application/vnd.oasis.opendocument.text", &[".odt"]),
    ("application/vnd.oasis.opendocument.spreadsheet", &[".ods"]),
];

/// What a file is when its content is none of [`KNOWN_TYPES`].
pub const UNKNOWN_TYPE: &str = "application/octet-stream";

/// How many leading bytes [`sniff`] reads (a zip's first entry names are within them).
pub const SNIFF_BYTES: usize = 8192;

/// The type of a file judged by its first bytes (at most [`SNIFF_BYTES`] are looked at).
/// `text/plain` is UTF-8 without NUL or other control characters than tab and line breaks.
pub fn sniff(bytes: &[u8]) -> &'static str {
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    // A PDF's header may follow up to 1024 bytes of junk (ISO 32000-1, 7.5.2, and readers
    // accept it); anything else must start at the first byte.
    if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
        return "application/pdf";
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    if head.starts_with(b"\xff\xd8\xff") {
        return "image/jpeg";
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return "image/gif";
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        return "image/webp";
    }
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        return "image/tiff";
    }
    if head.starts_with(b"PK\x03\x04") {
        // OpenDocument stores `mimetype` first and uncompressed (ODF 1.2, part 3, 3.3).
        if head.len() > 38 && &head[30..38] == b"mimetype" {
            let rest = &head[38..];
            if rest.starts_with(b"application/vnd.oasis.opendocument.text") {
                return "application/vnd.oasis.opendocument.text";
            }
            if rest.starts_with(b"application/vnd.oasis.opendocument.spreadsheet") {
                return "application/vnd.oasis.opendocument.spreadsheet";
            }
        }
        // Office Open XML: the part names are in the local headers, uncompressed.
        if find(head, b"word/").is_some() {
            return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
        }
        if find(head, b"xl/").is_some() {
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        }
        return UNKNOWN_TYPE;
    }
    if !head.is_empty() && is_text(head, bytes.len() > head.len()) {
        return "text/plain";
    }
    UNKNOWN_TYPE
}

fn is_text(head: &[u8], truncated: bool) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A multi-byte character cut at the end of the head is fine.
        Err(e) if truncated && e.error_len().is_none() => {
            match std::str::from_utf8(&head[..e.valid_up_to()]) {
                Ok(t) => t,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    !text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The MIME type an `accept` entry stands for: itself (`application/pdf`, `image/*`), or the
/// type of an extension (`.pdf`). `None` for an entry Blankett cannot recognise by content.
pub fn accept_type(entry: &str) -> Option<String> {
    let e = entry.trim().to_ascii_lowercase();
    if e.starts_with('.') {
        return KNOWN_TYPES
            .iter()
            .find(|(_, exts)| exts.contains(&e.as_str()))
            .map(|(t, _)| (*t).to_owned());
    }
    if let Some(major) = e.strip_suffix("/*") {
        return KNOWN_TYPES
            .iter()
            .any(|(t, _)| t.split('/').next() == Some(major))
            .then_some(e);
    }
    KNOWN_TYPES.iter().any(|(t, _)| *t == e).then_some(e)
}

/// Whether a file whose content is `content_type` is allowed by `accept` (empty: any type
/// Blankett recognises, and also unrecognised content).
pub fn accepts(accept: &[String], content_type: &str) -> bool {
    if accept.is_empty() {
        return true;
    }
    accept
        .iter()
        .filter_map(|a| accept_type(a))
        .any(|a| match a.strip_suffix("/*") {
            Some(major) => content_type.split('/').next() == Some(major),
            None => a.eq_ignore_ascii_case(content_type),
        })
}

/// Longest file name kept, in characters (the extension is kept when it is cut).
pub const MAX_NAME_CHARS: usize = 120;

/// A file name as the person gave it, made safe: only the last path segment (`/` and `\`),
/// no control or bidirectional-override characters, no leading dots or trailing dots and
/// spaces, at most [`MAX_NAME_CHARS`] characters; `fil` if nothing is left. The result never
/// names a directory and can be shown, logged in a case and put in a quoted header value.
pub fn safe_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                && !matches!(c, '"' | ':' | '*' | '?' | '<' | '>' | '|')
        })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let mut name: String = trimmed.to_owned();
    if name.chars().count() > MAX_NAME_CHARS {
        let ext = name
            .rfind('.')
            .map(|i| name[i..].to_owned())
            .filter(|e| e.chars().count() <= 10)
            .unwrap_or_default();
        let keep = MAX_NAME_CHARS - ext.chars().count();
        name = name.chars().take(keep).collect::<String>() + &ext;
    }
    if name.is_empty() {
        "fil".to_owned()
    } else {
        name
    }
}

/// Whether a name as given is a plain file name: no path separator, no `..` alone, no
/// control or bidirectional-override characters, at most twice [`MAX_NAME_CHARS`]
/// characters (longer names are cut by [`safe_name`]).
pub fn plain_name(raw: &str) -> bool {
    !raw.contains(['/', '\\'])
        && raw.trim() != ".."
        && raw.chars().count() <= MAX_NAME_CHARS * 2
        && !raw.chars().any(|c| {
            c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
}

/// A size for people: `532 B`, `14 kB`, `2,4 MB` (Swedish decimal comma) or `2.4 MB`.
pub fn display_size(bytes: u64, en: bool) -> String {
    let (value, unit) = if bytes < 1000 {
        return format!("{bytes} B");
    } else if bytes < 1_000_000 {
        (bytes as f64 / 1000.0, "kB")
    } else {
        (bytes as f64 / 1_000_000.0, "MB")
    };
    let text = if value < 10.0 && (value * 10.0).round() % 10.0 != 0.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    };
    let text = if en { text } else { text.replace('.', ",") };
    format!("{text} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_decides_the_type_not_the_name() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), "image/jpeg");
        assert_eq!(sniff(b"Kvitto 2026-12-01\n123,50 kr\n"), "text/plain");
        assert_eq!(sniff(b"MZ\x90\0\x03\0\0\0"), UNKNOWN_TYPE);
        assert_eq!(sniff(b""), UNKNOWN_TYPE);
        assert_eq!(sniff(b"text\0with nul"), UNKNOWN_TYPE);
        let mut odt = b"PK\x03\x04".to_vec();
        odt.resize(30, 0);
        odt.extend_from_slice(b"mimetypeapplication/vnd.oasis.opendocument.text");
        assert_eq!(sniff(&odt), "application/vnd.oasis.opendocument.text");
        let mut docx = b"PK\x03\x04".to_vec();
        docx.extend_from_slice(&[0; 26]);
        docx.extend_from_slice(b"[Content_Types].xml....word/document.xml");
        assert_eq!(
            sniff(&docx),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        // A cut multi-byte character at the end of the sniffed head is still text.
        let mut long = "å".repeat(SNIFF_BYTES);
        long.push('x');
        assert_eq!(sniff(&long.as_bytes()[..SNIFF_BYTES + 1]), "text/plain");
    }

    #[test]
    fn accept_lists_are_read_as_types() {
        let pdf = vec![".pdf".to_owned()];
        assert!(accepts(&pdf, "application/pdf"));
        assert!(!accepts(&pdf, "image/png"));
        assert!(!accepts(&pdf, UNKNOWN_TYPE));
        let images = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(accepts(&images, "image/jpeg"));
        assert!(accepts(&images, "application/pdf"));
        assert!(!accepts(&images, "text/plain"));
        assert!(accepts(&[], UNKNOWN_TYPE));
        assert_eq!(accept_type(".exe"), None);
        assert_eq!(accept_type("application/x-msdownload"), None);
        assert_eq!(accept_type(".JPG").as_deref(), Some("image/jpeg"));
    }

    #[test]
    fn file_names_never_name_a_path_or_break_a_header() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\x\\kvitto.pdf"), "kvitto.pdf");
        assert_eq!(safe_name(".."), "fil");
        assert_eq!(safe_name(""), "fil");
        assert_eq!(safe_name("a\r\nSet-Cookie: x.pdf"), "aSet-Cookie x.pdf");
        assert_eq!(safe_name("evil\u{202e}fdp.exe"), "evilfdp.exe");
        assert_eq!(safe_name("\"quoted\".pdf"), "quoted.pdf");
        assert_eq!(safe_name(" .hidden. "), "hidden");
        let long = format!("{}.pdf", "x".repeat(500));
        let cut = safe_name(&long);
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.ends_with(".pdf"));
        assert_eq!(
            safe_name("Årsredovisning 2026.pdf"),
            "Årsredovisning 2026.pdf"
        );
    }

    #[test]
    fn sizes_are_shown_for_people() {
        assert_eq!(display_size(532, false), "532 B");
        assert_eq!(display_size(14_200, false), "14 kB");
        assert_eq!(display_size(2_400_000, false), "2,4 MB");
        assert_eq!(display_size(2_400_000, true), "2.4 MB");
        assert_eq!(display_size(5_000_000, false), "5 MB");
        assert_eq!(display_size(10 * 1024 * 1024, false), "10 MB");
    }
}
