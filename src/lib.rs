//! melange-frontend: a BuildKit gateway frontend that builds APK packages from
//! melange YAML. Data flows one way: [`config`] → [`plan`] → [`llb`] →
//! [`gateway`]; only `gateway` talks to buildkitd.

pub mod apk;
pub mod cli;
pub mod config;
pub mod gateway;
pub mod helper;
pub mod lint;
pub mod llb;
pub mod pipelines;
pub mod plan;
pub mod proto;
