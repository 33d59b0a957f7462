//! The individual rules of the analysis (see the module documentation of
//! [`super`] for what each one finds). Each appends to a [`Generated`];
//! sorting, deduplication and the `no-*` options come afterwards.

use std::collections::BTreeSet;

use super::fsys::{self, Entry, Kind, PkgFs};
use super::{elf, pkgconfig, shebang, Generated, ScanError, ScanOptions};

/// Library directories (melange's `sca.LibDirs`).
pub(super) const LIB_DIRS: [&str; 4] = ["lib/", "usr/lib/", "lib64/", "usr/lib64/"];

/// Command directories (melange's `sca.BinDirs`).
const BIN_DIRS: [&str; 4] = ["bin/", "sbin/", "usr/bin/", "usr/sbin/"];

/// Where a `.pc` file is a real provides rather than vendored.
const PC_DIRS: [&str; 5] = [
    "usr/local/lib/pkgconfig/",
    "usr/local/share/pkgconfig/",
    "usr/lib/pkgconfig/",
    "usr/lib64/pkgconfig/",
    "usr/share/pkgconfig/",
];

/// Where `#!` lines are looked for.
const SCRIPT_DIRS: [&str; 3] = ["usr/bin/", "usr/local/bin/", "usr/local/sbin/"];

/// Libraries the NVIDIA driver on the host injects at run time: never a
/// depend, never a provides.
const HOST_LIBRARIES: [&str; 27] = [
    "libEGL_nvidia.so.1",
    "libGLESv1_CM_nvidia.so.1",
    "libGLESv2_nvidia.so.1",
    "libGLX_nvidia.so.1",
    "libcuda.so.1",
    "libcudadebugger.so.1",
    "libnvcuvid.so.1",
    "libnvidia-allocator.so.1",
    "libnvidia-cfg.so.1",
    "libnvidia-eglcore.so.1",
    "libnvidia-encode.so.1",
    "libnvidia-fbc.so.1",
    "libnvidia-glcore.so.1",
    "libnvidia-glsi.so.1",
    "libnvidia-glvkspirv.so.1",
    "libnvidia-gpucomp.so.1",
    "libnvidia-ml.so.1",
    "libnvidia-ngx.so.1",
    "libnvidia-nvvm.so.1",
    "libnvidia-opencl.so.1",
    "libnvidia-opticalflow.so.1",
    "libnvidia-pkcs11-openssl3.so.1",
    "libnvidia-pkcs11.so.1",
    "libnvidia-ptxjitcompiler.so.1",
    "libnvidia-rtcore.so.1",
    "libnvidia-tls.so.1",
    "libnvoptix.so.1",
];

/// Largest `.pc` or `ld.so.conf.d` file read (real ones are a few hundred
/// bytes; this only bounds memory against a stray huge file).
const TEXT_LIMIT: u64 = 4 << 20;

/// Everything the rules look at.
pub(super) struct Context<'a> {
    pub pkg: &'a PkgFs,
    pub entries: &'a [Entry],
    pub relatives: &'a [PkgFs],
    /// [`LIB_DIRS`] plus the `ld.so.conf.d` paths.
    pub lib_dirs: &'a [String],
    pub opts: &'a ScanOptions,
}

/// melange's `isInDir`: whether `path` sits *directly* in one of `dirs`
/// (a directory written `dir/...` matches at any depth below it).
pub(super) fn is_in_dir<S: AsRef<str>>(path: &str, dirs: &[S]) -> bool {
    let mine = fsys::dir(path);
    dirs.iter().any(|d| {
        let d = d.as_ref();
        match d.strip_suffix("/...") {
            Some(prefix) => mine == prefix || mine.starts_with(&format!("{prefix}/")),
            None => mine == d || format!("{mine}/") == d,
        }
    })
}

/// The ABI part of a SONAME: after the first `.so.`, when only digits and
/// dots; `0` otherwise.
pub(super) fn soname_abi(soname: &str) -> &str {
    match soname.split(".so.").nth(1) {
        Some(v) if v.chars().all(|c| c == '.' || c.is_numeric()) => v,
        _ => "0",
    }
}

