//! The melange language: parse the build file with positions, decode it into a
//! typed [`Config`], and substitute `${{…}}` variables. Pure: no I/O.

pub mod cond;
pub mod decode;
pub mod error;
pub mod model;
pub mod schema;
pub mod subst;
pub mod yaml;

pub use error::{ConfigError, Pos};
pub use model::{
    BuildOption, Capabilities, Config, DataSet, Environment, Input, Package, Step, Subpackage,
    TestSection, Text, VarTransform,
};

/// Parse and validate a build file. `file` is only used in error messages.
pub fn load(file: &str, text: &str) -> Result<Config, ConfigError> {
    let root = yaml::parse(strip_bom(text)).map_err(|e| e.in_file(file))?;
    decode::decode(&root).map_err(|e| e.in_file(file))
}

/// Parse and validate a pipeline file (`uses:` target); `file` names it in
/// errors.
pub fn load_pipeline(file: &str, text: &str) -> Result<Step, ConfigError> {
    let root = yaml::parse(strip_bom(text)).map_err(|e| e.in_file(file))?;
    decode::decode_pipeline_file(&root).map_err(|e| e.in_file(file))
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}
