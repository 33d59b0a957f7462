//! The plans of `--target test` (melange's `melange test`): one test per
//! package whose `test:` section has steps, each run in its own fresh
//! environment — the test's `environment` (repositories, keys, packages,
//! accounts, variables), the package under test and the `needs.packages`
//! of its steps, plus `MELANGE_TEST_PACKAGES` — so that a test sees only
//! its own package. The packages under test come from the in-solve
//! repository (the packages the same solve built), which the gateway adds
//! before the configured repositories when it resolves each world.

use serde::Serialize;

use crate::config::error::{LResult, Located};

use super::environment::{self, EnvironmentPlan};
use super::options::{list_arg, BuildOptions};
use super::steps::CompiledTest;
use super::{BaseSource, PlannedStep, Target};

/// Named context that supplies the test environments' base image.
pub const TEST_ENVIRONMENT_CONTEXT: &str = "melange-test-environment";
/// Build-arg naming the test environments' base image for clients without
/// named contexts.
pub const TEST_ENVIRONMENT_IMAGE_ARG: &str = "MELANGE_TEST_ENVIRONMENT_IMAGE";
/// Build-arg adding packages to every test environment (melange's
/// `--test-package-append`).
pub const TEST_PACKAGES_ARG: &str = "MELANGE_TEST_PACKAGES";

/// One package's test: its environment and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedTest {
    /// The package under test.
    pub package: String,
    /// The test environment's world: its packages, the steps' needs, the
    /// package under test (sorted, unique, as melange), then
    /// `MELANGE_TEST_PACKAGES`.
    pub packages: Vec<String>,
    /// Progress name of the environment (`[test k/N] <package>: environment`);
    /// its install steps are named after it, as the build's are.
    pub environment_step: String,
    /// Test steps, `[test k/N] <package>: <step>`, numbered across all tests.
    pub steps: Vec<PlannedStep>,
    /// Repositories, keys and accounts of the test environment (target
    /// `test` only); resolved by the gateway over the in-solve repository
    /// first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvironmentPlan>,
}

/// Number and name the compiled tests; plan their environments when the
/// target runs them. Sections without steps are no test (melange skips
/// them).
pub(super) fn plan_tests(
    compiled: Vec<CompiledTest>,
    options: &BuildOptions,
    arch: &str,
    target: Target,
) -> LResult<Vec<PlannedTest>> {
    let compiled: Vec<CompiledTest> = compiled
        .into_iter()
        .filter(|t| !t.commands.is_empty())
        .collect();
    let total: usize = compiled.iter().map(|t| t.commands.len() + 1).sum();
    let extra = list_arg(options.build_args.get(TEST_PACKAGES_ARG));
    let mut number = 0;
    let mut next = || {
        number += 1;
        format!("[test {number}/{total}]")
    };
    let mut tests = Vec::with_capacity(compiled.len());
    for test in compiled {
        if let Some(run_as) = test
            .section
            .environment
            .run_as
            .as_ref()
            .filter(|user| !matches!(user.value.as_str(), "root" | "0"))
        {
            return Err(Located::new(
                run_as.pos,
                format!(
                    "`accounts.run-as: {}`: test steps can only run as root in this version of \
                     melange-frontend",
                    run_as.value
                ),
            ));
        }
        let mut packages = test.packages;
        for atom in &extra {
            if !packages.contains(atom) {
                packages.push(atom.clone());
            }
        }
        let environment = match target {
            Target::Test => Some(environment::test_environment(
                &test.section.environment,
                options,
                packages.clone(),
                arch,
            )?),
            _ => None,
        };
        let package = test.package;
        let environment_step = format!("{} {package}: environment", next());
        let steps = test
            .commands
            .into_iter()
            .map(|command| PlannedStep {
                name: format!("{} {package}: {}", next(), command.label),
                ..command.into_planned()
            })
            .collect();
        tests.push(PlannedTest {
            package,
            packages,
            environment_step,
            steps,
            environment,
        });
    }
    Ok(tests)
}

/// The test environments' base: the `melange-test-environment` named
/// context, else `MELANGE_TEST_ENVIRONMENT_IMAGE`; None: the build's base.
pub(super) fn test_base(options: &BuildOptions) -> Option<BaseSource> {
    if let Some(value) = options.named_contexts.get(TEST_ENVIRONMENT_CONTEXT) {
        return Some(BaseSource::Context {
            name: TEST_ENVIRONMENT_CONTEXT.to_string(),
            value: value.clone(),
        });
    }
    options
        .build_args
        .get(TEST_ENVIRONMENT_IMAGE_ARG)
        .filter(|r| !r.is_empty())
        .map(|reference| BaseSource::Image {
            reference: reference.clone(),
        })
}

#[cfg(test)]
#[path = "testplan_tests.rs"]
mod tests;
