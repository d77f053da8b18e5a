//! `create`: a new sandbox with its gofer, and the container's init set up
//! and blocked before execve.
//!
//! The frontend makes the cgroup, the control socket and one socketpair per
//! mount, starts the sandbox in the cgroup, tells it to begin, and waits for
//! its verdict. The sandbox forks the gofer on the gofer's ends of the
//! socketpairs; the gofer ends once the sandbox has attached its mounts.
//! Any failure undoes everything: no process, cgroup or store entry
//! survives a failed create.
//!
//! A container that names an existing sandbox (a pod's later container)
//! goes to [`super::create_sub`] instead.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{ContainerState, Spec};
use sandbox::boot::BootMsg;
use specutils::annotations::{pod_role, PodRole};
use specutils::channel::{Channel, ChannelError};
use specutils::hooks::run_hooks;

use super::child_fds::{ChildFd, ChildFds};
use super::files::{encode_spec, exit_status_file, spec_memfd, RESTORED_PID};
use super::gofer::channels;
use super::options::{CreateOptions, Created};
use super::pid_file::write_pid_file;
use super::prepare::{apply_network_mode, check_security_labels, use_systemd_cgroup_path};
use super::register::{new_entry, record_sandbox, register, CgroupStep};
use super::restoring::{check_restore, with_init_stdio, Restoring};
use super::spawn::{spawn_self_into, KillOnDrop};
use super::{hook_state, ContainerStore, LifecycleError, ProcessRef, Status};
use specutils::error::os;

