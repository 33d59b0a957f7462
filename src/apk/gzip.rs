//! Gzip members: finding their exact byte ranges in a file (hashes and
//! signatures are over the compressed bytes) and writing them
//! deterministically (no file name, mtime 0, input fed to the compressor in
//! fixed pieces).
//!
//! The backend is flate2 over zlib-rs (a Rust port of zlib-ng): at level 6
//! it compresses ~1.6x faster than `gzip -6` and than flate2's default
//! miniz_oxide, with output as small. Its match finder's hash is the same
//! scalar function on every CPU (SIMD only speeds up comparisons that give
//! the same lengths), so members do not depend on the machine either.

use std::io::{self, Read, Write};
use std::ops::Range;

use flate2::bufread::GzDecoder;
use flate2::Crc;

use super::deflate::{Blocks, BLOCK, DICT};
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

/// Compression level of the data member: gzip's default, so packaging
/// costs about what `tar | gzip -6` costs (level 9 was ~2x slower for ~1%
/// smaller packages).
pub const DATA_LEVEL: u32 = 6;

/// Compression level of the small members (control, signature, index):
/// they are a few KiB, so the best compression costs nothing.
pub const SMALL_LEVEL: u32 = 9;

/// gzip member header: no name, mtime 0, OS 255 ("unknown"); XFL (byte 8)
/// is set per level by [`GzipWriter::new`], as `gzip` and flate2 do.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A deterministic gzip member writer: the same bytes in give the same
/// member out whatever the write sizes and the number of threads (blocks
/// cut at fixed offsets, see [`deflate`](super::deflate)). Raw deflate from
/// flate2's zlib-rs backend, with the header and the CRC-32/size trailer
/// written here. Call [`finish`](GzipWriter::finish) to complete it.
pub struct GzipWriter<W: Write> {
    inner: W,
    crc: Crc,
    blocks: Blocks,
    /// Input of the block being filled (less than [`BLOCK`]).
    pending: Vec<u8>,
    /// The last [`DICT`] bytes of the previous block.
    dict: Vec<u8>,
    header: Option<[u8; 10]>,
}

impl<W: Write> GzipWriter<W> {
    /// Start a member at `level` (0–9) written to `inner`, on this thread.
    pub fn new(inner: W, level: u32) -> Self {
        GzipWriter::with_threads(inner, level, 1)
    }

    /// [`new`](Self::new) compressing on `threads` worker threads (1: none);
    /// the bytes written are the same for any number.
    pub fn with_threads(inner: W, level: u32, threads: usize) -> Self {
        let level = level.min(9);
        let mut header = HEADER;
        header[8] = match level {
            9 => 2,
            0 | 1 => 4,
            _ => 0,
        };
        GzipWriter {
            inner,
            crc: Crc::new(),
            blocks: Blocks::new(level, threads),
            pending: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            header: Some(header),
        }
    }

    /// Hand the pending block to the compressor; write what is finished.
    fn push_block(&mut self, last: bool) -> io::Result<()> {
        let input = std::mem::replace(&mut self.pending, Vec::with_capacity(BLOCK));
        let next_dict = input[input.len().saturating_sub(DICT)..].to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        self.blocks.push(dict, input, last)?;
        self.write_ready(last)
    }

    fn write_ready(&mut self, all: bool) -> io::Result<()> {
        if let Some(header) = self.header.take() {
            self.inner.write_all(&header)?;
        }
        for block in self.blocks.ready(all)? {
            self.inner.write_all(&block)?;
        }
        Ok(())
    }

    /// Compress what is left, write the trailer and return the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.push_block(true)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        // ISIZE: the input length modulo 2^32, as gzip defines it.
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let len = buf.len();
        self.crc.update(buf);
        while !buf.is_empty() {
            let take = (BLOCK - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() == BLOCK {
                self.push_block(false)?;
            }
        }
        Ok(len)
    }

    /// Writes out what is already compressed; pending input stays pending
    /// (flushing it would change the bytes).
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compress `content` as one deterministic gzip member ([`SMALL_LEVEL`]).
pub fn compress(content: &[u8]) -> Vec<u8> {
    let mut encoder = GzipWriter::new(Vec::new(), SMALL_LEVEL);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Mixed input: text runs, a pseudo-random stretch, zeros.
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        let mut x: u32 = 1;
        for i in 0..40_000u32 {
            out.extend_from_slice(format!("line {} of {}\n", i % 97, i % 13).as_bytes());
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            out.extend_from_slice(&x.to_le_bytes()[..(i % 4) as usize]);
        }
        out.extend(std::iter::repeat_n(0u8, 700_000));
        out
    }

    fn member(content: &[u8], piece: usize, level: u32) -> Vec<u8> {
        let mut writer = GzipWriter::new(Vec::new(), level);
        for part in content.chunks(piece) {
            writer.write_all(part).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn output_does_not_depend_on_write_sizes_or_threads() {
        let content = sample();
        assert!(content.len() > 2 * BLOCK);
        let whole = member(&content, content.len(), DATA_LEVEL);
        for piece in [1, 511, 4093, BLOCK - 1, BLOCK, BLOCK + 1, 3 << 20] {
            assert!(
                member(&content, piece, DATA_LEVEL) == whole,
                "piece {piece}"
            );
        }
        for threads in [2, 3, 8] {
            let mut writer = GzipWriter::with_threads(Vec::new(), DATA_LEVEL, threads);
            for part in content.chunks(100_000) {
                writer.write_all(part).unwrap();
            }
            assert!(writer.finish().unwrap() == whole, "{threads} threads");
        }
        let decoded = read_member(&whole, 0, "data").unwrap();
        assert_eq!(decoded.range, 0..whole.len());
        assert!(decoded.content == content);
        assert_eq!(&whole[..10], b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff");
    }

    #[test]
    fn empty_and_small_members_are_valid_gzip() {
        for content in [&b""[..], b"x", b"hello hello hello hello"] {
            let bytes = compress(content);
            assert_eq!(bytes[8], 2, "XFL for level 9");
            let decoded = read_member(&bytes, 0, "m").unwrap();
            assert_eq!(decoded.content, content);
            assert_eq!(decoded.range.end, bytes.len());
        }
    }
}
