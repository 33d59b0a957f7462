//! The solver's two steps on one name: re-examining its candidates after a
//! change (`reconsider`), and deciding it (`select`), with the candidate
//! preference documented in `solver.rs`.

use std::cmp::Ordering;

use super::db::{NameId, Provider};
use super::solver::{version_order, Solver, Via};

/// apk's "merge index": a per-name counter equal to the number of options
/// seen so far exactly when the name appeared in every one of them.
fn merge(counter: &mut u32, options: u32) -> bool {
    if *counter != options {
        return false;
    }
    *counter = options + 1;
    true
}

/// Reads and resets a merge counter: whether the name was in every option.
fn merge_complete(counter: &mut u32, options: u32) -> bool {
    let all = *counter == options;
    *counter = 0;
    all
}

impl Solver<'_, '_> {
    /// Re-examine a name's candidates: rule out those whose dependencies
    /// became unsatisfiable, trigger install_if, and propagate what all
    /// remaining candidates have in common (a dependency name, a provided
    /// name) before the name is decided.
    pub(super) fn reconsider(&mut self, name: NameId) {
        let db = self.db;
        let reevaluate_deps = std::mem::take(&mut self.names[name].reevaluate_deps);
        let reevaluate_iif = std::mem::take(&mut self.names[name].reevaluate_iif);
        let (mut first, mut options, mut tag_not_ok) = (None, 0u32, 0u32);
        let (mut has_iif, mut no_iif, mut auto) = (false, true, false);
        for &p in &db.names[name].providers {
            let pkg = p.pkg;
            let package = &db.pkgs[pkg];
            self.pkgs[pkg].dependencies_merged = false;
            if reevaluate_deps
                && self.pkgs[pkg].selectable
                && (0..package.depends.len()).any(|i| !self.satisfiable(&package.depends[i], pkg))
            {
                self.disqualify(pkg);
            }
            if !self.pkgs[pkg].selectable {
                continue;
            }
            if reevaluate_iif && !self.pkgs[pkg].iif_triggered && !self.pkgs[pkg].iif_failed {
                let (mut triggered, mut failed) = (true, false);
                for d in &package.install_if {
                    let target = &self.names[d.name];
                    if !target.locked {
                        if d.dep.conflict {
                            // `!name` in install_if: settle that name.
                            self.names[d.name].iif_needed = true;
                            self.queue_unresolved(d.name, false);
                        }
                        triggered = false;
                        break;
                    }
                    if !self.provided(&d.dep, target.chosen, None) {
                        (triggered, failed) = (false, true);
                        break;
                    }
                }
                self.pkgs[pkg].iif_triggered = triggered;
                self.pkgs[pkg].iif_failed = failed;
            }
            if reevaluate_iif && self.pkgs[pkg].iif_triggered {
                for d in &package.install_if {
                    let parent = self.names[d.name].chosen.map(|c| c.pkg);
                    self.inherit_pinning(pkg, parent);
                }
            }
            has_iif |= self.pkgs[pkg].iif_triggered;
            no_iif &= self.pkgs[pkg].iif_failed;
            auto |= self.pkgs[pkg].iif_triggered;
            if self.names[name].requirers == 0 {
                continue;
            }
            self.pkgs[pkg].dependencies_merged = true;
            first.get_or_insert(pkg);
            for d in package.depends.iter().filter(|d| !d.dep.conflict) {
                merge(&mut self.names[d.name].merge_depends, options);
            }
            let unversioned = db.provider_version(p).is_none();
            let own = &mut self.names[package.name];
            if merge(&mut own.merge_provides, options) {
                own.has_virtual_provides |= unversioned;
            }
            for (pname, provide) in &package.provides {
                let ns = &mut self.names[*pname];
                if merge(&mut ns.merge_provides, options) {
                    ns.has_virtual_provides |= provide.version.is_none();
                }
            }
            tag_not_ok += u32::from(!self.pkgs[pkg].tag_ok);
            options += 1;
            let own_required = self.names[package.name].requirers > 0;
            auto |= db.auto_selectable(p, own_required);
        }
        let ns = &mut self.names[name];
        ns.has_options = options > 1 || tag_not_ok > 0;
        ns.has_iif = has_iif;
        ns.no_iif = no_iif;
        let reevaluate = ns.has_auto_selectable != auto;
        ns.has_auto_selectable = auto;

        if let Some(pkg) = first {
            for p in &db.names[name].providers {
                self.pkgs[p.pkg].dependencies_used = self.pkgs[p.pkg].dependencies_merged;
            }
            let package = &db.pkgs[pkg];
            if options == 1 {
                for (i, d) in package.depends.iter().enumerate() {
                    if merge_complete(&mut self.names[d.name].merge_depends, options) {
                        self.apply_constraint(Some(pkg), Via::Depends(pkg, i));
                    }
                }
            } else {
                for d in &package.depends {
                    let common = merge_complete(&mut self.names[d.name].merge_depends, options);
                    if common && self.names[d.name].requirers == 0 {
                        // Every candidate needs this name: require it now.
                        self.names[d.name].requirers += 1;
                        self.requirers_changed(d.name);
                        for p in &db.names[d.name].providers {
                            self.inherit_pinning(p.pkg, Some(pkg));
                        }
                    }
                }
            }
            let own = package.name;
            if merge_complete(&mut self.names[own].merge_provides, options) {
                let skip_virtual = self.names[own].has_virtual_provides;
                self.exclude_non_providers(own, name, skip_virtual);
            }
            for (pname, _) in &package.provides {
                if merge_complete(&mut self.names[*pname].merge_provides, options) {
                    let skip_virtual = self.names[*pname].has_virtual_provides;
                    self.exclude_non_providers(*pname, name, skip_virtual);
                }
            }
            self.names[own].has_virtual_provides = false;
            for (pname, _) in &package.provides {
                self.names[*pname].has_virtual_provides = false;
            }
        }
        let done = !db.names[name]
            .rdepends
            .iter()
            .any(|&n| self.names[n].seen && !self.names[n].locked);
        self.names[name].reverse_deps_done = done;
        self.queue_unresolved(name, reevaluate);
    }

