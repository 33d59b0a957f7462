//! A failed step's YAML lines on its error, attached by the frontend.
//!
//! Why not leave it to BuildKit: buildkitd looks the failing vertex's digest
//! up in the solved definition's `Source.locations`, but the daemon does not
//! solve our op bytes as sent. Docker 28.5 rewrites the source ops (the
//! `docker-image://` and `local://` sources come back with other digests),
//! so every op built on them gets a new digest too and the lookup misses:
//! buildx printed no `package.yaml:<line>`. The build is therefore solved
//! while the frontend waits ([`super::bridge::Bridge::solve_evaluated`]),
//! and a failure is located here: by the vertex digest when it is one of
//! ours, else by the op's progress name (`llb.customname`, unique per op:
//! `[3/4] …`, `fetch …`), which the daemon's solve error carries.

use std::collections::BTreeMap;

use prost::Message;

use super::{any, Failure};
use crate::proto::{errdefs, pb};

/// What a failure is matched against: the definition's source map and
/// each op's progress name.
pub(super) struct Locator {
    source: pb::Source,
    names: BTreeMap<String, Vec<String>>,
}

impl Locator {
    /// The source map and names of `definition`; `None` without a source map.
    pub(super) fn of(definition: &pb::Definition) -> Option<Locator> {
        let source = definition.source.clone()?;
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (digest, meta) in &definition.metadata {
            if let Some(name) = meta.description.get(CUSTOM_NAME) {
                names.entry(name.clone()).or_default().push(digest.clone());
            }
        }
        Some(Locator { source, names })
    }

    /// `failure` with an `errdefs.Source` detail per location of its
    /// failing op, unless it has one already or the op has no lines.
    pub(super) fn locate(&self, mut failure: Failure) -> Failure {
        let details = &failure.0.details;
        if details.iter().any(|d| type_name(&d.type_url) == SOURCE) {
            return failure;
        }
        let failing = Failing::from_details(details);
        let Some(locations) = self.locations_of(&failing) else {
            return failure;
        };
        for location in &locations.locations {
            let index = usize::try_from(location.source_index).ok();
            let Some(info) = index.and_then(|i| self.source.infos.get(i)) else {
                continue;
            };
            let detail = errdefs::Source {
                info: Some(info.clone()),
                ranges: location.ranges.clone(),
            };
            failure.0.details.push(any(SOURCE, detail.encode_to_vec()));
        }
        failure
    }

    fn locations_of(&self, failing: &Failing) -> Option<&pb::Locations> {
        let by_digest = failing
            .digest
            .as_ref()
            .and_then(|digest| self.source.locations.get(digest));
        by_digest.or_else(|| {
            let digests = self.names.get(failing.name.as_ref()?)?;
            digests.iter().find_map(|d| self.source.locations.get(d))
        })
    }
}

const CUSTOM_NAME: &str = "llb.customname";
const SOURCE: &str = "errdefs.Source";

/// The failing vertex as the daemon's error details name it.
#[derive(Debug, Default, PartialEq)]
struct Failing {
    digest: Option<String>,
    name: Option<String>,
}

impl Failing {
    /// From `errdefs.Vertex` (its digest) and `errdefs.Solve` (the op's
    /// description), each in protobuf or, as BuildKit 0.10+ sends them, JSON
    /// (type URL suffix `+json`).
    fn from_details(details: &[prost_types::Any]) -> Failing {
        let mut failing = Failing::default();
        for detail in details {
            let json = detail.type_url.ends_with("+json");
            match type_name(&detail.type_url) {
                "errdefs.Vertex" if json => {
                    let value: Option<serde_json::Value> =
                        serde_json::from_slice(&detail.value).ok();
                    failing.digest = value
                        .as_ref()
                        .and_then(|v| v.get("digest")?.as_str())
                        .map(str::to_string);
                }
                "errdefs.Vertex" => {
                    failing.digest = errdefs::Vertex::decode(detail.value.as_slice())
                        .ok()
                        .map(|v| v.digest);
                }
                "errdefs.Solve" if json => {
                    let value: Option<serde_json::Value> =
                        serde_json::from_slice(&detail.value).ok();
                    failing.name = value
                        .as_ref()
                        .and_then(|v| v.get("description")?.get(CUSTOM_NAME)?.as_str())
                        .map(str::to_string);
                }
                _ => {}
            }
        }
        failing
    }
}

