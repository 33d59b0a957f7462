//! The solver's view of the repositories: interned names, packages with
//! parsed dependency fields, who provides each name and which names depend
//! on it. Built once per resolution; every list here is in input order
//! (repository order, then index order), which makes the solver's walk,
//! and so its result, deterministic.

use std::collections::HashMap;

use super::{Repository, ResolveError};
use crate::apk::constraint::{Dependency, Provide};
use crate::apk::IndexRecord;

pub(super) type NameId = usize;
pub(super) type PkgId = usize;

/// At most this many repositories: repository sets and pinning sets (one
/// bit per tag, plus the untagged set) are 64-bit masks. apk-tools allows
/// fewer.
pub(super) const MAX_REPOSITORIES: usize = 63;

/// A package (or virtual) name.
pub(super) struct Name {
    pub text: String,
    /// Packages answering to this name, by their own name or a provide.
    pub providers: Vec<Provider>,
    /// Names some provider of which depends on this name.
    pub rdepends: Vec<NameId>,
    /// Names some provider of which has this name in its install_if.
    pub rinstall_if: Vec<NameId>,
    /// Some package of this very name provides it (not only provides of
    /// other packages): such names are decided before purely virtual ones.
    pub has_real: bool,
}

/// One way a package answers to a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Provider {
    pub pkg: PkgId,
    /// None: the package's own name; Some(i): its i-th provide.
    pub provide: Option<usize>,
}

/// A dependency atom with its name interned.
pub(super) struct Dep {
    pub name: NameId,
    pub dep: Dependency,
}

/// One package (identical packages in several repositories are one).
pub(super) struct Pkg<'a> {
    pub record: &'a IndexRecord,
    /// Where it was first found.
    pub repository: usize,
    pub index: usize,
    /// Every repository holding it, as a bit set.
    pub repos: u64,
    pub name: NameId,
    pub depends: Vec<Dep>,
    pub provides: Vec<(NameId, Provide)>,
    pub install_if: Vec<Dep>,
    pub replaces: Vec<Dep>,
    /// Names whose install_if may be completed by this package: the
    /// reverse install_if links of its own name, then of each provide.
    pub rinstall_if: Vec<NameId>,
    /// Why apk-tools would never install it (an unreadable `D:`, an unknown
    /// upper-case index field).
    pub broken: Option<String>,
}

/// A repository tag: index 0 is the untagged (main) set.
pub(super) struct Tag {
    pub name: Option<String>,
    pub repos: u64,
}

pub(super) struct Db<'a> {
    pub names: Vec<Name>,
    pub pkgs: Vec<Pkg<'a>>,
    pub tags: Vec<Tag>,
    /// The world, sorted by name as apk sorts it, with each atom's tag index.
    pub world: Vec<(Dep, usize)>,
    lookup: HashMap<String, NameId>,
}

impl<'a> Db<'a> {
    pub fn build(
        repositories: &[Repository<'a>],
        world: &[Dependency],
    ) -> Result<Db<'a>, ResolveError> {
        if repositories.len() > MAX_REPOSITORIES {
            return Err(ResolveError::TooManyRepositories(repositories.len()));
        }
        let mut db = Db {
            names: Vec::new(),
            pkgs: Vec::new(),
            tags: vec![Tag {
                name: None,
                repos: 0,
            }],
            world: Vec::new(),
            lookup: HashMap::new(),
        };
        let mut by_checksum: HashMap<Vec<u8>, PkgId> = HashMap::new();
        for (r, repo) in repositories.iter().enumerate() {
            let tag = db.tag_index(repo.tag);
            db.tags[tag].repos |= 1 << r;
            for (i, record) in repo.records.iter().enumerate() {
                if record.name.is_empty() || record.version.is_empty() {
                    return Err(ResolveError::InvalidRecord {
                        repository: r,
                        record: i,
                        reason: "no P: (name) or V: (version)".into(),
                    });
                }
                if let Some(key) = checksum_key(&record.checksum) {
                    if let Some(&pkg) = by_checksum.get(&key) {
                        db.pkgs[pkg].repos |= 1 << r;
                        continue;
                    }
                    by_checksum.insert(key, db.pkgs.len());
                }
                db.add_package(record, r, i);
            }
        }
        db.link();
        for dep in world {
            let tag = match &dep.tag {
                None => 0,
                Some(tag) => db
                    .tags
                    .iter()
                    .position(|t| t.name.as_deref() == Some(tag))
                    .ok_or_else(|| ResolveError::UnknownTag {
                        dependency: dep.to_string(),
                        tag: tag.clone(),
                    })?,
            };
            let name = db.intern(&dep.name);
            let dep = dep.clone();
            db.world.push((Dep { name, dep }, tag));
        }
        db.world.sort_by(|a, b| a.0.dep.name.cmp(&b.0.dep.name));
        Ok(db)
    }

    fn tag_index(&mut self, tag: Option<&str>) -> usize {
        match self.tags.iter().position(|t| t.name.as_deref() == tag) {
            Some(i) => i,
            None => {
                self.tags.push(Tag {
                    name: tag.map(str::to_string),
                    repos: 0,
                });
                self.tags.len() - 1
            }
        }
    }

    /// The id of a name, creating it (without providers) when new.
    pub fn intern(&mut self, text: &str) -> NameId {
        if let Some(&id) = self.lookup.get(text) {
            return id;
        }
        let id = self.names.len();
        self.names.push(Name {
            text: text.to_string(),
            providers: Vec::new(),
            rdepends: Vec::new(),
            rinstall_if: Vec::new(),
            has_real: false,
        });
        self.lookup.insert(text.to_string(), id);
        id
    }

