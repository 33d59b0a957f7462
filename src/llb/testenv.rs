//! The LLB of one package's test (target `test`): the build's ops up to
//! the packaging step, emitted again as they are (so every one is the
//! same vertex: the test adds no work to the build and shares its cache),
//! then a fresh environment — the test base (`melange-test-environment`,
//! else the build's base) with the resolved packages installed, those
//! this solve built taken by selector from the packaging step's output
//! (the in-solve repository) — the source dir copied into the workspace
//! as for the build, and the test's steps, each an exec with the build's
//! cache mounts and its YAML location. The gateway solves one such
//! definition per test and returns the packages only when all passed.

use super::compile::{
    build, context_state, helper_state, pipeline_step_in, prepared_graph, workspace, BuildInputs,
    ContextSource,
};
use super::graph::{LlbError, State};
use crate::plan::BuildPlan;
use crate::proto::pb;

/// The definition that runs `plan.tests[index]`; its result is the root
/// filesystem after the test's last step.
pub fn compile_test(
    plan: &BuildPlan,
    inputs: &BuildInputs,
    index: usize,
) -> Result<pb::Definition, LlbError> {
    let test = plan.tests.get(index).ok_or_else(|| {
        LlbError::InvalidDefinition(format!("the plan has no test number {}", index + 1))
    })?;
    let environment = test.environment.as_ref().ok_or_else(|| {
        LlbError::InvalidDefinition(format!(
            "the test of {} has no environment (target test only)",
            test.package
        ))
    })?;
    let mut graph = prepared_graph(inputs);
    let packages = build(&mut graph, plan, inputs)?;
    let (base_source, image) = match &inputs.test_base {
        Some((source, config)) => (source, config),
        None => (&inputs.base, &inputs.base_config),
    };
    let base = context_state(&mut graph, base_source, "test environment base", inputs)?;
    let base = (!matches!(base_source, ContextSource::Scratch)).then_some(base);
    let helper = helper_state(&mut graph, inputs, "installing packages")?;
    let step = &test.environment_step;
    // Its install steps point at the test's first step.
    let line = test.steps.first().map_or(0, |planned| planned.line);
    let root = super::environment::install(
        &mut graph,
        (step, line),
        environment,
        (base, Some(&packages)),
        helper,
        inputs,
    )?;
    let mounted = test.steps.iter().any(|planned| planned.source.is_none());
    let cache = super::cachedir::seed_if(&mut graph, inputs, mounted)?;
    let mut state: State = workspace(&mut graph, (&[], step), root, inputs)?;
    for planned in &test.steps {
        state = pipeline_step_in(
            &mut graph,
            plan,
            planned,
            state,
            cache.as_ref(),
            inputs,
            image,
        )?;
    }
    Ok(graph.finish(&state))
}
