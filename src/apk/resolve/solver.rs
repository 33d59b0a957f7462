//! apk-tools' solver, rewritten: a deductive, propagating, greedy search
//! with no backtracking. Names are decided one at a time; deciding one
//! applies its package's dependencies as constraints, which rule out
//! (disqualify) providers that cannot satisfy them, and whatever a rule-out
//! makes unsatisfiable is re-examined before the next decision. The order
//! of decisions and the preference between candidates follow apk-tools
//! 2.14 (its `solver.c`), so the same repositories and world give the same
//! packages as `apk add` into an empty root.
//!
//! Decision order: a name is decided as soon as it is required, all names
//! that depend on it are decided, and exactly one candidate is left;
//! otherwise the next is the required name with the lowest apk priority
//! (real packages before virtual names) and the longest dependency chain,
//! newest-queued first among equals.
//!
//! Preference between candidates for a name, first difference wins:
//! not ruled out; among the candidates whose dependencies were merged last;
//! fewer failed constraints; allowed by pinning; preferred by pinning
//! (from the repository the world asked for); higher version of the
//! requested name; higher version of the package (same package name);
//! higher provider priority (`k:`); lower repository index; and finally,
//! as apk, the provider listed first (repository order, then index order).

use std::cmp::Ordering;
use std::collections::VecDeque;

use super::db::{Db, Dep, NameId, PkgId, Provider};
use crate::apk::constraint::Dependency;
use crate::apk::version;

/// Where a dependency atom comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// The i-th world atom (sorted order).
    World(usize),
    /// The i-th `D:` atom of a package.
    Depends(PkgId, usize),
}

/// The first reason a package was ruled out, kept for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// It does not satisfy this atom.
    Constraint(Via),
    /// Another package (or nothing) was chosen for one of its names.
    NameTaken { name: NameId, by: Option<PkgId> },
    /// Its i-th dependency can no longer be satisfied.
    Unsatisfiable(usize),
    /// Every candidate for `name` also answers to a name it shares with
    /// this package, so both cannot be installed.
    Transitivity { name: NameId },
}

/// Per-name solver state.
#[derive(Debug, Default, Clone)]
pub(super) struct NameState {
    pub(super) seen: bool,
    pub(super) locked: bool,
    /// With `locked`: the provider chosen, None when nothing is.
    pub(super) chosen: Option<Provider>,
    pub(super) requirers: u32,
    pub(super) reevaluate_deps: bool,
    pub(super) reevaluate_iif: bool,
    pub(super) has_iif: bool,
    pub(super) no_iif: bool,
    pub(super) has_options: bool,
    pub(super) reverse_deps_done: bool,
    pub(super) max_dep_chain: u32,
    pub(super) merge_depends: u32,
    pub(super) merge_provides: u32,
    pub(super) has_virtual_provides: bool,
    pub(super) dirty: bool,
    pub(super) unresolved: bool,
    pub(super) in_changeset: bool,
}

/// Per-package solver state.
#[derive(Debug, Default, Clone)]
pub(super) struct PkgState {
    pub(super) seen: bool,
    pub(super) selectable: bool,
    pub(super) iif_triggered: bool,
    pub(super) iif_failed: bool,
    pub(super) tag_preferred: bool,
    pub(super) tag_ok: bool,
    pub(super) pinning_allowed: u64,
    pub(super) conflicts: u32,
    pub(super) dependencies_merged: bool,
    pub(super) dependencies_used: bool,
    pub(super) max_dep_chain: u32,
    pub(super) error: bool,
    pub(super) rejected: Option<Rejection>,
    pub(super) in_changeset: bool,
}

/// One name being discovered.
struct DiscoverFrame {
    name: NameId,
    provider: usize,
    /// In the current provider's package: next dependency.
    dep: Option<usize>,
    /// In the reverse install_if list: next entry.
    rinstall: Option<usize>,
}

pub(super) struct Solver<'d, 'a> {
    pub db: &'d Db<'a>,
    pub names: Vec<NameState>,
    pub pkgs: Vec<PkgState>,
    dirty: VecDeque<NameId>,
    /// Undecided required names, oldest first.
    unresolved: Vec<NameId>,
    pub errors: usize,
    default_repos: u64,
    /// Pinning mask of the world atom being applied (0 otherwise).
    pinning_inherit: u64,
}

impl<'d, 'a> Solver<'d, 'a> {
    /// Decide every required name.
    pub fn solve(db: &'d Db<'a>) -> Solver<'d, 'a> {
        let mut s = Solver {
            db,
            names: vec![NameState::default(); db.names.len()],
            pkgs: vec![PkgState::default(); db.pkgs.len()],
            dirty: VecDeque::new(),
            unresolved: Vec::new(),
            errors: 0,
            default_repos: db.tag_repos(1),
            pinning_inherit: 0,
        };
        for (dep, _) in &db.world {
            s.discover(dep.name);
        }
        for (i, (_, tag)) in db.world.iter().enumerate() {
            s.pinning_inherit = 1 << tag;
            s.apply_constraint(None, Via::World(i));
        }
        s.pinning_inherit = 0;
        loop {
            while let Some(name) = s.dirty.pop_front() {
                if s.names[name].dirty {
                    s.names[name].dirty = false;
                    s.reconsider(name);
                }
            }
            match s.next_name() {
                Some(name) => s.select(name),
                None => break,
            }
        }
        s
    }

