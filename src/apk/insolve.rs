//! The in-solve repository of target `test`: the packages a build made,
//! opened from the index its packaging step wrote, and resolution around
//! names no repository provides. Pure.
//!
//! The index is trusted without a signature because the same solve wrote
//! it (the build may be unsigned); only this repository gets that trust,
//! every configured one is still checked ([`super::repository::open_index`]).
//! A test environment is installed on an image (`melange-test-environment`
//! or the build's), which may well hold what a built package needs
//! (`so:libc.so.6` on a Debian image): such a dependency, provided by no
//! repository, is dropped from the records and the world and left to the
//! image, and the caller warns naming it.

use std::collections::{BTreeSet, HashSet};

use super::repository::{OpenedIndex, RepositoryRef, Trust};
use super::{ApkError, ApkIndex, Dependency, Provide};

/// Open the index of the packages this build made (`bytes`, the packaging
/// step's `APKINDEX.tar.gz`) as the repository named `location`.
pub fn open_built_index(location: &str, bytes: &[u8], arch: &str) -> Result<OpenedIndex, ApkError> {
    let index = ApkIndex::parse(bytes)?;
    let total = index.records.len();
    let records: Vec<_> = index
        .records
        .into_iter()
        .filter(|r| r.arch.is_empty() || r.arch == arch || r.arch == "noarch")
        .collect();
    Ok(OpenedIndex {
        repository: RepositoryRef {
            tag: None,
            location: location.to_string(),
        },
        trust: Trust::Built,
        description: index.description,
        other_arch: total - records.len(),
        records,
    })
}

/// Drop every dependency (of a record, or a world atom) on a name that no
/// record of `indexes` is or provides; returns those names, sorted.
/// Conflicts (`!name`) stay: they hold trivially.
pub fn drop_unprovided(indexes: &mut [OpenedIndex], world: &mut Vec<String>) -> Vec<String> {
    let mut provided: HashSet<String> = HashSet::new();
    for record in indexes.iter().flat_map(|i| i.records.iter()) {
        provided.insert(record.name.clone());
        for provide in &record.provides {
            if let Ok(provide) = Provide::parse(provide) {
                provided.insert(provide.name);
            }
        }
    }
    let mut missing = BTreeSet::new();
    let mut keep = |parsed: Result<Dependency, _>| match parsed {
        Ok(dep) if !dep.conflict && !provided.contains(&dep.name) => {
            missing.insert(dep.name);
            false
        }
        // An atom that does not parse is left for the resolver to report.
        _ => true,
    };
    for record in indexes.iter_mut().flat_map(|i| i.records.iter_mut()) {
        record
            .depends
            .retain(|atom| keep(Dependency::parse_index(atom)));
    }
    world.retain(|atom| keep(Dependency::parse(atom)));
    missing.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apk::index::parse_records;

    fn index(text: &str) -> OpenedIndex {
        OpenedIndex {
            repository: RepositoryRef::parse("./r").unwrap(),
            trust: Trust::Built,
            description: String::new(),
            records: parse_records(text).unwrap(),
            other_arch: 0,
        }
    }

    #[test]
    fn names_nobody_provides_are_left_out_and_named() {
        let mut indexes = [
            index(
                "C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=\nP:hello\nV:1-r0\nD:so:libc.so.6 lib>=2 !old\n\n",
            ),
            index("C:Q1bbbbbbbbbbbbbbbbbbbbbbbbbbb=\nP:libfoo\nV:2-r0\np:lib=2 so:libfoo.so.1\n\n"),
        ];
        let mut world = vec![
            "hello".to_string(),
            "apk-tools".into(),
            "so:libfoo.so.1".into(),
        ];
        let missing = drop_unprovided(&mut indexes, &mut world);
        assert_eq!(missing, ["apk-tools", "so:libc.so.6"]);
        assert_eq!(indexes[0].records[0].depends, ["lib>=2", "!old"]);
        assert_eq!(world, ["hello", "so:libfoo.so.1"]);
        // Nothing missing: nothing changes.
        assert!(drop_unprovided(&mut indexes, &mut world).is_empty());
    }
}
