//! Links containerd-shim-runsc-v1 as a position-dependent executable.
//! A PIE's pointers in read-only data (vtables, string tables: some 270
//! KiB here) are relocated at load, so each shim had a private dirty copy
//! of them; at a fixed address they stay shared pages of the file. One
//! shim runs per pod, so that is most of what an added pod cost after the
//! heap (docs/decisions.md, "The containerd shim").
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