    /// The atom at `via`.
    pub fn dep(&self, via: Via) -> &'d Dep {
        let db = self.db;
        match via {
            Via::World(i) => &db.world[i].0,
            Via::Depends(pkg, i) => &db.pkgs[pkg].depends[i],
        }
    }

    /// Whether `provider` (None: nothing installed under that name)
    /// satisfies `dep` required by `owner`. A package never conflicts
    /// with itself (apk-tools 3 semantics; 2.x let a package that provides
    /// `x` and conflicts with `x` rule itself out).
    pub fn provided(
        &self,
        dep: &Dependency,
        provider: Option<Provider>,
        owner: Option<PkgId>,
    ) -> bool {
        match provider {
            None => dep.conflict,
            Some(_) if dep.conflict && owner == provider.map(|p| p.pkg) => true,
            Some(p) => dep.matches(
                self.db.provider_version(p),
                &self.db.pkgs[p.pkg].record.checksum,
            ),
        }
    }

    pub fn mark_error(&mut self, pkg: Option<PkgId>) {
        if let Some(pkg) = pkg {
            if !self.pkgs[pkg].error {
                self.pkgs[pkg].error = true;
                self.errors += 1;
            }
        }
    }

    /// Walk the names reachable from `root` (dependencies and reverse
    /// install_if), initialising their packages and computing dependency
    /// chain lengths; an explicit stack in the order of apk's recursion.
    fn discover(&mut self, root: NameId) {
        let db = self.db;
        if self.names[root].seen {
            return;
        }
        let mut stack = vec![self.enter(root)];
        while let Some(f) = stack.last_mut() {
            let providers = &db.names[f.name].providers;
            if let Some(ri) = f.rinstall {
                match db.names[f.name].rinstall_if.get(ri) {
                    Some(&next) => {
                        f.rinstall = Some(ri + 1);
                        if !self.names[next].seen {
                            let frame = self.enter(next);
                            stack.push(frame);
                        }
                    }
                    None => {
                        stack.pop();
                    }
                }
                continue;
            }
            let Some(p) = providers.get(f.provider).copied() else {
                f.rinstall = Some(0);
                continue;
            };
            match f.dep {
                None if !self.pkgs[p.pkg].seen => {
                    self.init_pkg(p.pkg);
                    f.dep = Some(0);
                }
                Some(di) if di < db.pkgs[p.pkg].depends.len() => {
                    let target = db.pkgs[p.pkg].depends[di].name;
                    if self.names[target].seen {
                        let chain = self.names[target].max_dep_chain + 1;
                        let st = &mut self.pkgs[p.pkg];
                        st.max_dep_chain = st.max_dep_chain.max(chain);
                        f.dep = Some(di + 1);
                    } else {
                        // Comes back here once `target` is done.
                        let frame = self.enter(target);
                        stack.push(frame);
                    }
                }
                _ => {
                    let (iif_failed, chain) = {
                        let st = &self.pkgs[p.pkg];
                        (st.iif_failed, st.max_dep_chain)
                    };
                    let ns = &mut self.names[f.name];
                    ns.no_iif &= iif_failed;
                    ns.max_dep_chain = ns.max_dep_chain.max(chain);
                    f.provider += 1;
                    f.dep = None;
                }
            }
        }
    }

    fn enter(&mut self, name: NameId) -> DiscoverFrame {
        let ns = &mut self.names[name];
        ns.seen = true;
        ns.no_iif = true;
        DiscoverFrame {
            name,
            provider: 0,
            dep: None,
            rinstall: None,
        }
    }

    fn init_pkg(&mut self, pkg: PkgId) {
        let db = self.db;
        let p = &db.pkgs[pkg];
        let tag_preferred = p.record.installed_size == 0 || p.repos & self.default_repos != 0;
        self.pkgs[pkg] = PkgState {
            seen: true,
            selectable: p.broken.is_none(),
            iif_failed: p.install_if.is_empty(),
            tag_preferred,
            tag_ok: tag_preferred,
            pinning_allowed: 1,
            ..PkgState::default()
        };
    }

    fn queue_dirty(&mut self, name: NameId) {
        let ns = &mut self.names[name];
        if ns.dirty || ns.locked || (ns.requirers == 0 && !ns.reevaluate_iif) {
            return;
        }
        ns.dirty = true;
        self.dirty.push_back(name);
    }

    pub(super) fn queue_unresolved(&mut self, name: NameId) {
        let ns = &mut self.names[name];
        if ns.locked {
            return;
        }
        let want = ns.requirers > 0 || ns.has_iif;
        if want && !ns.unresolved {
            ns.unresolved = true;
            self.unresolved.push(name);
        } else if !want && ns.unresolved {
            ns.unresolved = false;
            self.unresolved.retain(|&n| n != name);
        }
    }

    /// Locking a name takes it off the queues.
    pub(super) fn dequeue(&mut self, name: NameId) {
        let ns = &mut self.names[name];
        ns.dirty = false;
        if ns.unresolved {
            ns.unresolved = false;
            self.unresolved.retain(|&n| n != name);
        }
    }

    pub(super) fn reevaluate_reverse_deps(&mut self, name: NameId) {
        let db = self.db;
        for &n in &db.names[name].rdepends {
            if self.names[n].seen {
                self.names[n].reevaluate_deps = true;
                self.queue_dirty(n);
            }
        }
    }

    pub(super) fn reevaluate_reverse_installif(&mut self, name: NameId) {
        let db = self.db;
        for &n in &db.names[name].rinstall_if {
            if self.names[n].seen && !self.names[n].no_iif {
                self.names[n].reevaluate_iif = true;
                self.queue_dirty(n);
            }
        }
    }

    pub(super) fn disqualify(&mut self, pkg: PkgId, why: Rejection) {
        let db = self.db;
        let st = &mut self.pkgs[pkg];
        st.selectable = false;
        st.rejected.get_or_insert(why);
        let p = &db.pkgs[pkg];
        self.reevaluate_reverse_deps(p.name);
        for (name, _) in &p.provides {
            self.reevaluate_reverse_deps(*name);
        }
        self.reevaluate_reverse_installif(p.name);
    }

    pub(super) fn requirers_changed(&mut self, name: NameId) {
        self.queue_unresolved(name);
        self.reevaluate_reverse_installif(name);
        self.queue_dirty(name);
    }

    /// Pinning flows from the world atom (its tag) or from the package
    /// that pulled this one in.
    pub(super) fn inherit_pinning(&mut self, pkg: PkgId, parent: Option<PkgId>) {
        let db = self.db;
        let repos = db.pkgs[pkg].repos;
        match parent {
            Some(parent) => {
                let allowed = self.pkgs[parent].pinning_allowed;
                self.pkgs[pkg].pinning_allowed |= allowed;
            }
            None => {
                let inherit = self.pinning_inherit;
                let st = &mut self.pkgs[pkg];
                st.pinning_allowed |= inherit;
                st.tag_preferred = repos & db.tag_repos(inherit) != 0;
            }
        }
        let st = &mut self.pkgs[pkg];
        if repos & db.tag_repos(st.pinning_allowed) != 0 {
            st.tag_ok = true;
        }
    }

    /// One more requirement on a name: providers that do not satisfy it
    /// are ruled out.
    pub(super) fn apply_constraint(&mut self, parent: Option<PkgId>, via: Via) {
        let db = self.db;
        let dep = self.dep(via);
        if !dep.dep.conflict {
            self.names[dep.name].requirers += 1;
            if self.names[dep.name].requirers == 1 {
                self.requirers_changed(dep.name);
            }
        }
        for &p in &db.names[dep.name].providers {
            if self.provided(&dep.dep, Some(p), parent) {
                self.inherit_pinning(p.pkg, parent);
            } else {
                self.pkgs[p.pkg].conflicts += 1;
                if self.pkgs[p.pkg].selectable {
                    self.disqualify(p.pkg, Rejection::Constraint(via));
                }
            }
        }
    }

    /// Whether `dep` of `owner` can still be met.
    pub(super) fn satisfiable(&self, dep: &Dep, owner: PkgId) -> bool {
        let ns = &self.names[dep.name];
        if ns.locked {
            return self.provided(&dep.dep, ns.chosen, Some(owner));
        }
        if ns.requirers == 0 && self.provided(&dep.dep, None, Some(owner)) {
            return true;
        }
        self.db.names[dep.name]
            .providers
            .iter()
            .any(|&p| self.pkgs[p.pkg].selectable && self.provided(&dep.dep, Some(p), Some(owner)))
    }

    /// The next name to decide, or None when all required names are.
    fn next_name(&self) -> Option<NameId> {
        let db = self.db;
        let mut best: Option<NameId> = None;
        for &n in self.unresolved.iter().rev() {
            let ns = &self.names[n];
            if ns.reverse_deps_done && ns.requirers > 0 && !ns.has_options {
                return Some(n);
            }
            let earlier = |b: NameId| {
                let nb = &self.names[b];
                (nb.requirers > 0)
                    .cmp(&(ns.requirers > 0))
                    .then(db.names[n].priority.cmp(&db.names[b].priority))
                    .then(nb.max_dep_chain.cmp(&ns.max_dep_chain))
                    == Ordering::Less
            };
            if best.is_none_or(earlier) {
                best = Some(n);
            }
        }
        best
    }
}

/// apk's version order, where an unversioned side decides nothing.
pub(super) fn version_order(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => version::compare(a, b),
        _ => Ordering::Equal,
    }
}
