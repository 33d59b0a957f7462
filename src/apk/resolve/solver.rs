//! apk-tools' solver, rewritten: a deductive, propagating, greedy search
//! with no backtracking. Names are decided one at a time; deciding one
//! applies its package's dependencies as constraints, which rule out
//! (disqualify) providers that cannot satisfy them, and whatever a rule-out
//! makes unsatisfiable is re-examined before the next decision. The order
//! of decisions and the preference between candidates follow apk-tools
//! 2.14 (its `solver.c`), so the same repositories and world give the same
//! packages as `apk add` into an empty root.
//!
//! Decision order (apk 2.14.7's): discovery numbers every reachable name
//! after the names its packages depend on, so dependents come before their
//! dependencies, names some package carries as its own before purely
//! virtual ones. A name is decided at once when it is required, all names
//! that depend on it are decided, exactly one candidate is left and that
//! one may be chosen automatically (queue order); otherwise the
//! highest-numbered name that has an automatically selectable candidate
//! (a versioned or prioritised provider, a required package name, or an
//! install_if that triggered); otherwise the highest-numbered other one.
//!
//! Preference between candidates for a name, first difference wins:
//! not ruled out; among the candidates whose dependencies were merged last;
//! fewer failed constraints; allowed by pinning; preferred by pinning
//! (from the repository the world asked for); higher version of the
//! requested name; higher version of the package (same package name);
//! higher provider priority (`k:`); lower repository index; and finally,
//! as apk, the provider listed first (repository order, then index order).

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

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
    /// The i-th `i:` atom of a package (only its conflicts are applied).
    InstallIf(PkgId, usize),
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
    pub(super) has_auto_selectable: bool,
    /// A triggered install_if waits for this name to be settled (its
    /// install_if conflicts with the name): decide it even if unrequired.
    pub(super) iif_needed: bool,
    pub(super) resolvenow: bool,
    pub(super) reverse_deps_done: bool,
    /// Discovery number (see the module doc); unique per name.
    pub(super) order_id: u32,
    pub(super) queued: bool,
    pub(super) merge_depends: u32,
    pub(super) merge_provides: u32,
    pub(super) has_virtual_provides: bool,
    pub(super) dirty: bool,
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
    pub(super) error: bool,
    pub(super) in_changeset: bool,
}

/// One name being discovered: its phase (0: providers and their
/// dependencies, 1: its reverse install_if, 2: each provider's reverse
/// install_if and provides, 3: each provider's install_if triggers) and
/// positions in it.
struct DiscoverFrame {
    name: NameId,
    phase: u8,
    i: usize,
    j: usize,
    /// Phase 0: the current provider's dependencies are being walked.
    expanding: bool,
}

pub(super) struct Solver<'d, 'a> {
    pub db: &'d Db<'a>,
    pub names: Vec<NameState>,
    pub pkgs: Vec<PkgState>,
    dirty: VecDeque<NameId>,
    /// Names to decide at once, first queued first.
    resolvenow: VecDeque<NameId>,
    /// Names with an automatically selectable candidate, by order_id.
    selectable: BTreeMap<u32, NameId>,
    /// Other undecided wanted names, by order_id.
    unresolved: BTreeMap<u32, NameId>,
    next_order: u32,
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
            resolvenow: VecDeque::new(),
            selectable: BTreeMap::new(),
            unresolved: BTreeMap::new(),
            next_order: 0,
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
                Some(name) => {
                    s.names[name].queued = false;
                    s.select(name)
                }
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
            Via::InstallIf(pkg, i) => &db.pkgs[pkg].install_if[i],
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

    /// Walk the names reachable from `root` (dependencies, reverse
    /// install_if of names and of provides, provides, install_if triggers),
    /// initialising their packages and numbering names in apk's order; an
    /// explicit stack in the order of apk's recursion.
    fn discover(&mut self, root: NameId) {
        if self.names[root].seen {
            return;
        }
        let mut stack = vec![self.enter(root)];
        while let Some(top) = stack.len().checked_sub(1) {
            match self.discover_step(&mut stack[top]) {
                Some(child) if !self.names[child].seen => {
                    let frame = self.enter(child);
                    stack.push(frame);
                }
                Some(_) => {}
                None => {
                    stack.pop();
                }
            }
        }
    }

