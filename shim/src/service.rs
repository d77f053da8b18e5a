//! The shim's state and its dealings with containerd and the frontend:
//! the containers it serves, the events it publishes, and the threads
//! that learn of exits and OOM kills.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use containerd_shim::api;
use containerd_shim::protos::events::task::{TaskExit, TaskOOM};
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, Code};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{ExitSignal, TtrpcResult};

use crate::frontend::{Frontend, FrontendError, Handover};
use crate::options::RuntimeOptions;
use crate::process::{Container, Phase, Process, Table};
use crate::publish::Publisher;
use crate::rootfs::{mount_rootfs, unmount_rootfs};
use crate::stdio::{Owner, Paths, Stdio};

pub struct Service {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// containerd's namespace of this shim's containers.
    namespace: String,
    publisher: Publisher,
    /// Opened at the first Create, with that container's options.
    frontend: OnceLock<Frontend>,
    pub(crate) table: Table,
    pub(crate) exit: Arc<ExitSignal>,
}

pub(crate) fn status(code: Code, message: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message.into()))
}

pub(crate) fn not_found(what: &str) -> ttrpc::Error {
    status(Code::NOT_FOUND, format!("{what}: not found"))
}

impl From<FrontendError> for ttrpc::Error {
    fn from(e: FrontendError) -> Self {
        let code = if e.is_not_running() {
            Code::NOT_FOUND
        } else {
            Code::UNKNOWN
        };
        status(code, e.to_string())
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ttrpc::Error {
    status(Code::UNKNOWN, e.to_string())
}

impl Service {
    /// The crate's `RemotePublisher` goes unused (see publish.rs): our
    /// own publisher connects to the same TTRPC_ADDRESS.
    pub fn new(namespace: &str, _: RemotePublisher, exit: Arc<ExitSignal>) -> Self {
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                publisher: Publisher::new(&address, namespace),
                frontend: OnceLock::new(),
                table: Table::default(),
                exit,
            }),
        }
    }
}

impl Inner {
    pub(crate) fn frontend(&self) -> TtrpcResult<&Frontend> {
        self.frontend
            .get()
            .ok_or_else(|| status(Code::FAILED_PRECONDITION, "no container created yet"))
    }

    /// Publishes `event` to containerd.
    pub(crate) fn publish<M: Message>(&self, topic: &str, event: M) {
        self.publisher.publish(topic, &event);
    }

    /// Learns of the exit of `exec_id` (the init when empty) of `id` from
    /// the sandbox, on a thread of its own, and tells containerd.
    pub(crate) fn watch(self: &Arc<Self>, id: &str, exec_id: &str, pid: i32) {
        let (inner, id, exec_id) = (self.clone(), id.to_string(), exec_id.to_string());
        std::thread::spawn(move || {
            let Ok(frontend) = inner.frontend() else {
                return;
            };
            let waited = if exec_id.is_empty() {
                frontend.wait(&id)
            } else {
                frontend.wait_exec(&id, pid)
            };
            let code = waited.unwrap_or_else(|e| {
                log::warn!("wait for {id} {exec_id}: {e}");
                255
            });
            let stdio = {
                let containers = inner.table.lock();
                containers
                    .get(&id)
                    .and_then(|c| c.process(&exec_id))
                    .and_then(|p| p.stdio.clone())
            };
            if let Some(stdio) = stdio {
                stdio.lock().unwrap_or_else(|e| e.into_inner()).finish();
            }
            let exit = inner.table.exited(&id, &exec_id, code as u32);
            let event = TaskExit {
                container_id: id.clone(),
                id: if exec_id.is_empty() { id } else { exec_id },
                pid: pid as u32,
                exit_status: exit.status,
                exited_at: MessageField::some(exit.at),
                ..Default::default()
            };
            inner.publish(topics::TASK_EXIT_EVENT_TOPIC, event);
        });
    }

    /// Tells containerd of each OOM kill in container `id`'s cgroup.
    pub(crate) fn watch_oom(self: &Arc<Self>, id: &str) {
        let dirs = match self.frontend().map(|f| f.cgroup_dirs(id)) {
            Ok(Ok(dirs)) => dirs,
            Ok(Err(e)) => return log::warn!("cgroup of {id}: {e}"),
            Err(_) => return,
        };
        let (inner, id) = (self.clone(), id.to_string());
        crate::oom::watch(&dirs, move || {
            let event = TaskOOM {
                container_id: id.clone(),
                ..Default::default()
            };
            inner.publish(topics::TASK_OOM_EVENT_TOPIC, event);
        });
    }

