//! The SBOM against melange's own expectations (its generator test) and the
//! SBOMs melange put in the fixture packages.

use serde_json::Value;

use super::*;
use crate::apk::tests::read_fixture;
use crate::apk::ApkFile;

const MELANGE_CREATORS: [&str; 2] = ["Tool: melange (devel)", "Organization: Chainguard, Inc"];

/// melange's TestSBOMGeneration input (pkg/build/sbom/spdx/spdx_test.go).
fn melange_test_input(name: &str) -> SbomInput {
    SbomInput {
        name: name.to_string(),
        version: "1.2.3".to_string(),
        epoch: 2,
        arch: "x86_64".to_string(),
        namespace: "test-ns".to_string(),
        copyright: vec![Copyright {
            license: "MIT".to_string(),
            ..Copyright::default()
        }],
        source_date_epoch: 1_672_531_200, // 2023-01-01T00:00:00Z
        operating_system: Some(OsRelease {
            id: "test-os".to_string(),
            version_id: "1.0".to_string(),
        }),
        build_config: Some(BuildConfig {
            path: "test-pkg.yaml".to_string(),
            commit: "commit123".to_string(),
            license: "Apache-2.0".to_string(),
            purl: Some("pkg:generic/test-pkg.yaml@commit123".to_string()),
        }),
        creators: MELANGE_CREATORS.iter().map(|s| s.to_string()).collect(),
    }
}

/// melange's expected document for `test-pkg`, in the field order apko's
/// SPDX types (which melange encodes) give it.
const GOLDEN_TEST_PKG: &str = r#"{
  "SPDXID": "SPDXRef-DOCUMENT",
  "name": "apk-test-pkg-1.2.3-r2",
  "spdxVersion": "SPDX-2.3",
  "creationInfo": {
    "created": "2023-01-01T00:00:00Z",
    "creators": [
      "Tool: melange (devel)",
      "Organization: Chainguard, Inc"
    ],
    "licenseListVersion": "3.22"
  },
  "dataLicense": "CC0-1.0",
  "documentNamespace": "https://spdx.org/spdxdocs/chainguard/melange/e43c05eed89f57b011808279db234a08",
  "documentDescribes": [
    "SPDXRef-Package-apk-test-pkg-1.2.3-r2"
  ],
  "packages": [
    {
      "SPDXID": "SPDXRef-OperatingSystem",
      "name": "test-os",
      "versionInfo": "1.0",
      "filesAnalyzed": false,
      "licenseConcluded": "NOASSERTION",
      "licenseDeclared": "NOASSERTION",
      "description": "Operating System",
      "downloadLocation": "NOASSERTION",
      "originator": "Organization: Test-Ns",
      "supplier": "Organization: Test-Ns",
      "primaryPackagePurpose": "OPERATING-SYSTEM"
    },
    {
      "SPDXID": "SPDXRef-Package-apk-test-pkg-1.2.3-r2",
      "name": "test-pkg",
      "versionInfo": "1.2.3-r2",
      "filesAnalyzed": false,
      "licenseConcluded": "NOASSERTION",
      "licenseDeclared": "MIT",
      "downloadLocation": "NOASSERTION",
      "originator": "Organization: Test-Ns",
      "supplier": "Organization: Test-Ns",
      "copyrightText": "NOASSERTION",
      "primaryPackagePurpose": "APPLICATION",
      "externalRefs": [
        {
          "referenceCategory": "PACKAGE-MANAGER",
          "referenceLocator": "pkg:apk/test-ns/test-pkg@1.2.3-r2?arch=x86_64\u0026distro=test-ns",
          "referenceType": "purl"
        }
      ]
    },
    {
      "SPDXID": "SPDXRef-Package-Melange-test-pkg.yaml-commit123",
      "name": "test-pkg.yaml",
      "versionInfo": "commit123",
      "filesAnalyzed": false,
      "licenseConcluded": "NOASSERTION",
      "licenseDeclared": "Apache-2.0",
      "downloadLocation": "NOASSERTION",
      "originator": "Organization: Test-Ns",
      "supplier": "Organization: Test-Ns",
      "primaryPackagePurpose": "INSTALL",
      "externalRefs": [
        {
          "referenceCategory": "PACKAGE-MANAGER",
          "referenceLocator": "pkg:generic/test-pkg.yaml@commit123",
          "referenceType": "purl"
        }
      ]
    }
  ],
  "relationships": [
    {
      "spdxElementId": "SPDXRef-Package-apk-test-pkg-1.2.3-r2",
      "relationshipType": "DESCRIBED_BY",
      "relatedSpdxElement": "SPDXRef-Package-Melange-test-pkg.yaml-commit123"
    }
  ]
}
"#;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON: {e}"))
}

