//! [`Vars`]: the variables `${{…}}` can name, cheap to copy. Every
//! subpackage and every step gets its own copy of the build's variables
//! plus a few of its own; with a map copied whole each time, planning was
//! quadratic in subpackages (each copy held every `targets.package.<name>`).
//! Here the build's variables are shared behind an `Arc` once
//! [`Vars::share`] is called, and a copy duplicates only what was set
//! after that.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Variables by name (`package.name`, `vars.x`, `inputs.uri`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// Shared by every copy made after the last [`Vars::share`].
    shared: Arc<BTreeMap<String, String>>,
    /// Set since then; takes precedence over `shared`.
    own: BTreeMap<String, String>,
}

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.own.get(name).or_else(|| self.shared.get(name))
    }

    /// Set `name` (in this copy only).
    pub fn insert(&mut self, name: String, value: String) {
        self.own.insert(name, value);
    }

    /// Every name, sorted (for error hints).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .own
            .keys()
            .chain(self.shared.keys().filter(|k| !self.own.contains_key(*k)))
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    /// Make what this copy holds shared: copies made from now on take only
    /// a reference to it.
    pub fn share(&mut self) {
        if self.own.is_empty() {
            return;
        }
        let mut all = std::mem::take(&mut self.own);
        if !self.shared.is_empty() {
            let mut base = (*self.shared).clone();
            base.append(&mut all);
            all = base;
        }
        self.shared = Arc::new(all);
    }
}

impl Extend<(String, String)> for Vars {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, items: I) {
        self.own.extend(items);
    }
}

impl FromIterator<(String, String)> for Vars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(items: I) -> Self {
        Vars {
            shared: Arc::default(),
            own: items.into_iter().collect(),
        }
    }
}

impl<const N: usize> From<[(String, String); N]> for Vars {
    fn from(items: [(String, String); N]) -> Self {
        items.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_what_was_set_before_and_override_it() {
        let mut base = Vars::from([("a".to_string(), "1".to_string())]);
        base.insert("b".into(), "2".into());
        base.share();
        let mut copy = base.clone();
        assert!(Arc::ptr_eq(&base.shared, &copy.shared));
        copy.insert("a".into(), "one".into());
        copy.insert("c".into(), "3".into());
        assert_eq!(copy.get("a").map(String::as_str), Some("one"));
        assert_eq!(base.get("a").map(String::as_str), Some("1"));
        assert_eq!(copy.names(), ["a", "b", "c"]);
        copy.share();
        assert_eq!(copy.get("a").map(String::as_str), Some("one"));
        assert_eq!(copy.own.len(), 0);
        assert_eq!(base.get("c"), None);
    }
}
