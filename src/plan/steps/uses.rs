//! `uses:` expansion: loading a pipeline from the library, binding its
//! inputs from `with:` and defaults (with melange's checks), compiling its
//! body in the caller's scope, and the nesting limits.

use super::*;

/// How deep `uses:` may nest (distinct pipelines; a repeat is a cycle).
pub(super) const MAX_USES_DEPTH: usize = 32;

impl Compiler<'_> {
    /// Expand `uses:`: load the pipeline, bind its inputs from `with:` and
    /// defaults, and compile its body in the caller's scope. Errors inside
    /// the pipeline name its file.
    pub(super) fn uses(&mut self, step: &Step, uses: &Text, mut scope: Scope) -> LResult<()> {
        let name = uses.value.as_str();
        if !library::valid_name(name) {
            return Err(Located::new(
                uses.pos,
                format!("`uses: {name}` is not a pipeline name (plain path segments like `autoconf/configure`)"),
            ));
        }
        if self.stack.iter().any(|n| n == name) {
            return Err(Located::new(
                uses.pos,
                format!("`uses:` cycle: {} → {name}", self.stack.join(" → ")),
            ));
        }
        if self.stack.len() >= MAX_USES_DEPTH {
            return Err(Located::new(
                uses.pos,
                format!(
                    "`uses:` nests deeper than {MAX_USES_DEPTH} pipelines: {} → {name}",
                    self.stack.join(" → ")
                ),
            ));
        }
        let loaded = self
            .library
            .get(name)
            .ok_or_else(|| unknown_pipeline(uses, self.library))?;
        let pipeline = match loaded.as_ref() {
            Ok(pipeline) => pipeline,
            Err(e) => {
                let mut error =
                    Located::new(e.pos, format!("{} (loaded by `uses: {name}`)", e.message));
                error.file = Some(e.file.clone());
                return Err(error);
            }
        };
        check_with_keys(step, uses, &pipeline.step)?;
        self.bind_inputs(step, uses, pipeline, &mut scope)?;
        let first = self.out.commands.len();
        let caller = self
            .files
            .last()
            .cloned()
            .unwrap_or_else(|| "the build file".to_string());
        // The built-in `fetch` and `git-checkout` as BuildKit sources when
        // their inputs allow (plan/sources.rs, plan/git.rs); a user's own
        // pipeline of the same name always runs.
        let native = match name {
            "fetch" if self.library.is_builtin(name) => {
                crate::plan::sources::native_fetch(&scope.vars, &scope.working_directory)
            }
            "git-checkout" if self.library.is_builtin(name) => {
                crate::plan::git::native_git_checkout(
                    &scope.vars,
                    scope.env.get("SOURCE_DATE_EPOCH").map(String::as_str),
                    &scope.working_directory,
                )
            }
            _ => None,
        };
        if let Some(source) = native {
            self.out.commands.push(Command {
                label: String::new(),
                script: String::new(),
                env: scope.env.clone(),
                line: step.pos.line,
                source: Some(source),
            });
        } else {
            self.expand(name, uses, pipeline, &scope, caller)?;
        }
        let base = match &step.name {
            Some(label) => self.subst_name(label, &scope.vars)?,
            None => format!("uses: {name}"),
        };
        let produced = &mut self.out.commands[first..];
        // Steps from a pipeline file point at the build file's `uses:` line
        // (BuildKit's source map covers the build file only).
        if self.stack.is_empty() {
            for command in produced.iter_mut() {
                command.line = uses.pos.line;
            }
        }
        if let [only] = produced {
            only.label = base;
        } else {
            for command in produced {
                command.label = format!("{base} › {}", command.label);
            }
        }
        Ok(())
    }

    /// Compile a loaded pipeline's body in `scope`; errors inside it name
    /// its file and the `uses:` that reached it.
    fn expand(
        &mut self,
        name: &str,
        uses: &Text,
        pipeline: &Pipeline,
        scope: &Scope,
        caller: String,
    ) -> LResult<()> {
        self.stack.push(name.to_string());
        self.files.push(pipeline.file.clone());
        let result = self.step(&pipeline.step, scope).map_err(|e| {
            // Say which `uses:` reached the pipeline, once, where the error
            // first leaves its file.
            if e.file.is_some() {
                return e;
            }
            let mut e = e.in_pipeline(&pipeline.file);
            e.message = format!(
                "{} (via `uses: {name}` on line {} of {caller})",
                e.message, uses.pos.line
            );
            e
        });
        self.stack.pop();
        self.files.pop();
        result.map(|_| ())
    }

    /// Set `inputs.<name>` for every declared input: the `with:` value
    /// (substituted in the caller's scope), else the default; required inputs
    /// must end up non-empty, digests must have the right length.
    fn bind_inputs(
        &mut self,
        step: &Step,
        uses: &Text,
        pipeline: &Pipeline,
        scope: &mut Scope,
    ) -> LResult<()> {
        let mut bound = Vec::with_capacity(pipeline.step.inputs.len());
        for (name, input) in &pipeline.step.inputs {
            let given = step.with.get(&name.value);
            let mut value = match given {
                Some(text) => self.subst(text, &scope.vars)?,
                None => String::new(),
            };
            if value.is_empty() {
                if let Some(default) = &input.default {
                    value = self
                        .subst(default, &scope.vars)
                        .map_err(|e| e.in_pipeline(&pipeline.file))?;
                }
            }
            let pos = given.map_or(uses.pos, |t| t.pos);
            check_digest(&name.value, &value, pos)?;
            if input.required && value.is_empty() {
                return Err(Located::new(
                    uses.pos,
                    format!(
                        "pipeline `{}` requires input `{}`, which `with:` does not set",
                        uses.value, name.value
                    ),
                ));
            }
            bound.push((format!("inputs.{}", name.value), value));
        }
        scope.vars.extend(bound);
        Ok(())
    }
}

