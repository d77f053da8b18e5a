//! `<root>/<id>/meta.json` as every command reads it: through the store's
//! own loader, then what `state`/`list` and `save` do with the result.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use oci_spec::runtime::ContainerState;
use runsc::container::state::OciState;
use runsc::container::{hook_state, Container, ContainerStore, MetaView, Status};

/// The one container in the fuzz store; seeds mostly name others, so the
/// loader's id check rejects them and the checks below parse directly.
const ID: &str = "fuzz";

/// A store with one container directory, made once per process under
/// $TMPDIR (tools/fuzz points that at a directory it removes afterwards).
fn store() -> &'static (ContainerStore, PathBuf) {
    static STORE: OnceLock<(ContainerStore, PathBuf)> = OnceLock::new();
    STORE.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("runsc-fuzz-meta.{}", std::process::id()));
        let store = ContainerStore::open(&root).expect("create fuzz store");
        let dir = store.dir(ID);
        std::fs::create_dir_all(&dir).expect("create container dir");
        let path = dir.join(runsc::container::store::META_NAME);
        (store, path)
    })
}

fuzz_target!(|data: &[u8]| {
    let (store, path) = store();
    std::fs::write(path, data).expect("write meta.json");
    let _ = store.read_meta(ID);
    // `list` reads a borrowed view instead; it must refuse what the
    // loader refuses, and print what `state` prints.
    let view = serde_json::from_slice::<MetaView>(data);
    if let Ok(c) = serde_json::from_slice::<Container>(data) {
        let Ok(view) = view else {
            panic!("list refuses a meta.json state reads");
        };
        let listed = serde_json::to_value(OciState::from_view(view)).ok();
        let stated = serde_json::to_value(OciState::of(c)).ok();
        assert_eq!(listed, stated, "list and state print it differently");
    }
    // The same parse read_meta does, without its id check.
    let Ok(c) = serde_json::from_slice::<Container>(data) else {
        return;
    };
    let status = c.live_status();
    let _ = c.reported_pid(status);
    // Hooks never see a paused container; any state serves the encoding.
    let hook_status = match status {
        Status::Creating => ContainerState::Creating,
        Status::Created => ContainerState::Created,
        Status::Running | Status::Paused => ContainerState::Running,
        Status::Stopped => ContainerState::Stopped,
    };
    let _ = serde_json::to_vec(&hook_state(&c, hook_status, 0));
    // LockedContainer::save writes this encoding (an empty file if it
    // fails); the next command must read it back, or the container can
    // no longer be managed.
    let Ok(saved) = serde_json::to_vec_pretty(&c) else {
        panic!("loaded meta.json does not serialize");
    };
    if let Err(e) = serde_json::from_slice::<Container>(&saved) {
        panic!("saved meta.json does not load again: {e}");
    }
});
