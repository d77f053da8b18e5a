//! `create`: a new sandbox with its gofer, and the container's init set up
//! and blocked before execve.
//!
//! The frontend makes the cgroup, the control socket and one socketpair per
//! mount, starts the gofer (in new mount, pid, net, ipc and uts namespaces)
//! and the sandbox side by side, puts both in the cgroup, tells the sandbox
//! to begin, and waits for its verdict. Any failure undoes everything: no
//! process, cgroup or store entry survives a failed create.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType, Spec};
use sandbox::boot::BootMsg;
use sandbox::cgroup::{Cgroup, JoinHandles};
use specutils::annotations::{pod_role, PodRole};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::run_hooks;
use specutils::Cleanup;

use super::spawn::{spawn_self_into, Child};
use super::{hook_state, Container, ContainerStore, LifecycleError, ProcessRef, Status};

/// How the container's network namespace is chosen (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Sandbox,
    Host,
    None,
}

#[derive(Debug)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub network: NetworkMode,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// `--no-new-keyring`.
    pub launch: sandbox::options::LaunchOptions,
    /// Global flags (logging) the gofer and sandbox are started with.
    pub child_flags: Vec<String>,
    /// Restore the container from a checkpoint instead of creating it.
    pub restore: Option<RestoreRequest>,
}

/// Where `restore` finds the checkpoint, and what it asks of CRIU.
#[derive(Debug)]
pub struct RestoreRequest {
    pub image: PathBuf,
    pub work: Option<PathBuf>,
    pub options: sandbox::checkpoint::RestoreOptions,
}

/// A checked restore request: the image read, CRIU found.
struct Restoring<'a> {
    request: &'a RestoreRequest,
    image: PathBuf,
    work: PathBuf,
    info: sandbox::checkpoint::ImageInfo,
}

/// A created container; `sandbox` is our child until we exit.
#[derive(Debug)]
pub struct Created {
    pub container: Container,
    /// The new sandbox; None for a subcontainer, which joined one.
    pub sandbox: Option<Child>,
}

/// Where CRIU writes a restored init's pid, in the container's directory.
const RESTORED_PID: &str = "restored.pid";

/// Fails early, before anything is made, when a restore cannot work.
fn check_restore(request: &RestoreRequest) -> Result<Restoring<'_>, LifecycleError> {
    let criu = sandbox::criu::Criu::find()?;
    tracing::debug!("restore with criu {}", criu.version);
    let image = std::fs::canonicalize(&request.image)
        .map_err(os(format!("image directory {}", request.image.display())))?;
    let info = sandbox::checkpoint::ImageInfo::read(&image)?;
    info.verify_files(&image)?;
    sandbox::checkpoint::check_stdio(&info)?;
    // Made only once the id is ours, so a refused restore leaves no
    // directory behind.
    let work = match &request.work {
        Some(w) => {
            let what = || format!("work directory {}", w.display());
            if w.exists() && !w.is_dir() {
                return Err(LifecycleError::Invalid(format!(
                    "{} is not a directory",
                    what()
                )));
            }
            std::path::absolute(w).map_err(os(what()))?
        }
        None => image.clone(),
    };
    Ok(Restoring {
        request,
        image,
        work,
        info,
    })
}

/// Name of the empty directory the init attaches the rootfs on.
pub const MOUNT_POINT: &str = "rootfs";
/// The file the sandbox writes the root container's exit status to, so
/// that `wait` still answers once the sandbox is gone.
pub const EXIT_STATUS: &str = "exit-status";
/// The spec the container was created with.
pub const SPEC_NAME: &str = "spec.json";