#[test]
fn melange_generator_test_golden() {
    let got = generate(&melange_test_input("test-pkg")).unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), GOLDEN_TEST_PKG);
}

#[test]
fn subpackage_document_matches_melange() {
    // A subpackage: its own name, the origin's version and license, and the
    // same (shared) namespace, as in melange's test for `test-pkg-dev`.
    let doc = json(&generate(&melange_test_input("test-pkg-dev")).unwrap());
    let golden = json(GOLDEN_TEST_PKG.as_bytes());
    assert_eq!(doc["name"], "apk-test-pkg-dev-1.2.3-r2");
    assert_eq!(doc["documentNamespace"], golden["documentNamespace"]);
    let id = "SPDXRef-Package-apk-test-pkg-dev-1.2.3-r2";
    assert_eq!(doc["documentDescribes"][0], id);
    assert_eq!(doc["packages"][1]["SPDXID"], id);
    assert_eq!(doc["packages"][1]["name"], "test-pkg-dev");
    assert_eq!(
        doc["packages"][1]["externalRefs"][0]["referenceLocator"],
        "pkg:apk/test-ns/test-pkg-dev@1.2.3-r2?arch=x86_64&distro=test-ns"
    );
    assert_eq!(doc["relationships"][0]["spdxElementId"], id);
    assert_eq!(doc["packages"][2], golden["packages"][2]);
}

