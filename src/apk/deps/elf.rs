//! The facts melange's SCA takes from an ELF file: the program interpreter
//! (`PT_INTERP`), the libraries it needs (`DT_NEEDED`), the names it answers
//! to (`DT_SONAME`) and, for Go programs, their build settings.
//!
//! Like Go's `debug/elf`, which melange uses, the dynamic entries come from
//! the first `SHT_DYNAMIC` section and its linked string table; a string that
//! cannot be read is skipped. A file that is not ELF, or whose headers do not
//! parse, is simply not an ELF file for the scan.
//!
//! Files are read through a seek-and-read cache, so a large binary is never
//! loaded whole: only its headers, `PT_INTERP`, the dynamic section and at
//! most 64 KiB where Go keeps its build information.

use std::fs::File;
use std::io::Read;

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, FileKind, ReadCache, ReadRef};

use super::gobuild;

/// What the scan needs from one ELF file. The dynamic-section reads keep
/// their error (as text) because melange stops looking at a file there.
#[derive(Debug)]
pub(super) struct ElfInfo {
    /// `PT_INTERP` without NUL padding; `None` when absent or empty; `Err`
    /// when the segment lies outside the file.
    pub interpreter: Result<Option<String>, String>,
    /// `DT_NEEDED` values in table order.
    pub needed: Result<Vec<String>, String>,
    /// `DT_SONAME` values in table order.
    pub sonames: Result<Vec<String>, String>,
    /// The `build` settings of a Go program, when it is one.
    pub go_settings: Option<Vec<(String, String)>>,
}

/// How much of the Go build-info area is searched (as Go does).
const GO_BUILDINFO_LIMIT: u64 = 64 * 1024;

/// Reads `file`; `None` when it is not an ELF file.
pub(super) fn read(mut file: File) -> Option<ElfInfo> {
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || magic != elf::ELFMAG {
        return None;
    }
    let cache = ReadCache::new(file);
    match FileKind::parse(&cache) {
        Ok(FileKind::Elf32) => parse::<elf::FileHeader32<Endianness>, _>(&cache),
        Ok(FileKind::Elf64) => parse::<elf::FileHeader64<Endianness>, _>(&cache),
        _ => None,
    }
}

fn parse<'data, Elf, R>(data: R) -> Option<ElfInfo>
where
    Elf: FileHeader<Endian = Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segments = header.program_headers(endian, data).ok()?;
    let sections = header.sections(endian, data).ok()?;

    let interpreter = match segments
        .iter()
        .find(|segment| segment.p_type(endian) == elf::PT_INTERP)
    {
        None => Ok(None),
        Some(segment) => match segment.data(endian, data) {
            Err(()) => Err("PT_INTERP segment lies outside the file".to_string()),
            Ok(bytes) => {
                let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
                let end = bytes.iter().rposition(|&b| b != 0).map_or(start, |i| i + 1);
                Ok((start < end).then(|| String::from_utf8_lossy(&bytes[start..end]).into_owned()))
            }
        },
    };

    let dynamic = match sections.dynamic(endian, data) {
        Ok(None) => Ok(None),
        Ok(Some((entries, link))) => sections
            .strings(endian, data, link)
            .map(|strings| Some((entries, strings)))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let values = |tag: elf::DynamicTag| -> Result<Vec<String>, String> {
        let Some((entries, strings)) = dynamic.clone()? else {
            return Ok(Vec::new());
        };
        Ok(entries
            .iter()
            .filter(|entry| entry.tag(endian) == tag)
            .filter_map(|entry| entry.string(endian, strings).ok())
            .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            .collect())
    };

    // Go's debug/buildinfo: the `.go.buildinfo` section, else the first
    // writable, non-executable loadable segment.
    let go_area = match sections.section_by_name(endian, b".go.buildinfo") {
        Some((_, section)) if section.sh_type(endian) != elf::SHT_NOBITS => Some((
            section.sh_offset(endian).into(),
            section.sh_size(endian).into(),
        )),
        _ => segments
            .iter()
            .find(|s| {
                s.p_type(endian) == elf::PT_LOAD
                    && s.p_flags(endian) & (elf::PF_X | elf::PF_W) == elf::PF_W
            })
            .map(|s| (s.p_offset(endian).into(), s.p_filesz(endian).into())),
    };
    let go_settings = go_area.and_then(|(offset, size): (u64, u64)| {
        let available = data.len().ok()?.checked_sub(offset)?;
        let size = size.min(available).min(GO_BUILDINFO_LIMIT);
        let bytes = data.read_bytes_at(offset, size).ok()?;
        gobuild::build_settings(bytes)
    });

    Some(ElfInfo {
        interpreter,
        needed: values(elf::DT_NEEDED),
        sonames: values(elf::DT_SONAME),
        go_settings,
    })
}
