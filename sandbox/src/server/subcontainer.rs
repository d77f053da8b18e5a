//! A pod's later containers: set up in the sandbox on `CreateSub`, removed
//! on `Destroy`.

use std::os::fd::{AsFd, OwnedFd};

use specutils::channel::Channel;
use specutils::hooks::HookState;

use crate::control::{CreateSub, CreateSubFds, ErrorKind, RemoteError, Stdio, SubCreated, Wait};

use super::dispatch::remote;
use super::registry::{no_container, Container};
use super::Server;

/// How long `destroy` waits for a holder it just told to exit before it
/// keeps the holder's memory for later: it exits in microseconds unless
/// stopped.
const HOLDER_EXIT_MS: u16 = 20;

impl Server {
    pub(super) fn create_sub(
        &mut self,
        req: &CreateSub,
        fds: CreateSubFds<OwnedFd>,
    ) -> Result<SubCreated, RemoteError> {
        let invalid = |m: String| remote(ErrorKind::InvalidArgument, m);
        let failed = |m: String| remote(ErrorKind::Failed, m);
        if self.registry.containers.contains_key(&req.id) {
            return Err(invalid(format!(
                "container {} is already in this sandbox",
                req.id
            )));
        }
        if let Some(process) = req.spec.process() {
            self.retained
                .check(process, &self.root_id)
                .map_err(|e| invalid(e.to_string()))?;
        }
        let root = self
            .registry
            .containers
            .get(&self.root_id)
            .filter(|c| c.exited.is_none())
            .ok_or_else(|| failed("the pod's root container has exited".into()))?;
        let mounts = specutils::mounts::donated_mounts(&req.spec).len() + 1;
        if fds.mounts.len() != mounts {
            return Err(invalid(format!(
                "CreateSub carried {} mount channels for {mounts} mounts",
                fds.mounts.len()
            )));
        }
        let channels: Vec<Channel> = fds.mounts.into_iter().map(Channel::from_fd).collect();
        let terminal = req
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        // Without a terminal, a console socket passed anyway is the
        // process's only stdio, as it always was.
        let (console, stdio) = match (terminal, fds.stdio) {
            (true, Stdio::Console(fd)) => (Some(fd), Vec::new()),
            (false, Stdio::Console(fd)) => (None, vec![fd]),
            (false, Stdio::Streams(fds)) => (None, fds),
            (true, Stdio::Streams(_)) => {
                return Err(invalid(format!(
                    "container {}: process.terminal is set but no console socket came",
                    req.id
                )))
            }
        };
        let (new, join) = crate::spawn::pod_namespaces(&req.spec, root.init_pid)
            .map_err(|e| failed(e.to_string()))?;
        // The init joins the cgroup through its copies; ours stay for the
        // processes exec'd into the container later.
        let procs = fds
            .cgroup_procs
            .iter()
            .map(|f| f.try_clone())
            .collect::<Result<Vec<OwnedFd>, _>>()
            .map_err(|e| failed(format!("duplicate cgroup descriptor: {e}")))?;
        let cgroup2 = fds.cgroup2;
        let init_cgroup2 = cgroup2
            .as_ref()
            .map(|d| d.try_clone())
            .transpose()
            .map_err(|e| failed(format!("duplicate cgroup descriptor: {e}")))?;
        let setup = crate::spawn::ContainerSetup {
            id: &req.id,
            spec: &req.spec,
            bundle: &req.bundle,
            mount_point: &req.mount_point,
            mounts: &channels,
            console,
            stdio,
            cgroup_procs: procs,
            cgroup2: init_cgroup2,
            new,
            join,
            options: req.options,
        };
        let hooks = req.spec.hooks().clone().unwrap_or_default();
        // Hooks run where the runtime is, not in the pod's namespaces.
        let runtime_hooks = crate::spawn::has_runtime_hooks(&req.spec);
        let pod_namespaces = &self.pod_namespaces;
        let namespaced = |_pid: i32, state: &HookState| {
            if !runtime_hooks {
                return Ok(());
            }
            pod_namespaces.in_runtime(|| super::hooks::create_runtime(&hooks, state))
        };
        let (init, state) = crate::spawn::create(setup, namespaced)
            .and_then(|(starting, state)| Ok((starting.ready()?, state)))
            .map_err(|e| failed(e.to_string()))?;
        // The mounts are attached: hanging the channels up ends the gofer.
        drop(channels);
        let init_pid = init.pid;
        let mut container =
            Container::new(&req.spec, init, state, Some(fds.exit_file), &req.options);
        container.cgroup_procs = fds.cgroup_procs;
        container.cgroup2 = cgroup2;
        let cgroup2 = container.cgroup2.as_ref().map(|d| d.as_fd());
        let holder = match crate::holder::start_sub(init_pid, &container.cgroup_procs, cgroup2) {
            Ok((h, exit, memory)) => {
                if !h.entered {
                    tracing::warn!(
                        "container {}: holder {} could not enter the container's cgroup or \
                         its mount, cgroup or pid namespace",
                        req.id,
                        h.pid
                    );
                }
                container.holder_exit = Some(exit);
                container.holder_memory = Some(memory);
                Some(h.pid)
            }
            // We report the sandbox's pid then, as before holders.
            Err(e) => {
                tracing::warn!("container {}: start the holder: {e}", req.id);
                None
            }
        };
        self.registry.containers.insert(req.id.clone(), container);
        Ok(SubCreated { init_pid, holder })
    }

    pub(super) fn destroy(&mut self, id: &str) -> Result<(), RemoteError> {
        if id == self.root_id {
            return Err(remote(
                ErrorKind::InvalidArgument,
                "the root container ends with its sandbox",
            ));
        }
        if !self.registry.containers.contains_key(id) {
            return Err(no_container(id));
        }
        self.registry.kill_all(id);
        if let Some(mut c) = self.registry.containers.remove(id) {
            for w in c.waiters.drain(..) {
                w.reply::<Wait>(Err(remote(ErrorKind::NoSuchProcess, "container destroyed")));
            }
            // Dropping `c` closes the holder's pipe, if its container had
            // not ended: it exits then, and its memory can go.
            let memory = c.holder_memory.take();
            drop(c);
            self.free_holders(memory);
        }
        self.registry.execs.retain(|_, e| e.container != id);
        Ok(())
    }

    /// Frees the memory of holders that have exited: `retired`'s, which
    /// was just told to exit and gets a moment, and any kept from before,
    /// which are looked at again when the sandbox idles, or at the next
    /// delete, if they still run.
    pub(super) fn free_holders(&mut self, retired: Option<crate::holder::Memory>) {
        let mut kept: Vec<_> = std::mem::take(&mut self.retired_holders)
            .into_iter()
            .filter_map(|m| m.free_if_exited(0))
            .collect();
        kept.extend(retired.and_then(|m| m.free_if_exited(HOLDER_EXIT_MS)));
        self.retired_holders = kept;
    }
}
