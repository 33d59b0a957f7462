//! Resolution benchmark: the real Alpine 3.16 index of the shared fixtures
//! (x86_64, 4,929 packages) parsed from its `APKINDEX.tar.gz` bytes, then
//! `build-base busybox` resolved against it, as the environment builder
//! will do once per build. Run through `hack/bench-resolve`; figures go in
//! notes, never into assertions (the goal: under 100 ms).

mod common;

use common::{median, ms};
use std::path::Path;

use melange_frontend::apk::resolve::{resolve, Repository};
use melange_frontend::apk::{ApkIndex, Dependency};

const ROUNDS: usize = 100;

fn main() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/alpine-316/APKINDEX.tar.gz");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let world = match Dependency::parse_world("build-base busybox") {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let index = match ApkIndex::parse(&bytes) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let repos = [Repository {
        tag: None,
        records: &index.records,
    }];
    let count = match resolve(&repos, &world) {
        Ok(r) => r.packages.len(),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let parse = median(ROUNDS, || {
        std::hint::black_box(ApkIndex::parse(&bytes).ok());
    });
    let solve = median(ROUNDS, || {
        std::hint::black_box(resolve(&repos, &world).ok());
    });
    let both = median(ROUNDS, || {
        let index = ApkIndex::parse(&bytes).ok();
        let records = index.as_ref().map(|i| i.records.as_slice()).unwrap_or(&[]);
        let repos = [Repository { tag: None, records }];
        std::hint::black_box(resolve(&repos, &world).ok());
    });
    println!(
        "alpine-316 APKINDEX.tar.gz ({} bytes, {} packages): parse (gunzip + tar + records), median {}",
        bytes.len(),
        index.records.len(),
        ms(parse)
    );
    println!(
        "resolve `build-base busybox` ({count} packages): median {}",
        ms(solve)
    );
    println!("parse + resolve: median {} (goal: < 100 ms)", ms(both));
}