    /// Every candidate for `must_provide` answers to `name`: rule out the
    /// other packages answering to `name` that do not also answer to
    /// `must_provide` (they would clash with whichever is chosen).
    fn exclude_non_providers(&mut self, name: NameId, must_provide: NameId, skip_virtual: bool) {
        let db = self.db;
        if name == must_provide {
            return;
        }
        for &p in &db.names[name].providers {
            let package = &db.pkgs[p.pkg];
            let spared = package.name == must_provide
                || !self.pkgs[p.pkg].selectable
                || (skip_virtual && db.provider_version(p).is_none())
                || package.provides.iter().any(|(n, provide)| {
                    *n == must_provide || (skip_virtual && provide.version.is_none())
                });
            if !spared {
                self.disqualify(p.pkg);
            }
        }
    }

    /// Decide a name: pick the preferred candidate, give it all its names,
    /// and apply its dependencies.
    pub(super) fn select(&mut self, name: NameId) {
        let db = self.db;
        let providers = &db.names[name].providers;
        let mut chosen: Option<Provider> = None;
        let ns = &self.names[name];
        if ns.requirers > 0 || ns.has_iif {
            for &p in providers {
                let st = &self.pkgs[p.pkg];
                let package = &db.pkgs[p.pkg];
                if ns.requirers == 0 && (!st.iif_triggered || !st.tag_ok || !st.selectable) {
                    continue;
                }
                if !db.auto_selectable(p, self.names[package.name].requirers > 0) {
                    continue;
                }
                if chosen.is_none_or(|c| self.prefer(p, c) == Ordering::Greater) {
                    chosen = Some(p);
                }
            }
        }
        match chosen {
            Some(p) => {
                let pkg = p.pkg;
                if !self.pkgs[pkg].selectable || !self.pkgs[pkg].tag_ok {
                    self.mark_error(Some(pkg));
                }
                let package = &db.pkgs[pkg];
                self.assign(package.name, Some(Provider { pkg, provide: None }));
                for (i, (pname, _)) in package.provides.iter().enumerate() {
                    let provider = Provider {
                        pkg,
                        provide: Some(i),
                    };
                    self.assign(*pname, Some(provider));
                }
                for i in 0..package.depends.len() {
                    self.apply_constraint(Some(pkg), Via::Depends(pkg, i));
                }
            }
            None => {
                self.assign(name, None);
                if self.names[name].requirers > 0 {
                    self.errors += 1;
                }
            }
        }
    }

    /// Lock `name` to a provider (None: nothing), ruling out the others;
    /// two packages providing the same name with versions is an error.
    fn assign(&mut self, name: NameId, provider: Option<Provider>) {
        let db = self.db;
        let unversioned = provider.is_none_or(|p| db.provider_version(p).is_none());
        if self.names[name].locked {
            let current = self.names[name].chosen;
            if unversioned && current.is_none_or(|c| db.provider_version(c).is_none()) {
                return;
            }
            self.mark_error(provider.map(|p| p.pkg));
            self.mark_error(current.map(|p| p.pkg));
            return;
        }
        self.names[name].locked = true;
        self.names[name].chosen = provider;
        self.dequeue(name);
        let by = provider.map(|p| p.pkg);
        if let Some(pkg) = by {
            if self.names[name].requirers == 0 && self.pkgs[pkg].iif_triggered {
                // What its install_if excludes (`!name`) stays out.
                for (i, d) in db.pkgs[pkg].install_if.iter().enumerate() {
                    if !self.names[d.name].locked {
                        self.apply_constraint(Some(pkg), Via::InstallIf(pkg, i));
                    }
                }
            }
        }
        for &p in &db.names[name].providers {
            if Some(p.pkg) == by || (unversioned && db.provider_version(p).is_none()) {
                continue;
            }
            self.disqualify(p.pkg);
        }
        self.reevaluate_reverse_deps(name);
        match by {
            Some(pkg) => self.reevaluate_reverse_installif_pkg(pkg),
            None => self.reevaluate_reverse_installif(name),
        }
    }

    /// How candidate `a` compares with `b` (Greater: `a` is preferred).
    fn prefer(&self, a: Provider, b: Provider) -> Ordering {
        let db = self.db;
        let (sa, sb) = (&self.pkgs[a.pkg], &self.pkgs[b.pkg]);
        let (pa, pb) = (&db.pkgs[a.pkg], &db.pkgs[b.pkg]);
        sa.selectable
            .cmp(&sb.selectable)
            .then(sa.dependencies_used.cmp(&sb.dependencies_used))
            .then(sb.conflicts.cmp(&sa.conflicts))
            .then(sa.tag_ok.cmp(&sb.tag_ok))
            .then(sa.tag_preferred.cmp(&sb.tag_preferred))
            .then_with(|| version_order(db.provider_version(a), db.provider_version(b)))
            .then_with(|| {
                if pa.name == pb.name {
                    version_order(Some(&pa.record.version), Some(&pb.record.version))
                } else {
                    Ordering::Equal
                }
            })
            .then(
                pa.record
                    .provider_priority
                    .cmp(&pb.record.provider_priority),
            )
            .then(pb.repos.trailing_zeros().cmp(&pa.repos.trailing_zeros()))
    }
}
