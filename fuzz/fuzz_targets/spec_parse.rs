//! config.json as `runsc create` reads it: parse and validate, then the
//! pure steps create takes with an accepted spec.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use specutils::spec::parse_spec;

fuzz_target!(|data: &[u8]| {
    let name = Path::new("config.json");
    let Ok(spec) = parse_spec(data, name) else {
        return;
    };
    let bundle = Path::new("/bundle");
    let _ = specutils::spec::rootfs_path(bundle, &spec);
    let _ = specutils::annotations::pod_role(&spec);
    for (_, m) in specutils::mounts::donated_mounts(&spec) {
        let _ = specutils::mounts::bind_source(bundle, m);
        let _ = specutils::mounts::parse_options(m.options().as_deref().unwrap_or(&[]));
    }
    // create hands the accepted spec to the sandbox and gofer re-encoded as
    // JSON, and they parse it with parse_spec again: an accepted spec that
    // does not survive that would fail only inside the sandbox.
    // (A serialize failure is an error create reports, not a bug.)
    let Ok(again) = serde_json::to_vec(&spec) else {
        return;
    };
    if let Err(e) = parse_spec(&again, Path::new("spec descriptor")) {
        panic!("accepted spec does not re-parse: {e}");
    }
});
