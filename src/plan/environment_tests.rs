//! Environment planning: locations (build context, named contexts, URLs),
//! build-args appending to the build file, accounts, errors.

use super::*;

#[test]
fn locations() {
    assert_eq!(
        Location::parse("./packages/").unwrap(),
        Location::Context("packages".into())
    );
    assert_eq!(
        Location::parse("https://x/os/").unwrap(),
        Location::Url("https://x/os".into())
    );
    assert!(Location::parse("/abs")
        .unwrap_err()
        .contains("absolute path"));
    assert!(Location::parse("a/../../b").unwrap_err().contains("leaves"));
    assert!(Location::parse("s3://b").unwrap_err().contains("only http"));
    assert!(Location::parse(".")
        .unwrap_err()
        .contains("whole build context"));
}

#[test]
fn named_context_locations() {
    let repo = Location::parse("context://repo").unwrap();
    assert_eq!(
        repo,
        Location::Named {
            context: "repo".into(),
            path: String::new()
        }
    );
    assert_eq!(
        repo.join("x86_64/APKINDEX.tar.gz").to_string(),
        "context://repo/x86_64/APKINDEX.tar.gz"
    );
    let key = Location::parse("context://keys/./sub//melange.rsa.pub").unwrap();
    assert_eq!(
        key,
        Location::Named {
            context: "keys".into(),
            path: "sub/melange.rsa.pub".into()
        }
    );
    assert_eq!(key.named_context(), Some("keys"));
    assert_eq!(
        key_name("context://keys/sub/melange.rsa.pub"),
        "melange.rsa.pub"
    );
    assert!(Location::parse("context://repo/../x")
        .unwrap_err()
        .contains("leaves its context"));
    assert!(Location::parse("context://")
        .unwrap_err()
        .contains("not a named context name"));
    assert!(Location::parse("context://a:b/x")
        .unwrap_err()
        .contains("not a named context name"));
    // Not a named context: a relative path and a pinned repository.
    assert_eq!(
        Location::parse("context/x").unwrap(),
        Location::Context("context/x".into())
    );
    let pinned = RepositoryRef::parse("@local context://repo/os").unwrap();
    assert_eq!(pinned.tag.as_deref(), Some("local"));
    assert_eq!(
        Location::parse(&pinned.location).unwrap().to_string(),
        "context://repo/os"
    );
}

#[test]
fn named_contexts_must_be_given() {
    let args = [
        (REPOSITORIES_ARG, "@local context://repo/os"),
        (KEYRING_ARG, "context://keys/melange.rsa.pub"),
    ];
    let err = plan_with(YAML, &args, &[("repo", "local:repo")]).unwrap_err();
    assert!(
        err.contains(
            "build-arg MELANGE_KEYRING: \"context://keys/melange.rsa.pub\": no named context \"keys\" was given"
        ),
        "{err}"
    );
    let env = plan_with(
        YAML,
        &args,
        &[("repo", "local:repo"), ("keys", "local:keys")],
    )
    .unwrap()
    .unwrap();
    assert_eq!(env.named_contexts(), ["keys", "repo"]);
    assert_eq!(env.repositories[2].to_string(), "@local context://repo/os");
    let err = plan_with(
        YAML,
        &[(KEYRING_ARG, "context://keys")],
        &[("keys", "local:keys")],
    )
    .unwrap_err();
    assert!(err.contains("names the whole context \"keys\""), "{err}");
}

fn plan_yaml(yaml: &str, args: &[(&str, &str)]) -> Result<Option<EnvironmentPlan>, String> {
    plan_with(yaml, args, &[])
}

fn plan_with(
    yaml: &str,
    args: &[(&str, &str)],
    contexts: &[(&str, &str)],
) -> Result<Option<EnvironmentPlan>, String> {
    let config = crate::config::load("p.yaml", yaml).map_err(|e| e.to_string())?;
    let pairs = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let options = BuildOptions {
        build_args: pairs(args),
        named_contexts: pairs(contexts),
        ..Default::default()
    };
    plan(&config, &options, &["busybox".to_string()], "x86_64")
        .map_err(|e| e.in_file("p.yaml").to_string())
}

const YAML: &str = "package: {name: a, version: 1, epoch: 0}
environment:
  contents:
    repositories:
      - https://packages.example.org/os
      - '@local ./packages'
    keyring:
      - https://packages.example.org/os/signing.rsa.pub
  accounts:
    users:
      - username: nonroot
        uid: 65532
    groups:
      - groupname: nonroot
        gid: 65532
        members: [nonroot]
pipeline:
  - runs: echo
";

#[test]
fn contents_then_build_args_append() {
    let env = plan_yaml(
        YAML,
        &[
            (REPOSITORIES_ARG, "./more"),
            (KEYRING_ARG, "./melange.rsa.pub"),
            (PACKAGES_ARG, "busybox, make"),
        ],
    )
    .unwrap()
    .unwrap();
    let repos: Vec<String> = env.repositories.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        repos,
        [
            "https://packages.example.org/os",
            "@local ./packages",
            "./more"
        ]
    );
    assert_eq!(
        env.keyring,
        [
            "https://packages.example.org/os/signing.rsa.pub",
            "./melange.rsa.pub"
        ]
    );
    assert_eq!(env.world, ["busybox", "make"]);
    assert!(!env.allow_untrusted);
    let users: Vec<(&str, u32, u32, &str)> = env
        .users
        .iter()
        .map(|u| (u.name.as_str(), u.uid, u.gid, u.home.as_str()))
        .collect();
    assert_eq!(
        users,
        [
            ("root", 0, 0, "/root"),
            ("build", 1000, 1000, "/home/build"),
            ("nonroot", 65532, 65532, "/home/nonroot")
        ]
    );
    assert_eq!(env.groups[2].members, ["nonroot"]);
}

#[test]
fn bad_locations_and_accounts_are_located() {
    let yaml = YAML.replace("'@local ./packages'", "/srv/packages");
    let err = plan_yaml(&yaml, &[]).unwrap_err();
    assert!(
        err.starts_with("p.yaml:6:9: \"/srv/packages\": an absolute path"),
        "{err}"
    );
    let err = plan_yaml(YAML, &[(KEYRING_ARG, "../k.pub")]).unwrap_err();
    assert!(
        err.contains("build-arg MELANGE_KEYRING: \"../k.pub\": leaves its context"),
        "{err}"
    );
    let yaml = YAML.replace("uid: 65532", "uid: many");
    let err = plan_yaml(&yaml, &[]).unwrap_err();
    assert!(err.contains("uid must be a number, got \"many\""), "{err}");
    let err = plan_yaml(YAML, &[(ALLOW_UNTRUSTED_ARG, "yes")]).unwrap_err();
    assert!(
        err.contains("MELANGE_ALLOW_UNTRUSTED: expected 1 or true"),
        "{err}"
    );
    let env = plan_yaml(YAML, &[(ALLOW_UNTRUSTED_ARG, "1")])
        .unwrap()
        .unwrap();
    assert!(env.allow_untrusted);
}

#[test]
fn nothing_is_installed_without_a_repository() {
    let yaml = "package: {name: a, version: 1, epoch: 0}\npipeline:\n  - runs: echo\n";
    assert_eq!(plan_yaml(yaml, &[]).unwrap(), None);
    assert!(plan_yaml(yaml, &[(REPOSITORIES_ARG, "./p")])
        .unwrap()
        .is_some());
}

#[test]
fn repository_args_join_tags() {
    let value = "./a, @local ./b https://c".to_string();
    assert_eq!(
        repository_args(Some(&value)),
        ["./a", "@local ./b", "https://c"]
    );
}
