//! Automatic `depend` / `provides` for a package, computed from its files
//! the way melange's software composition analysis (`pkg/sca`) and its
//! packaging step (`pkg/build/package.go`) compute them, so a package built
//! here resolves in an APK repository exactly like one built by melange.
//!
//! What is found (paths relative to the package's `melange-out/<name>`):
//!
//! - **ELF files** (any regular file or symlink that resolves to one):
//!   the program interpreter becomes `so:<basename>` (`ld-musl-*` is named
//!   `libc.musl-*`, the name musl's package provides); every `DT_NEEDED`
//!   containing `.so.` becomes `so:<name>`; for shared objects (no
//!   interpreter, or a file name containing `.so.` or ending in `.so`) every
//!   `DT_SONAME` becomes the provides `so:<soname>=<abi>` and
//!   `so-ver:<soname>=<full version>` when the file sits directly in a
//!   library directory (`lib/`, `usr/lib/`, `lib64/`, `usr/lib64/`, plus the
//!   absolute paths listed in any relative's `etc/ld.so.conf.d/*.conf`), and
//!   is *vendored* otherwise. `<abi>` is what follows `.so.` when it is only
//!   digits and dots, else `0`. NVIDIA driver libraries injected by the host
//!   are never depended on nor provided. A Go program built with cgo and a
//!   FIPS crypto `GOEXPERIMENT` depends on `openssl-config-fipshardened` and
//!   `so:libcrypto.so.3`, which it loads at run time.
//! - **symlinks across packages**: a symlink whose path contains `.so` is
//!   followed by file name into the library directories of the origin
//!   package and every subpackage ([`ScanOptions::relatives`], in that
//!   order); the `DT_SONAME` of the library found there becomes a
//!   `so:` depend. This is how `libfoo-dev`'s `usr/lib/libfoo.so` makes it
//!   depend on `so:libfoo.so.1`, provided by `libfoo`.
//! - **commands**: regular files with all of `r-xr-xr-x` directly in `bin/`,
//!   `sbin/`, `usr/bin/` or `usr/sbin/` provide `cmd:<name>=<full version>`.
//! - **scripts**: a `#!` interpreter of a regular file under `usr/bin/`,
//!   `usr/local/bin/` or `usr/local/sbin/` becomes `cmd:<basename>`
//!   (`/usr/bin/env NAME` and `env -S NAME` name NAME; `sh`, `python`,
//!   `python3`, `awk` and `luajit` are ignored: nothing provides them as a
//!   `cmd:` or more than one package does).
//! - **pkg-config**: `<name>.pc` directly in `usr/lib/pkgconfig/`,
//!   `usr/lib64/pkgconfig/`, `usr/share/pkgconfig/`,
//!   `usr/local/lib/pkgconfig/` or `usr/local/share/pkgconfig/` provides
//!   `pc:<name>=<full version>` and depends on `pc:<name>` for everything in
//!   its `Requires`, `Requires.private` and `Requires.internal`; elsewhere it
//!   is vendored. A file melange's parser rejects yields nothing.
//! - **languages and docs**: `…/pythonX.Y/site-packages/` depends on
//!   `python-X.Y-base`, `usr/lib/ruby/gems/X.Y.Z/gems` on `ruby-X.Y` (unless
//!   a declared depend already names python / ruby), and a `-doc` package
//!   with man or info pages on `man-db` / `texinfo`.
//!
//! Then, as melange does: lists sorted and deduplicated; `no-commands`
//! removes every `cmd:` entry, `no-depends` every generated depend,
//! `no-provides` every generated provides; depends satisfied by something
//! vendored are dropped; the declared depends and provides are merged in;
//! and depends satisfied by the package's own provides are dropped.

mod elf;
mod fsys;
mod generators;
mod gobuild;
mod pkgconfig;
mod shebang;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

/// What the packaging step knows about the package being scanned.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The package's name (a `-doc` suffix enables the doc rules).
    pub package_name: String,
    /// The full version, `<version>-r<epoch>`, used in the versioned
    /// provides (`cmd:`, `pc:`, `so-ver:`).
    pub version: String,
    /// `options.no-provides`: generate no provides.
    pub no_provides: bool,
    /// `options.no-depends`: generate no depends (declared ones stay).
    pub no_depends: bool,
    /// `options.no-commands`: neither provide nor depend on `cmd:`.
    pub no_commands: bool,
    /// `options.no-versioned-shlib-deps`. melange only versions `so-ver:`
    /// depends behind a feature flag and with a package resolver over the
    /// build's repositories; without those it generates none either way,
    /// and neither does this scan, so the flag is accepted for completeness.
    pub no_versioned_shlib_deps: bool,
    /// `dependencies.runtime` as declared in the build file.
    pub declared_depends: Vec<String>,
    /// `dependencies.provides` as declared in the build file.
    pub declared_provides: Vec<String>,
    /// The `melange-out/<name>` folders of the origin package and of every
    /// subpackage, origin first, in build-file order (the scanned package
    /// included). Empty means the scanned folder alone.
    pub relatives: Vec<PathBuf>,
}

