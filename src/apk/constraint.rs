//! Dependency atoms as apk writes them: in `/etc/apk/world`, on the command
//! line, and in the `D:` (depends), `p:` (provides) and `i:` (install_if)
//! fields of an index.
//!
//! An atom is `[!]name[@tag][op version]`: `!` makes it a conflict, `@tag`
//! pins it to tagged repositories (world only), and the operator is any
//! combination of `<`, `>`, `=` and `~` (fuzzy: `name~1.2` accepts 1.2.x),
//! or `><` whose "version" is a package checksum (`Q1…`). Virtual names
//! such as `so:libc.musl-x86_64.so.1`, `cmd:sh` and `pc:zlib` are ordinary
//! names whose prefix says what kind of thing packages provide.

use std::cmp::Ordering;
use std::fmt;

use super::version;

/// A dependency atom that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dependency {text:?}: {reason}")]
pub struct ConstraintError {
    /// The atom as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConstraintError {
    fn new(text: &str, reason: impl Into<String>) -> Self {
        ConstraintError {
            text: text.to_string(),
            reason: reason.into(),
        }
    }
}

/// A comparison operator: the set of orderings (candidate vs wanted) it
/// accepts, plus apk's fuzzy flag. Kept as apk's bit mask so any spelling
/// apk accepts (`>=`, `=>`, `~=`) means what it means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Op(u8);

impl Op {
    const EQUAL_BIT: u8 = 1;
    const LESS_BIT: u8 = 2;
    const GREATER_BIT: u8 = 4;
    const FUZZY_BIT: u8 = 8;

    /// `=`
    pub const EQUAL: Op = Op(Self::EQUAL_BIT);
    /// `<`
    pub const LESS: Op = Op(Self::LESS_BIT);
    /// `<=`
    pub const LESS_EQUAL: Op = Op(Self::LESS_BIT | Self::EQUAL_BIT);
    /// `>`
    pub const GREATER: Op = Op(Self::GREATER_BIT);
    /// `>=`
    pub const GREATER_EQUAL: Op = Op(Self::GREATER_BIT | Self::EQUAL_BIT);
    /// `~`: equal to the wanted version or extending it (`1.2.3` ~ `1.2`).
    pub const FUZZY: Op = Op(Self::FUZZY_BIT | Self::EQUAL_BIT);
    /// `<~`
    pub const LESS_FUZZY: Op = Op(Self::LESS_BIT | Self::EQUAL_BIT | Self::FUZZY_BIT);
    /// `>~`
    pub const GREATER_FUZZY: Op = Op(Self::GREATER_BIT | Self::EQUAL_BIT | Self::FUZZY_BIT);
    /// The bits of `><`: not a comparison, the version is a checksum.
    const CHECKSUM: Op = Op(Self::LESS_BIT | Self::GREATER_BIT);

    /// The operator spelled by a run of `<>=~`, or None for a combination
    /// apk has no meaning for (such as `<>=`).
    fn from_text(text: &str) -> Option<Op> {
        let bits = text.bytes().fold(0, |bits, c| {
            bits | match c {
                b'<' => Self::LESS_BIT,
                b'>' => Self::GREATER_BIT,
                b'=' => Self::EQUAL_BIT,
                _ => Self::FUZZY_BIT | Self::EQUAL_BIT,
            }
        });
        let op = Op(bits);
        [
            Op::EQUAL,
            Op::LESS,
            Op::LESS_EQUAL,
            Op::GREATER,
            Op::GREATER_EQUAL,
            Op::FUZZY,
            Op::LESS_FUZZY,
            Op::GREATER_FUZZY,
            Op::CHECKSUM,
        ]
        .contains(&op)
        .then_some(op)
    }

    /// The spelling apk writes for this operator.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::LESS => "<",
            Op::LESS_EQUAL => "<=",
            Op::LESS_FUZZY => "<~",
            Op::FUZZY => "~",
            Op::GREATER_EQUAL => ">=",
            Op::GREATER_FUZZY => ">~",
            Op::GREATER => ">",
            Op::CHECKSUM => "><",
            _ => "=",
        }
    }

    /// Whether a candidate version satisfies `op wanted`.
    pub fn accepts(self, candidate: &str, wanted: &str) -> bool {
        let fuzzy = self.0 & Self::FUZZY_BIT != 0;
        let bit = match version::compare_fuzzy(candidate, wanted, fuzzy) {
            Ordering::Less => Self::LESS_BIT,
            Ordering::Equal => Self::EQUAL_BIT,
            Ordering::Greater => Self::GREATER_BIT,
        };
        self.0 & bit != 0
    }
}

/// What a dependency asks of the version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionSpec {
    /// Any version (and unversioned provides).
    Any,
    /// A version comparison.
    Compare {
        /// The operator.
        op: Op,
        /// The (valid) version compared against.
        version: String,
    },
    /// `name><Q1…`: exactly the package whose index checksum is this.
    Checksum(String),
}