pub fn create(store: &ContainerStore, opts: CreateOptions) -> Result<Created, LifecycleError> {
    tracing::debug!("create {}: begins", opts.id);
    specutils::validate_id(&opts.id).map_err(super::StoreError::from)?;
    let bundle = std::fs::canonicalize(&opts.bundle).map_err(|e| LifecycleError::Os {
        what: format!("bundle {}", opts.bundle.display()),
        source: e,
    })?;
    let mut spec = specutils::load_spec(&bundle)?;
    specutils::namespaces::check_mount_namespace(&spec)
        .map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    check_security_labels(&spec)?;
    apply_network_mode(&mut spec, opts.network);
    if opts.systemd_cgroup {
        use_systemd_cgroup_path(&mut spec, &opts.id)?;
    }
    if let Some(dir) = opts.pid_file.as_ref().and_then(|p| p.parent()) {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(LifecycleError::Invalid(format!(
                "pid file directory {} does not exist",
                dir.display()
            )));
        }
    }
    let console = match &opts.console_socket {
        Some(path) => Some(UnixStream::connect(path).map_err(|e| LifecycleError::Os {
            what: format!("connect to console socket {}", path.display()),
            source: e,
        })?),
        None => None,
    };
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.restore.is_some() {
        return Err(LifecycleError::Invalid(
            "restore of a container with process.terminal is not supported".into(),
        ));
    }
    if terminal && console.is_none() {
        return Err(LifecycleError::Invalid(
            "process.terminal is true: --console-socket is required".into(),
        ));
    }
    let restoring = opts.restore.as_ref().map(check_restore).transpose()?;

    let sandbox_id = match pod_role(&spec) {
        PodRole::Sandbox => opts.id.clone(),
        PodRole::Container { sandbox_id } => sandbox_id,
    };
    let mut container = new_entry(&opts.id, &bundle, &spec, &sandbox_id);
    // Asked before anything is made, so that a host whose systemd does not
    // answer leaves nothing to undo.
    let systemd = match super::scope::systemd_scope(&opts, &container)? {
        Some((systemd, unit)) => {
            container.systemd_unit = Some(unit);
            Some(systemd)
        }
        None => None,
    };
    if sandbox_id != opts.id {
        if restoring.is_some() {
            return Err(LifecycleError::Invalid(
                "restore into an existing sandbox (a pod's subcontainer) is not supported".into(),
            ));
        }
        return super::create_sub::create_sub(store, &opts, &spec, container, console);
    }
    tracing::debug!("create {}: spec loaded", opts.id);
    let (mut cleanup, cgroup) = register(store, &container, &spec)?;
    tracing::debug!("create {}: store entry and cgroup made", opts.id);
    super::fault::crash_point("create:registered");
    let dir = store.dir(&opts.id);
    if let Some(r) = &restoring {
        std::fs::create_dir_all(&r.work)
            .map_err(os(format!("work directory {}", r.work.display())))?;
    }

    let mount_point = dir.join(MOUNT_POINT);
    let listener = sandbox::control::listen(&dir).map_err(|e| LifecycleError::Os {
        what: format!(
            "listen on {}",
            dir.join(sandbox::control::SOCKET_NAME).display()
        ),
        source: e,
    })?;
    let spec_fd = spec_memfd(&spec, &dir)?;

    let join = cgroup.join_handles()?;
    // A restored container's mounts are rebuilt by CRIU from the image and
    // the host paths: there is nothing for a gofer to donate.
    let (gofer, sandbox_ends, mounts) = if restoring.is_some() {
        (KillOnDrop(None), Vec::new(), 0)
    } else {
        let mounts = specutils::mounts::donated_mounts(&spec).len() + 1;
        let (gofer, ends) = start_gofer(&opts.child_flags, &bundle, &spec_fd, mounts, &join)?;
        (gofer, ends, mounts)
    };
    let (ready, sandbox_ready) = Channel::pair().map_err(os("socketpair"))?;

    // The sandbox: spec 3, control 4, ready 5, console 6, exit status 7,
    // mounts from 8.
    let mut boot_fds: Vec<(BorrowedFd, RawFd)> = vec![
        (spec_fd.as_fd(), 3),
        (listener.as_fd(), 4),
        (sandbox_ready.as_fd(), 5),
    ];
    if let Some(c) = &console {
        boot_fds.push((c.as_fd(), 6));
    }
    let exit_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(EXIT_STATUS))
        .map_err(os(format!("create {}", dir.join(EXIT_STATUS).display())))?;
    boot_fds.push((exit_file.as_fd(), 7));
    let mount_fds = place_fds(&mut boot_fds, &sandbox_ends, 8);
    let cgroup_fds = place_fds(&mut boot_fds, &join.v1_tasks, 8 + mounts as RawFd);
    let mut boot_args = opts.child_flags.clone();
    boot_args.push("boot".into());
    if !join.v1_tasks.is_empty() {
        boot_args.extend(["--cgroup-fds".into(), cgroup_fds]);
    }
    boot_args.extend([
        "--id".into(),
        opts.id.clone(),
        "--bundle".into(),
        bundle.display().to_string(),
        "--spec-fd".into(),
        "3".into(),
        "--control-fd".into(),
        "4".into(),
        "--ready-fd".into(),
        "5".into(),
        "--mount-point".into(),
        mount_point.display().to_string(),
        "--exit-fd".into(),
        "7".into(),
    ]);
    if mounts > 0 {
        boot_args.extend(["--io-fds".into(), mount_fds]);
    }
    if console.is_some() {
        boot_args.extend(["--console-fd".into(), "6".into()]);
    }
    if opts.launch.no_new_keyring {
        boot_args.push("--no-new-keyring".into());
    }
    if opts.launch.no_baseline_seccomp {
        boot_args.push("--no-baseline-seccomp".into());
    }
    let unified = join.unified.as_ref().map(|f| f.as_fd());
    // A mount namespace of its own, so that it runs our binary read-only.
    let sandbox = spawn_self_into(
        &boot_args,
        &boot_fds,
        CloneFlags::CLONE_NEWNS,
        false,
        unified,
    )
    .map_err(os("start sandbox"))?;
    drop((
        sandbox_ends,
        sandbox_ready,
        listener,
        console,
        spec_fd,
        exit_file,
    ));
    let mut sandbox = KillOnDrop(Some(sandbox));

    drop(join);
    if let (Some(systemd), Some(unit)) = (&systemd, &container.systemd_unit) {
        let pids = [sandbox.0.as_ref(), gofer.0.as_ref()];
        let pids: Vec<u32> = pids.into_iter().flatten().map(|c| c.pid as u32).collect();
        super::scope::start_scope(
            systemd,
            unit,
            &container,
            &spec,
            &pids,
            &cgroup,
            &mut cleanup,
        )?;
    }
    tracing::debug!("create {}: gofer and sandbox started", opts.id);
    super::fault::crash_point("create:spawned");
    let begin = match &restoring {
        None => BootMsg::Begin,
        Some(r) => BootMsg::Restore(sandbox::checkpoint::restore_plan(
            &r.info,
            &spec,
            &bundle,
            &container.rootfs,
            &r.image,
            &r.work,
            &dir.join(RESTORED_PID),
            &r.request.options,
        )?),
    };
    ready
        .send(&begin, &[])
        .map_err(|e| sandbox_failed(&mut sandbox, e))?;
    let init_pid = loop {
        match ready.recv::<BootMsg>() {
            Ok((BootMsg::Created { init_pid }, _)) => break init_pid,
            Ok((BootMsg::RunHooks { init_pid }, _)) => {
                let state = hook_state(&container, "creating", init_pid);
                let hooks = spec.hooks().clone().unwrap_or_default();
                run_hooks(
                    "prestart",
                    hooks.prestart().as_deref().unwrap_or(&[]),
                    &state,
                )?;
                let create_runtime = hooks.create_runtime().as_deref().unwrap_or(&[]);
                run_hooks("createRuntime", create_runtime, &state)?;
                ready
                    .send(&BootMsg::HooksDone, &[])
                    .map_err(|e| sandbox_failed(&mut sandbox, e))?;
            }
            Ok((BootMsg::Failed { message }, _)) => return Err(LifecycleError::Sandbox(message)),
            Ok((other, _)) => {
                return Err(LifecycleError::Sandbox(format!("sandbox sent {other:?}")))
            }
            Err(e) => return Err(sandbox_failed(&mut sandbox, e)),
        }
    };

    tracing::debug!("create {}: sandbox reports the init created", opts.id);
    super::fault::crash_point("create:created");
    let Some(sandbox_child) = sandbox.0.take() else {
        return Err(LifecycleError::Invalid("lost track of the sandbox".into()));
    };
    let gofer_child = gofer.take();
    let record = |pid: i32| ProcessRef::of(pid).map_err(os(format!("read start time of {pid}")));
    let mut locked = store.lock(&opts.id)?;
    locked.container.sandbox = Some(record(sandbox_child.pid)?);
    locked.container.gofer = gofer_child.as_ref().map(|g| record(g.pid)).transpose()?;
    locked.container.init = Some(record(init_pid)?);
    let mut status = locked.container.status.transition(Status::Created)?;
    if restoring.is_some() {
        // A restored init already runs.
        status = status.transition(Status::Running)?;
    }
    locked.container.status = status;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, sandbox_child.pid)?;
    }
    locked.save()?;
    cleanup.release();
    // The gofer is not reaped by us: it outlives this command. Its pidfd
    // closes here; the sandbox's stays with the caller.
    drop(gofer_child);
    Ok(Created {
        container: locked.container.clone(),
        sandbox: Some(sandbox_child),
    })
}

