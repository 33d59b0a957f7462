//! `uses: fetch` as a native BuildKit source instead of the shell pipeline.
//!
//! Why: a source fetched by BuildKit is content-addressed (with
//! `expected-sha256` its cache key is the digest, so a warm rebuild does not
//! even contact the server), verified by BuildKit, and needs no wget in the
//! build environment. The in-build helper (`extract`, run from the
//! frontend's own image) then verifies what BuildKit cannot (SHA-512) and
//! unpacks the archive into a layer that is copied into the workspace, where
//! melange would leave it: `<working dir>/<file>` and the unpacked tree under
//! `<working dir>/<directory>`.
//!
//! Only inputs the native path reproduces exactly go native; everything else
//! keeps the script pipeline (`src/pipelines/fetch.yaml`), see
//! [`native_fetch`].

use serde::Serialize;

use crate::config::subst::Vars;

/// The digest a fetched file must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "algorithm", content = "hex", rename_all = "lowercase")]
pub enum Digest {
    /// `expected-sha256`: BuildKit verifies it (the HTTP source's checksum).
    Sha256(String),
    /// `expected-sha512`: the helper verifies it.
    Sha512(String),
    /// `expected-none`: not verified, on purpose.
    None,
}

impl Digest {
    /// `sha256:<hex>` for BuildKit's `http.checksum`, when there is one.
    pub fn buildkit_checksum(&self) -> Option<String> {
        match self {
            Digest::Sha256(hex) => Some(format!("sha256:{hex}")),
            _ => None,
        }
    }
}

/// A `uses: fetch` done natively.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchSource {
    /// `http://` or `https://` URI.
    pub uri: String,
    /// The downloaded file's name: the URI's last path segment (as melange).
    pub file_name: String,
    /// What the file must hash to.
    pub digest: Digest,
    /// Unpack the file (`extract: true`).
    pub extract: bool,
    /// Leading components dropped from every member.
    pub strip_components: u32,
    /// Where the archive is unpacked, relative to `into` ("" = `into` itself).
    pub directory: String,
    /// Remove the downloaded file once unpacked (`delete: true`).
    pub delete: bool,
    /// The step's working directory (absolute): where the file is saved.
    pub into: String,
}

/// A step that BuildKit does itself rather than a shell script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum NativeSource {
    /// `uses: fetch`.
    Fetch(FetchSource),
    /// `uses: git-checkout` (plan/git.rs).
    GitCheckout(super::git::GitCheckoutSource),
}

/// `uses: fetch` with its inputs bound (`inputs.*` in `vars`) as a native
/// source, or `None` to keep the script. Native when: the URI is `http://`
/// or `https://` (the schemes of BuildKit's HTTP source); exactly one of
/// `expected-sha256`, `expected-sha512`, `expected-none` is set (the script
/// reports the other cases); `extract` and `delete` are `true`/`false`;
/// `strip-components` is a number; `directory` is relative and stays inside
/// the working directory; the URI names a file. Not reproduced natively (the
/// script's extras): a file of the same name already in the workspace is not
/// reused, and `timeout`/`dns-timeout`/`retry-limit` are BuildKit's.
pub fn native_fetch(vars: &Vars, working_directory: &str) -> Option<NativeSource> {
    let input = |name: &str| {
        vars.get(&format!("inputs.{name}"))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let uri = input("uri");
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return None;
    }
    let digest = match (
        input("expected-sha256"),
        input("expected-sha512"),
        input("expected-none"),
    ) {
        (sha256, sha512, none) if sha512.is_empty() && none.is_empty() && !sha256.is_empty() => {
            Digest::Sha256(sha256.to_ascii_lowercase())
        }
        (sha256, sha512, none) if sha256.is_empty() && none.is_empty() && !sha512.is_empty() => {
            Digest::Sha512(sha512.to_ascii_lowercase())
        }
        (sha256, sha512, none) if sha256.is_empty() && sha512.is_empty() && !none.is_empty() => {
            Digest::None
        }
        _ => return None,
    };
    let file_name = file_name(&uri)?;
    let extract = boolean(&input("extract"))?;
    let delete = boolean(&input("delete"))?;
    let strip_components = input("strip-components").parse().ok()?;
    let directory = relative_dir(&input("directory"))?;
    Some(NativeSource::Fetch(FetchSource {
        uri,
        file_name,
        digest,
        extract,
        strip_components,
        directory,
        delete,
        into: working_directory.to_string(),
    }))
}