/// One dependency atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    /// Package or virtual name (`so:…`, `cmd:…`, `pc:…` included).
    pub name: String,
    /// `name@tag`: may also come from repositories tagged `@tag`.
    pub tag: Option<String>,
    /// `!name`: the name must not be installed (in the versions matched).
    pub conflict: bool,
    /// The version requirement.
    pub spec: VersionSpec,
}

/// The kind of a name, from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A package name.
    Package,
    /// `so:` a shared library soname.
    SharedObject,
    /// `cmd:` a command in a `bin` directory.
    Command,
    /// `pc:` a pkg-config module.
    PkgConfig,
}

impl NameKind {
    /// The kind of `name`.
    pub fn of(name: &str) -> NameKind {
        if name.starts_with("so:") {
            NameKind::SharedObject
        } else if name.starts_with("cmd:") {
            NameKind::Command
        } else if name.starts_with("pc:") {
            NameKind::PkgConfig
        } else {
            NameKind::Package
        }
    }
}

impl Dependency {
    /// Parse a world (or command line) atom: tags are allowed.
    pub fn parse(text: &str) -> Result<Dependency, ConstraintError> {
        Self::parse_atom(text, true)
    }

    /// Parse an atom from an index or `.PKGINFO` field: no tags there.
    pub fn parse_index(text: &str) -> Result<Dependency, ConstraintError> {
        Self::parse_atom(text, false)
    }

    fn parse_atom(text: &str, allow_tag: bool) -> Result<Dependency, ConstraintError> {
        let err = |reason: &str| ConstraintError::new(text, reason);
        let (conflict, rest) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let is_op = |c: char| matches!(c, '<' | '>' | '=' | '~');
        let (name_part, spec) = match rest.find(is_op) {
            None => (rest, VersionSpec::Any),
            Some(at) => {
                let (name_part, tail) = rest.split_at(at);
                let op_len = tail.find(|c| !is_op(c)).unwrap_or(tail.len());
                let (op_text, version) = tail.split_at(op_len);
                let op = Op::from_text(op_text)
                    .ok_or_else(|| err(&format!("unknown operator {op_text:?}")))?;
                if version.is_empty() {
                    return Err(err(&format!("no version after {op_text:?}")));
                }
                if op == Op::CHECKSUM {
                    (name_part, VersionSpec::Checksum(version.to_string()))
                } else if !version::is_valid(version) {
                    return Err(err(&format!("{version:?} is not a valid apk version")));
                } else {
                    let version = version.to_string();
                    (name_part, VersionSpec::Compare { op, version })
                }
            }
        };
        let (name, tag) = match name_part.split_once('@') {
            None => (name_part, None),
            Some(_) if !allow_tag => {
                return Err(err("repository tags (@tag) are only allowed in the world"))
            }
            Some((_, "")) => return Err(err("empty repository tag after '@'")),
            Some((name, tag)) => (name, Some(tag.to_string())),
        };
        if name.is_empty() {
            return Err(err("no package name"));
        }
        if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(err(&format!("{c:?} is not allowed in a package name")));
        }
        Ok(Dependency {
            name: name.to_string(),
            tag,
            conflict,
            spec,
        })
    }

    /// Parse a whitespace-separated list of world atoms.
    pub fn parse_world(text: &str) -> Result<Vec<Dependency>, ConstraintError> {
        text.split_whitespace().map(Dependency::parse).collect()
    }

    /// Whether a package of this name (or providing it) satisfies the atom:
    /// `version` is the provided version (None for an unversioned provide)
    /// and `checksum` the package's index `C:`. As apk-tools 2.x, an
    /// unversioned provide satisfies only version-less atoms, and a
    /// conflict atom is satisfied by what it does not match.
    pub fn matches(&self, version: Option<&str>, checksum: &str) -> bool {
        let matched = match (&self.spec, version) {
            (VersionSpec::Any, _) => true,
            (VersionSpec::Checksum(sum), _) => sum == checksum,
            (VersionSpec::Compare { .. }, None) => false,
            (VersionSpec::Compare { op, version: want }, Some(have)) => op.accepts(have, want),
        };
        matched != self.conflict
    }

    /// The kind of name depended on.
    pub fn kind(&self) -> NameKind {
        NameKind::of(&self.name)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.conflict {
            f.write_str("!")?;
        }
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, "@{tag}")?;
        }
        match &self.spec {
            VersionSpec::Any => Ok(()),
            VersionSpec::Compare { op, version } => write!(f, "{}{version}", op.as_str()),
            VersionSpec::Checksum(sum) => write!(f, "><{sum}"),
        }
    }
}

/// One `p:` entry: a name the package also answers to, with a version
/// (`so:libz.so.1=1.2.13`) or without (`/bin/sh`: an unversioned provide,
/// which several packages may share and which is never picked on its own
/// unless a provider priority or a single provider makes it unambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Provide {
    /// The provided name.
    pub name: String,
    /// The provided version, None for an unversioned provide.
    pub version: Option<String>,
}