    pub(crate) fn create(&self, req: &api::CreateTaskRequest) -> TtrpcResult<i32> {
        let options = match req.options.as_ref() {
            Some(any) => RuntimeOptions::from_any(&any.type_url, &any.value),
            None => Ok(RuntimeOptions::default()),
        }
        .map_err(|e| status(Code::INVALID_ARGUMENT, e.to_string()))?;
        let bundle = PathBuf::from(&req.bundle);
        options.keep(&bundle).map_err(internal)?;
        if self.frontend.get().is_none() {
            let frontend = Frontend::open(&options)?;
            let _ = self.frontend.set(frontend);
        }
        let frontend = self.frontend()?;
        let mounted = mount_rootfs(&bundle, &req.rootfs)?;
        // A restored init already runs once created; Start has nothing to do.
        let restore_from =
            Some(std::path::Path::new(&req.checkpoint)).filter(|_| !req.checkpoint.is_empty());
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
        };
        let owner = Owner {
            id: &req.id,
            namespace: &self.namespace,
        };
        let made = if req.terminal {
            frontend
                .create(&req.id, &bundle, Handover::Terminal, restore_from)
                .map_err(ttrpc::Error::from)
                .and_then(|(pid, master)| {
                    let master = master.ok_or_else(|| internal("no pty master"))?;
                    Ok((
                        pid,
                        Stdio::terminal(&paths, &owner, master).map_err(internal)?,
                    ))
                })
        } else {
            Stdio::open(&paths, &owner)
                .map_err(internal)
                .and_then(|mut stdio| {
                    let fds = stdio
                        .child()
                        .ok_or_else(|| internal("stdio already handed over"))?;
                    let (pid, _) =
                        frontend.create(&req.id, &bundle, Handover::Pipes(fds), restore_from)?;
                    stdio.handed_over();
                    Ok((pid, stdio))
                })
        };
        let (pid, stdio) = match made {
            Ok(m) => m,
            Err(e) => {
                if mounted {
                    unmount_rootfs(&bundle);
                }
                return Err(e);
            }
        };
        let mut init = Process::new(paths);
        init.pid = pid;
        init.stdio = Some(Arc::new(Mutex::new(stdio)));
        self.table.lock().insert(
            req.id.clone(),
            Container {
                bundle,
                init,
                execs: Default::default(),
                mounted_rootfs: mounted,
                restored: restore_from.is_some(),
            },
        );
        Ok(pid)
    }

    pub(crate) fn start_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<i32> {
        let (spec, paths) = {
            let containers = self.table.lock();
            let exec = containers
                .get(id)
                .and_then(|c| c.execs.get(exec_id))
                .ok_or_else(|| not_found(&format!("exec {exec_id} of {id}")))?;
            (exec.spec.clone(), exec.process.paths.clone())
        };
        let owner = Owner {
            id: exec_id,
            namespace: &self.namespace,
        };
        let (pid, stdio) = if spec.terminal().unwrap_or(false) {
            let (pid, master) = self.frontend()?.exec(id, spec, Handover::Terminal)?;
            let master = master.ok_or_else(|| internal("no pty master"))?;
            (
                pid,
                Stdio::terminal(&paths, &owner, master).map_err(internal)?,
            )
        } else {
            let mut stdio = Stdio::open(&paths, &owner).map_err(internal)?;
            let fds = stdio
                .child()
                .ok_or_else(|| internal("stdio already handed over"))?;
            let (pid, _) = self.frontend()?.exec(id, spec, Handover::Pipes(fds))?;
            stdio.handed_over();
            (pid, stdio)
        };
        let mut containers = self.table.lock();
        if let Some(p) = containers.get_mut(id).and_then(|c| c.process_mut(exec_id)) {
            p.pid = pid;
            p.phase = Phase::Running;
            p.stdio = Some(Arc::new(Mutex::new(stdio)));
        }
        Ok(pid)
    }
}

impl Service {
    pub(crate) fn set_phase(&self, id: &str, phase: Phase) {
        if let Some(c) = self.inner.table.lock().get_mut(id) {
            if c.init.exit.is_none() {
                c.init.phase = phase;
            }
        }
    }
}

pub(crate) fn delete_response(p: &Process) -> api::DeleteResponse {
    let mut resp = api::DeleteResponse {
        pid: p.pid as u32,
        ..Default::default()
    };
    if let Some(exit) = &p.exit {
        resp.exit_status = exit.status;
        resp.exited_at = MessageField::some(exit.at.clone());
    }
    resp
}
