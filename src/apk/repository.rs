//! Repositories as an environment is built from them: the `[@tag] LOCATION`
//! lines melange and apk configure, opening one repository's
//! `APKINDEX.tar.gz` with its signature checked against the keyring
//! *before* anything in it is used, and resolving a world over the opened
//! indexes. Pure (bytes in, records out): the host `resolve` subcommand
//! reads the files from disk, the frontend reads them through BuildKit,
//! and both then run exactly this code.
//!
//! Trust is apk's: an index must carry a `.SIGN.RSA*.` signature by a key
//! of the keyring (looked up by file name). An unsigned index, a key the
//! keyring does not hold and a signature that does not verify are errors
//! naming the repository, unless the caller explicitly allows untrusted
//! indexes ([`Trust::Untrusted`] then says what was skipped, for a loud
//! warning).

use std::fmt;

use super::resolve::{resolve, Repository, Resolution};
use super::{verify_index, ApkError, ApkIndex, Dependency, IndexRecord, Keyring, Verified};

/// One configured repository: `URL`, `DIR`, or `@tag URL`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepositoryRef {
    /// `@tag` of a pinned repository (without the `@`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Where it is: an `http(s)://` URL, or a folder holding `<arch>/`.
    pub location: String,
}

impl RepositoryRef {
    /// Parse a repository line as apk reads `/etc/apk/repositories`:
    /// an optional `@tag` word, then the location.
    pub fn parse(text: &str) -> Result<RepositoryRef, String> {
        let mut words = text.split_whitespace();
        let (tag, location) = match (words.next(), words.next(), words.next()) {
            (Some(tag), Some(location), None) if tag.starts_with('@') => {
                let tag = &tag[1..];
                if tag.is_empty() {
                    return Err(format!("repository {text:?}: empty tag after '@'"));
                }
                (Some(tag.to_string()), location)
            }
            (Some(location), None, None) if !location.starts_with('@') => (None, location),
            (None, _, _) => return Err("empty repository".to_string()),
            _ => {
                return Err(format!(
                    "repository {text:?}: expected `LOCATION` or `@tag LOCATION`"
                ))
            }
        };
        Ok(RepositoryRef {
            tag,
            location: location.trim_end_matches('/').to_string(),
        })
    }

    /// Whether the location is fetched over HTTP(S).
    pub fn is_url(&self) -> bool {
        is_url(&self.location)
    }

    /// The path of the index below the location for `arch`.
    pub fn index_path(arch: &str) -> String {
        format!("{arch}/APKINDEX.tar.gz")
    }

    /// The path of a package's file below the location.
    pub fn package_path(arch: &str, name: &str, version: &str) -> String {
        format!("{arch}/{name}-{version}.apk")
    }
}

impl fmt::Display for RepositoryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(tag) => write!(f, "@{tag} {}", self.location),
            None => f.write_str(&self.location),
        }
    }
}

/// Whether `location` is an `http://` or `https://` URL.
pub fn is_url(location: &str) -> bool {
    let lower = location.to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// The file name a key is known by in the keyring (and in
/// `/etc/apk/keys`): the last path or URL component.
pub fn key_file_name(location: &str) -> &str {
    let path = location.split(['?', '#']).next().unwrap_or(location);
    path.rsplit('/').next().unwrap_or(path)
}

/// How an opened index was trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Its signature verifies with this keyring key.
    Signed {
        /// Key file name.
        key: String,
    },
    /// Not checked, because the caller allowed untrusted indexes; says
    /// what the check would have found.
    Untrusted {
        /// Why it would have been rejected (or that it verified anyway).
        reason: String,
    },
    /// The in-solve repository: the packages the same build made, trusted
    /// because it made them (its index may be unsigned); see
    /// [`super::insolve`].
    Built,
}

/// An index whose signature was checked, with the records for one arch.
#[derive(Debug, Clone)]
pub struct OpenedIndex {
    /// The repository.
    pub repository: RepositoryRef,
    /// How it was trusted.
    pub trust: Trust,
    /// Its `DESCRIPTION`.
    pub description: String,
    /// Records whose `A:` is the requested arch, `noarch` or empty.
    pub records: Vec<IndexRecord>,
    /// Records dropped for another arch.
    pub other_arch: usize,
}

/// Why a repository cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("repository {repository}: {reason}")]
pub struct RepositoryError {
    /// The repository as configured.
    pub repository: String,
    /// What is wrong, naming the file.
    pub reason: String,
}

