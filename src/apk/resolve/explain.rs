//! Why a world cannot be installed, in apk's words: for each required name
//! nothing provides, who requires it; for each chosen package that is
//! wrong, the repositories it is masked in, what it clashes with, which
//! atoms it breaks (and then which it satisfies), plus what became of the
//! other candidates of its name.

use std::fmt;

use super::db::{NameId, PkgId, Provider};
use super::solver::{Rejection, Solver, Via};

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
        /// Packages providing it only as an unversioned virtual, with no
        /// priority to choose between them (empty: no such package).
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
        /// Other chosen packages claiming one of its names.
        conflicts: Vec<String>,
        /// Atoms it does not satisfy: `world[atom]`, `pkg-ver[atom]`.
        breaks: Vec<String>,
        /// Atoms it satisfies.
        satisfies: Vec<String>,
        /// The other candidates of its name and why each was ruled out.
        rejected: Vec<String>,
    },
    /// Something failed that the analysis could not pin down (apk's
    /// "error reporter did not find the broken constraints").
    Unexplained {
        /// The packages in error.
        packages: Vec<String>,
    },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "unable to select packages:")?;
        let line = |f: &mut fmt::Formatter<'_>, label: &str, items: &[String]| {
            if items.is_empty() {
                Ok(())
            } else {
                writeln!(f, "    {label}: {}", items.join(" "))
            }
        };
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
                        writeln!(
                            f,
                            "    note: please select one of the 'provided by' packages explicitly"
                        )?;
                        line(f, "provided by", provided_by)?;
                    }
                    line(f, "required by", required_by)?;
                }
                Problem::Package {
                    package,
                    broken,
                    masked_in,
                    conflicts,
                    breaks,
                    satisfies,
                    rejected,
                } => {
                    writeln!(f, "  {package}:")?;
                    if let Some(reason) = broken {
                        writeln!(f, "    cannot be installed: {reason}")?;
                    }
                    line(f, "masked in", masked_in)?;
                    line(f, "conflicts", conflicts)?;
                    line(f, "breaks", breaks)?;
                    line(f, "satisfies", satisfies)?;
                    for r in rejected {
                        writeln!(f, "    rejected: {r}")?;
                    }
                }
                Problem::Unexplained { packages } => {
                    writeln!(f, "  no single constraint found to blame")?;
                    line(f, "in error", packages)?;
                }
            }
        }
        Ok(())
    }
}

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
            reported: vec![false; self.db.names.len()],
            chosen,
            problems: Vec::new(),
        };
        let world: Vec<Via> = (0..self.db.world.len()).map(Via::World).collect();
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
    reported: Vec<bool>,
    chosen: &'s [PkgId],
    problems: Vec<Problem>,
}