/// The SBOM in a package a 2026 melange (v0.45.3) built: the parts melange's
/// own generator writes are ours exactly (the rest came from later scans).
#[test]
fn perl_json_fixture_sbom_agrees() {
    let theirs = fixture_sbom("melange/perl-json-4.11-r0.apk");
    let input = SbomInput {
        name: "perl-json".to_string(),
        version: "4.11".to_string(),
        epoch: 0,
        arch: "x86_64".to_string(),
        namespace: "wolfi".to_string(),
        copyright: vec![Copyright {
            license: "GPL-1.0-or-later OR Artistic-1.0-Perl".to_string(),
            ..Copyright::default()
        }],
        source_date_epoch: 1_774_154_192, // its .PKGINFO builddate
        operating_system: Some(OsRelease {
            id: "wolfi".to_string(),
            version_id: String::new(),
        }),
        build_config: Some(BuildConfig {
            path: "perl-json.yaml".to_string(),
            commit: "36535284015e3319b91d6980663f26f46d32b63b".to_string(),
            license: "Apache-2.0".to_string(),
            purl: github_config_purl(
                "https://github.com/chainguard-dev/stereo",
                "36535284015e3319b91d6980663f26f46d32b63b",
                "perl-json.yaml",
            ),
        }),
        creators: default_creators(),
    };
    let ours = json(&generate(&input).unwrap());
    for key in [
        "SPDXID",
        "name",
        "spdxVersion",
        "dataLicense",
        "documentNamespace",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    assert_eq!(ours["creationInfo"]["created"], "2026-03-22T04:36:32Z");
    assert_eq!(
        ours["creationInfo"]["created"],
        theirs["creationInfo"]["created"]
    );
    let ours_packages = ours["packages"].as_array().unwrap();
    assert_eq!(ours_packages.len(), 3);
    for (i, package) in ours_packages.iter().enumerate() {
        assert_eq!(package, &theirs["packages"][i], "package {i}");
    }
    let rel = &ours["relationships"][0];
    assert!(theirs["relationships"].as_array().unwrap().contains(rel));
}

/// An older melange's SBOM (package IDs without the `apk` component):
/// the document-level fields and the package's identity still agree.
#[test]
fn shbang_test_fixture_sbom_agrees() {
    let theirs = fixture_sbom("melange/shbang-test-1-r1.apk");
    let input = SbomInput {
        name: "shbang-test".to_string(),
        version: "1".to_string(),
        epoch: 1,
        arch: "x86_64".to_string(),
        namespace: "unknown".to_string(),
        copyright: vec![Copyright {
            license: "MIT".to_string(),
            ..Copyright::default()
        }],
        creators: default_creators(),
        ..SbomInput::default()
    };
    let ours = json(&generate(&input).unwrap());
    for key in ["name", "spdxVersion", "dataLicense", "documentNamespace"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    assert_eq!(
        theirs["documentNamespace"],
        "https://spdx.org/spdxdocs/chainguard/melange/8287f243b58d5ea8e7af2265e68b34d6"
    );
    let (ours, theirs) = (&ours["packages"][0], &theirs["packages"][1]);
    for key in [
        "name",
        "versionInfo",
        "licenseDeclared",
        "supplier",
        "originator",
        "copyrightText",
        "externalRefs",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
}

fn fixture_sbom(rel: &str) -> Value {
    let bytes = read_fixture(rel);
    let apk = ApkFile::parse(&bytes).unwrap();
    let path = sbom_path(
        &apk.pkginfo.pkgname,
        apk.pkginfo.pkgver.rsplit_once("-r").unwrap().0,
        apk.pkginfo
            .pkgver
            .rsplit_once("-r")
            .unwrap()
            .1
            .parse()
            .unwrap(),
    );
    let data = flate2::read::GzDecoder::new(&bytes[apk.data_range.clone()]);
    let mut archive = tar::Archive::new(data);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(path.as_str()) {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut text).unwrap();
            return json(&text);
        }
    }
    panic!("{rel}: no {path}");
}

#[test]
fn required_fields_and_minimal_input() {
    let input = SbomInput {
        name: "hello".to_string(),
        version: "0.17".to_string(),
        epoch: 1,
        namespace: "unknown".to_string(),
        creators: default_creators(),
        ..SbomInput::default()
    };
    let bytes = generate(&input).unwrap();
    assert!(bytes.ends_with(b"}\n"));
    let doc = json(&bytes);
    for key in [
        "SPDXID",
        "name",
        "spdxVersion",
        "creationInfo",
        "dataLicense",
        "documentNamespace",
        "packages",
        "relationships",
    ] {
        assert!(!doc[key].is_null(), "{key} missing");
    }
    assert_eq!(doc["spdxVersion"], "SPDX-2.3");
    assert_eq!(doc["creationInfo"]["created"], "1970-01-01T00:00:00Z");
    assert_eq!(
        doc["creationInfo"]["creators"][0],
        format!("Tool: melange-frontend ({})", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(doc["relationships"], serde_json::json!([]));
    assert!(doc.get("hasExtractedLicensingInfos").is_none());
    let package = &doc["packages"][0];
    for key in [
        "SPDXID",
        "name",
        "downloadLocation",
        "filesAnalyzed",
        "supplier",
    ] {
        assert!(!package[key].is_null(), "package {key} missing");
    }
    assert_eq!(package["licenseDeclared"], "NOASSERTION");
    assert_eq!(package["supplier"], "Organization: Unknown");
    assert_eq!(
        package["externalRefs"][0]["referenceLocator"],
        "pkg:apk/unknown/hello@0.17-r1"
    );
    assert_eq!(
        sbom_path("hello", "0.17", 1),
        "var/lib/db/sbom/hello-0.17-r1.spdx.json"
    );
}

#[test]
fn licenses_copyright_and_escaping() {
    let input = SbomInput {
        name: "py3.12-a_b".to_string(),
        version: "1.0+git".to_string(),
        epoch: 0,
        arch: "aarch64".to_string(),
        namespace: "my-org".to_string(),
        copyright: vec![
            Copyright {
                license: "MIT".to_string(),
                attestation: "Copyright <me> & co".to_string(),
                license_text: None,
            },
            Copyright {
                license: "LicenseRef-Custom".to_string(),
                attestation: "Copyright 2024 X".to_string(),
                license_text: Some("Custom terms\n".to_string()),
            },
        ],
        source_date_epoch: 951_782_400, // 2000-02-29
        creators: default_creators(),
        ..SbomInput::default()
    };
    let bytes = generate(&input).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text
        .contains(r#""copyrightText": "Copyright \u003cme\u003e \u0026 co\nCopyright 2024 X\n""#));
    let doc = json(&bytes);
    assert_eq!(doc["creationInfo"]["created"], "2000-02-29T00:00:00Z");
    let package = &doc["packages"][0];
    assert_eq!(
        package["SPDXID"],
        "SPDXRef-Package-apk-py3.12-aC95b-1.0C43git-r0"
    );
    assert_eq!(package["licenseDeclared"], "MIT AND LicenseRef-Custom");
    assert_eq!(package["supplier"], "Organization: My-Org");
    assert_eq!(
        package["externalRefs"][0]["referenceLocator"],
        "pkg:apk/my-org/py3.12-a_b@1.0+git-r0?arch=aarch64&distro=my-org"
    );
    assert_eq!(
        doc["hasExtractedLicensingInfos"],
        serde_json::json!([{"licenseId": "LicenseRef-Custom", "extractedText": "Custom terms\n"}])
    );
}

#[test]
fn deterministic_and_time_dependent_only_on_source_date_epoch() {
    let input = melange_test_input("test-pkg");
    assert_eq!(generate(&input).unwrap(), generate(&input).unwrap());
    let later = SbomInput {
        source_date_epoch: input.source_date_epoch + 1,
        ..input.clone()
    };
    let a = json(&generate(&input).unwrap());
    let b = json(&generate(&later).unwrap());
    assert_eq!(b["creationInfo"]["created"], "2023-01-01T00:00:01Z");
    assert_eq!(a["packages"], b["packages"]);
    assert_eq!(a["documentNamespace"], b["documentNamespace"]);
}

#[test]
fn bad_input_is_an_error() {
    let mut input = melange_test_input("");
    assert!(matches!(generate(&input), Err(SbomError::Missing("name"))));
    input.name = "x".to_string();
    input.version.clear();
    assert!(matches!(
        generate(&input),
        Err(SbomError::Missing("version"))
    ));
    input.version = "1".to_string();
    input.source_date_epoch = 253_402_300_799;
    let doc = json(&generate(&input).unwrap());
    assert_eq!(doc["creationInfo"]["created"], "9999-12-31T23:59:59Z");
    input.source_date_epoch += 1;
    assert!(matches!(
        generate(&input),
        Err(SbomError::TimeOutOfRange(_))
    ));
}

#[test]
fn helpers() {
    assert_eq!(
        format!("{:032x}", fnv1a_128(b"apk-unknown-1-r1")),
        "8287f243b58d5ea8e7af2265e68b34d6"
    );
    assert_eq!(
        github_config_purl(
            "https://github.com/wolfi-dev/os",
            "abc123def456",
            "crane.yaml"
        )
        .as_deref(),
        Some("pkg:github/wolfi-dev/os@abc123def456#crane.yaml")
    );
    assert_eq!(
        github_config_purl(
            "https://github.com/chainguard-dev/packages.git",
            "deadbeef1234",
            "packages/go.yaml"
        )
        .as_deref(),
        Some("pkg:github/chainguard-dev/packages@deadbeef1234#packages/go.yaml")
    );
    assert_eq!(
        github_config_purl("not-a-valid-url", "abc123", "t.yaml"),
        None
    );
    assert_eq!(
        github_config_purl("https://gitlab.com/a/b", "abc", "t.yaml"),
        None
    );
    assert_eq!(title_case("wolfi"), "Wolfi");
    assert_eq!(title_case("test-ns"), "Test-Ns");
    assert_eq!(title_case("ACME corp"), "Acme Corp");
    assert_eq!(
        identifier("SPDXRef-Package-a:b/c d"),
        "SPDXRef-Package-a-b-cC32d"
    );
}
