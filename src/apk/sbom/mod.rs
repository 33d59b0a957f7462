//! The SPDX 2.3 JSON SBOM melange puts in every package it builds, at
//! `var/lib/db/sbom/<name>-<version>-r<epoch>.spdx.json`, written the way
//! melange's SBOM generator (`pkg/build/sbom/spdx`, `pkg/sbom`) writes it,
//! so tools that read package SBOMs (apko merges them into image SBOMs)
//! find the same document.
//!
//! The document describes one package (the origin package or a
//! subpackage; subpackages carry the origin's version and licenses):
//!
//! - `name` `apk-<name>-<version>-r<epoch>`; `documentNamespace`
//!   `https://spdx.org/spdxdocs/chainguard/melange/` + the hex FNV-1a-128 of
//!   `apk-<namespace>-<version>-r<epoch>` (melange's derivation: from
//!   content, no random UUID, but shared by all subpackages of a build);
//! - `created` from `SOURCE_DATE_EPOCH`, in UTC;
//! - packages, in melange's order: the build environment's operating system
//!   (`SPDXRef-OperatingSystem`, when known), the APK package
//!   (`SPDXRef-Package-apk-<name>-<version>`, purpose `APPLICATION`, license
//!   = the copyright licenses joined with ` AND `, copyright text = the
//!   attestations, PURL `pkg:apk/<namespace>/<name>@<version>?arch=…&distro=…`,
//!   supplier and originator `Organization: <Namespace>`), and the build
//!   configuration file (purpose `INSTALL`, when known), which the APK
//!   package is `DESCRIBED_BY`;
//! - `hasExtractedLicensingInfos` for licenses whose text the build file
//!   points to (`license-path`).
//!
//! JSON is encoded as Go's `encoding/json` does with two-space indentation:
//! struct field order, `<`, `>`, `&`, U+2028 and U+2029 escaped, a final
//! newline.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

/// Where in a package the SBOM lives (no leading `/`).
pub const SBOM_DIR: &str = "var/lib/db/sbom";

const NOASSERTION: &str = "NOASSERTION";
const NAMESPACE_PREFIX: &str = "https://spdx.org/spdxdocs/chainguard/melange/";

/// Everything the SBOM states about one package.
#[derive(Debug, Clone, Default)]
pub struct SbomInput {
    /// The package (or subpackage) name.
    pub name: String,
    /// The origin package's `version`.
    pub version: String,
    /// The origin package's `epoch`.
    pub epoch: u64,
    /// APK architecture (`x86_64`, `aarch64`, …); empty leaves it out of the
    /// PURL.
    pub arch: String,
    /// The distribution namespace (`MELANGE_NAMESPACE`; melange's default is
    /// `unknown`, which also leaves `distro=` out of the PURL).
    pub namespace: String,
    /// The origin package's `copyright` entries.
    pub copyright: Vec<Copyright>,
    /// `SOURCE_DATE_EPOCH`, the document's creation time.
    pub source_date_epoch: u64,
    /// The build environment's `/etc/os-release`, when known.
    pub operating_system: Option<OsRelease>,
    /// The build file the package came from, when its revision is known.
    pub build_config: Option<BuildConfig>,
    /// `creationInfo.creators`; see [`default_creators`].
    pub creators: Vec<String>,
}

/// One `copyright` entry of the build file.
#[derive(Debug, Clone, Default)]
pub struct Copyright {
    /// SPDX license identifier or expression.
    pub license: String,
    /// `attestation`: copyright text, empty when none.
    pub attestation: String,
    /// The content of the file `license-path` names, if any.
    pub license_text: Option<String>,
}

/// `ID` and `VERSION_ID` from `/etc/os-release`.
#[derive(Debug, Clone, Default)]
pub struct OsRelease {
    /// `ID`, e.g. `wolfi`.
    pub id: String,
    /// `VERSION_ID`, e.g. `20230201`.
    pub version_id: String,
}

