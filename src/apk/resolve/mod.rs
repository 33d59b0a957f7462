//! Dependency resolution with apk-tools' semantics, offline and pure: from
//! parsed repository indexes and a world (the packages asked for), the
//! packages to install, in install order, or an apk-style explanation of
//! why that is impossible.
//!
//! What it honours, as apk does: versioned and unversioned provides
//! (`p:`), provider priority (`k:`), tagged repositories (packages from a
//! repository tagged `@tag` only for `name@tag` world atoms and what they
//! pull in), install_if (`i:`: a package joins when all its triggers are
//! installed), conflicts (`!name`), version operators including fuzzy `~`
//! and checksum `><`, and replaces (`r:`), reported with the result for
//! the installer's file-conflict handling. The algorithm is apk-tools'
//! greedy propagating solver (see `solver.rs` for the decision order and
//! candidate preference, including the tie-break); `order.rs` gives the
//! install order.
//!
//! The environment builder calls [`resolve`] with one [`Repository`] per
//! configured repository (in configuration order: earlier ones win ties)
//! holding the records of its verified `APKINDEX` for the target
//! architecture, and the world parsed with
//! [`Dependency::parse`](crate::apk::Dependency::parse). Each [`Selected`]
//! names the repository and record to fetch
//! (`<repo>/<arch>/<name>-<version>.apk`, checked against `C:`).

mod db;
mod decide;
mod explain;
mod order;
mod solver;

#[cfg(test)]
mod cases;

#[cfg(test)]
mod tests;

use super::constraint::Dependency;
use super::IndexRecord;
pub use explain::{Problem, Report};

/// One repository's packages, as read from its index.
#[derive(Debug, Clone, Copy)]
pub struct Repository<'a> {
    /// `Some("edge")` for a repository configured as `@edge URL`: its
    /// packages are only used for `name@edge` world atoms and their
    /// dependencies. None for an ordinary repository.
    pub tag: Option<&'a str>,
    /// The index records, for one architecture.
    pub records: &'a [IndexRecord],
}

/// The packages to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// In install order: every package after the packages it depends on
    /// (a dependency cycle is cut where apk cuts it).
    pub packages: Vec<Selected>,
}

/// One package to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Package name (`P:`).
    pub name: String,
    /// Package version (`V:`).
    pub version: String,
    /// Index into the repositories given to [`resolve`] of the repository
    /// to fetch it from: the first holding it that its pinning allows.
    pub repository: usize,
    /// Index of its record in that repository's records.
    pub record: usize,
    /// Tag of that repository (what apk records for it in the installed
    /// database), None for an untagged one.
    pub tag: Option<String>,
    /// Indexes in [`Resolution::packages`] of the packages this one
    /// replaces (`r:`): where both ship a file, this one's copy wins
    /// instead of the installation failing on the conflict.
    pub replaces: Vec<usize>,
}

impl Selected {
    /// The index record of this package.
    pub fn record<'a>(&self, repositories: &[Repository<'a>]) -> Option<&'a IndexRecord> {
        repositories
            .get(self.repository)
            .and_then(|r| r.records.get(self.record))
    }
}

/// Why nothing can be installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// More repositories than the resolver's bit sets hold.
    #[error("at most 63 repositories can be used, {0} were given")]
    TooManyRepositories(usize),
    /// An index record the resolver cannot use.
    #[error("repository {repository}, record {record}: {reason}")]
    InvalidRecord {
        /// Index of the repository.
        repository: usize,
        /// Index of the record in it.
        record: usize,
        /// What is wrong.
        reason: String,
    },
    /// A `name@tag` atom whose tag no repository has.
    #[error("world atom {dependency}: no repository is tagged @{tag}")]
    UnknownTag {
        /// The atom.
        dependency: String,
        /// The tag.
        tag: String,
    },
    /// The world cannot be installed; the report says why, as apk does.
    #[error("{0}")]
    Unsatisfiable(Report),
}

/// Resolve `world` against `repositories` with apk's semantics.
pub fn resolve(
    repositories: &[Repository<'_>],
    world: &[Dependency],
) -> Result<Resolution, ResolveError> {
    let db = db::Db::build(repositories, world)?;
    let mut solver = solver::Solver::solve(&db);
    let order = solver.changeset();
    if solver.errors > 0 {
        return Err(ResolveError::Unsatisfiable(solver.explain(&order)));
    }
    let packages = order
        .iter()
        .map(|&pkg| {
            let p = &db.pkgs[pkg];
            let allowed = db.tag_repos(solver.pkgs[pkg].pinning_allowed) & p.repos;
            let repos = if allowed != 0 { allowed } else { p.repos };
            let first = repos.trailing_zeros() as usize;
            let (repository, record) = if first == p.repository {
                (p.repository, p.index)
            } else {
                repositories
                    .get(first)
                    .and_then(|r| {
                        r.records.iter().position(|r| {
                            db::checksum_key(&r.checksum) == db::checksum_key(&p.record.checksum)
                        })
                    })
                    .map_or((p.repository, p.index), |i| (first, i))
            };
            let replaces = order
                .iter()
                .enumerate()
                .filter(|&(_, &other)| {
                    other != pkg
                        && p.replaces.iter().any(|r| {
                            let o = &db.pkgs[other];
                            r.name == o.name
                                && r.dep.matches(Some(&o.record.version), &o.record.checksum)
                        })
                })
                .map(|(i, _)| i)
                .collect();
            Selected {
                name: p.record.name.clone(),
                version: p.record.version.clone(),
                repository,
                record,
                tag: repositories
                    .get(repository)
                    .and_then(|r| r.tag)
                    .map(str::to_string),
                replaces,
            }
        })
        .collect();
    Ok(Resolution { packages })
}