/// Absolute directories named in `etc/ld.so.conf.d/*.conf` of any relative,
/// made relative to the root.
pub(super) fn ld_so_conf_dirs(relatives: &[PkgFs]) -> Result<Vec<String>, ScanError> {
    let mut dirs = Vec::new();
    for rel in relatives {
        for entry in rel.walk_from("etc/ld.so.conf.d")? {
            if !entry.path.ends_with(".conf") || entry.kind != Kind::File {
                continue;
            }
            let Some(text) = rel.read_regular(&entry.path, TEXT_LIMIT)? else {
                continue;
            };
            for line in String::from_utf8_lossy(&text).lines() {
                if let Some(dir) = line.strip_prefix('/') {
                    dirs.push(dir.to_string());
                }
            }
        }
    }
    Ok(dirs)
}

impl Context<'_> {
    fn version(&self) -> &str {
        &self.opts.version
    }

    /// `so:` depends and provides from ELF files and `.so` symlinks.
    pub fn shared_objects(&self, gen: &mut Generated) -> Result<(), ScanError> {
        for entry in self.entries {
            match entry.kind {
                Kind::Symlink => self.symlinked_library(&entry.path, gen)?,
                Kind::File => {}
                _ => continue,
            }
            let Some(file) = self.pkg.open_entry(entry) else {
                continue;
            };
            let Some(info) = elf::read(file) else {
                continue;
            };
            let name = fsys::base(&entry.path);
            let interpreter = info.interpreter.map_err(|reason| ScanError::Elf {
                path: entry.path.clone(),
                reason,
            })?;
            if let Some(interp) = &interpreter {
                let dep = format!("so:{}", fsys::base(interp));
                gen.runtime.push(dep.replace("so:ld-musl", "so:libc.musl"));
            }
            let needed = match info.needed {
                Ok(needed) => needed,
                Err(e) => {
                    gen.warnings.push(format!("{}: DT_NEEDED: {e}", entry.path));
                    continue;
                }
            };
            for lib in needed {
                if lib.contains(".so.") && !HOST_LIBRARIES.contains(&lib.as_str()) {
                    gen.runtime.push(format!("so:{lib}"));
                }
            }
            let is_library =
                interpreter.is_none() || name.contains(".so.") || name.ends_with(".so");
            if is_library {
                let sonames = match info.sonames {
                    Ok(sonames) => sonames,
                    Err(e) => {
                        gen.warnings
                            .push(format!("library {} lacks SONAME: {e}", entry.path));
                        continue;
                    }
                };
                self.provide_sonames(&entry.path, sonames, gen);
            }
            if info.go_settings.is_some_and(|s| go_fips_with_cgo(&s)) {
                // Loads OpenSSL in FIPS mode at run time.
                gen.runtime.push("openssl-config-fipshardened".to_string());
                gen.runtime.push("so:libcrypto.so.3".to_string());
            }
        }
        Ok(())
    }

    fn provide_sonames(&self, path: &str, sonames: Vec<String>, gen: &mut Generated) {
        let in_lib_dir = is_in_dir(path, self.lib_dirs);
        for soname in sonames {
            if HOST_LIBRARIES.contains(&soname.as_str()) {
                continue;
            }
            let list = match in_lib_dir {
                true => &mut gen.provides,
                false => &mut gen.vendored,
            };
            list.push(format!("so:{soname}={}", soname_abi(&soname)));
            list.push(format!("so-ver:{soname}={}", self.version()));
        }
    }

    /// A symlink with `.so` in its path: its target's file name, looked up
    /// in the library directories of every relative, gives a `so:` depend
    /// on that library's SONAME.
    fn symlinked_library(&self, path: &str, gen: &mut Generated) -> Result<(), ScanError> {
        if !path.contains(".so") {
            return Ok(());
        }
        let Some(target) = self.pkg.readlink(path) else {
            return Ok(());
        };
        let real = fsys::base(&target);
        let found = self.relatives.iter().find_map(|rel| {
            self.lib_dirs
                .iter()
                .map(|dir| fsys::join(dir, real))
                .find(|candidate| rel.exists(candidate))
                .map(|candidate| (rel, candidate))
        });
        let Some((rel, candidate)) = found else {
            return Ok(());
        };
        let Some(file) = rel.open_regular(&candidate) else {
            return Ok(());
        };
        let Some(info) = elf::read(file) else {
            return Ok(());
        };
        match info.sonames {
            Ok(sonames) => gen
                .runtime
                .extend(sonames.into_iter().map(|soname| format!("so:{soname}"))),
            Err(e) => gen
                .warnings
                .push(format!("library {path} lacks SONAME: {e}")),
        }
        Ok(())
    }

    /// `cmd:` provides for executables in the command directories.
    pub fn commands(&self, gen: &mut Generated) {
        for entry in self.entries {
            if entry.kind == Kind::File
                && entry.mode & 0o555 == 0o555
                && is_in_dir(&entry.path, &BIN_DIRS)
            {
                let name = fsys::base(&entry.path);
                gen.provides.push(format!("cmd:{name}={}", self.version()));
            }
        }
    }

    /// `man-db` / `texinfo` for `-doc` packages with man / info pages.
    pub fn docs(&self, gen: &mut Generated) {
        if !self.opts.package_name.ends_with("-doc") {
            return;
        }
        for entry in self.entries {
            if is_in_dir(&entry.path, &["usr/share/man"]) {
                gen.runtime.push("man-db".to_string());
            }
            if is_in_dir(&entry.path, &["usr/share/info"]) {
                gen.runtime.push("texinfo".to_string());
            }
        }
    }

    /// `pc:` provides and depends from pkg-config files.
    pub fn pkg_config(&self, gen: &mut Generated) -> Result<(), ScanError> {
        for entry in self.entries {
            if !entry.path.ends_with(".pc") || entry.kind != Kind::File {
                continue;
            }
            let Some(text) = self.pkg.read_regular(&entry.path, TEXT_LIMIT)? else {
                gen.warnings
                    .push(format!("{}: too large for a .pc file", entry.path));
                continue;
            };
            let pc = match pkgconfig::parse(&String::from_utf8_lossy(&text)) {
                Ok(pc) => pc,
                Err(e) => {
                    gen.warnings.push(format!(
                        "unable to load .pc file ({}) using pkgconfig: {e}",
                        entry.path
                    ));
                    continue;
                }
            };
            let name = fsys::base(&entry.path);
            let name = name.strip_suffix(".pc").unwrap_or(name);
            let provided = format!("pc:{name}={}", self.version());
            if !is_in_dir(&entry.path, &PC_DIRS) {
                gen.vendored.push(provided);
                continue;
            }
            gen.provides.push(provided);
            let required = pc
                .requires
                .iter()
                .chain(&pc.requires_private)
                .chain(&pc.requires_internal);
            gen.runtime.extend(required.map(|dep| format!("pc:{dep}")));
        }
        Ok(())
    }

    /// `python-X.Y-base` for packages shipping Python modules.
    pub fn python(&self, gen: &mut Generated) {
        let mut version = String::new();
        for entry in self.entries {
            if fsys::base(&entry.path) != "site-packages" || entry.kind != Kind::Dir {
                continue;
            }
            let parent = fsys::dir(&entry.path);
            if let Some(v) = fsys::base(&parent).strip_prefix("python") {
                version = v.to_string();
            }
        }
        let declared = self.opts.declared_depends.iter();
        if version.is_empty() || declared.clone().any(|d| d.starts_with("python")) {
            return;
        }
        gen.runtime.push(format!("python-{version}-base"));
    }

    /// `ruby-X.Y` for packages shipping gems: the first match of melange's
    /// glob `usr/lib/ruby/gems/[0-9]*.[0-9]*.[0.9]*/gems` (sic: the last
    /// class is the three characters `0`, `.`, `9`).
    pub fn ruby(&self, gen: &mut Generated) {
        let found = self.entries.iter().find_map(|entry| {
            let dir = entry.path.strip_prefix("usr/lib/ruby/gems/")?;
            let version = dir.strip_suffix("/gems")?;
            (!version.contains('/') && matches_gem_dir(version)).then_some(version)
        });
        let Some(version) = found else {
            return;
        };
        let major_minor = match version.rfind('.') {
            Some(i) => &version[..i],
            None => version,
        };
        let declared = &self.opts.declared_depends;
        if major_minor.is_empty()
            || declared
                .iter()
                .any(|d| d.starts_with("ruby-") || d == "ruby")
        {
            return;
        }
        gen.runtime.push(format!("ruby-{major_minor}"));
    }

    /// `cmd:` depends on the interpreters of scripts.
    pub fn shebangs(&self, gen: &mut Generated) {
        let mut commands = BTreeSet::new();
        for entry in self.entries {
            let in_script_dir = SCRIPT_DIRS.iter().any(|d| entry.path.starts_with(d));
            if !in_script_dir || entry.kind != Kind::File {
                continue;
            }
            let Some(mut file) = self.pkg.open_entry(entry) else {
                continue;
            };
            let head = shebang::interpreter(&mut file).map_err(|e| e.to_string());
            match head.and_then(|line| line) {
                Ok(Some(bin)) => {
                    commands.insert(fsys::base(&bin).to_string());
                }
                Ok(None) => {}
                Err(e) => gen
                    .warnings
                    .push(format!("error reading shbang from {}: {e}", entry.path)),
            }
        }
        gen.runtime
            .extend(commands.into_iter().map(|cmd| format!("cmd:{cmd}")));
    }
}

