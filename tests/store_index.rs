//! The store's id cache (runsc/src/container/id_index.rs) under kill -9:
//! with the cache built for a store of a few hundred containers, a
//! frontend killed between any two steps of create, delete or the cache's
//! own rebuild never makes `list` or `state <abbreviated id>` lie, and an
//! ambiguous prefix is still refused.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{stderr, Env};
use runsc::container::{Container, ContainerStore, Status};

/// Above the size from which the cache is kept (id_index::MIN_CACHED).
const SEEDED: usize = 300;

/// Stopped containers made through the store alone (no processes): they
/// make the store big enough to be cached.
fn seed(store: &ContainerStore, ids: &[String]) {
    for id in ids {
        let mut c = Container::new(id, "/bundle".into(), "/bundle/rootfs".into(), id);
        c.status = Status::Stopped;
        store.create(&c).expect("create store entry");
    }
}

fn cache_file(env: &Env) -> std::path::PathBuf {
    env.root.join("~index").join("ids")
}

/// Lets the root's last change age past the cache's racy window, then
/// lists, which rebuilds the cache if the store changed: the next steps
/// start from a cache that matches the store.
/// (The first list of a big store makes the cache's directory, the second
/// the cache.)
fn warm(env: &Env) {
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(30));
        env.ok(&["list", "-q"]);
    }
    assert!(cache_file(env).exists(), "the id cache was not written");
}

fn listed(env: &Env) -> Vec<String> {
    env.ok(&["list", "-q"]).lines().map(String::from).collect()
}

/// `state PREFIX`'s id, or its error message.
fn resolve(env: &Env, prefix: &str) -> Result<String, String> {
    let out = env.runsc(&["state", prefix]);
    if out.status.success() {
        let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("state json");
        Ok(state["id"].as_str().expect("id").to_string())
    } else {
        Err(stderr(&out))
    }
}

fn assert_ambiguous(env: &Env, prefix: &str, ids: &[&String]) {
    let err = resolve(env, prefix).expect_err("an ambiguous prefix resolved");
    assert!(err.contains("is ambiguous"), "{err}");
    for id in ids {
        assert!(err.contains(id.as_str()), "{id} not named: {err}");
    }
}

/// Deletes what the test made (the store entries through the store, the
/// real containers with `delete --force`), pass or fail.
struct Cleanup<'a> {
    env: &'a Env,
    store: ContainerStore,
    real: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for id in &self.real {
            let _ = self.env.runsc(&["delete", "--force", id]);
        }
        for id in self.store.ids().unwrap_or_default() {
            if let Ok(_lock) = self.store.lock_raw(&id) {
                let _ = self.store.remove(&id);
            }
        }
    }
}

#[test]
fn crashes_at_every_step_leave_list_and_abbreviated_state_truthful() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let store = ContainerStore::open(&env.root).expect("open store");
    let bundle = env.bundle("b", &["sleep", "1000"]);
    let b = bundle.to_str().expect("bundle path");
    let seeded: Vec<String> = (0..SEEDED).map(|i| env.id(&format!("s{i:03}"))).collect();
    let (amb1, amb2) = (env.id("amb1"), env.id("amb2"));
    let (staged, registered) = (env.id("amb3"), env.id("amb4"));
    let cleanup = Cleanup {
        env: &env,
        store: store.clone(),
        real: vec![staged.clone(), registered.clone()],
    };
    seed(&store, &seeded);
    seed(&store, &[amb1.clone(), amb2.clone()]);
    let mut expected: Vec<String> = seeded.iter().chain([&amb1, &amb2]).cloned().collect();
    expected.sort();

    warm(&env);
    assert_eq!(listed(&env), expected);
    assert_ambiguous(&env, "amb", &[&amb1, &amb2]);
    assert_eq!(resolve(&env, "s150").as_deref(), Ok(seeded[150].as_str()));

    // Killed in delete after the rename that hides the container: it is
    // gone for list, and its prefix is no longer ambiguous.
    warm(&env);
    env.crash_at("delete:renamed", &["delete", "--force", &amb1]);
    expected.retain(|id| id != &amb1);
    assert_eq!(listed(&env), expected);
    assert_eq!(resolve(&env, "amb").as_deref(), Ok(amb2.as_str()));

    // Killed in create before the store entry is renamed into place: no
    // container yet.
    warm(&env);
    env.crash_at("create:staged", &["create", "-b", b, &staged]);
    assert_eq!(listed(&env), expected);
    assert_eq!(resolve(&env, "amb").as_deref(), Ok(amb2.as_str()));
    let err = resolve(&env, "amb3").expect_err("a staged container resolved");
    assert!(err.contains("does not exist"), "{err}");

    // Killed in create once the entry is in place: it is listed, found by
    // its prefix, and makes the shared prefix ambiguous again.
    warm(&env);
    env.crash_at("create:registered", &["create", "-b", b, &registered]);
    expected.push(registered.clone());
    expected.sort();
    assert_eq!(listed(&env), expected);
    assert_eq!(resolve(&env, "amb4").as_deref(), Ok(registered.as_str()));
    // And list reports the status state does.
    let listed_json: serde_json::Value =
        serde_json::from_str(&env.ok(&["list", "--format", "json"])).expect("list json");
    let entry = listed_json
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == registered.as_str()))
        .expect("listed");
    assert_eq!(entry["status"], env.state(&registered)["status"]);
    assert_ambiguous(&env, "amb", &[&amb2, &registered]);

    // Killed while rebuilding the cache, after writing it aside: readers
    // are still right, and the next rebuild removes what was left.
    env.ok(&["delete", "--force", &registered]);
    expected.retain(|id| id != &registered);
    std::thread::sleep(Duration::from_millis(30));
    env.crash_at("index:written", &["list", "-q"]);
    let leftovers = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().filter(|e| e.file_name() != "ids").count())
            .unwrap_or(0)
    };
    assert_eq!(leftovers(&env.root.join("~index")), 1, "no temporary cache");
    assert_eq!(listed(&env), expected);
    assert_eq!(resolve(&env, "amb").as_deref(), Ok(amb2.as_str()));
    env.ok(&["delete", "--force", &amb2]);
    expected.retain(|id| id != &amb2);
    warm(&env);
    assert_eq!(
        leftovers(&env.root.join("~index")),
        0,
        "temporary cache left"
    );
    assert_eq!(listed(&env), expected);

    // What the crashes left is tidied, and a drained store is empty, cache
    // and all.
    env.ok(&["delete", "--force", &amb1]);
    env.ok(&["delete", "--force", &staged]);
    drop(cleanup);
    env.assert_clean(&[&staged, &registered]);
}
