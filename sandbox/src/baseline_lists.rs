// The baseline filter every workload process runs under, whatever its
// spec's seccomp profile: what it refuses, and how it is built. Shared,
// through include!, by the sandbox crate and by its build script, which
// compiles the usual variants to BPF at build time. Plain items only: no
// crate paths. docs/baseline-seccomp.md gives the reason for each entry (a
// unit test checks that it names every one).

/// One interface the baseline refuses, and that a spec annotation
/// `dev.runsc-rs.allow/<name>=true` gives back.
pub struct BaselineFamily {
    pub name: &'static str,
    /// Refused with EPERM, as Docker's profile and the sandbox's own
    /// filter refuse them.
    pub syscalls: &'static [&'static str],
}

/// The families refused outright: the kernel interfaces behind most
/// container-escape and local privilege-escalation bugs of recent years,
/// which ordinary workloads do not use.
#[rustfmt::skip]
pub const BASELINE_FAMILIES: &[BaselineFamily] = &[
    BaselineFamily { name: "io_uring", syscalls: &["io_uring_setup", "io_uring_enter", "io_uring_register"] },
    BaselineFamily { name: "bpf", syscalls: &["bpf"] },
    BaselineFamily { name: "perf_event", syscalls: &["perf_event_open"] },
    BaselineFamily { name: "userfaultfd", syscalls: &["userfaultfd"] },
    BaselineFamily { name: "keyring", syscalls: &["keyctl", "add_key", "request_key"] },
    BaselineFamily { name: "kernel_modules", syscalls: &["init_module", "finit_module", "delete_module"] },
    BaselineFamily { name: "kexec", syscalls: &["kexec_load", "kexec_file_load"] },
    BaselineFamily { name: "open_by_handle_at", syscalls: &["open_by_handle_at"] },
    // Obsolete calls no current libc or program makes; Docker refuses them.
    BaselineFamily { name: "obsolete", syscalls: &["uselib", "ustat", "sysfs", "_sysctl", "lookup_dcookie", "nfsservctl", "vm86", "vm86old", "create_module", "get_kernel_syms", "query_module"] },
];

/// The family that new user namespaces belong to: clone and unshare with
/// CLONE_NEWUSER get EPERM, clone3 (whose flags lie in memory, out of a
/// filter's reach) ENOSYS so that libc falls back to clone. Allowed when
/// the spec grants CAP_SYS_ADMIN, which reaches further anyway.
pub const USERNS_FAMILY: &str = "userns";

/// Socket families ordinary workloads use: unix, inet, inet6, netlink,
/// packet (which needs CAP_NET_RAW). socket(2) and socketpair(2) of any
/// other family below [`SOCKET_FAMILY_LIMIT`] fail with EAFNOSUPPORT, as
/// on a kernel built without it; each is a family of its own for the
/// annotations, named as in <sys/socket.h> in lower case ("af_alg").
/// Their first argument is compared on its low 32 bits, which is what
/// the kernel reads.
pub const SOCKET_FAMILIES_ALLOWED: &[u64] = &[1, 2, 10, 16, 17];

/// Families at and above this are refused too, up to it: the kernel's
/// AF_MAX is 46 (Linux 6.18), and it refuses larger numbers itself, so
/// this covers families later kernels add.
pub const SOCKET_FAMILY_LIMIT: u64 = 64;

/// Names of the refused socket families the kernel defines.
#[rustfmt::skip]
pub const SOCKET_FAMILY_NAMES: &[(u64, &str)] = &[
    (3, "af_ax25"), (4, "af_ipx"), (5, "af_appletalk"), (6, "af_netrom"), (7, "af_bridge"),
    (8, "af_atmpvc"), (9, "af_x25"), (11, "af_rose"), (12, "af_decnet"), (13, "af_netbeui"),
    (14, "af_security"), (15, "af_key"), (18, "af_ash"), (19, "af_econet"), (20, "af_atmsvc"),
    (21, "af_rds"), (22, "af_sna"), (23, "af_irda"), (24, "af_pppox"), (25, "af_wanpipe"),
    (26, "af_llc"), (27, "af_ib"), (28, "af_mpls"), (29, "af_can"), (30, "af_tipc"),
    (31, "af_bluetooth"), (32, "af_iucv"), (33, "af_rxrpc"), (34, "af_isdn"), (35, "af_phonet"),
    (36, "af_ieee802154"), (37, "af_caif"), (38, "af_alg"), (39, "af_nfc"), (40, "af_vsock"),
    (41, "af_kcm"), (42, "af_qipcrtr"), (43, "af_smc"), (44, "af_xdp"), (45, "af_mctp"),
];

/// The highest syscall number reviewed for the baseline (file_setattr,
/// Linux 6.17). Since Linux 5.1 (424) every architecture numbers new
/// syscalls alike, so this holds for x86_64 and i386 (not x32, whose own
/// calls sit above it: see baseline.rs); anything above
/// gets ENOSYS until someone reviews it.
pub const BASELINE_REVIEWED_UP_TO: u32 = 469;

/// Builds the baseline: default allow; the families not in `allowed`
/// refused. Socket families are not here but in a stub in front
/// (`seccomp::refuse_socket_families`): libseccomp cannot test socket's
/// argument on i386 without refusing socketcall whole. Names libseccomp
/// does not know are skipped and returned (the kernel has no such
/// syscall on this architecture, or libseccomp is older than it: then it
/// is allowed, as any other).
pub fn build_baseline(
    allowed: &[&str],
) -> Result<(libseccomp::ScmpFilterContext, Vec<String>), (String, libseccomp::error::SeccompError)> {
    use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
    let at = |what: &str| {
        let what = what.to_string();
        move |e| (what, e)
    };
    let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).map_err(at("create"))?;
    // Both loaders hold CAP_SYS_ADMIN; no_new_privs is the spec's to set.
    ctx.set_ctl_nnp(false).map_err(at("no_new_privs"))?;
    // A binary tree of syscall numbers: every workload syscall runs it.
    ctx.set_ctl_optimize(2).map_err(at("optimize"))?;
    // The compat ABIs reach the same kernel code with other numbers.
    for arch in [ScmpArch::X86, ScmpArch::X32] {
        if ScmpArch::native() == ScmpArch::X8664 {
            ctx.add_arch(arch).map_err(at("architecture"))?;
        }
    }
    let mut unknown = Vec::new();
    let mut syscall = |name: &str| match ScmpSyscall::from_name(name) {
        Ok(s) => Some(s),
        Err(_) => {
            unknown.push(name.to_string());
            None
        }
    };
    let eperm = ScmpAction::Errno(libc::EPERM);
    for family in BASELINE_FAMILIES.iter().filter(|f| !allowed.contains(&f.name)) {
        for name in family.syscalls {
            if let Some(s) = syscall(name) {
                ctx.add_rule(eperm, s).map_err(at(name))?;
            }
        }
    }
    if !allowed.contains(&USERNS_FAMILY) {
        let newuser = libc::CLONE_NEWUSER as u64;
        let has_newuser = ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(newuser), newuser);
        for name in ["clone", "unshare"] {
            if let Some(s) = syscall(name) {
                ctx.add_rule_conditional(eperm, s, &[has_newuser]).map_err(at(name))?;
            }
        }
        if let Some(s) = syscall("clone3") {
            ctx.add_rule(ScmpAction::Errno(libc::ENOSYS), s).map_err(at("clone3"))?;
        }
    }
    Ok((ctx, unknown))
}