    /// Parse a dependency field the way apk reads an index: `Err` with the
    /// first unreadable atom.
    fn deps(&mut self, words: &[String]) -> Result<Vec<Dep>, String> {
        words
            .iter()
            .map(|w| {
                let dep = Dependency::parse_index(w).map_err(|e| e.to_string())?;
                Ok(Dep {
                    name: self.intern(&dep.name),
                    dep,
                })
            })
            .collect()
    }

    fn add_package(&mut self, record: &'a IndexRecord, repository: usize, index: usize) {
        let id = self.pkgs.len();
        let name = self.intern(&record.name);
        // As apk: an unreadable D: makes the package uninstallable, an
        // unreadable i: disables install_if, unreadable p: entries are dropped.
        let (depends, mut broken) = match self.deps(&record.depends) {
            Ok(deps) => (deps, None),
            Err(e) => (Vec::new(), Some(format!("D: {e}"))),
        };
        // An unknown upper-case field is a format this apk does not know
        // how to install (lower-case ones are informational).
        if let Some((key, _)) = record.other.iter().find(|(k, _)| k.is_ascii_uppercase()) {
            broken.get_or_insert_with(|| format!("unknown index field {key}:"));
        }
        let install_if = self.deps(&record.install_if).unwrap_or_default();
        let replaces = record
            .replaces
            .iter()
            .filter_map(|w| Dependency::parse_index(w).ok())
            .map(|dep| Dep {
                name: self.intern(&dep.name),
                dep,
            })
            .collect();
        let provides: Vec<(NameId, Provide)> = record
            .provides
            .iter()
            .filter_map(|w| Provide::parse(w).ok())
            .map(|p| (self.intern(&p.name), p))
            .collect();
        self.names[name].providers.push(Provider {
            pkg: id,
            provide: None,
        });
        for (i, (pname, _)) in provides.iter().enumerate() {
            self.names[*pname].providers.push(Provider {
                pkg: id,
                provide: Some(i),
            });
        }
        self.pkgs.push(Pkg {
            record,
            repository,
            index,
            repos: 1 << repository,
            name,
            depends,
            provides,
            install_if,
            replaces,
            rinstall_if: Vec::new(),
            broken,
        });
    }

    /// Reverse maps, built as apk builds them: package by package in load
    /// order, each dependent name once. Their order is the order the solver
    /// re-examines names and the error report lists requirers.
    fn link(&mut self) {
        let mut seen_dep = std::collections::HashSet::new();
        let mut seen_iif = std::collections::HashSet::new();
        for pkg in 0..self.pkgs.len() {
            let owner = self.pkgs[pkg].name;
            self.names[owner].has_real = true;
            for d in 0..self.pkgs[pkg].depends.len() {
                let target = self.pkgs[pkg].depends[d].name;
                if seen_dep.insert((target, owner)) {
                    self.names[target].rdepends.push(owner);
                }
            }
            for d in 0..self.pkgs[pkg].install_if.len() {
                let target = self.pkgs[pkg].install_if[d].name;
                if seen_iif.insert((target, owner)) {
                    self.names[target].rinstall_if.push(owner);
                }
            }
        }
        for pkg in 0..self.pkgs.len() {
            let p = &self.pkgs[pkg];
            let own = std::iter::once(p.name).chain(p.provides.iter().map(|(n, _)| *n));
            let all: Vec<NameId> = own
                .flat_map(|n| self.names[n].rinstall_if.iter().copied())
                .collect();
            self.pkgs[pkg].rinstall_if = all;
        }
    }

    /// The version a provider offers for its name; None for an unversioned
    /// provide.
    pub fn provider_version(&self, p: Provider) -> Option<&str> {
        let pkg = &self.pkgs[p.pkg];
        match p.provide {
            None => Some(&pkg.record.version),
            Some(i) => pkg.provides.get(i).and_then(|(_, p)| p.version.as_deref()),
        }
    }

    /// Repositories of the tags in a pinning mask.
    pub fn tag_repos(&self, mask: u64) -> u64 {
        self.tags
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .fold(0, |repos, (_, t)| repos | t.repos)
    }

    /// Whether `p` may be chosen without being asked for by name: a
    /// versioned provider, one with a provider priority, or a package whose
    /// own name is required (apk 2.12.10: a virtual name is never settled
    /// by an unversioned, unprioritised provide, even a single one).
    pub fn auto_selectable(&self, p: Provider, own_name_required: bool) -> bool {
        self.provider_version(p).is_some()
            || self.pkgs[p.pkg].record.provider_priority > 0
            || own_name_required
    }

    /// `name-version` of a package, as apk prints it.
    pub fn pkg_label(&self, pkg: PkgId) -> String {
        let record = self.pkgs[pkg].record;
        format!("{}-{}", record.name, record.version)
    }
}

/// What identifies a package, as apk: the decoded bytes of its `C:`
/// checksum (`Q1` + base64 SHA-1, or hex MD5), so two spellings of the same
/// bytes are one package; the text itself when it decodes as neither; None
/// without a checksum.
pub(super) fn checksum_key(text: &str) -> Option<Vec<u8>> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    use base64::Engine as _;
    if text.is_empty() {
        return None;
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let decoded = match text.strip_prefix("Q1") {
        Some(b64) => LENIENT.decode(b64).ok(),
        None if text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()) => (0..text
            .len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect(),
        None => None,
    };
    Some(decoded.unwrap_or_else(|| text.as_bytes().to_vec()))
}
