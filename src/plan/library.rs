//! Where `uses:` pipelines come from: the user's pipeline dirs (files the
//! caller read beforehand — the gateway from the build context, the `plan`
//! subcommand from disk), then the built-in library, as melange searches
//! them. Planning stays pure: the caller asks [`Library::unresolved`] which
//! names it still has to look up, reads them, and repeats until none remain.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::OnceLock;

use crate::config::{self, Config, ConfigError, Step};
use crate::pipelines;

/// A pipeline file found in one of the user's pipeline dirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineText {
    /// How errors name it (e.g. `pipelines/test/docs.yaml`).
    pub file: String,
    /// Its YAML.
    pub text: String,
}

/// A loaded pipeline, ready to compile.
#[derive(Debug)]
pub struct Pipeline {
    /// How errors name its file.
    pub file: String,
    /// The file as one step (inputs, needs, nested steps).
    pub step: Step,
}

type Loaded = Rc<Result<Pipeline, ConfigError>>;

/// The pipelines a plan may use.
#[derive(Debug, Default)]
pub struct Library {
    /// Names looked up in the user's dirs: `Some` when found there.
    user: BTreeMap<String, Option<PipelineText>>,
    parsed: RefCell<HashMap<String, Loaded>>,
}

impl Library {
    /// The built-in library and no user pipelines yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record what the user's dirs hold for `name` (`None`: not there).
    pub fn add(&mut self, name: &str, found: Option<PipelineText>) {
        self.parsed.borrow_mut().remove(name);
        self.user.insert(name.to_string(), found);
    }

    /// Names reachable from the config's `uses:` (through pipelines already
    /// known) that have not been looked up in the user's dirs yet. Invalid
    /// names are skipped: planning reports them at their position.
    pub fn unresolved(&self, config: &Config) -> Vec<String> {
        let mut wanted = Vec::new();
        let mut seen = BTreeSet::new();
        let mut queue: Vec<String> = Vec::new();
        for steps in config_pipelines(config) {
            collect_uses(steps, &mut queue);
        }
        while let Some(name) = queue.pop() {
            if !valid_name(&name) || !seen.insert(name.clone()) {
                continue;
            }
            if !self.user.contains_key(&name) {
                wanted.push(name);
                continue;
            }
            if let Ok(pipeline) = self.load(&name).as_ref() {
                collect_uses(std::slice::from_ref(&pipeline.step), &mut queue);
            }
        }
        wanted.sort();
        wanted
    }

    /// The pipeline called `name`: from the user's dirs, else built in.
    /// `None` when neither has it.
    pub fn get(&self, name: &str) -> Option<Loaded> {
        match self.user.get(name) {
            Some(Some(_)) => Some(self.load(name)),
            _ if pipelines::builtin(name).is_some() => Some(self.load(name)),
            _ => None,
        }
    }

    /// Whether `uses: name` reaches the built-in pipeline (no user file of
    /// that name): only the built-ins may be replaced by native steps.
    pub fn is_builtin(&self, name: &str) -> bool {
        !matches!(self.user.get(name), Some(Some(_))) && pipelines::builtin(name).is_some()
    }

    /// Every name `uses:` can reach (for suggestions).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .user
            .iter()
            .filter(|(_, found)| found.is_some())
            .map(|(name, _)| name.as_str())
            .chain(pipelines::names().map(|name| -> &str { name }))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn load(&self, name: &str) -> Loaded {
        if let Some(loaded) = self.parsed.borrow().get(name) {
            return loaded.clone();
        }
        let loaded = match self.user.get(name) {
            Some(Some(found)) => Rc::new(config::load_pipeline(&found.file, &found.text).map(
                |step| Pipeline {
                    file: found.file.clone(),
                    step,
                },
            )),
            _ => builtin_pipeline(name),
        };
        self.parsed
            .borrow_mut()
            .insert(name.to_string(), loaded.clone());
        loaded
    }
}

/// Built-ins are parsed once per process.
fn builtin_pipeline(name: &str) -> Loaded {
    static PARSED: OnceLock<BTreeMap<&'static str, Result<Step, ConfigError>>> = OnceLock::new();
    let all = PARSED.get_or_init(|| {
        pipelines::BUILTIN
            .iter()
            .map(|(name, text)| (*name, config::load_pipeline(&builtin_file(name), text)))
            .collect()
    });
    let result = match all.get(name) {
        Some(Ok(step)) => Ok(Pipeline {
            file: builtin_file(name),
            step: step.clone(),
        }),
        Some(Err(e)) => Err(e.clone()),
        None => Err(ConfigError {
            file: builtin_file(name),
            pos: Default::default(),
            message: "no such built-in pipeline".into(),
        }),
    };
    Rc::new(result)
}

/// How errors name a built-in pipeline's file.
pub fn builtin_file(name: &str) -> String {
    format!("<built-in>/{name}.yaml")
}

/// Every pipeline list of a config whose `uses:` need resolving.
fn config_pipelines(config: &Config) -> impl Iterator<Item = &[Step]> {
    let tests = config
        .test
        .iter()
        .chain(config.subpackages.iter().filter_map(|s| s.test.as_ref()))
        .map(|t| t.pipeline.as_slice());
    std::iter::once(config.pipeline.as_slice())
        .chain(config.subpackages.iter().map(|s| s.pipeline.as_slice()))
        .chain(tests)
}

fn collect_uses(steps: &[Step], out: &mut Vec<String>) {
    for step in steps {
        if let Some(uses) = &step.uses {
            out.push(uses.value.clone());
        }
        collect_uses(&step.pipeline, out);
    }
}

/// A `uses:` name is a relative path of plain segments: nothing that could
/// read outside the pipeline dir.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
        })
}
