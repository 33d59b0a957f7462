//! The build settings Go embeds in its binaries (what `go version -m`
//! prints as `build` lines), read the way Go's `debug/buildinfo` reads them.
//! melange looks at two: `CGO_ENABLED=1` together with a FIPS crypto
//! `GOEXPERIMENT` means the program loads OpenSSL at run time.
//!
//! The blob starts, 16-byte aligned, with the 14-byte magic
//! `\xff Go buildinf:`, a pointer size byte and a flags byte; from Go 1.18
//! on (flag bit 2) the version and the module information follow the
//! 32-byte header as uvarint-length-prefixed strings. Older binaries store
//! pointers instead and are not read (melange's Go would read them, but
//! they predate every FIPS experiment).

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER: usize = 32;
const ALIGN: usize = 16;
const FLAG_INLINE: u8 = 0x2;

/// The `build` settings in `data` (the start of `.go.buildinfo`, or of the
/// first writable, non-executable segment), in order; `None` when there is
/// no readable Go build information.
pub(super) fn build_settings(data: &[u8]) -> Option<Vec<(String, String)>> {
    let mut from = 0;
    let blob = loop {
        let found = from + find(&data[from..], MAGIC)?;
        if data.len() - found < HEADER {
            return None;
        }
        if found % ALIGN == 0 {
            break &data[found..];
        }
        from = found.div_ceil(ALIGN) * ALIGN;
    };
    if blob[15] & FLAG_INLINE == 0 {
        return None;
    }
    let (_version, rest) = uvarint_string(&blob[HEADER..])?;
    let (module, _) = uvarint_string(rest)?;
    let module = match module.len() >= 33 && module[module.len() - 17] == b'\n' {
        true => &module[16..module.len() - 16],
        false => module,
    };
    let text = std::str::from_utf8(module).ok()?;
    let settings = text
        .lines()
        .filter_map(|line| line.strip_prefix("build\t"))
        .filter_map(|setting| {
            let (key, value) = split_setting(setting)?;
            Some((unquote(key), unquote(value)))
        })
        .collect();
    Some(settings)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A uvarint length, then that many bytes; returns them and what follows.
fn uvarint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    for (i, &b) in data.iter().enumerate().take(10) {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return Some((data.get(start..end)?, &data[end..]));
        }
    }
    None
}

/// `key=value`, where a quoted key may itself contain `=`.
fn split_setting(setting: &str) -> Option<(&str, &str)> {
    if let Some(rest) = setting.strip_prefix('"') {
        let end = rest.find('"')? + 2;
        let value = setting[end..].strip_prefix('=')?;
        return Some((&setting[..end], value));
    }
    setting.split_once('=')
}

/// Removes Go `strconv.Quote` quoting (the escapes build settings use).
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
/// A Go 1.18+ build-info blob with `settings` as `build` lines.
pub(super) fn test_blob(settings: &[&str]) -> Vec<u8> {
    let mut module = vec![0x30; 16];
    module.extend_from_slice(b"path\texample.com/tool\nmod\texample.com/tool\t(devel)\t\n");
    for s in settings {
        module.extend_from_slice(format!("build\t{s}\n").as_bytes());
    }
    module.extend_from_slice(&[0xf9; 16]);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[8, FLAG_INLINE]);
    out.resize(HEADER, 0);
    for part in [b"go1.22.0".as_slice(), &module] {
        let mut len = part.len();
        while len >= 0x80 {
            out.push((len as u8) | 0x80);
            len >>= 7;
        }
        out.push(len as u8);
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_build_settings() {
        let data = test_blob(&[
            "CGO_ENABLED=1",
            "GOEXPERIMENT=boringcrypto",
            "-ldflags=\"-s -w\"",
        ]);
        let mut padded = vec![0u8; 48];
        padded.extend_from_slice(&data);
        let got = build_settings(&padded).unwrap();
        let want = [
            ("CGO_ENABLED", "1"),
            ("GOEXPERIMENT", "boringcrypto"),
            ("-ldflags", "-s -w"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn misaligned_truncated_and_old_blobs() {
        let data = test_blob(&["CGO_ENABLED=1"]);
        let mut misaligned = vec![0u8; 3];
        misaligned.extend_from_slice(&data);
        assert_eq!(build_settings(&misaligned), None);
        assert_eq!(build_settings(&data[..40]), None);
        assert_eq!(build_settings(&data[..HEADER - 1]), None);
        let mut old = data.clone();
        old[15] = 0;
        assert_eq!(build_settings(&old), None);
        assert_eq!(build_settings(b""), None);
    }
}
