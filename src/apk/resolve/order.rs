//! Install order: apk's changeset walk. From each world atom (in name
//! order), a chosen package is emitted after the packages its
//! dependencies chose (depth first, in `D:` order), and a package whose
//! install_if is met by what is already emitted follows the package that
//! completed it (through its own name or any of its provides). A dependency cycle is cut where the walk re-enters it.
//! The walk also finds atoms the decisions left unmet and marks their
//! requirers as errors, as apk does.

use super::db::PkgId;
use super::solver::{Solver, Via};

enum Frame {
    /// A dependency atom of `parent` (None: the world); `checked` once its
    /// chosen package's subtree has been walked.
    Dep {
        parent: Option<PkgId>,
        via: Via,
        checked: bool,
    },
    /// A package being emitted: its next dependency, then whether it is
    /// emitted, then the next reverse install_if name.
    Pkg {
        pkg: PkgId,
        dep: usize,
        iif: Option<usize>,
    },
}

impl Solver<'_, '_> {
    /// The chosen packages in install order.
    pub(super) fn changeset(&mut self) -> Vec<PkgId> {
        let mut out = Vec::new();
        for i in 0..self.db.world.len() {
            let mut stack = vec![Frame::Dep {
                parent: None,
                via: Via::World(i),
                checked: false,
            }];
            while let Some(frame) = stack.pop() {
                self.step(frame, &mut stack, &mut out);
            }
        }
        out
    }

    fn step(&mut self, frame: Frame, stack: &mut Vec<Frame>, out: &mut Vec<PkgId>) {
        let db = self.db;
        match frame {
            Frame::Dep {
                parent,
                via,
                checked: false,
            } => {
                let dep = self.dep(via);
                let chosen = self.names[dep.name].chosen;
                if !self.provided(&dep.dep, chosen, parent) {
                    self.mark_error(parent);
                }
                stack.push(Frame::Dep {
                    parent,
                    via,
                    checked: true,
                });
                self.begin(dep.name, stack);
            }
            Frame::Dep { parent, via, .. } => {
                let name = self.dep(via).name;
                if let Some(p) = self.names[name].chosen {
                    if self.pkgs[p.pkg].error {
                        self.mark_error(parent);
                    }
                }
            }
            Frame::Pkg {
                pkg,
                dep,
                iif: None,
            } => {
                let package = &db.pkgs[pkg];
                if dep < package.depends.len() {
                    stack.push(Frame::Pkg {
                        pkg,
                        dep: dep + 1,
                        iif: None,
                    });
                    stack.push(Frame::Dep {
                        parent: Some(pkg),
                        via: Via::Depends(pkg, dep),
                        checked: false,
                    });
                } else {
                    out.push(pkg);
                    stack.push(Frame::Pkg {
                        pkg,
                        dep,
                        iif: Some(0),
                    });
                }
            }
            Frame::Pkg {
                pkg,
                dep,
                iif: Some(i),
            } => {
                if let Some(&name) = db.pkgs[pkg].rinstall_if.get(i) {
                    stack.push(Frame::Pkg {
                        pkg,
                        dep,
                        iif: Some(i + 1),
                    });
                    if self.install_if_met(name) {
                        self.begin(name, stack);
                    }
                }
            }
        }
    }

    /// Start emitting what was chosen for `name`, unless already done.
    fn begin(&mut self, name: usize, stack: &mut Vec<Frame>) {
        let db = self.db;
        if self.names[name].in_changeset {
            return;
        }
        self.names[name].in_changeset = true;
        let Some(p) = self.names[name].chosen else {
            return;
        };
        if self.pkgs[p.pkg].in_changeset {
            return;
        }
        self.pkgs[p.pkg].in_changeset = true;
        let package = &db.pkgs[p.pkg];
        self.names[package.name].in_changeset = true;
        for (pname, _) in &package.provides {
            self.names[*pname].in_changeset = true;
        }
        stack.push(Frame::Pkg {
            pkg: p.pkg,
            dep: 0,
            iif: None,
        });
    }

    /// Whether the package chosen for `name` has its install_if met by
    /// names already emitted.
    fn install_if_met(&self, name: usize) -> bool {
        let db = self.db;
        let ns = &self.names[name];
        let Some(p) = ns.chosen else {
            return false;
        };
        if !ns.seen || ns.in_changeset {
            return false;
        }
        db.pkgs[p.pkg].install_if.iter().all(|d| {
            let target = &self.names[d.name];
            (d.dep.conflict || target.in_changeset) && self.provided(&d.dep, target.chosen, None)
        })
    }
}
