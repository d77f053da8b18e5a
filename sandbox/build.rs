//! Compiles the sandbox's own seccomp filter to BPF, so
//! that starting a sandbox loads a ready program instead of building one,
//! and the two usual variants of the workloads' baseline filter.

use std::path::Path;

include!("src/self_filter_lists.rs");
include!("src/baseline_lists.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/self_filter_lists.rs");
    println!("cargo:rerun-if-changed=src/baseline_lists.rs");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/fprintf_chk.c");
    if std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "musl") {
        link_fprintf_chk();
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    export(
        &Path::new(&out).join("sandbox.bpf"),
        build_self_filter(&sandbox_extra()),
    );
    export(&Path::new(&out).join("baseline.bpf"), build_baseline(&[]));
    let userns = &[USERNS_FAMILY];
    export(
        &Path::new(&out).join("baseline_userns.bpf"),
        build_baseline(userns),
    );
}

/// Debian's libseccomp.a, linked statically into musl builds, calls
/// glibc's `__fprintf_chk`; this forwards it to musl's vfprintf. Whole
/// archive: the linker meets this library before libseccomp.a (dependents
/// first), so a plain archive member would not be pulled in.
fn link_fprintf_chk() {
    cc::Build::new()
        .file("csrc/fprintf_chk.c")
        .link_lib_modifier("+whole-archive")
        .compile("fprintf_chk");
}

type Built =
    Result<(libseccomp::ScmpFilterContext, Vec<String>), (String, libseccomp::error::SeccompError)>;

fn export(path: &Path, built: Built) {
    let (ctx, unknown) =
        built.unwrap_or_else(|(what, e)| panic!("build seccomp filter ({what}): {e}"));
    for name in unknown {
        println!(
            "cargo:warning=syscall {name} unknown to libseccomp; left out of {}",
            path.display()
        );
    }
    let file =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    ctx.export_bpf(&file)
        .unwrap_or_else(|e| panic!("export {}: {e}", path.display()));
}