pub fn create(store: &ContainerStore, mut opts: CreateOptions) -> Result<Created, LifecycleError> {
    tracing::debug!("create {}: begins", opts.id);
    // Asked before anything is made, so that a host whose systemd does not
    // answer leaves nothing to undo.
    let systemd = super::scope::connect(&opts)?;
    let loaded = opts.spec.take();
    let (bundle, spec) = prepared_spec(&opts, loaded, systemd.as_ref())?;
    let console = console(&opts, &spec)?;
    let restoring = opts
        .restore
        .as_ref()
        .map(|r| check_restore(r, opts.stdio.as_ref()))
        .transpose()?;

    let sandbox_id = match pod_role(&spec) {
        PodRole::Sandbox => opts.id.clone(),
        PodRole::Container { sandbox_id } => sandbox_id,
    };
    let mut container = new_entry(&opts.id, &bundle, &spec, &sandbox_id);
    container.stdio = with_init_stdio(opts.stdio.as_ref(), sandbox::criu_fds::given_stdio);
    let systemd = systemd.and_then(|systemd| {
        container.systemd_unit = Some(super::scope::unit_of(&container)?);
        Some(systemd)
    });
    if opts.launch.preserve_fds > 0 && (sandbox_id != opts.id || restoring.is_some()) {
        return Err(LifecycleError::Invalid(
            "--preserve-fds is supported only for a container with a sandbox of its own, \
             not for a pod's later container or a restore"
                .into(),
        ));
    }
    if sandbox_id != opts.id {
        if restoring.is_some() {
            return Err(LifecycleError::Invalid(
                "restore into an existing sandbox (a pod's subcontainer) is not supported".into(),
            ));
        }
        return super::create_sub::create_sub(
            store,
            &opts,
            &spec,
            container,
            console,
            systemd.as_ref(),
        );
    }
    tracing::debug!("create {}: spec loaded", opts.id);
    let rootless = super::rootless::is_rootless(opts.rootless);
    let spec_data = encode_spec(&spec)?;
    // As root with cgroupfs, the sandbox starts while the frontend makes
    // the rest of the cgroup (on two CPUs, each's time hides the other's).
    // A rootless cgroup may turn out not to be delegated, and a systemd
    // scope is made around a cgroup that exists: those are made first.
    let step = if rootless || systemd.is_some() {
        CgroupStep::Whole
    } else {
        CgroupStep::Unified
    };
    let (mut cleanup, cgroup) = register(store, &mut container, &spec, &spec_data, rootless, step)?;
    tracing::debug!("create {}: store entry and cgroup made", opts.id);
    super::fault::crash_point("create:registered");
    let dir = store.dir(&opts.id);
    if let Some(r) = &restoring {
        std::fs::create_dir_all(&r.work)
            .map_err(os(format!("work directory {}", r.work.display())))?;
    }

    let listener = sandbox::control::listen(&dir).map_err(os(format!(
        "listen on {}",
        dir.join(sandbox::control::SOCKET_NAME).display()
    )))?;
    let spec_fd = spec_memfd(&spec_data)?;
    drop(spec_data);
    // A user's systemd moves the sandbox into its scope, through PID 1: a
    // rootless clone into a cgroup needs write access to the common
    // ancestor of ours and it, which root keeps.
    let joined = cgroup.as_ref().filter(|_| !(rootless && systemd.is_some()));
    let unified = joined.map(|c| c.unified_dir()).transpose()?.flatten();
    // A restored container's mounts are rebuilt by CRIU from the image and
    // the host paths: there is nothing for a gofer to donate. Otherwise
    // the sandbox forks the gofer, on these channels.
    let (gofer_ends, sandbox_ends) = if restoring.is_some() {
        (Vec::new(), Vec::new())
    } else {
        channels(specutils::mounts::donated_mounts(&spec).len() + 1)?
    };
    let (ready, sandbox_ready) = Channel::pair().map_err(os("socketpair"))?;
    let boot = Boot {
        spec: spec_fd,
        control: listener,
        ready: sandbox_ready,
        console,
        exit_status: exit_status_file(&dir)?,
        mounts: sandbox_ends,
        gofer_ends,
    };
    let mut sandbox = spawn_sandbox(&opts, &bundle, &dir, boot, unified)?;
    if let (CgroupStep::Unified, Some(cgroup)) = (step, &cgroup) {
        let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
        cgroup.finish(resources)?;
    }
    let tasks = joined
        .map(|c| c.v1_tasks())
        .transpose()?
        .unwrap_or_default();
    // A scope needs a cgroupsPath, which a rootless run without a cgroup
    // was refused for.
    if let (Some(systemd), Some(unit), Some(cgroup)) = (&systemd, &container.systemd_unit, &cgroup)
    {
        // The gofer, forked after `Begin`, is born in the scope's cgroup.
        let pids: Vec<u32> = sandbox.0.iter().map(|c| c.pid as u32).collect();
        super::scope::start_scope(
            systemd,
            unit,
            &container,
            &spec,
            &pids,
            cgroup,
            &mut cleanup,
        )?;
    }
    if cgroup.is_none() {
        record_sandbox(store, &opts.id, &sandbox)?;
    }
    tracing::debug!("create {}: sandbox started", opts.id);
    super::fault::crash_point("create:spawned");
    let begin = match &restoring {
        None => BootMsg::Begin,
        Some(r) => BootMsg::Restore(restore_plan(r, &spec, &bundle, &container, &dir)?),
    };
    let (init_pid, holder_pid) =
        handshake(&ready, (begin, &tasks), &mut sandbox, &container, &spec)?;
    drop(tasks);
    // Our child too (a sibling of the sandbox): killed and reaped if this
    // create fails from here on.
    let holder = KillOnDrop(holder_pid.and_then(adopt_child));

    tracing::debug!("create {}: sandbox reports the init created", opts.id);
    super::fault::crash_point("create:created");
    let Some(sandbox_child) = sandbox.0.take() else {
        return Err(LifecycleError::Invalid("lost track of the sandbox".into()));
    };
    let record = |pid: i32| ProcessRef::of(pid).map_err(os(format!("read start time of {pid}")));
    let mut locked = store.lock(&opts.id)?;
    locked.container.sandbox = Some(record(sandbox_child.pid)?);
    locked.container.init = Some(record(init_pid)?);
    locked.container.holder = holder_pid.map(record).transpose()?;
    let mut status = locked.container.status.transition(Status::Created)?;
    if restoring.is_some() {
        // A restored init already runs.
        status = status.transition(Status::Running)?;
    }
    locked.container.status = status;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, locked.container.reported_pid(status))?;
    }
    // Started at once (`run`): meta.json is written once, as running,
    // under the lock create already holds. Until then the entry says
    // creating, as it does up to here: a killed `run` leaves what a killed
    // `create` does, which `delete` ends through the cgroup. Without a
    // cgroup (rootless, not delegated) only the recorded pids find the
    // processes, so they are saved first, as `created`.
    let start = opts.start && status == Status::Created && cgroup.is_some();
    if start {
        super::start::release(store, &mut locked)?;
    } else {
        locked.save()?;
    }
    cleanup.release();
    // Reaped by whoever reaps the sandbox: the caller, or its subreaper.
    drop(holder.take());
    if start {
        super::start::poststart(&locked.container);
    }
    Ok(Created {
        container: locked.container.clone(),
        sandbox: Some(sandbox_child),
    })
}

