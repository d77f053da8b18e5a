//! The store's hot paths at scale: finding a container by an abbreviated
//! id among 10,000, and an atomic save of meta.json.
//!
//!     cargo bench -p runsc --bench store

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use runsc::container::{Container, ContainerStore};

const ENTRIES: usize = 10_000;

fn id(n: usize) -> String {
    format!("c{n:06}-{}", "x".repeat(20))
}

/// A store of `ENTRIES` containers, on tmpfs where there is one, as the
/// default state root (/run/runsc) is.
fn populated() -> (tempfile::TempDir, ContainerStore) {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("runsc-bench-store-")
        .tempdir_in(base)
        .expect("temp dir");
    let store = ContainerStore::open(&dir.path().join("root")).expect("open store");
    for n in 0..ENTRIES {
        let c = Container::new(&id(n), "/b".into(), "/b/rootfs".into(), &id(n));
        store.create(&c).expect("create entry");
    }
    (dir, store)
}

fn store(c: &mut Criterion) {
    let (_dir, store) = populated();
    let wanted = id(ENTRIES / 2);
    let prefix = &wanted[..7];
    c.bench_function("find by abbreviated id among 10,000", |b| {
        b.iter(|| {
            let found = store.find(prefix).expect("find");
            assert_eq!(found, wanted);
        })
    });
    c.bench_function("find by full id among 10,000", |b| {
        b.iter(|| store.find(&wanted).expect("find"))
    });
    c.bench_function("lock and atomically save meta.json", |b| {
        b.iter(|| {
            let locked = store.lock(&wanted).expect("lock");
            locked.save().expect("save");
        })
    });
}

criterion_group!(benches, store);
criterion_main!(benches);
