//! Compiles the sandbox's and the gofer's own seccomp filters to BPF, so
//! that starting a sandbox loads a ready program instead of building one.

use std::path::Path;

include!("src/self_filter_lists.rs");

fn main() {
    println!("cargo:rerun-if-changed=src/self_filter_lists.rs");
    println!("cargo:rerun-if-changed=build.rs");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    export(&Path::new(&out).join("gofer.bpf"), &[]);
    export(&Path::new(&out).join("sandbox.bpf"), &sandbox_extra());
}

fn export(path: &Path, extra: &[&str]) {
    let (ctx, unknown) = build_self_filter(extra)
        .unwrap_or_else(|(what, e)| panic!("build seccomp filter ({what}): {e}"));
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