/// Open `repository`'s index (`bytes`, read from `file`) for `arch`:
/// parse it, check its signature against `keys`, keep the arch's records.
pub fn open_index(
    repository: &RepositoryRef,
    file: &str,
    bytes: &[u8],
    keys: &Keyring,
    allow_untrusted: bool,
    arch: &str,
) -> Result<OpenedIndex, RepositoryError> {
    let fail = |reason: String| RepositoryError {
        repository: repository.to_string(),
        reason,
    };
    let index = ApkIndex::parse(bytes).map_err(|e| fail(format!("{file}: {e}")))?;
    let verdict = match verify_index(&index, keys) {
        Ok(Verified::Signed { key }) => Ok(key),
        Ok(Verified::Unsigned) => Err(format!(
            "{file} is not signed (UNTRUSTED): sign it (`melange-frontend sign-index \
             --signing-key KEY {file}`), or allow untrusted indexes explicitly"
        )),
        Err(e) => Err(untrusted_reason(file, &e, keys)),
    };
    let trust = match (verdict, allow_untrusted) {
        (Ok(key), _) => Trust::Signed { key },
        (Err(reason), true) => Trust::Untrusted { reason },
        (Err(reason), false) => return Err(fail(reason)),
    };
    let total = index.records.len();
    let records: Vec<IndexRecord> = index
        .records
        .into_iter()
        .filter(|r| r.arch.is_empty() || r.arch == arch || r.arch == "noarch")
        .collect();
    Ok(OpenedIndex {
        repository: repository.clone(),
        trust,
        description: index.description,
        other_arch: total - records.len(),
        records,
    })
}

fn untrusted_reason(file: &str, error: &ApkError, keys: &Keyring) -> String {
    let held = || {
        let names: Vec<&str> = keys.names().collect();
        if names.is_empty() {
            "the keyring is empty".to_string()
        } else {
            format!("the keyring holds {}", names.join(", "))
        }
    };
    match error {
        ApkError::KeyNotInKeyring { key } => format!(
            "{file} is signed by key {key}, which is not in the keyring ({}): UNTRUSTED signature",
            held()
        ),
        ApkError::BadSignature { key } => format!(
            "{file}: the signature by key {key} does not verify with the keyring's {key} \
             (the index was changed after signing, or that key file holds another key): \
             BAD signature"
        ),
        other => format!("{file}: {other}"),
    }
}

/// Why a world cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// A world atom does not parse.
    #[error("package {atom:?}: {reason}")]
    Atom {
        /// The atom as given.
        atom: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The resolver's answer (apk's explanation for an unsatisfiable world).
    #[error("{0}")]
    Resolve(#[from] super::resolve::ResolveError),
}

/// Parse the world atoms (`name`, `name>=1.2`, `name@tag`, `!name`, …).
pub fn parse_world(atoms: &[String]) -> Result<Vec<Dependency>, WorldError> {
    atoms
        .iter()
        .map(|atom| {
            Dependency::parse(atom).map_err(|e| WorldError::Atom {
                atom: atom.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Resolve `world` over the opened indexes, in configuration order.
pub fn resolve_world(indexes: &[OpenedIndex], world: &[String]) -> Result<Resolution, WorldError> {
    let atoms = parse_world(world)?;
    let repositories: Vec<Repository<'_>> = indexes
        .iter()
        .map(|index| Repository {
            tag: index.repository.tag.as_deref(),
            records: &index.records,
        })
        .collect();
    Ok(resolve(&repositories, &atoms)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_lines() {
        assert_eq!(
            RepositoryRef::parse("https://x/os/").unwrap(),
            RepositoryRef {
                tag: None,
                location: "https://x/os".into()
            }
        );
        let tagged = RepositoryRef::parse("@local ./packages").unwrap();
        assert_eq!(tagged.tag.as_deref(), Some("local"));
        assert_eq!(tagged.to_string(), "@local ./packages");
        assert!(!tagged.is_url());
        assert!(RepositoryRef::parse("@ x").is_err());
        assert!(RepositoryRef::parse("@edge").is_err());
        assert!(RepositoryRef::parse("a b").is_err());
        assert!(RepositoryRef::parse("  ").is_err());
        assert!(is_url("HTTPS://example.org"));
    }

    #[test]
    fn key_names_are_the_last_component() {
        assert_eq!(
            key_file_name("https://packages.wolfi.dev/os/wolfi-signing.rsa.pub"),
            "wolfi-signing.rsa.pub"
        );
        assert_eq!(key_file_name("./melange.rsa.pub"), "melange.rsa.pub");
        assert_eq!(key_file_name("k.pub"), "k.pub");
    }
}