/// The store entry of a new container.
fn new_entry(id: &str, bundle: &Path, spec: &Spec, sandbox_id: &str) -> Container {
    let rootfs = specutils::spec::rootfs_path(bundle, spec);
    let mut container = Container::new(id, bundle.to_path_buf(), rootfs, sandbox_id);
    container.annotations = spec
        .annotations()
        .as_ref()
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    container.hooks = spec.hooks().clone();
    container.cgroup_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    container
}

/// Adds `container` to the store and makes its cgroup; the returned guard
/// undoes both, and the mount point, unless released.
pub(super) fn register(
    store: &ContainerStore,
    container: &Container,
    spec: &Spec,
) -> Result<(Cleanup, Cgroup), LifecycleError> {
    store.create(container)?;
    let mut cleanup = Cleanup::new();
    {
        let store = store.clone();
        let id = container.id.clone();
        cleanup.add(move || {
            let _ = store.remove(&id);
        });
    }
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let cgroup = Cgroup::create(container.cgroup_path.as_deref(), &container.id, resources)?;
    {
        // Opened again only if needed: opening costs ~1.5 ms.
        let (path, id) = (container.cgroup_path.clone(), container.id.clone());
        cleanup.add(move || {
            if let Ok(cgroup) = Cgroup::open(path.as_deref(), &id) {
                let _ = cgroup.remove();
            }
        });
    }
    let mount_point = store.dir(&container.id).join(MOUNT_POINT);
    std::fs::create_dir(&mount_point).map_err(os(format!("create {}", mount_point.display())))?;
    Ok((cleanup, cgroup))
}

