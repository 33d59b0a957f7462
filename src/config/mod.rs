//! The melange language: parse the build file with positions, decode it into a
//! typed [`Config`], and substitute `${{…}}` variables. Pure: no I/O.

pub mod cond;
pub mod decode;
pub mod error;
mod locate;
pub mod model;
pub mod schema;
mod scope;
pub mod subst;
pub mod yaml;

pub use error::{ConfigError, Pos};
pub use model::{
    BuildOption, Capabilities, Config, DataSet, Environment, Input, Package, Step, Subpackage,
    TestSection, Text, VarTransform,
};

/// Parse and validate a build file. `file` is only used in error messages.
pub fn load(file: &str, text: &str) -> Result<Config, ConfigError> {
    let text = strip_bom(text);
    let root = yaml::parse(text).map_err(|e| e.place(text).in_file(file))?;
    decode::decode(&root).map_err(|e| e.place(text).in_file(file))
}

/// Parse and validate a pipeline file (`uses:` target); `file` names it in
/// errors.
pub fn load_pipeline(file: &str, text: &str) -> Result<Step, ConfigError> {
    let root = yaml::parse(strip_bom(text)).map_err(|e| e.in_file(file))?;
    decode::decode_pipeline_file(&root).map_err(|e| e.in_file(file))
}

/// A file's bytes as text. Invalid UTF-8 is an error at the first bad
/// byte's line and column that also names its byte offset, since an editor
/// may show the byte as anything.
pub fn utf8(file: &str, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let offset = e.utf8_error().valid_up_to();
        // Everything before `offset` is valid, so the prefix is text.
        let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        ConfigError {
            file: file.to_string(),
            pos: Pos {
                line: before.matches('\n').count() + 1,
                col: before[line_start..].chars().count() + 1,
            },
            message: format!(
                "invalid UTF-8 at byte offset {offset} (byte 0x{:02X}): the file must be UTF-8 text",
                bytes[offset]
            ),
        }
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_names_its_line_column_and_byte_offset() {
        let bytes = b"package:\n  name: bad\n  description: caf\xe9\n".to_vec();
        let err = utf8("p.yaml", bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "p.yaml:3:19: invalid UTF-8 at byte offset 39 (byte 0xE9): the file must be UTF-8 text"
        );
        let err = utf8("p.yaml", b"\xff".to_vec()).unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, col: 1 });
        assert_eq!(utf8("p.yaml", "é\n".into()).unwrap(), "é\n");
    }
}
