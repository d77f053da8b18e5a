//! `create` of a subcontainer: a container that joins an existing sandbox
//! (a pod), as the CRI annotations say.
//!
//! It gets a gofer of its own, for `create`'s length, and a cgroup of its own; the sandbox sets up
//! its init in the pod's network, ipc and uts namespaces, with a mount
//! namespace of its own, and blocks it before execve until `start`. The
//! subcontainer's stdio are the caller's, handed over with the request.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use oci_spec::runtime::Spec;
use sandbox::control::{CreateSub, CreateSubFds, Stdio};

use crate::api::Sandbox;

use super::files::{encode_spec, exit_status_file, spec_memfd};
use super::gofer::start_gofer;
use super::options::{CreateOptions, Created};
use super::pid_file::write_pid_file;
use super::register::{register, CgroupStep};
use super::{Container, ContainerStore, LifecycleError, ProcessRef, Status};
use specutils::error::os;

pub fn create_sub(
    store: &ContainerStore,
    opts: &CreateOptions,
    spec: &Spec,
    mut container: Container,
    console: Option<UnixStream>,
    systemd: Option<&crate::systemd::Systemd>,
) -> Result<Created, LifecycleError> {
    let pod = store.load(&container.sandbox_id).map_err(|e| {
        LifecycleError::Invalid(format!(
            "sandbox {} of container {}: {e}",
            container.sandbox_id, opts.id
        ))
    })?;
    let pod_status = pod.live_status();
    if !pod_status.has_sandbox() || pod.sandbox_id != pod.id {
        return Err(LifecycleError::Invalid(format!(
            "sandbox {} is {pod_status}, or not a sandbox: cannot add container {}",
            pod.id, opts.id
        )));
    }
    container.sandbox = pod.sandbox;
    super::members::add(&store.dir(&pod.id), &opts.id)?;
    // A pod's later container always gets a cgroup: rootless pods are not
    // supported.
    let spec_data = encode_spec(spec)?;
    let (mut cleanup, cgroup) = register(
        store,
        &mut container,
        spec,
        &spec_data,
        false,
        CgroupStep::Whole,
    )?;
    let cgroup =
        cgroup.ok_or_else(|| LifecycleError::Invalid("pod container without a cgroup".into()))?;
    let dir = store.dir(&opts.id);
    let spec_fd = spec_memfd(&spec_data)?;
    let mounts = specutils::mounts::donated_mounts(spec).len() + 1;
    let join = cgroup.join_handles()?;
    let (gofer, sandbox_ends) = start_gofer(
        &opts.child_flags,
        &container.bundle,
        &spec_fd,
        mounts,
        &join,
    )?;
    // The gofer is in the cgroup now: the scope unit starts around it, and
    // the init joins the same directory when the sandbox forks it.
    if let (Some(systemd), Some(unit), Some(g)) = (systemd, &container.systemd_unit, &gofer.0) {
        let pids = [g.pid as u32];
        super::scope::start_scope(
            systemd,
            unit,
            &container,
            spec,
            &pids,
            &cgroup,
            &mut cleanup,
        )?;
    }

    let exit_file = exit_status_file(&dir)?;
    // The init, its holder and exec'd processes (single-threaded) move
    // themselves through `tasks` in each v1 hierarchy, and are born in the
    // cgroup2 directory: neither waits for the kernel's threadgroup lock,
    // which a move by `cgroup.procs` does (10 to 30 ms here).
    let procs: Vec<OwnedFd> = join.v1_tasks;
    let cgroup2 = join.unified;
    let fds = CreateSubFds {
        stdio: match &console {
            Some(c) => Stdio::Console(c.as_fd()),
            None => match &opts.stdio {
                Some(given) => Stdio::Streams(given.iter().map(|f| f.as_fd()).collect()),
                None => Stdio::Streams(super::exec::our_stdio(3)?),
            },
        },
        exit_file: exit_file.as_fd(),
        cgroup_procs: procs.iter().map(|p| p.as_fd()).collect(),
        cgroup2: cgroup2.as_ref().map(|d| d.as_fd()),
        mounts: sandbox_ends.iter().map(|e| e.as_fd()).collect(),
    };
    let request = CreateSub {
        id: opts.id.clone(),
        spec: Box::new(spec.clone()),
        bundle: container.bundle.clone(),
        mount_point: dir.clone(),
        options: opts.launch,
    };
    let created = Sandbox::of(store, &pod.id)
        .create_sub(request, fds)
        .map_err(|e| {
            LifecycleError::Sandbox(format!(
                "create container {} in sandbox {}: {e}",
                opts.id, pod.id
            ))
        })?;
    drop((sandbox_ends, exit_file, procs, cgroup2, console, spec_fd));
    // The sandbox has attached the mounts and hung up its ends: the gofer
    // is done (docs/decisions.md, "The gofer ends with create").
    drop(gofer);

    let record = |pid: i32| ProcessRef::of(pid).map_err(os(format!("read start time of {pid}")));
    let mut locked = store.lock(&opts.id)?;
    locked.container.init = Some(record(created.init_pid)?);
    // The sandbox's sibling, reaped by whoever reaps the sandbox, as the
    // root container's holder is.
    locked.container.holder = created.holder.map(record).transpose()?;
    let status = locked.container.status.transition(Status::Created)?;
    locked.container.status = status;
    if let Some(p) = &opts.pid_file {
        write_pid_file(p, locked.container.reported_pid(status))?;
    }
    locked.save()?;
    cleanup.release();
    Ok(Created {
        container: locked.container.clone(),
        sandbox: None,
    })
}