/// Starts a gofer for `mounts` mounts (the rootfs and each bind) in new
/// mount, pid, net, ipc and uts namespaces; returns it and the sandbox's
/// ends of its channels.
pub(super) fn start_gofer(
    child_flags: &[String],
    bundle: &Path,
    spec_fd: &OwnedFd,
    mounts: usize,
    join: &JoinHandles,
) -> Result<(KillOnDrop, Vec<OwnedFd>), LifecycleError> {
    let mut gofer_ends = Vec::with_capacity(mounts);
    let mut sandbox_ends = Vec::with_capacity(mounts);
    for _ in 0..mounts {
        let (a, b) = Channel::pair().map_err(os("socketpair"))?;
        gofer_ends.push(a.into_fd());
        sandbox_ends.push(b.into_fd());
    }
    // The gofer: spec on 3, mount channels from 4.
    let mut gofer_fds: Vec<(BorrowedFd, RawFd)> = vec![(spec_fd.as_fd(), 3)];
    let mount_fds = place_fds(&mut gofer_fds, &gofer_ends, 4);
    // Then the cgroup's v1 `tasks` files, which it joins first thing.
    let cgroup_fds = place_fds(&mut gofer_fds, &join.v1_tasks, 4 + mounts as RawFd);
    let mut gofer_args = child_flags.to_vec();
    gofer_args.extend([
        "gofer".into(),
        "--bundle".into(),
        bundle.display().to_string(),
        "--spec-fd".into(),
        "3".into(),
        "--io-fds".into(),
        mount_fds,
    ]);
    if !join.v1_tasks.is_empty() {
        gofer_args.extend(["--cgroup-fds".into(), cgroup_fds]);
    }
    let gofer_ns = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    let unified = join.unified.as_ref().map(|f| f.as_fd());
    let gofer = spawn_self_into(&gofer_args, &gofer_fds, gofer_ns, true, unified)
        .map_err(os("start gofer"))?;
    Ok((KillOnDrop(Some(gofer)), sandbox_ends))
}

/// SIGKILLs and reaps a child unless taken out.
pub(super) struct KillOnDrop(pub(super) Option<Child>);