    /// Advance a frame: the next name to visit, or None when it is done.
    fn discover_step(&mut self, f: &mut DiscoverFrame) -> Option<NameId> {
        let db = self.db;
        let providers = &db.names[f.name].providers;
        loop {
            match f.phase {
                0 => {
                    let Some(p) = providers.get(f.i) else {
                        (f.phase, f.i, f.j) = (1, 0, 0);
                        continue;
                    };
                    if f.j == 0 && !f.expanding && !self.pkgs[p.pkg].seen {
                        self.init_pkg(p.pkg);
                        f.expanding = true;
                    }
                    let deps = &db.pkgs[p.pkg].depends;
                    if f.expanding && f.j < deps.len() {
                        f.j += 1;
                        return Some(deps[f.j - 1].name);
                    }
                    let failed = self.pkgs[p.pkg].iif_failed;
                    self.names[f.name].no_iif &= failed;
                    (f.i, f.j, f.expanding) = (f.i + 1, 0, false);
                }
                1 => match db.names[f.name].rinstall_if.get(f.i) {
                    Some(&n) => {
                        f.i += 1;
                        return Some(n);
                    }
                    None => (f.phase, f.i, f.j) = (2, 0, 0),
                },
                2 => {
                    let Some(p) = providers.get(f.i) else {
                        (f.phase, f.i, f.j) = (3, 0, 0);
                        let has_real = db.names[f.name].has_real;
                        self.next_order += 1;
                        self.names[f.name].order_id = u32::from(has_real) << 30 | self.next_order;
                        continue;
                    };
                    let pkg = &db.pkgs[p.pkg];
                    let rinstall = &db.names[pkg.name].rinstall_if;
                    f.j += 1;
                    if let Some(&n) = rinstall.get(f.j - 1) {
                        return Some(n);
                    }
                    if let Some((n, _)) = pkg.provides.get(f.j - 1 - rinstall.len()) {
                        return Some(*n);
                    }
                    (f.i, f.j) = (f.i + 1, 0);
                }
                _ => {
                    let p = providers.get(f.i)?;
                    let iif = &db.pkgs[p.pkg].install_if;
                    f.j += 1;
                    if let Some(d) = iif.get(f.j - 1) {
                        return Some(d.name);
                    }
                    (f.i, f.j) = (f.i + 1, 0);
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
            phase: 0,
            i: 0,
            j: 0,
            expanding: false,
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

    /// Queue a wanted name for a decision, or move it to the queue it now
    /// belongs in (`reevaluate`: its auto-selectability changed).
    pub(super) fn queue_unresolved(&mut self, name: NameId, reevaluate: bool) {
        let ns = &self.names[name];
        if ns.locked {
            return;
        }
        let now =
            ns.reverse_deps_done && ns.requirers > 0 && ns.has_auto_selectable && !ns.has_options;
        if ns.queued {
            if ns.resolvenow || (!now && !reevaluate) {
                return;
            }
            self.dequeue(name);
        } else if ns.requirers == 0 && !ns.has_iif && !ns.iif_needed {
            return;
        }
        let ns = &mut self.names[name];
        (ns.queued, ns.resolvenow) = (true, now);
        let key = ns.order_id;
        if now {
            self.resolvenow.push_back(name);
        } else if ns.has_auto_selectable {
            self.selectable.insert(key, name);
        } else {
            self.unresolved.insert(key, name);
        }
    }

    /// Take a name off the decision queues (it is being decided, or moves).
    pub(super) fn dequeue(&mut self, name: NameId) {
        let ns = &mut self.names[name];
        if std::mem::take(&mut ns.queued) {
            let key = ns.order_id;
            if std::mem::take(&mut ns.resolvenow) {
                self.resolvenow.retain(|&n| n != name);
            }
            self.selectable.remove(&key);
            self.unresolved.remove(&key);
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

    /// A package came or went: the install_if of names reverse-linked to
    /// its own name and its provides may have changed.
    pub(super) fn reevaluate_reverse_installif_pkg(&mut self, pkg: PkgId) {
        let db = self.db;
        let p = &db.pkgs[pkg];
        self.reevaluate_reverse_installif(p.name);
        for (name, _) in &p.provides {
            self.reevaluate_reverse_installif(*name);
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

    pub(super) fn disqualify(&mut self, pkg: PkgId) {
        let db = self.db;
        self.pkgs[pkg].selectable = false;
        let p = &db.pkgs[pkg];
        self.reevaluate_reverse_deps(p.name);
        for (name, _) in &p.provides {
            self.reevaluate_reverse_deps(*name);
        }
        self.reevaluate_reverse_installif_pkg(pkg);
    }

    pub(super) fn requirers_changed(&mut self, name: NameId) {
        self.queue_unresolved(name, false);
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
                    self.disqualify(p.pkg);
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

    /// The next name to decide, or None when all wanted names are.
    fn next_name(&mut self) -> Option<NameId> {
        if let Some(name) = self.resolvenow.pop_front() {
            self.names[name].resolvenow = false;
            return Some(name);
        }
        self.selectable
            .pop_last()
            .or_else(|| self.unresolved.pop_last())
            .map(|(_, name)| name)
    }
}

/// apk's version order, where an unversioned side decides nothing.
pub(super) fn version_order(a: Option<&str>, b: Option<&str>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => version::compare(a, b),
        _ => Ordering::Equal,
    }
}