impl Provide {
    /// Parse one provides entry. apk reads these with the dependency parser
    /// and keeps the version whatever the operator; so does this.
    pub fn parse(text: &str) -> Result<Provide, ConstraintError> {
        let dep = Dependency::parse_index(text)?;
        if dep.conflict {
            return Err(ConstraintError::new(text, "a provide cannot be a conflict"));
        }
        let version = match dep.spec {
            VersionSpec::Any => None,
            VersionSpec::Compare { version, .. } => Some(version),
            VersionSpec::Checksum(_) => {
                return Err(ConstraintError::new(text, "a provide cannot be a checksum"))
            }
        };
        Ok(Provide {
            name: dep.name,
            version,
        })
    }
}

impl fmt::Display for Provide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}={version}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The text of `/etc/apk/world` for these atoms: apk writes them sorted,
/// one per line.
pub fn world_file(world: &[Dependency]) -> String {
    let mut lines: Vec<String> = world.iter().map(Dependency::to_string).collect();
    lines.sort();
    lines.dedup();
    lines.into_iter().map(|l| l + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(text: &str) -> Dependency {
        Dependency::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_and_writes_every_form() {
        for text in [
            "busybox",
            "busybox=1.35.0-r17",
            "musl<1.3",
            "musl<=1.2.3-r2",
            "gcc>11",
            "gcc>=11.2",
            "python3~3.10",
            "python3<~3.10",
            "python3>~3.10",
            "foo@edge",
            "foo@edge>=2",
            "!foo",
            "!foo<2",
            "so:libc.musl-x86_64.so.1",
            "cmd:sh",
            "pc:zlib>=1.2",
            "foo><Q1s+0ABSdjudKn+n+ccJIUrG93mAk=",
        ] {
            assert_eq!(dep(text).to_string(), text);
        }
        // Other spellings apk accepts normalise to its own.
        assert_eq!(dep("gcc=>11").to_string(), "gcc>=11");
        assert_eq!(dep("py~=3").to_string(), "py~3");
        assert_eq!(dep("x<>Q1abc").spec, VersionSpec::Checksum("Q1abc".into()));
        let d = dep("!foo@edge>=2");
        assert!(d.conflict);
        assert_eq!(d.name, "foo");
        assert_eq!(d.tag.as_deref(), Some("edge"));
        assert_eq!(d.kind(), NameKind::Package);
        assert_eq!(dep("so:libz.so.1").kind(), NameKind::SharedObject);
        assert_eq!(dep("cmd:sh").kind(), NameKind::Command);
        assert_eq!(dep("pc:zlib").kind(), NameKind::PkgConfig);
    }

    #[test]
    fn rejects_with_a_reason() {
        for (text, reason) in [
            ("", "no package name"),
            ("!", "no package name"),
            (">=1", "no package name"),
            ("foo=", "no version after \"=\""),
            ("foo=1.0bc", "\"1.0bc\" is not a valid apk version"),
            ("foo<>=1", "unknown operator \"<>=\""),
            ("foo@", "empty repository tag after '@'"),
            ("fo\u{1}o", "'\\u{1}' is not allowed in a package name"),
        ] {
            let e = Dependency::parse(text).unwrap_err();
            assert_eq!(e.reason, reason, "{text}");
        }
        let e = Dependency::parse_index("foo@edge").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid dependency \"foo@edge\": repository tags (@tag) are only allowed in the world"
        );
    }

    #[test]
    fn matches_like_apk() {
        assert!(dep("foo").matches(Some("1"), ""));
        assert!(dep("foo").matches(None, ""));
        assert!(!dep("foo>=1").matches(None, ""), "unversioned provide");
        assert!(dep("foo>=1").matches(Some("1"), ""));
        assert!(!dep("foo>1").matches(Some("1"), ""));
        assert!(dep("foo<2").matches(Some("1.9"), ""));
        assert!(dep("foo~1.2").matches(Some("1.2.3-r1"), ""));
        assert!(!dep("foo~1.2").matches(Some("1.3"), ""));
        assert!(!dep("!foo").matches(Some("1"), ""));
        assert!(dep("!foo<2").matches(Some("2"), ""));
        assert!(!dep("!foo<2").matches(Some("1"), ""));
        assert!(dep("!foo<2").matches(None, ""));
        assert!(dep("foo><Q1x").matches(Some("1"), "Q1x"));
        assert!(!dep("foo><Q1x").matches(Some("1"), "Q1y"));
    }

    #[test]
    fn provides() {
        let p = Provide::parse("so:libc.musl-x86_64.so.1=1").unwrap();
        assert_eq!(p.version.as_deref(), Some("1"));
        assert_eq!(p.to_string(), "so:libc.musl-x86_64.so.1=1");
        assert_eq!(Provide::parse("/bin/sh").unwrap().version, None);
        assert!(Provide::parse("!x").is_err());
    }

    #[test]
    fn world_file_is_sorted() {
        let world = Dependency::parse_world("busybox build-base  foo@edge busybox").unwrap();
        assert_eq!(world_file(&world), "build-base\nbusybox\nfoo@edge\n");
    }
}
