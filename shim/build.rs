//! Links containerd-shim-runsc-v1 as a position-dependent executable, in
//! glibc builds. A PIE's pointers in read-only data (vtables, string
//! tables: some 270 KiB here) are relocated at load, so each shim had a
//! private dirty copy of them; at a fixed address they stay shared pages
//! of the file. One shim runs per pod, so that is most of what an added
//! pod cost after the heap (docs/decisions.md, "The containerd shim").
//! The musl build (the default, .cargo/config.toml) stays a static PIE:
//! rustc starts it with musl's self-relocating rcrt1.o, which `-no-pie`
//! alone leaves without the dynamic section it reads (a crash at start).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