/// The build configuration file as a package of the SBOM.
#[derive(Debug, Clone, Default)]
pub struct BuildConfig {
    /// Path of the build file in its repository, e.g. `crane.yaml`.
    pub path: String,
    /// The repository revision (git commit).
    pub commit: String,
    /// License of the build file itself; empty for `NOASSERTION`.
    pub license: String,
    /// Its PURL, e.g. from [`github_config_purl`]; `None` for no reference.
    pub purl: Option<String>,
}

/// Why no SBOM could be made.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// A field the document cannot do without is empty.
    #[error("SBOM: package {0} is empty")]
    Missing(&'static str),
    /// The creation time does not fit RFC 3339 (years 0000–9999).
    #[error("SBOM: SOURCE_DATE_EPOCH {0} is past the year 9999")]
    TimeOutOfRange(u64),
    /// Encoding failed.
    #[error("SBOM: {0}")]
    Json(#[from] serde_json::Error),
}

/// `creationInfo.creators` naming this tool. (melange writes
/// `Tool: melange (<version>)` and `Organization: Chainguard, Inc`.)
pub fn default_creators() -> Vec<String> {
    vec![format!(
        "Tool: melange-frontend ({})",
        env!("CARGO_PKG_VERSION")
    )]
}

/// The SBOM's path inside the package: `var/lib/db/sbom/<name>-<v>-r<e>.spdx.json`.
pub fn sbom_path(name: &str, version: &str, epoch: u64) -> String {
    format!("{SBOM_DIR}/{name}-{version}-r{epoch}.spdx.json")
}

/// melange's PURL for a build file in a GitHub repository:
/// `pkg:github/<owner>/<repo>@<commit>#<path>`; `None` for other hosts.
pub fn github_config_purl(repository_url: &str, commit: &str, path: &str) -> Option<String> {
    let rest = repository_url
        .strip_prefix("https://github.com/")
        .or_else(|| repository_url.strip_prefix("http://github.com/"))?;
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix(".git").unwrap_or(rest);
    let (owner, repo) = rest.split_once('/')?;
    if owner.is_empty() || repo.is_empty() || repo.contains('/') || commit.is_empty() {
        return None;
    }
    Some(format!(
        "pkg:github/{}/{}@{}#{}",
        path_escape(&owner.to_lowercase()),
        path_escape(&repo.to_lowercase()),
        path_escape(commit),
        path
    ))
}

/// The SBOM document for `input`, encoded as melange writes it.
pub fn generate(input: &SbomInput) -> Result<Vec<u8>, SbomError> {
    if input.name.is_empty() {
        return Err(SbomError::Missing("name"));
    }
    if input.version.is_empty() {
        return Err(SbomError::Missing("version"));
    }
    let full_version = format!("{}-r{}", input.version, input.epoch);
    let supplier = format!("Organization: {}", title_case(&input.namespace));

    let license = input
        .copyright
        .iter()
        .map(|c| c.license.as_str())
        .collect::<Vec<_>>()
        .join(" AND ");
    let copyright: String = input
        .copyright
        .iter()
        .filter(|c| !c.attestation.is_empty())
        .map(|c| format!("{}\n", c.attestation))
        .collect();

    let apk_id = identifier(&format!(
        "SPDXRef-Package-apk-{}-{full_version}",
        input.name
    ));
    let mut packages = Vec::new();
    if let Some(os) = &input.operating_system {
        packages.push(Package {
            id: "SPDXRef-OperatingSystem".to_string(),
            name: os.id.clone(),
            version: os.version_id.clone(),
            license_declared: NOASSERTION.to_string(),
            description: "Operating System",
            originator: supplier.clone(),
            supplier: supplier.clone(),
            purpose: "OPERATING-SYSTEM",
            ..Package::default()
        });
    }
    packages.push(Package {
        id: apk_id.clone(),
        name: input.name.clone(),
        version: full_version.clone(),
        license_declared: or_noassertion(&license),
        originator: supplier.clone(),
        supplier: supplier.clone(),
        copyright: or_noassertion(&copyright),
        purpose: "APPLICATION",
        external_refs: vec![ExternalRef::purl(apk_purl(input, &full_version))],
        ..Package::default()
    });
    let mut relationships = Vec::new();
    if let Some(config) = &input.build_config {
        let id = identifier(&format!(
            "SPDXRef-Package-Melange-{}-{}",
            config.path, config.commit
        ));
        relationships.push(Relationship {
            element: apk_id.clone(),
            kind: "DESCRIBED_BY",
            related: id.clone(),
        });
        packages.push(Package {
            id,
            name: config.path.clone(),
            version: config.commit.clone(),
            license_declared: or_noassertion(&config.license),
            originator: supplier.clone(),
            supplier: supplier.clone(),
            purpose: "INSTALL",
            external_refs: config.purl.iter().cloned().map(ExternalRef::purl).collect(),
            ..Package::default()
        });
    }

    let texts: BTreeMap<&str, &str> = input
        .copyright
        .iter()
        .filter_map(|c| Some((c.license.as_str(), c.license_text.as_deref()?)))
        .collect();
    let document = Document {
        id: "SPDXRef-DOCUMENT",
        name: format!("apk-{}-{full_version}", input.name),
        spdx_version: "SPDX-2.3",
        creation_info: CreationInfo {
            created: rfc3339_utc(input.source_date_epoch)?,
            creators: input.creators.clone(),
            license_list_version: "3.22",
        },
        data_license: "CC0-1.0",
        namespace: format!(
            "{NAMESPACE_PREFIX}{:032x}",
            fnv1a_128(format!("apk-{}-{full_version}", input.namespace).as_bytes())
        ),
        describes: vec![apk_id],
        packages,
        relationships,
        licensing: texts
            .into_iter()
            .map(|(license, text)| LicensingInfo {
                license_id: license.to_string(),
                text: text.to_string(),
            })
            .collect(),
    };
    let mut json = serde_json::to_vec_pretty(&document)?;
    json.push(b'\n');
    Ok(escape_like_go(&json))
}

#[derive(Serialize)]
struct Document {
    #[serde(rename = "SPDXID")]
    id: &'static str,
    name: String,
    #[serde(rename = "spdxVersion")]
    spdx_version: &'static str,
    #[serde(rename = "creationInfo")]
    creation_info: CreationInfo,
    #[serde(rename = "dataLicense")]
    data_license: &'static str,
    #[serde(rename = "documentNamespace")]
    namespace: String,
    #[serde(rename = "documentDescribes")]
    describes: Vec<String>,
    packages: Vec<Package>,
    relationships: Vec<Relationship>,
    #[serde(
        rename = "hasExtractedLicensingInfos",
        skip_serializing_if = "Vec::is_empty"
    )]
    licensing: Vec<LicensingInfo>,
}