/// The bundle, and its spec (`loaded`, or read now) checked and adjusted
/// by `opts`.
fn prepared_spec(
    opts: &CreateOptions,
    loaded: Option<Spec>,
    systemd: Option<&crate::systemd::Systemd>,
) -> Result<(PathBuf, Spec), LifecycleError> {
    specutils::validate_id(&opts.id).map_err(super::StoreError::from)?;
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(os(format!("bundle {}", opts.bundle.display())))?;
    let mut spec = match loaded {
        Some(spec) => spec,
        None => specutils::load_spec(&bundle)?,
    };
    specutils::namespaces::check_mount_namespace(&spec)
        .map_err(|e| LifecycleError::Invalid(e.to_string()))?;
    check_security_labels(&spec)?;
    apply_network_mode(&mut spec, opts.network);
    // Only where a user made its own namespace: root with --rootless keeps
    // its specs as they were.
    if super::rootless::entered_user_namespace() {
        super::rootless::prepare_spec(&mut spec)?;
    }
    if opts.systemd_cgroup {
        use_systemd_cgroup_path(&mut spec, &opts.id, systemd)?;
    }
    if let Some(dir) = opts.pid_file.as_ref().and_then(|p| p.parent()) {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(LifecycleError::Invalid(format!(
                "pid file directory {} does not exist",
                dir.display()
            )));
        }
    }
    Ok((bundle, spec))
}

