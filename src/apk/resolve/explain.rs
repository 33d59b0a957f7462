//! Why a world cannot be installed, in apk's words and order (apk-tools
//! 2.14's error analysis): first which names are present, following the
//! world through the chosen packages and the install_if they complete;
//! then, for the world and each chosen package in install order, every
//! chosen package that is wrong (masked by pinning, clashing over a name,
//! breaking an atom; what it satisfies is listed only then) and every
//! required name nothing present provides. Lists wrap at apk's 50 columns.

use std::fmt;

use super::db::{NameId, PkgId, Provider};
use super::solver::{Solver, Via};

/// An unsatisfiable world, explained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// One entry per problem name or package, in the order apk lists them.
    pub problems: Vec<Problem>,
}

/// One explained problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A required name that no installable package provides.
    Missing {
        /// The name.
        name: String,
        /// Its providers, none of which may be chosen for it automatically
        /// (a name when every package of that name provides it, else
        /// `name-version`); empty: no package provides it at all.
        provided_by: Vec<String>,
        /// `world[atom]` or `package-version[atom]`.
        required_by: Vec<String>,
    },
    /// A package the solver had to choose that breaks something.
    Package {
        /// `name-version`.
        package: String,
        /// Why it cannot be installed at all (an index entry in a format
        /// apk cannot install).
        broken: Option<String>,
        /// `@tag`s of the repositories holding it, when pinning forbids it.
        masked_in: Vec<String>,
        /// Other chosen packages (or itself, twice) claiming one of its
        /// names: `pkg-ver`, or `pkg-ver[its own provide]`.
        conflicts: Vec<String>,
        /// Atoms it does not satisfy: `world[atom]`, `pkg-ver[atom]`.
        breaks: Vec<String>,
        /// Atoms it satisfies.
        satisfies: Vec<String>,
    },
    /// Something failed that the analysis could not pin down (apk's
    /// "error reporter did not find the broken constraints").
    Unexplained {
        /// The packages in error.
        packages: Vec<String>,
    },
}

/// apk's line width for reports not written to a terminal.
const WIDTH: usize = 50;

/// `    label: item item` with apk's wrapping: items that would reach
/// [`WIDTH`] go on a new line under the first item.
fn field(f: &mut fmt::Formatter<'_>, label: &str, items: &[String]) -> fmt::Result {
    let Some((first, rest)) = items.split_first() else {
        return Ok(());
    };
    let head = format!("    {label}");
    let indent = head.len() + 1;
    write!(f, "{head} {first}")?;
    let mut x = indent + first.len();
    for item in rest {
        if x + item.len() + 1 >= WIDTH {
            write!(f, "\n{:indent$}{item}", "")?;
            x = indent + item.len();
        } else {
            write!(f, " {item}")?;
            x += item.len() + 1;
        }
    }
    writeln!(f)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "unable to select packages:")?;
        for problem in &self.problems {
            match problem {
                Problem::Missing {
                    name,
                    provided_by,
                    required_by,
                } => {
                    if provided_by.is_empty() {
                        writeln!(f, "  {name} (no such package):")?;
                    } else {
                        writeln!(f, "  {name} (virtual):")?;
                        let note = "please select one of the 'provided by' packages explicitly";
                        let words: Vec<String> = note.split(' ').map(str::to_string).collect();
                        field(f, "note:", &words)?;
                        field(f, "provided by:", provided_by)?;
                    }
                    field(f, "required by:", required_by)?;
                }
                Problem::Package {
                    package,
                    broken,
                    masked_in,
                    conflicts,
                    breaks,
                    satisfies,
                } => {
                    writeln!(f, "  {package}:")?;
                    if let Some(reason) = broken {
                        writeln!(f, "    cannot be installed: {reason}")?;
                    }
                    field(f, "masked in:", masked_in)?;
                    field(f, "conflicts:", conflicts)?;
                    field(f, "breaks:", breaks)?;
                    field(f, "satisfies:", satisfies)?;
                }
                Problem::Unexplained { packages } => {
                    writeln!(f, "  no single constraint found to blame")?;
                    field(f, "in error:", packages)?;
                }
            }
        }
        Ok(())
    }
}

// Name and package states of the analysis, as apk's.
const PRESENT: u8 = 1;
const MISSING: u8 = 2;
const VIRTUAL_ONLY: u8 = 4;
const INSTALLIF: u8 = 8;

impl Solver<'_, '_> {
    /// Explain a failed resolution, given the packages the walk emitted.
    pub(super) fn explain(&self, chosen: &[PkgId]) -> Report {
        let mut marked = vec![false; self.db.pkgs.len()];
        for &pkg in chosen {
            marked[pkg] = true;
        }
        let mut ex = Explainer {
            s: self,
            marked,
            names: vec![0; self.db.names.len()],
            pkgs: vec![0; self.db.pkgs.len()],
            problems: Vec::new(),
        };
        let world: Vec<Via> = (0..self.db.world.len()).map(Via::World).collect();
        ex.discover_deps(&world);
        ex.missing(&world);
        for &pkg in chosen {
            ex.package(pkg);
            let deps: Vec<Via> = (0..self.db.pkgs[pkg].depends.len())
                .map(|i| Via::Depends(pkg, i))
                .collect();
            ex.missing(&deps);
        }
        if ex.problems.is_empty() {
            let packages = chosen
                .iter()
                .filter(|&&p| self.pkgs[p].error)
                .map(|&p| self.db.pkg_label(p))
                .collect();
            ex.problems.push(Problem::Unexplained { packages });
        }
        Report {
            problems: ex.problems,
        }
    }
}