/// `errdefs.Vertex` from `type.googleapis.com/moby.buildkit.v1.errdefs.Vertex`
/// or `github.com/moby/buildkit/errdefs.Vertex+json`.
fn type_name(type_url: &str) -> &str {
    let name = type_url.trim_end_matches("+json");
    let name = name.rsplit('/').next().unwrap_or(name);
    name.strip_prefix("moby.buildkit.v1.").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::rpc;

    fn definition() -> pb::Definition {
        let location = |line| pb::Locations {
            locations: vec![pb::Location {
                source_index: 0,
                ranges: vec![pb::Range {
                    start: Some(pb::Position { line, character: 0 }),
                    end: Some(pb::Position {
                        line: line + 2,
                        character: 0,
                    }),
                }],
            }],
        };
        let meta = |name: &str| pb::OpMetadata {
            description: BTreeMap::from([(CUSTOM_NAME.to_string(), name.to_string())]),
            ..Default::default()
        };
        pb::Definition {
            def: Vec::new(),
            metadata: BTreeMap::from([
                ("sha256:a".to_string(), meta("[1/2] build")),
                ("sha256:b".to_string(), meta("[2/2] the failing step")),
            ]),
            source: Some(pb::Source {
                locations: BTreeMap::from([
                    ("sha256:a".to_string(), location(3)),
                    ("sha256:b".to_string(), location(8)),
                ]),
                infos: vec![pb::SourceInfo {
                    filename: "package.yaml".into(),
                    data: b"x\n".to_vec(),
                    definition: None,
                    language: "YAML".into(),
                }],
            }),
        }
    }

    fn failure(details: Vec<prost_types::Any>) -> Failure {
        Failure(rpc::Status {
            code: 2,
            message: "exit code: 3".into(),
            details,
        })
    }

    fn json(name: &str, value: &str) -> prost_types::Any {
        prost_types::Any {
            type_url: format!("github.com/moby/buildkit/{name}+json"),
            value: value.as_bytes().to_vec(),
        }
    }

    fn lines(failure: &Failure) -> Vec<i32> {
        failure
            .0
            .details
            .iter()
            .filter(|d| type_name(&d.type_url) == SOURCE)
            .filter_map(|d| errdefs::Source::decode(d.value.as_slice()).ok())
            .flat_map(|s| s.ranges)
            .filter_map(|r| r.start.map(|p| p.line))
            .collect()
    }

    #[test]
    fn a_rewritten_vertex_is_found_by_its_name() {
        let locator = Locator::of(&definition()).unwrap();
        let located = locator.locate(failure(vec![
            json("errdefs.Vertex", r#"{"digest":"sha256:rewritten"}"#),
            json(
                "errdefs.Solve",
                r#"{"op":{},"description":{"llb.customname":"[2/2] the failing step"}}"#,
            ),
        ]));
        assert_eq!(lines(&located), [8]);
    }

    #[test]
    fn a_vertex_of_ours_is_found_by_its_digest() {
        let locator = Locator::of(&definition()).unwrap();
        let vertex = errdefs::Vertex {
            digest: "sha256:a".into(),
        };
        let located = locator.locate(failure(vec![any(
            "moby.buildkit.v1.errdefs.Vertex",
            vertex.encode_to_vec(),
        )]));
        assert_eq!(lines(&located), [3]);
    }

    #[test]
    fn unknown_vertices_and_located_errors_are_left_alone() {
        let locator = Locator::of(&definition()).unwrap();
        let unknown = locator.locate(failure(vec![json(
            "errdefs.Vertex",
            r#"{"digest":"sha256:other"}"#,
        )]));
        assert!(lines(&unknown).is_empty());
        let mut already = locator.locate(failure(vec![json(
            "errdefs.Vertex",
            r#"{"digest":"sha256:b"}"#,
        )]));
        assert_eq!(lines(&already), [8]);
        already = locator.locate(already);
        assert_eq!(lines(&already), [8], "a second source is not added");
        assert!(Locator::of(&pb::Definition::default()).is_none());
    }

    #[test]
    fn type_names_from_both_encodings() {
        assert_eq!(
            type_name("type.googleapis.com/moby.buildkit.v1.errdefs.Vertex"),
            "errdefs.Vertex"
        );
        assert_eq!(
            type_name("github.com/moby/buildkit/errdefs.Solve+json"),
            "errdefs.Solve"
        );
        assert_eq!(type_name("type.googleapis.com/errdefs.Source"), SOURCE);
    }
}
