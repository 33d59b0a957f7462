//! Zip archives for `extract`, with the tar path's rules: members named
//! with absolute paths or `..` are refused (not renamed, as a sanitizing
//! unzip would), symbolic links must point inside the tree, nothing is
//! written through a link, and `--strip-components` drops leading folders.
//! Deterministic: file modes come from the archive's Unix attributes and
//! modification times from its DOS timestamps (read as UTC), never from
//! the clock.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{check_link, member_path, no_symlink_between, set_mode, symlink};

/// Longest symbolic link target read from an archive.
const MAX_LINK: u64 = 4096;

/// Unpack the zip `file` into `into`; returns how many members were written.
pub(super) fn unpack_zip(
    file: &Path,
    into: &Path,
    strip: u32,
    root: &Path,
) -> Result<usize, String> {
    let input = File::open(file).map_err(|e| e.to_string())?;
    let mut archive =
        zip::ZipArchive::new(BufReader::new(input)).map_err(|e| format!("zip: {e}"))?;
    let mut written = 0;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|e| format!("zip: {e}"))?;
        let raw = PathBuf::from(entry.name());
        let Some(relative) = member_path(&raw, strip)? else {
            continue;
        };
        let target = into.join(&relative);
        no_symlink_between(root, &target, &raw)?;
        let failed = |e: io::Error| format!("{}: {e}", raw.display());
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(failed)?;
            if let Some(mode) = entry.unix_mode() {
                set_mode(&target, mode | 0o700);
            }
            written += 1;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(failed)?;
        }
        if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&target).map_err(failed)?;
        }
        if entry.is_symlink() {
            let mut link = Vec::new();
            (&mut entry)
                .take(MAX_LINK + 1)
                .read_to_end(&mut link)
                .map_err(failed)?;
            if link.len() as u64 > MAX_LINK || link.is_empty() {
                return Err(format!(
                    "member {}: symbolic link target empty or longer than {MAX_LINK} bytes",
                    raw.display()
                ));
            }
            let link = PathBuf::from(String::from_utf8_lossy(&link).into_owned());
            check_link(&raw, &relative, &link, false, strip)?;
            symlink(&link, &target).map_err(failed)?;
            written += 1;
            continue;
        }
        let mut output = File::create(&target).map_err(failed)?;
        io::copy(&mut entry, &mut output).map_err(failed)?;
        drop(output);
        set_mode(&target, entry.unix_mode().unwrap_or(0o644));
        if let Some(time) = entry.last_modified() {
            let seconds = unix_seconds(
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute(),
                time.second(),
            );
            filetime::set_file_mtime(&target, filetime::FileTime::from_unix_time(seconds, 0))
                .map_err(failed)?;
        }
        written += 1;
    }
    Ok(written)
}

/// Seconds since 1970 of a civil UTC date and time (proleptic Gregorian;
/// Howard Hinnant's days-from-civil).
fn unix_seconds(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> i64 {
    let (month, day) = (i64::from(month.clamp(1, 12)), i64::from(day.max(1)));
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + i64::from(hour) * 3_600 + i64::from(minute) * 60 + i64::from(second)
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn civil_times_become_unix_seconds() {
        assert_eq!(unix_seconds(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(unix_seconds(1980, 1, 1, 0, 0, 0), 315_532_800);
        assert_eq!(unix_seconds(2000, 2, 29, 12, 30, 15), 951_827_415);
        assert_eq!(unix_seconds(2023, 11, 14, 22, 13, 20), 1_700_000_000);
    }
}