struct Explainer<'s, 'd, 'a> {
    s: &'s Solver<'d, 'a>,
    marked: Vec<bool>,
    names: Vec<u8>,
    pkgs: Vec<u8>,
    problems: Vec<Problem>,
}

impl Explainer<'_, '_, '_> {
    /// `world[atom]` or `pkg-ver[atom]`.
    fn requirer(&self, via: Via) -> String {
        let dep = &self.s.dep(via).dep;
        match via {
            Via::World(_) => format!("world[{dep}]"),
            Via::Depends(pkg, _) | Via::InstallIf(pkg, _) => {
                format!("{}[{dep}]", self.s.db.pkg_label(pkg))
            }
        }
    }

    fn discover_deps(&mut self, atoms: &[Via]) {
        for &via in atoms {
            let dep = self.s.dep(via);
            if !dep.dep.conflict {
                self.discover(dep.name, PRESENT);
            }
        }
    }

    /// Mark what a chosen package answering to `name` makes present: a
    /// name it only provides unversioned, without a priority, counts as
    /// virtual only.
    fn discover(&mut self, name: NameId, state: u8) {
        let db = self.s.db;
        for p in &db.names[name].providers {
            if !self.marked[p.pkg] {
                continue;
            }
            let package = &db.pkgs[p.pkg];
            let concrete = package.name == name
                || package
                    .provides
                    .iter()
                    .any(|(n, v)| *n == name && v.version.is_some());
            let state = if package.record.provider_priority == 0 && !concrete {
                VIRTUAL_ONLY
            } else {
                state
            };
            if self.pkgs[p.pkg] & state != 0 {
                continue;
            }
            self.pkgs[p.pkg] |= state;
            self.names[package.name] |= state;
            for (n, provide) in &package.provides {
                let unversioned = provide.version.is_none();
                self.names[*n] |= if state == INSTALLIF && unversioned {
                    VIRTUAL_ONLY
                } else {
                    state
                };
            }
            let deps: Vec<Via> = (0..package.depends.len())
                .map(|i| Via::Depends(p.pkg, i))
                .collect();
            self.discover_deps(&deps);
            if state != VIRTUAL_ONLY {
                self.discover_reverse_iif(package.name);
                for (n, _) in &package.provides {
                    self.discover_reverse_iif(*n);
                }
            }
        }
    }

    /// Chosen packages whose install_if the present names complete.
    fn discover_reverse_iif(&mut self, name: NameId) {
        let db = self.s.db;
        for &name0 in &db.names[name].rinstall_if {
            for p in &db.names[name0].providers {
                let package = &db.pkgs[p.pkg];
                if !self.marked[p.pkg] || package.install_if.is_empty() {
                    continue;
                }
                let ok = package.install_if.iter().all(|d| {
                    let present = self.names[d.name] & (PRESENT | INSTALLIF) != 0;
                    d.dep.conflict != present
                });
                if ok {
                    self.discover(package.name, INSTALLIF);
                    for (n, _) in &package.provides {
                        self.discover(*n, INSTALLIF);
                    }
                }
            }
        }
    }

    /// Required names of `atoms` that nothing present provides.
    fn missing(&mut self, atoms: &[Via]) {
        for &via in atoms {
            let dep = self.s.dep(via);
            if dep.dep.conflict || self.names[dep.name] & (INSTALLIF | PRESENT | MISSING) != 0 {
                continue;
            }
            self.names[dep.name] |= MISSING;
            let problem = self.missing_name(dep.name);
            self.problems.push(problem);
        }
    }

    fn missing_name(&self, name: NameId) -> Problem {
        let db = self.s.db;
        let providers = &db.names[name].providers;
        // A package name stands for all its packages when all provide it.
        let mut count = vec![0usize; db.names.len()];
        for p in providers {
            count[db.pkgs[p.pkg].name] += 1;
        }
        let mut provided_by = Vec::new();
        for p in providers {
            let own = db.pkgs[p.pkg].name;
            if count[own] == db.names[own].providers.len() {
                provided_by.push(db.names[own].text.clone());
                count[own] = 0;
            } else if count[own] > 0 {
                provided_by.push(db.pkg_label(p.pkg));
                count[own] -= 1;
            }
        }
        let mut required_by: Vec<String> = (0..db.world.len())
            .map(Via::World)
            .filter(|&v| {
                let d = self.s.dep(v);
                d.name == name && !d.dep.conflict
            })
            .map(|v| self.requirer(v))
            .collect();
        // As apk: per dependent name, its first chosen package.
        let mut visited = vec![false; db.pkgs.len()];
        for &name0 in &db.names[name].rdepends {
            let first = db.names[name0]
                .providers
                .iter()
                .find(|p| self.marked[p.pkg] && !visited[p.pkg]);
            if let Some(p) = first {
                visited[p.pkg] = true;
                let deps = &db.pkgs[p.pkg].depends;
                if let Some(i) = deps.iter().position(|d| d.name == name && !d.dep.conflict) {
                    required_by.push(self.requirer(Via::Depends(p.pkg, i)));
                }
            }
        }
        Problem::Missing {
            name: db.names[name].text.clone(),
            provided_by,
            required_by,
        }
    }

    /// The ways `pkg` answers to names.
    fn names_of(&self, pkg: PkgId) -> Vec<(NameId, Provider)> {
        let package = &self.s.db.pkgs[pkg];
        let own = (package.name, Provider { pkg, provide: None });
        let provides = package.provides.iter().enumerate().map(|(i, (name, _))| {
            let p = Provider {
                pkg,
                provide: Some(i),
            };
            (*name, p)
        });
        std::iter::once(own).chain(provides).collect()
    }

    /// Whether `dep` (of `owner`) concerns `pkg` and, if so, whether `pkg`
    /// satisfies it.
    fn analyze(&self, via: Via, pkg: PkgId) -> Option<bool> {
        let dep = self.s.dep(via);
        let (_, provider) = self
            .names_of(pkg)
            .into_iter()
            .find(|(n, _)| *n == dep.name)?;
        let owner = match via {
            Via::World(_) => None,
            Via::Depends(p, _) | Via::InstallIf(p, _) => Some(p),
        };
        Some(self.s.provided(&dep.dep, Some(provider), owner))
    }

    /// Atoms concerning `pkg` that it satisfies (or breaks): the world's,
    /// then those of chosen packages reached through the reverse
    /// dependencies of each of its names, each package once.
    fn atoms(&self, pkg: PkgId, satisfied: bool) -> Vec<String> {
        let db = self.s.db;
        let mut out: Vec<String> = (0..db.world.len())
            .map(Via::World)
            .filter(|&v| self.analyze(v, pkg) == Some(satisfied))
            .map(|v| self.requirer(v))
            .collect();
        let mut visited = vec![false; db.pkgs.len()];
        for (name, _) in self.names_of(pkg) {
            for &name0 in &db.names[name].rdepends {
                for p in &db.names[name0].providers {
                    if !self.marked[p.pkg] || std::mem::replace(&mut visited[p.pkg], true) {
                        continue;
                    }
                    for i in 0..db.pkgs[p.pkg].depends.len() {
                        let via = Via::Depends(p.pkg, i);
                        if self.analyze(via, pkg) == Some(satisfied) {
                            out.push(self.requirer(via));
                        }
                    }
                }
            }
        }
        out
    }

    /// Other chosen packages claiming its names; for a provide, itself too
    /// when it claims that name a second time.
    fn conflicts(&self, pkg: PkgId) -> Vec<String> {
        let db = self.s.db;
        let package = &db.pkgs[pkg];
        let mut out: Vec<String> = db.names[package.name]
            .providers
            .iter()
            .filter(|p| p.pkg != pkg && self.marked[p.pkg])
            .map(|p| db.pkg_label(p.pkg))
            .collect();
        for (i, (name, provide)) in package.provides.iter().enumerate() {
            let mine = Provider {
                pkg,
                provide: Some(i),
            };
            let mut once = true;
            for &p in &db.names[*name].providers {
                if !self.marked[p.pkg] {
                    continue;
                }
                let theirs = db.provider_version(p);
                if provide.version.is_none() && theirs.is_none() {
                    continue;
                }
                if once && p.pkg == pkg && theirs == db.provider_version(mine) {
                    once = false;
                    continue;
                }
                out.push(format!("{}[{provide}]", db.pkg_label(p.pkg)));
            }
        }
        out
    }

    fn package(&mut self, pkg: PkgId) {
        let (s, db) = (self.s, self.s.db);
        let mut masked_in = Vec::new();
        if !s.pkgs[pkg].tag_ok {
            for tag in &db.tags {
                if let (Some(name), true) = (&tag.name, tag.repos & db.pkgs[pkg].repos != 0) {
                    masked_in.push(format!("@{name}"));
                }
            }
        }
        let broken = db.pkgs[pkg].broken.clone();
        let conflicts = self.conflicts(pkg);
        let breaks = self.atoms(pkg, false);
        if broken.is_none() && masked_in.is_empty() && conflicts.is_empty() && breaks.is_empty() {
            return;
        }
        self.problems.push(Problem::Package {
            package: db.pkg_label(pkg),
            broken,
            masked_in,
            conflicts,
            breaks,
            satisfies: self.atoms(pkg, true),
        });
    }
}
