//! A minimal DER walker over borrowed bytes.
//!
//! The `der` types re-sort SET OF on decoding, so a re-encoded SignedAttributes (or a
//! certificate with a multi-valued RDN) need not be the bytes that were signed. Signatures are
//! therefore checked over the bytes exactly as they appear in the file; this module hands them
//! out, and the typed structures are decoded from the individual pieces.

use der::{Decode, Header, Reader, SliceReader, Tag};

/// One tag-length-value element.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tlv<'a> {
    /// The element's tag.
    pub tag: Tag,
    /// Its contents octets.
    pub value: &'a [u8],
    /// Its whole encoding: tag, length and contents.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Reads the first element of `input` and ignores whatever follows (such as the zero padding
    /// of a signature's `/Contents`).
    pub fn first(input: &'a [u8]) -> der::Result<Self> {
        let mut reader = SliceReader::new(input)?;
        read(&mut reader, input)
    }

    /// The elements that make up this element's contents.
    pub fn children(&self) -> der::Result<Vec<Tlv<'a>>> {
        let mut reader = SliceReader::new(self.value)?;
        let mut children = Vec::new();
        while !reader.is_finished() {
            children.push(read(&mut reader, self.value)?);
        }
        Ok(children)
    }

    /// Whether this is the context-specific element `[number]`.
    pub fn is_context(&self, number: u8) -> bool {
        matches!(self.tag, Tag::ContextSpecific { number: n, .. } if n.value() == number)
    }

    /// Decodes the element as the DER type `T`.
    pub fn decode<T: Decode<'a>>(&self) -> der::Result<T> {
        T::from_der(self.raw)
    }
}

fn read<'a>(reader: &mut SliceReader<'a>, input: &'a [u8]) -> der::Result<Tlv<'a>> {
    let start = usize::try_from(reader.position())?;
    let header = Header::decode(reader)?;
    let value = reader.read_slice(header.length)?;
    let end = usize::try_from(reader.position())?;
    let raw = input
        .get(start..end)
        .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
    Ok(Tlv {
        tag: header.tag,
        value,
        raw,
    })
}