/// `with:` may only set inputs the pipeline declares, as melange requires.
fn check_with_keys(step: &Step, uses: &Text, pipeline: &Step) -> LResult<()> {
    let declared: Vec<&str> = pipeline
        .inputs
        .iter()
        .map(|(n, _)| n.value.as_str())
        .collect();
    for (key, value) in &step.with {
        if declared.contains(&key.as_str()) {
            continue;
        }
        let hint = match crate::config::schema::nearest(key, &declared) {
            Some(near) => format!("; did you mean `{near}`?"),
            None if declared.is_empty() => "; it takes no inputs".to_string(),
            None => format!("; its inputs: {}", declared.join(", ")),
        };
        return Err(Located::new(
            value.pos,
            format!(
                "`with: {key}`: pipeline `{}` has no input `{key}`{hint}",
                uses.value
            ),
        ));
    }
    Ok(())
}

/// melange's checks on checksum and commit inputs.
fn check_digest(input: &str, value: &str, pos: Pos) -> LResult<()> {
    let length = match input {
        "expected-sha256" => 64,
        "expected-sha512" => 128,
        "expected-commit" => 40,
        _ => return Ok(()),
    };
    if value.is_empty() || (value.len() == length && value.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Ok(());
    }
    Err(Located::new(
        pos,
        format!(
            "`{input}` must be {length} hexadecimal digits, got {} characters: {value:?}",
            value.chars().count()
        ),
    ))
}

/// `assertions.required-steps`: at least that many nested steps ran.
pub(super) fn check_required_steps(step: &Step, ran: usize) -> LResult<()> {
    let Some(required) = &step.required_steps else {
        return Ok(());
    };
    let wanted: usize = required.value.trim().parse().map_err(|_| {
        Located::new(
            required.pos,
            format!(
                "`required-steps` must be a whole number, got {:?}",
                required.value
            ),
        )
    })?;
    if ran < wanted {
        return Err(Located::new(
            required.pos,
            format!(
                "assertion failed: `required-steps: {wanted}` but {ran} of the {} nested steps run (the others' `if:` is false)",
                step.pipeline.len()
            ),
        ));
    }
    Ok(())
}

fn unknown_pipeline(uses: &Text, library: &Library) -> Located {
    let known = library.names();
    let hint = crate::config::schema::nearest(&uses.value, &known)
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    Located::new(
        uses.pos,
        format!(
            "unknown pipeline `{}`: not in the pipeline dirs nor among the built-ins{hint}",
            uses.value
        ),
    )
}