/// The final lists for `.PKGINFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// `depend = …` lines: declared and generated, sorted, deduplicated.
    pub depends: Vec<String>,
    /// `provides = …` lines: declared and generated, sorted, deduplicated.
    pub provides: Vec<String>,
    /// What the package ships outside the library directories; melange
    /// writes these as `# vendored = …` comments (no effect on resolution).
    pub vendored: Vec<String>,
    /// Things melange would log as warnings (unreadable `#!` lines,
    /// unparsable `.pc` files, shared objects without a readable SONAME).
    pub warnings: Vec<String>,
}

/// What the analysis alone generates, before the declared dependencies are
/// merged in: melange's `sca.Analyze` result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    /// Generated depends.
    pub runtime: Vec<String>,
    /// Generated provides.
    pub provides: Vec<String>,
    /// Provides for things shipped outside the library directories.
    pub vendored: Vec<String>,
    /// See [`Scan::warnings`].
    pub warnings: Vec<String>,
}

/// Why a package folder could not be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The folder (or a relative's) is not a directory.
    #[error("{0}: not a directory")]
    NotADirectory(String),
    /// A file name that is not UTF-8 (packages cannot hold those either).
    #[error("{0}: file name is not UTF-8")]
    NonUtf8(String),
    /// Reading the tree failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An ELF file whose program interpreter cannot be read.
    #[error("{path}: {reason}")]
    Elf {
        /// Path inside the package.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ScanError {
    fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        ScanError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Scans the package folder `root` and returns its complete `depend` and
/// `provides` lists (declared + generated), as melange writes them.
pub fn scan(root: &Path, opts: &ScanOptions) -> Result<Scan, ScanError> {
    Ok(merge(analyze(root, opts)?, opts))
}

/// melange's analysis of the package folder `root`: generated entries only,
/// with the `no-*` options applied, sorted and deduplicated.
pub fn analyze(root: &Path, opts: &ScanOptions) -> Result<Generated, ScanError> {
    let pkg = fsys::PkgFs::new(root)?;
    let relatives = match opts.relatives.is_empty() {
        true => vec![pkg.clone()],
        false => opts
            .relatives
            .iter()
            .map(|dir| fsys::PkgFs::new(dir))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut gen = Generated::default();
    let mut lib_dirs: Vec<String> = generators::LIB_DIRS.iter().map(|d| d.to_string()).collect();
    lib_dirs.extend(generators::ld_so_conf_dirs(&relatives)?);
    let entries = pkg.walk()?;
    let ctx = generators::Context {
        pkg: &pkg,
        entries: &entries,
        relatives: &relatives,
        lib_dirs: &lib_dirs,
        opts,
    };
    ctx.shared_objects(&mut gen)?;
    ctx.commands(&mut gen);
    ctx.docs(&mut gen);
    ctx.pkg_config(&mut gen)?;
    ctx.python(&mut gen);
    ctx.ruby(&mut gen);
    ctx.shebangs(&mut gen);

    sort_dedup(&mut gen.runtime);
    sort_dedup(&mut gen.provides);
    sort_dedup(&mut gen.vendored);
    if opts.no_commands {
        gen.provides.retain(|p| !p.starts_with("cmd:"));
        gen.runtime.retain(|d| !d.starts_with("cmd:"));
    }
    if opts.no_depends {
        gen.runtime.clear();
    }
    if opts.no_provides {
        gen.provides.clear();
    }
    Ok(gen)
}

/// melange's `GenerateDependencies`: drop generated depends that something
/// vendored satisfies, merge in the declared lists, and drop depends the
/// package provides itself.
pub fn merge(gen: Generated, opts: &ScanOptions) -> Scan {
    let unvendored = remove_self_provided(gen.runtime, &gen.vendored);
    let mut depends = opts.declared_depends.clone();
    depends.extend(unvendored);
    sort_dedup(&mut depends);
    let mut provides = opts.declared_provides.clone();
    provides.extend(gen.provides);
    sort_dedup(&mut provides);
    let depends = remove_self_provided(depends, &provides);
    let mut vendored = gen.vendored;
    sort_dedup(&mut vendored);
    Scan {
        depends,
        provides,
        vendored,
        warnings: gen.warnings,
    }
}

/// Depends whose name is the name (before `=`) of a provided entry are
/// dropped. A `so-ver:NAME>=V` depend is compared, and kept, as `so-ver:NAME`
/// (melange's exact behaviour).
fn remove_self_provided(depends: Vec<String>, provided: &[String]) -> Vec<String> {
    let names: std::collections::HashSet<&str> = provided
        .iter()
        .map(|p| p.split('=').next().unwrap_or(p))
        .collect();
    depends
        .into_iter()
        .map(|dep| match dep.starts_with("so-ver:") {
            true => dep.split(">=").next().unwrap_or(&dep).to_string(),
            false => dep,
        })
        .filter(|dep| !names.contains(dep.as_str()))
        .collect()
}

fn sort_dedup(list: &mut Vec<String>) {
    list.sort();
    list.dedup();
}
