//! Links libgcc's unwinder into the binary (libgcc_eh.a) instead of
//! loading libgcc_s.so.1 at every start, as gcc's `-static-libgcc` does.
//! Rust asks for `-lgcc_s` by name; a linker script of that name in a
//! directory searched first answers with the static archive. What it saves:
//! mapping one more library, binding its symbols, and its constructor,
//! which probes the CPU with `cpuid` (a trap to the hypervisor in a VM) in
//! every runsc process: the frontend, the sandbox, the gofer. Only for
//! glibc builds: the musl build (the default, .cargo/config.toml) is
//! static and has its own unwinder.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e != "gnu") {
        return;
    }
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dir = Path::new(&out).join("static-libgcc");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("libgcc_s.so"), "INPUT ( -lgcc_eh )\n"))
    {
        panic!("write {}: {e}", dir.display());
    }
    println!("cargo:rustc-link-search=native={}", dir.display());
}
