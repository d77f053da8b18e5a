//! tools/bench's row h: pod start through CRI and the runtime's memory per
//! pod, runsc-rs with containerd-shim-runsc-v1 side by side with runc with
//! containerd's runc shim, on one private containerd with both handlers.
//!
//! Ignored in the ordinary suite (it measures, it asserts little); tools/bench
//! runs it with `--ignored` and reads the `BENCH {json}` line it prints.
//! BENCH_PODS sets how many pods of each runtime it starts (default 10);
//! BENCH_HOLD=SECS keeps them running that long after measuring, to look at.

mod common;
mod shim_support;

use serde_json::{json, Value};

use common::Env;
use shim_support::{pod_config, Containerd, BUSYBOX, RUNC_SHIM};

const HANDLERS: [&str; 2] = ["runc", "runsc"];

/// Starts a pod of one `sleep` container under `handler`: the pod's id and
/// the milliseconds RunPodSandbox, CreateContainer and StartContainer took.
fn start_pod(ctd: &Containerd, env: &Env, handler: &str, n: usize) -> (String, [f64; 3]) {
    let config = pod_config(env, &format!("{handler}{n}"));
    let (reply, run_ms) = ctd.cri_timed(
        "RunPodSandbox",
        json!({"config": config, "runtimeHandler": handler}),
    );
    let pod = reply["podSandboxId"].as_str().expect("podSandboxId");
    let (reply, create_ms) = ctd.cri_timed(
        "CreateContainer",
        json!({
            "podSandboxId": pod,
            "config": {
                "metadata": {"name": "c"},
                "image": {"image": BUSYBOX},
                "command": ["sleep", "100000"],
                "logPath": "c.log",
            },
            "sandboxConfig": config,
        }),
    );
    let id = reply["containerId"].as_str().expect("containerId");
    let (_, start_ms) = ctd.cri_timed("StartContainer", json!({"containerId": id}));
    (pod.to_string(), [run_ms, create_ms, start_ms])
}

fn pss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The runsc sandboxes and gofers of this test's state root.
fn sandboxes_and_gofers(env: &Env) -> Vec<i32> {
    let root = env.root.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<_> = cmdline
            .split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .collect();
        let ours = args.iter().any(|a| a.contains(&root));
        if ours && args.iter().any(|a| a == "boot" || a == "gofer") {
            pids.push(pid);
        }
    }
    // A root container's holder shares its sandbox's memory (and command
    // line): counted once, through the sandbox. A later container's has
    // its own and counts.
    let holders: Vec<i32> = pids
        .iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .is_ok_and(|c| c.trim() == "runsc-holder")
        })
        .collect();
    let all = pids.clone();
    pids.retain(|p| !holders.contains(p) || !all.iter().any(|q| q != p && same_memory(*p, *q)));
    pids
}

/// Whether processes `a` and `b` share one address space (kcmp KCMP_VM).
fn same_memory(a: i32, b: i32) -> bool {
    const KCMP_VM: libc::c_long = 1;
    // SAFETY: kcmp only compares kernel objects of two pids; it touches no
    // memory of ours.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0 }
}

/// PSS in MiB of what `handler` keeps running for its pods: for runc its
/// shims (runc itself leaves nothing), for runsc-rs its shims, sandboxes
/// and gofers; and of the shims alone.
fn runtime_pss(ctd: &Containerd, env: &Env, handler: &str) -> (f64, f64) {
    let shims = ctd.shims_of(if handler == "runc" {
        RUNC_SHIM
    } else {
        "containerd-shim-runsc-v1"
    });
    let others = if handler == "runc" {
        Vec::new()
    } else {
        sandboxes_and_gofers(env)
    };
    let mib = |pids: &[i32]| pids.iter().map(|p| pss_kib(*p)).sum::<u64>() as f64 / 1024.0;
    (mib(&shims) + mib(&others), mib(&shims))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

#[test]
#[ignore = "a benchmark: tools/bench --rows h"]
fn pod_start_and_memory_side_by_side() {
    let pods: usize = std::env::var("BENCH_PODS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let env = Env::new();
    let ctd = Containerd::start(&env, true);
    ctd.import_images(&env, "k8s.io");
    // One pod of each first, untimed: images unpacked, caches warm.
    let mut started: Vec<(String, String)> = HANDLERS
        .iter()
        .map(|h| (h.to_string(), start_pod(&ctd, &env, h, 0).0))
        .collect();
    let settle = || std::thread::sleep(std::time::Duration::from_millis(500));
    settle();
    let mut out = json!({});
    for h in HANDLERS {
        let (total, shim) = runtime_pss(&ctd, &env, h);
        out[h] = json!({"pss_1": total, "shim_pss_1": shim, "start_ms": [], "steps_ms": []});
    }
    // Then the timed pods, the runtimes taking turns, so that the load of
    // the machine weighs on both alike.
    for n in 1..pods {
        for h in HANDLERS {
            let (pod, ms) = start_pod(&ctd, &env, h, n);
            let total: f64 = ms.iter().sum();
            out[h]["start_ms"]
                .as_array_mut()
                .expect("array")
                .push(total.into());
            out[h]["steps_ms"]
                .as_array_mut()
                .expect("array")
                .push(json!(ms));
            started.push((h.to_string(), pod));
        }
    }
    settle();
    for h in HANDLERS {
        let (total, shim) = runtime_pss(&ctd, &env, h);
        let n = started.iter().filter(|(s, _)| s == h).count() as f64;
        let o = &mut out[h];
        o["pods"] = n.into();
        o["pss_n"] = (total / n).into();
        o["shim_pss_n"] = (shim / n).into();
        // What one more pod costs: shared pages are already paid for.
        let one = (o["pss_1"].as_f64(), o["shim_pss_1"].as_f64());
        if let (Some(total_1), Some(shim_1), true) = (one.0, one.1, n > 1.0) {
            o["pss_marginal"] = ((total - total_1) / (n - 1.0)).into();
            o["shim_pss_marginal"] = ((shim - shim_1) / (n - 1.0)).into();
        }
        let times: Vec<f64> = o["start_ms"]
            .as_array()
            .expect("array")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        o["start_median_ms"] = median(times).into();
        let steps: Vec<f64> = (0..3)
            .map(|i| {
                let step = o["steps_ms"].as_array().expect("array").iter();
                median(step.filter_map(|s| s[i].as_f64()).collect())
            })
            .collect();
        o["steps_median_ms"] = json!(steps);
    }
    println!("BENCH {out}");
    if let Some(secs) = std::env::var("BENCH_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        std::thread::sleep(std::time::Duration::from_secs(secs));
    }
    for (_, pod) in &started {
        ctd.cri_ok("StopPodSandbox", json!({"podSandboxId": pod}));
        ctd.cri_ok("RemovePodSandbox", json!({"podSandboxId": pod}));
    }
    ctd.eventually(20, "every shim gone", || {
        ctd.shims().is_empty() && ctd.shims_of(RUNC_SHIM).is_empty()
    });
    ctd.assert_clean(&env);
}