#[derive(Serialize)]
struct CreationInfo {
    created: String,
    creators: Vec<String>,
    #[serde(rename = "licenseListVersion")]
    license_list_version: &'static str,
}

/// An SPDX package with apko's field order; empty strings are left out.
#[derive(Serialize, Default)]
struct Package {
    #[serde(rename = "SPDXID")]
    id: String,
    name: String,
    #[serde(rename = "versionInfo", skip_serializing_if = "String::is_empty")]
    version: String,
    #[serde(rename = "filesAnalyzed")]
    files_analyzed: bool,
    #[serde(rename = "licenseConcluded", serialize_with = "noassertion")]
    license_concluded: (),
    #[serde(rename = "licenseDeclared", skip_serializing_if = "String::is_empty")]
    license_declared: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'static str,
    #[serde(rename = "downloadLocation", serialize_with = "noassertion")]
    download_location: (),
    #[serde(skip_serializing_if = "String::is_empty")]
    originator: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    supplier: String,
    #[serde(rename = "copyrightText", skip_serializing_if = "String::is_empty")]
    copyright: String,
    #[serde(
        rename = "primaryPackagePurpose",
        skip_serializing_if = "str::is_empty"
    )]
    purpose: &'static str,
    #[serde(rename = "externalRefs", skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
}

fn noassertion<S: serde::Serializer>(_: &(), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(NOASSERTION)
}

#[derive(Serialize)]
struct ExternalRef {
    #[serde(rename = "referenceCategory")]
    category: &'static str,
    #[serde(rename = "referenceLocator")]
    locator: String,
    #[serde(rename = "referenceType")]
    kind: &'static str,
}

