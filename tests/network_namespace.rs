//! A container's new network namespace: its own, owned by the container's
//! user namespace (the one it makes, or the runtime's), holding only
//! loopback, which is up, and shared by the sandbox. With a user
//! namespace, the init makes it after that one; without, its fork does.

mod common;

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use common::{init_pid, ns_of, sandbox_pid, Env, Reaper};

/// The inode of the user namespace owning `/proc/<pid>/ns/net`.
fn net_owner(pid: i64) -> u64 {
    let net = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("open ns/net");
    let owner = specutils::sys::owning_user_ns(net.as_fd()).expect("NS_GET_USERNS");
    std::fs::File::from(owner)
        .metadata()
        .expect("stat owner")
        .ino()
}

fn user_ns_ino(pid: i64) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/user"))
        .expect("stat ns/user")
        .ino()
}

#[test]
fn a_new_network_namespace_is_the_containers_with_loopback_up() {
    if common::skip_without_root() {
        return;
    }
    let env = Env::new();
    let plain = env.id("plain");
    let userns = env.id("userns");
    let reaper = Reaper {
        env: &env,
        ids: vec![plain.clone(), userns.clone()],
    };
    for (id, with_userns) in [(&plain, false), (&userns, true)] {
        let bundle = env.bundle(id, &["sleep", "1000"]);
        if with_userns {
            common::edit_config(&bundle, common::add_user_namespace);
        }
        env.ok(&["run", "-d", "-b", bundle.to_str().unwrap(), id]);
        let init = init_pid(&env, id);
        let here = std::process::id() as i64;
        assert_ne!(ns_of(init, "net"), ns_of(here, "net"), "{id}");
        assert_eq!(
            ns_of(init, "net"),
            ns_of(sandbox_pid(&env, id), "net"),
            "{id}"
        );
        assert_eq!(net_owner(init), user_ns_ino(init), "{id}: owner");
        let links = env.ok(&["exec", id, "ls", "/sys/class/net"]);
        assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["lo"], "{id}");
        // IFF_UP | IFF_LOOPBACK (RUNNING is not in `flags`).
        let flags = env.ok(&["exec", id, "cat", "/sys/class/net/lo/flags"]);
        assert_eq!(flags.trim(), "0x9", "{id}");
        let v4 = env.ok(&["exec", id, "ip", "-4", "addr", "show", "lo"]);
        assert!(v4.contains("inet 127.0.0.1/8"), "{id}: {v4}");
        let addrs = env.ok(&["exec", id, "cat", "/proc/net/if_inet6"]);
        assert!(
            addrs.contains("00000000000000000000000000000001"),
            "{id}: no ::1 in {addrs}"
        );
    }
    assert_ne!(
        ns_of(init_pid(&env, &plain), "net"),
        ns_of(init_pid(&env, &userns), "net")
    );
    drop(reaper);
    env.assert_clean(&[&plain, &userns]);
}
