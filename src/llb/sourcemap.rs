//! BuildKit's source map for the build file: each op's YAML lines, so a
//! failing step shows `package.yaml:<line>` and its marked lines, as the
//! Dockerfile frontend does for an instruction.

use std::collections::BTreeMap;

use super::graph::SourceFile;
use crate::proto::pb;

/// The `pb::Source` for `file`, each op's lines widened to the YAML block
/// they start (a whole `- runs:` step; a `uses:` line alone).
pub(super) fn source_map(file: SourceFile, locations: &BTreeMap<String, Vec<usize>>) -> pb::Source {
    let text = String::from_utf8_lossy(&file.data);
    let lines: Vec<&str> = text.lines().collect();
    let locations = locations
        .iter()
        .map(|(digest, starts)| {
            let ranges = starts
                .iter()
                .map(|&line| {
                    let end = block_end(&lines, line);
                    pb::Range {
                        start: Some(position(line)),
                        end: Some(position(end)),
                    }
                })
                .collect();
            (
                digest.clone(),
                pb::Locations {
                    locations: vec![pb::Location {
                        source_index: 0,
                        ranges,
                    }],
                },
            )
        })
        .collect();
    pb::Source {
        locations,
        infos: vec![pb::SourceInfo {
            filename: file.filename,
            data: file.data,
            definition: None,
            language: "YAML".to_string(),
        }],
    }
}

fn position(line: usize) -> pb::Position {
    pb::Position {
        line: i32::try_from(line).unwrap_or(i32::MAX),
        character: 0,
    }
}

/// The last line (1-based) of the YAML block starting at `line`: the
/// following lines indented deeper than it (blank and comment lines
/// inside included), trailing blank and comment lines left out.
pub(super) fn block_end(lines: &[&str], line: usize) -> usize {
    let Some(first) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return line;
    };
    let indent = indent_of(first);
    let mut end = line;
    for (i, text) in lines.iter().enumerate().skip(line) {
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent_of(text) <= indent {
            break;
        }
        end = i + 1;
    }
    end
}

fn indent_of(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "pipeline:\n  - name: build\n    runs: |\n      make\n\n      make install\n\n  # next\n  - uses: fetch\n    with:\n      uri: x\n";

    #[test]
    fn a_step_is_marked_whole_and_a_uses_line_alone() {
        let lines: Vec<&str> = YAML.lines().collect();
        assert_eq!(block_end(&lines, 2), 6);
        assert_eq!(block_end(&lines, 9), 11);
        assert_eq!(block_end(&lines, 10), 11);
        assert_eq!(block_end(&lines, 1), 11);
        // Out of range: the line itself.
        assert_eq!(block_end(&lines, 99), 99);
        assert_eq!(block_end(&lines, 0), 0);
    }

    #[test]
    fn ranges_cover_the_block_in_the_source_info() {
        let file = SourceFile {
            filename: "package.yaml".into(),
            data: YAML.as_bytes().to_vec(),
        };
        let source = source_map(file, &BTreeMap::from([("sha256:a".to_string(), vec![2])]));
        let range = &source.locations["sha256:a"].locations[0].ranges[0];
        assert_eq!(range.start.as_ref().map(|p| p.line), Some(2));
        assert_eq!(range.end.as_ref().map(|p| p.line), Some(6));
        assert_eq!(source.infos[0].language, "YAML");
    }
}