impl ExternalRef {
    fn purl(locator: String) -> Self {
        ExternalRef {
            category: "PACKAGE-MANAGER",
            locator,
            kind: "purl",
        }
    }
}

#[derive(Serialize)]
struct Relationship {
    #[serde(rename = "spdxElementId")]
    element: String,
    #[serde(rename = "relationshipType")]
    kind: &'static str,
    #[serde(rename = "relatedSpdxElement")]
    related: String,
}

#[derive(Serialize)]
struct LicensingInfo {
    #[serde(rename = "licenseId")]
    license_id: String,
    #[serde(rename = "extractedText")]
    text: String,
}

fn or_noassertion(value: &str) -> String {
    match value.is_empty() {
        true => NOASSERTION.to_string(),
        false => value.to_string(),
    }
}

/// melange's APK PURL: qualifiers sorted by key, `distro` left out for the
/// namespace `unknown`, `arch` left out when empty.
fn apk_purl(input: &SbomInput, full_version: &str) -> String {
    let mut purl = String::from("pkg:apk/");
    if !input.namespace.is_empty() {
        purl.push_str(&path_escape(&input.namespace));
        purl.push('/');
    }
    purl.push_str(&path_escape(&input.name));
    purl.push('@');
    purl.push_str(&path_escape(full_version));
    let mut qualifiers = Vec::new();
    if !input.arch.is_empty() {
        qualifiers.push(format!("arch={}", query_escape(&input.arch)));
    }
    if !input.namespace.is_empty() && input.namespace != "unknown" {
        qualifiers.push(format!("distro={}", query_escape(&input.namespace)));
    }
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

/// Go's `url.PathEscape`.
fn path_escape(s: &str) -> String {
    percent_escape(s, |b| b"$&+=:@".contains(&b), false)
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    percent_escape(s, |_| false, true)
}

fn percent_escape(s: &str, also_keep: impl Fn(u8) -> bool, space_as_plus: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || also_keep(b) {
            out.push(char::from(b));
        } else if b == b' ' && space_as_plus {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// melange's `stringToIdentifier`: `:` and `/` become `-`; letters, digits,
/// `-` and `.` stay; anything else becomes `C<code point>`.
fn identifier(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            ':' | '/' => out.push('-'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '.' => out.push(c),
            c => out.push_str(&format!("C{}", u32::from(c))),
        }
    }
    out
}

/// Title case as melange's supplier gets it (`test-ns` → `Test-Ns`): in
/// every word the first letter upper-cased, the rest lower-cased. Words are
/// runs of letters, digits, `_`, `'` and `.`.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    for c in s.chars() {
        let word_char = c.is_alphanumeric() || matches!(c, '_' | '\'' | '.');
        match (word_char, in_word) {
            (true, false) => out.extend(c.to_uppercase()),
            (true, true) => out.extend(c.to_lowercase()),
            (false, _) => out.push(c),
        }
        in_word = word_char;
    }
    out
}

/// 128-bit FNV-1a (Go's `hash/fnv.New128a`).
fn fnv1a_128(data: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    data.iter().fold(OFFSET, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(PRIME)
    })
}

/// `seconds` since the epoch as RFC 3339 in UTC (`2023-01-01T00:00:00Z`).
fn rfc3339_utc(seconds: u64) -> Result<String, SbomError> {
    const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if seconds > LAST {
        return Err(SbomError::TimeOutOfRange(seconds));
    }
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    ))
}

/// Go's `encoding/json` HTML-safe escaping, applied to serde_json output:
/// these characters can only occur inside strings, so a byte replacement
/// is exact.
fn escape_like_go(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        let rest = &json[i..];
        let (replacement, len): (&[u8], usize) = match rest {
            [b'<', ..] => (b"\\u003c", 1),
            [b'>', ..] => (b"\\u003e", 1),
            [b'&', ..] => (b"\\u0026", 1),
            [0xe2, 0x80, 0xa8, ..] => (b"\\u2028", 3),
            [0xe2, 0x80, 0xa9, ..] => (b"\\u2029", 3),
            [b, ..] => (std::slice::from_ref(b), 1),
            [] => break,
        };
        out.extend_from_slice(replacement);
        i += len;
    }
    out
}