/// Whether Go build settings say cgo plus a FIPS crypto experiment
/// (golang-fips' `boringcrypto`, Microsoft Go's `systemcrypto` /
/// `opensslcrypto` or `microsoft_systemcrypto=1`).
fn go_fips_with_cgo(settings: &[(String, String)]) -> bool {
    let has = |key: &str, values: &[&str]| {
        settings
            .iter()
            .any(|(k, v)| k == key && values.contains(&v.as_str()))
    };
    has("CGO_ENABLED", &["1"])
        && (has(
            "GOEXPERIMENT",
            &["boringcrypto", "systemcrypto", "opensslcrypto"],
        ) || has("microsoft_systemcrypto", &["1"]))
}

/// Go's `path.Match("[0-9]*.[0-9]*.[0.9]*", name)`: a digit, anything, a
/// dot, a digit, anything, a dot, then `0`, `.` or `9`, then anything.
fn matches_gem_dir(name: &str) -> bool {
    let chars: Vec<char> = name.chars().collect();
    let dots: Vec<usize> = (0..chars.len()).filter(|&i| chars[i] == '.').collect();
    let digit = |i: usize| chars.get(i).is_some_and(|c| c.is_ascii_digit());
    let last = |i: usize| chars.get(i).is_some_and(|c| matches!(c, '0' | '.' | '9'));
    digit(0)
        && dots.iter().any(|&first| {
            first >= 1
                && digit(first + 1)
                && dots
                    .iter()
                    .any(|&second| second >= first + 2 && last(second + 1))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_dir_matches_melange() {
        // melange's TestIsInDir table.
        let cases: [(&str, &[&str], bool); 19] = [
            ("/dir/file", &["/dir"], true),
            ("/dir/file", &["/dir/"], true),
            ("/dir/file", &["/otherdir"], false),
            ("/dir/subdir/file", &["/dir"], false),
            ("/dir/subdir/file", &["/dir/"], false),
            ("/dir/file", &["/dir/..."], true),
            ("/dir/subdir/file", &["/dir/..."], true),
            ("/dir/subdir/subdir/file", &["/dir/..."], true),
            ("/otherdir/file", &["/dir/..."], false),
            ("/dirother/file", &["/dir/..."], false),
            ("usr/lib/file", &["usr/lib"], true),
            ("usr/lib/file", &["usr/lib/"], true),
            ("usr/lib/subdir/file", &["usr/lib"], false),
            ("usr/lib/subdir/file", &["usr/lib/..."], true),
            ("usr/lib/subdir/subdir/file", &["usr/lib/..."], true),
            ("/dir/file", &["/other", "/dir", "/another"], true),
            ("/dir/file", &["/other", "/another"], false),
            ("/dir/file", &[], false),
            ("/file", &["/"], true),
        ];
        for (path, dirs, want) in cases {
            assert_eq!(is_in_dir(path, dirs), want, "{path} in {dirs:?}");
        }
    }

    #[test]
    fn soname_abi_versions() {
        assert_eq!(soname_abi("libc.so.6"), "6");
        assert_eq!(soname_abi("libfoo.so.1.2.3"), "1.2.3");
        assert_eq!(soname_abi("libaws-c-s3.so.0unstable"), "0");
        assert_eq!(soname_abi("libfoo.so"), "0");
        assert_eq!(soname_abi("ld-linux-x86-64.so.2"), "2");
    }

    #[test]
    fn gem_dir_glob() {
        for yes in ["3.2.0", "3.3.0", "10.1.9", "3.2.0.1", "3.2..x"] {
            assert!(matches_gem_dir(yes), "{yes}");
        }
        for no in ["3.4.1", "3.2", "x.2.0", "3.x.0", ".2.0", "3..0"] {
            assert!(!matches_gem_dir(no), "{no}");
        }
    }
}