/// melange's file name for a URI (`path.Base`), without a query or fragment
/// (BuildKit names its file the same way); `None` when nothing is left.
fn file_name(uri: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next().unwrap_or_default();
    let (_, after_scheme) = path.split_once("://")?;
    let (_, path) = after_scheme.split_once('/')?;
    let name = path.trim_end_matches('/').rsplit('/').next()?;
    match name {
        "" | "." | ".." => None,
        name => Some(name.to_string()),
    }
}

fn boolean(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `directory` normalized ("." and empty segments dropped); `None` when it
/// is absolute or climbs out with `..`.
pub(super) fn relative_dir(dir: &str) -> Option<String> {
    if dir.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in dir.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        let mut vars: Vars = [
            ("inputs.extract", "true"),
            ("inputs.delete", "false"),
            ("inputs.strip-components", "1"),
            ("inputs.directory", "."),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            vars.insert(format!("inputs.{k}"), v.to_string());
        }
        vars
    }

    const SHA: &str = "31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b";

    #[test]
    fn sha256_fetch_is_native() {
        let v = vars(&[
            ("uri", "https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz"),
            ("expected-sha256", SHA),
        ]);
        let Some(NativeSource::Fetch(f)) = native_fetch(&v, "/home/build") else {
            panic!("not native");
        };
        assert_eq!(f.file_name, "hello-2.10.tar.gz");
        assert_eq!(f.digest.buildkit_checksum(), Some(format!("sha256:{SHA}")));
        assert_eq!((f.extract, f.delete, f.strip_components), (true, false, 1));
        assert_eq!(f.directory, "");
        assert_eq!(f.into, "/home/build");
    }

    #[test]
    fn sha512_and_none_are_native_without_buildkit_checksum() {
        let v = vars(&[
            ("uri", "http://x/a.tgz"),
            ("expected-sha512", &"a".repeat(128)),
        ]);
        let Some(NativeSource::Fetch(f)) = native_fetch(&v, "/w") else {
            panic!("not native");
        };
        assert_eq!(f.digest.buildkit_checksum(), None);
        let v = vars(&[("uri", "http://x/a.tgz"), ("expected-none", "true")]);
        assert!(matches!(
            native_fetch(&v, "/w"),
            Some(NativeSource::Fetch(FetchSource {
                digest: Digest::None,
                ..
            }))
        ));
    }

    #[test]
    fn other_inputs_keep_the_script() {
        let ok = [("expected-sha256", SHA)];
        for extra in [
            [("uri", "ftp://x/a.tgz")],
            [("uri", "http://x/")],
            [("directory", "../up")],
            [("directory", "/abs")],
            [("strip-components", "one")],
            [("extract", "yes")],
        ] {
            let mut v = vars(&ok);
            v.insert("inputs.uri".into(), "http://x/a.tgz".into());
            for (k, val) in extra {
                v.insert(format!("inputs.{k}"), val.into());
            }
            assert_eq!(native_fetch(&v, "/w"), None, "{extra:?}");
        }
        // no digest at all, or two of them: the script says what is wrong
        assert_eq!(
            native_fetch(&vars(&[("uri", "http://x/a.tgz")]), "/w"),
            None
        );
        let both = vars(&[
            ("uri", "http://x/a.tgz"),
            ("expected-sha256", SHA),
            ("expected-none", "1"),
        ]);
        assert_eq!(native_fetch(&both, "/w"), None);
    }

    #[test]
    fn names_and_dirs() {
        assert_eq!(
            file_name("https://h/p/f.tar.xz?x=1").as_deref(),
            Some("f.tar.xz")
        );
        assert_eq!(file_name("https://h").as_deref(), None);
        assert_eq!(relative_dir("./a//b/.").as_deref(), Some("a/b"));
    }
}