/// The console socket, connected, when the spec wants a terminal.
fn console(opts: &CreateOptions, spec: &Spec) -> Result<Option<UnixStream>, LifecycleError> {
    let console = match &opts.console_socket {
        Some(path) => Some(
            UnixStream::connect(path)
                .map_err(os(format!("connect to console socket {}", path.display())))?,
        ),
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
    Ok(console)
}

/// What the sandbox is started with; closed in this process once it runs.
struct Boot {
    spec: OwnedFd,
    control: UnixListener,
    ready: Channel,
    console: Option<UnixStream>,
    exit_status: OwnedFd,
    mounts: Vec<OwnedFd>,
    /// The gofer's ends of `mounts`, for the sandbox to fork it with.
    gofer_ends: Vec<OwnedFd>,
}

/// Starts `runsc boot`, in a mount namespace of its own (so that it runs
/// our binary read-only) and born in the container's cgroup.
fn spawn_sandbox(
    opts: &CreateOptions,
    bundle: &Path,
    dir: &Path,
    boot: Boot,
    unified: Option<OwnedFd>,
) -> Result<KillOnDrop, LifecycleError> {
    // The preserved descriptors first, at 3..3+N as in the caller: the
    // sandbox holds them there until its init has forked, whose own
    // descriptors therefore all lie above them.
    let preserved = super::exec::our_fds(3, opts.launch.preserve_fds)?;
    let mut fds = ChildFds::new();
    fds.many(ChildFd::Preserved, preserved)
        .one(ChildFd::Spec, boot.spec.as_fd())
        .one(ChildFd::Control, boot.control.as_fd())
        .one(ChildFd::Ready, boot.ready.as_fd())
        .many(ChildFd::Console, boot.console.iter().map(|c| c.as_fd()))
        .one(ChildFd::ExitStatus, boot.exit_status.as_fd())
        .many(ChildFd::Mounts, boot.mounts.iter().map(|e| e.as_fd()))
        .many(
            ChildFd::GoferMounts,
            boot.gofer_ends.iter().map(|e| e.as_fd()),
        );
    let mut args = opts.child_flags.clone();
    args.extend([
        "boot".into(),
        "--fds".into(),
        fds.arg(),
        "--id".into(),
        opts.id.clone(),
        "--bundle".into(),
        bundle.display().to_string(),
        "--mount-point".into(),
        dir.display().to_string(),
    ]);
    if opts.launch.no_new_keyring {
        args.push("--no-new-keyring".into());
    }
    if opts.launch.no_baseline_seccomp {
        args.push("--no-baseline-seccomp".into());
    }
    // The init gets the sandbox's stdio: the caller's, or those given.
    let mut placed = fds.placed().to_vec();
    for (n, fd) in opts.stdio.iter().flatten().enumerate() {
        placed.push((fd.as_fd(), n as i32));
    }
    let unified = unified.as_ref().map(|f| f.as_fd());
    let sandbox = spawn_self_into(&args, &placed, CloneFlags::CLONE_NEWNS, false, unified)
        .map_err(os("start sandbox"))?;
    Ok(KillOnDrop(Some(sandbox)))
}

fn restore_plan(
    r: &Restoring<'_>,
    spec: &Spec,
    bundle: &Path,
    container: &super::Container,
    dir: &Path,
) -> Result<sandbox::checkpoint::RestorePlan, LifecycleError> {
    let mut plan = sandbox::checkpoint::restore_plan(
        &r.info,
        spec,
        bundle,
        &container.rootfs,
        &r.image,
        &r.work,
        &dir.join(RESTORED_PID),
        &r.request.options,
    )?;
    plan.criu.clone_from(&r.request.criu);
    Ok(plan)
}

/// Tells the sandbox to `begin`, with the v1 cgroups' `tasks` to join,
/// runs the hooks it asks for (prestart and createRuntime run here, in the
/// runtime's namespaces), and returns the init's pid once the sandbox
/// reports it created.
fn handshake(
    ready: &Channel,
    (begin, tasks): (BootMsg, &[OwnedFd]),
    sandbox: &mut KillOnDrop,
    container: &super::Container,
    spec: &Spec,
) -> Result<(i32, Option<i32>), LifecycleError> {
    let tasks: Vec<_> = tasks.iter().map(|t| t.as_fd()).collect();
    ready
        .send(&begin, &tasks)
        .map_err(|e| sandbox_failed(sandbox, e))?;
    loop {
        match ready.recv::<BootMsg>() {
            Ok((BootMsg::Created { init_pid, holder }, _)) => return Ok((init_pid, holder)),
            Ok((BootMsg::RunHooks { init_pid }, _)) => {
                let state = hook_state(container, ContainerState::Creating, init_pid);
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
                    .map_err(|e| sandbox_failed(sandbox, e))?;
            }
            Ok((BootMsg::Failed { message }, _)) => return Err(LifecycleError::Sandbox(message)),
            Ok((other, _)) => {
                return Err(LifecycleError::Sandbox(format!("sandbox sent {other:?}")))
            }
            Err(e) => return Err(sandbox_failed(sandbox, e)),
        }
    }
}

/// Our child `pid`, with a pidfd to kill it by.
fn adopt_child(pid: i32) -> Option<super::spawn::Child> {
    let raw = rustix::process::Pid::from_raw(pid)?;
    let pidfd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::empty()).ok()?;
    Some(super::spawn::Child { pid, pidfd })
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
