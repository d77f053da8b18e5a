//! `list` against `state`: list reads thousands of entries through a fast
//! path of its own (runsc/src/container/store_reader.rs), which must print
//! of each container exactly what `state` prints of it, but for the owner:
//! `list` names the user that made the container, as runc's does, where
//! `state` prints none.

mod common;

use std::collections::BTreeMap;

use common::{stdout, Env};
use oci_spec::runtime::{HookBuilder, HooksBuilder};
use runsc::container::{Container, ContainerStore, ProcessRef, Status};

fn entry(id: &str) -> Container {
    Container::new(id, "/bundle".into(), "/bundle/rootfs".into(), id)
}

/// Entries whose fields take every path of the reader: escapes and
/// non-ASCII text (which cannot be borrowed from the file), annotations,
/// a file too big for one read, and live and dead processes.
fn odd_entries() -> Vec<Container> {
    let mut escaped = entry("a-escaped");
    escaped.bundle = "/tmp/we\"ird\\pa th/\u{e9}\t".into();
    escaped.rootfs = "/r\u{2603}/\n".into();
    escaped.owner = "b\"ob".into();
    escaped.created = "2026-12-05T21:54:34.754535690Z\u{1}".into();

    let mut annotated = entry("a-annotated");
    annotated.annotations = BTreeMap::from([
        ("io.kubernetes.cri.sandbox-id".into(), "abc".into()),
        ("\u{e9}\"k".into(), "\\n\u{2603}".into()),
        (String::new(), String::new()),
    ]);

    let mut big = entry("a-big");
    // Over list's 64 KiB read: the general path reads it.
    let hook = HookBuilder::default()
        .path("/bin/true")
        .args(vec!["x".repeat(100); 800])
        .build()
        .expect("hook");
    big.hooks = Some(
        HooksBuilder::default()
            .poststop(vec![hook])
            .build()
            .expect("hooks"),
    );
    big.owner = "big".into();

    // This test process stands in for a live sandbox and init.
    let me = ProcessRef::of(std::process::id() as i32).expect("own start time");
    let mut live = entry("a-live");
    live.status = Status::Running;
    live.sandbox = Some(me);
    live.init = Some(me);
    let mut held = entry("a-held");
    held.status = Status::Paused;
    held.sandbox = Some(me);
    held.holder = Some(ProcessRef {
        pid: 1,
        start_time: 0,
    });
    // A sandbox that is gone: stopped whatever the file says.
    let mut dead = entry("a-dead");
    dead.status = Status::Running;
    dead.sandbox = Some(ProcessRef {
        pid: me.pid,
        start_time: me.start_time + 1,
    });
    // A uid no user has, and an entry from before the uid was kept.
    let mut nameless = entry("a-nameless");
    nameless.owner_uid = Some(4_000_000);
    let mut older = entry("a-older");
    older.owner_uid = None;
    vec![escaped, annotated, big, live, held, dead, nameless, older]
}

/// What `list` prints of a container `state` prints as `state`.
fn listed_as(id: &str, mut state: serde_json::Value) -> serde_json::Value {
    let owner = match id {
        "a-nameless" => "#4000000",
        "a-older" => "",
        // The entries this test made, as root.
        _ if state["owner"] == "" => "root",
        _ => return state,
    };
    state["owner"] = owner.into();
    state
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", common::stderr(out));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn list_prints_each_container_as_state_does() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let store = ContainerStore::open(&env.root).expect("open store");
    let odd = odd_entries();
    // Enough entries that list reads them on several threads.
    let mut ids: Vec<String> = (0..700).map(|i| format!("c{i:04}")).collect();
    for id in &ids {
        store.create(&entry(id)).expect("create entry");
    }
    for c in &odd {
        store.create(c).expect("create odd entry");
        ids.push(c.id.clone());
    }
    ids.sort();

    let listed = json(&env.runsc(&["list", "--format", "json"]));
    let listed = listed.as_array().expect("an array");
    let listed_ids: Vec<&str> = listed.iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(listed_ids, ids);

    let by_id: BTreeMap<&str, &serde_json::Value> =
        listed_ids.iter().copied().zip(listed).collect();
    let sampled = ids.iter().step_by(97).map(String::as_str);
    for id in odd.iter().map(|c| c.id.as_str()).chain(sampled) {
        let state = json(&env.runsc(&["state", id]));
        assert_eq!(state["owner"], odd_owner(&odd, id), "{id}");
        assert_eq!(by_id[id], &listed_as(id, state), "{id}");
    }
    assert_eq!(by_id["a-live"]["status"], "running");
    assert_eq!(by_id["a-live"]["pid"], std::process::id());
    assert_eq!(by_id["a-held"]["pid"], 1);
    assert_eq!(by_id["a-dead"]["status"], "stopped");

    // The table: one row per container, its cells in order.
    let table = stdout(&env.runsc(&["list"]));
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), ids.len() + 1, "{table}");
    let escaped = rows
        .iter()
        .find(|r| r.starts_with("a-escaped "))
        .expect("escaped row");
    assert!(
        escaped.contains(" creating   /tmp/we\"ird\\pa th/\u{e9}\t "),
        "{escaped}"
    );
    assert_eq!(escaped.split_whitespace().nth(1), Some("0"), "{escaped}");
    assert!(escaped.ends_with("Z\u{1}   b\"ob"), "{escaped}");
    let big = rows
        .iter()
        .find(|r| r.starts_with("a-big "))
        .expect("big row");
    assert!(big.ends_with("   big"), "{big}");
    let plain = rows.iter().find(|r| r.starts_with("c0000 ")).expect("row");
    assert!(plain.ends_with("   root"), "{plain}");
}

/// The owner `state` prints: the one kept in meta.json, empty but for the
/// odd entries that set one.
fn odd_owner(odd: &[Container], id: &str) -> String {
    odd.iter()
        .find(|c| c.id == id)
        .map(|c| c.owner.clone())
        .unwrap_or_default()
}
