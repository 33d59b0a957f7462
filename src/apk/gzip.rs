//! Gzip members: finding their exact byte ranges in a file (hashes and
//! signatures are over the compressed bytes) and writing them
//! deterministically (no file name, mtime 0, best compression).

use std::io::{self, Read, Write};
use std::ops::Range;

use flate2::bufread::GzDecoder;
use flate2::{Compression, GzBuilder};

use super::ApkError;

/// The decoded content of one gzip member and where it sits in the file.
#[derive(Debug, Clone)]
pub struct Member {
    /// Byte range of the compressed member in the whole file.
    pub range: Range<usize>,
    /// Decompressed content.
    pub content: Vec<u8>,
}

/// Decode the gzip member starting at `start`; returns it with its range.
/// `what` names the member in errors (`signature member`, …).
pub fn read_member(bytes: &[u8], start: usize, what: &str) -> Result<Member, ApkError> {
    let mut content = Vec::new();
    let end = decode_member(bytes, start, what, &mut content)?;
    Ok(Member {
        range: start..end,
        content,
    })
}

/// Decode the member at `start` into `sink`; returns the offset just past it.
pub fn decode_member(
    bytes: &[u8],
    start: usize,
    what: &str,
    sink: &mut impl Write,
) -> Result<usize, ApkError> {
    let input = bytes
        .get(start..)
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| ApkError::malformed(what, "missing (file ends early)"))?;
    let mut decoder = GzDecoder::new(input);
    io::copy(&mut decoder, sink)
        .map_err(|e| ApkError::malformed(what, format!("bad gzip data at byte {start}: {e}")))?;
    Ok(bytes.len() - decoder.into_inner().len())
}

/// A reader over one member that, once drained, tells where the member ends.
pub struct MemberReader<'a> {
    decoder: GzDecoder<&'a [u8]>,
    total: usize,
}

impl<'a> MemberReader<'a> {
    /// Start decoding the member at `start` of `bytes`.
    pub fn new(bytes: &'a [u8], start: usize) -> Self {
        MemberReader {
            decoder: GzDecoder::new(bytes.get(start..).unwrap_or_default()),
            total: bytes.len(),
        }
    }

    /// Read the rest of the member (e.g. padding after tar end blocks) and
    /// return the offset just past it.
    pub fn finish(mut self) -> io::Result<usize> {
        io::copy(&mut self.decoder, &mut io::sink())?;
        let rest = self.decoder.into_inner();
        Ok(self.total - rest.len())
    }
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf)
    }
}

/// A gzip encoder with a deterministic header (mtime 0, no name, OS 255)
/// and level 9, so the same input always gives the same bytes.
pub fn encoder<W: Write>(sink: W) -> flate2::write::GzEncoder<W> {
    GzBuilder::new().mtime(0).write(sink, Compression::best())
}

/// Compress `content` as one deterministic gzip member.
pub fn compress(content: &[u8]) -> Vec<u8> {
    let mut encoder = encoder(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(content);
    encoder.finish().unwrap_or_default()
}

/// A writer that forwards to `inner` while hashing and counting what passes.
pub struct HashingWriter<W, D> {
    /// Where the bytes go.
    pub inner: W,
    /// Digest of every byte written.
    pub digest: D,
    /// Number of bytes written.
    pub written: u64,
}

impl<W: Write, D: sha2::Digest> HashingWriter<W, D> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            digest: D::new(),
            written: 0,
        }
    }
}

impl<W: Write, D: sha2::Digest> Write for HashingWriter<W, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digest.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