impl Explainer<'_, '_, '_> {
    /// `world[atom]` or `pkg-ver[atom]`.
    fn requirer(&self, via: Via) -> String {
        let dep = &self.s.dep(via).dep;
        match via {
            Via::World(_) => format!("world[{dep}]"),
            Via::Depends(pkg, _) => format!("{}[{dep}]", self.s.db.pkg_label(pkg)),
        }
    }

    /// Whether a chosen package really answers to `name` (its own name, a
    /// versioned provide, or any provide with a provider priority).
    fn present(&self, name: NameId) -> bool {
        let db = self.s.db;
        db.names[name].providers.iter().any(|&p| {
            self.marked[p.pkg]
                && (p.provide.is_none()
                    || db.provider_version(p).is_some()
                    || db.pkgs[p.pkg].record.provider_priority > 0)
        })
    }

    fn missing(&mut self, atoms: &[Via]) {
        let db = self.s.db;
        for &via in atoms {
            let dep = self.s.dep(via);
            if dep.dep.conflict || self.reported[dep.name] || self.present(dep.name) {
                continue;
            }
            self.reported[dep.name] = true;
            let mut provided_by: Vec<String> = Vec::new();
            for p in &db.names[dep.name].providers {
                let name = &db.names[db.pkgs[p.pkg].name].text;
                if !provided_by.contains(name) {
                    provided_by.push(name.clone());
                }
            }
            let mut required_by = Vec::new();
            for &w in &self.all_atoms() {
                let d = self.s.dep(w);
                if d.name == dep.name && !d.dep.conflict {
                    required_by.push(self.requirer(w));
                }
            }
            self.problems.push(Problem::Missing {
                name: db.names[dep.name].text.clone(),
                provided_by,
                required_by,
            });
        }
    }

    /// Every atom of the world and of the chosen packages.
    fn all_atoms(&self) -> Vec<Via> {
        let db = self.s.db;
        let world = (0..db.world.len()).map(Via::World);
        let deps = self
            .chosen
            .iter()
            .flat_map(|&p| (0..db.pkgs[p].depends.len()).map(move |i| Via::Depends(p, i)));
        world.chain(deps).collect()
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

    fn package(&mut self, pkg: PkgId) {
        let (s, db) = (self.s, self.s.db);
        let st = &s.pkgs[pkg];
        let mut masked_in = Vec::new();
        if !st.tag_ok {
            for tag in &db.tags {
                if let (Some(name), true) = (&tag.name, tag.repos & db.pkgs[pkg].repos != 0) {
                    masked_in.push(format!("@{name}"));
                }
            }
        }
        let mut conflicts = Vec::new();
        for (name, mine) in self.names_of(pkg) {
            let mine_unversioned = db.provider_version(mine).is_none();
            for &p in &db.names[name].providers {
                if p.pkg == pkg || !self.marked[p.pkg] {
                    continue;
                }
                if mine_unversioned && db.provider_version(p).is_none() {
                    continue;
                }
                let label = db.pkg_label(p.pkg);
                conflicts.push(match mine.provide {
                    None => label,
                    Some(_) => format!("{label}[{}]", db.names[name].text),
                });
            }
        }
        let (mut breaks, mut satisfies) = (Vec::new(), Vec::new());
        let names = self.names_of(pkg);
        for via in self.all_atoms() {
            let dep = s.dep(via);
            let Some(&(_, provider)) = names.iter().find(|(n, _)| *n == dep.name) else {
                continue;
            };
            let owner = match via {
                Via::World(_) => None,
                Via::Depends(p, _) => Some(p),
            };
            if s.provided(&dep.dep, Some(provider), owner) {
                satisfies.push(self.requirer(via));
            } else {
                breaks.push(self.requirer(via));
            }
        }
        let broken = db.pkgs[pkg].broken.clone();
        if broken.is_none() && masked_in.is_empty() && conflicts.is_empty() && breaks.is_empty() {
            return;
        }
        let own = db.pkgs[pkg].name;
        let rejected = db.names[own]
            .providers
            .iter()
            .filter(|p| p.pkg != pkg && !self.marked[p.pkg])
            .filter_map(|p| {
                let why = self.why(p.pkg)?;
                Some(format!("{} ({why})", db.pkg_label(p.pkg)))
            })
            .collect();
        self.problems.push(Problem::Package {
            package: db.pkg_label(pkg),
            broken,
            masked_in,
            conflicts,
            breaks,
            satisfies,
            rejected,
        });
    }

    /// Why a candidate was ruled out, if it was.
    fn why(&self, pkg: PkgId) -> Option<String> {
        let (s, db) = (self.s, self.s.db);
        if let Some(broken) = &db.pkgs[pkg].broken {
            return Some(format!("cannot be installed: {broken}"));
        }
        Some(match s.pkgs[pkg].rejected? {
            Rejection::Constraint(via) => format!("breaks {}", self.requirer(via)),
            Rejection::NameTaken { name, by: Some(by) } => {
                format!(
                    "{} is provided by {}",
                    db.names[name].text,
                    db.pkg_label(by)
                )
            }
            Rejection::NameTaken { name, by: None } => {
                format!("{} cannot be installed", db.names[name].text)
            }
            Rejection::Unsatisfiable(i) => format!(
                "its dependency {} cannot be satisfied",
                db.pkgs[pkg].depends[i].dep
            ),
            Rejection::Transitivity { name } => {
                format!("clashes with every candidate for {}", db.names[name].text)
            }
        })
    }
}