impl KillOnDrop {
    pub(super) fn take(mut self) -> Option<Child> {
        self.0.take()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.kill_and_reap();
        }
    }
}

/// The sandbox hung up without a verdict: say how it ended.
fn sandbox_failed(sandbox: &mut KillOnDrop, e: ChannelError) -> LifecycleError {
    let Some(child) = sandbox.0.take() else {
        return LifecycleError::Sandbox(format!("sandbox: {e}"));
    };
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.pid), None);
    if let Ok(nix::sys::wait::WaitStatus::Exited(_, super::spawn::EXIT_NO_READ_ONLY_EXE)) = status {
        return LifecycleError::Sandbox(
            "sandbox could not mount runsc's binary read-only in its mount namespace".into(),
        );
    }
    LifecycleError::Sandbox(format!(
        "sandbox exited before creating the container ({status:?}); see the log for the cause"
    ))
}

pub(super) fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LifecycleError {
    let what = what.into();
    move |source| LifecycleError::Os { what, source }
}

/// Maps `fds` to the numbers `first..` in a child's descriptor table and
/// returns those numbers as the comma-separated list its flags take.
fn place_fds<'a>(
    into: &mut Vec<(BorrowedFd<'a>, RawFd)>,
    fds: &'a [OwnedFd],
    first: RawFd,
) -> String {
    into.extend(
        fds.iter()
            .enumerate()
            .map(|(i, f)| (f.as_fd(), first + i as RawFd)),
    );
    fd_list(first, fds.len())
}

fn fd_list(first: RawFd, n: usize) -> String {
    (0..n)
        .map(|i| (first + i as RawFd).to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The spec, parsed once here, handed to the children as a memfd and kept
/// in the store as `spec.json` for later commands (exec, update), so they
/// see what the container was created with even if the bundle changes.
pub(super) fn spec_memfd(spec: &Spec, dir: &Path) -> Result<OwnedFd, LifecycleError> {
    let data = serde_json::to_vec(spec)
        .map_err(|e| LifecycleError::Invalid(format!("encode spec: {e}")))?;
    let kept = dir.join(SPEC_NAME);
    std::fs::write(&kept, &data).map_err(os(format!("write {}", kept.display())))?;
    let fd = rustix::fs::memfd_create("runsc-spec", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| os("memfd_create")(e.into()))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(&data).map_err(os("write spec memfd"))?;
    Ok(OwnedFd::from(f))
}

/// `--network host` drops the spec's network namespace; `none` insists on
/// a fresh one.
/// Replaces a systemd-style cgroupsPath with the cgroupfs path it names,
/// so that the kept spec.json and meta.json, and every later command with
/// or without `--systemd-cgroup`, find the same cgroup.
fn use_systemd_cgroup_path(spec: &mut Spec, id: &str) -> Result<(), LifecycleError> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let path = sandbox::cgroup::systemd_path(given.as_deref(), id)?;
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(path));
    }
    Ok(())
}

pub(super) fn apply_network_mode(spec: &mut Spec, mode: NetworkMode) {
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    namespaces.retain(|n| mode == NetworkMode::Sandbox || n.typ() != LinuxNamespaceType::Network);
    if mode == NetworkMode::None {
        if let Ok(ns) = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .build()
        {
            namespaces.push(ns);
        }
    }
    linux.set_namespaces(Some(namespaces));
}

/// Writes the pid file atomically, as runc does.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), LifecycleError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        LifecycleError::Invalid(format!("pid file {} has no name", path.display()))
    })?;
    let temp = dir.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&temp, pid.to_string())
        .and_then(|()| std::fs::rename(&temp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            LifecycleError::Os {
                what: format!("write pid file {}", path.display()),
                source: e,
            }
        })
}

/// Refuses AppArmor profiles and SELinux labels the host cannot apply, and
/// Intel RDT, which is not supported.
pub(super) fn check_security_labels(spec: &Spec) -> Result<(), LifecycleError> {
    super::labels::check(spec)?;
    if spec
        .linux()
        .as_ref()
        .and_then(|l| l.intel_rdt().as_ref())
        .is_some()
    {
        return Err(LifecycleError::Invalid(
            "linux.intelRdt is not supported".into(),
        ));
    }
    Ok(())
}
