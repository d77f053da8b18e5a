//! The shim v2 task API, one method per request, over the frontend.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use containerd_shim::api::{self, Status};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::{MessageDyn, MessageField};
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{self, Code, TtrpcContext};
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Context, ExitSignal, Task, TtrpcResult};

use crate::frontend::{Frontend, FrontendError, Handover};
use crate::options::RuntimeOptions;
use crate::process::{Container, Exec, Phase, Process, Table};
use crate::stdio::{Paths, Stdio};

pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    /// containerd's ttrpc address, to connect again after it restarted.
    address: String,
    publisher: Mutex<RemotePublisher>,
    /// Opened at the first Create, with that container's options.
    frontend: OnceLock<Frontend>,
    table: Table,
    exit: Arc<ExitSignal>,
}

fn status(code: Code, message: impl Into<String>) -> ttrpc::Error {
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, message.into()))
}

fn not_found(what: &str) -> ttrpc::Error {
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

fn internal(e: impl std::fmt::Display) -> ttrpc::Error {
    status(Code::UNKNOWN, e.to_string())
}

impl Service {
    pub fn new(namespace: &str, publisher: RemotePublisher, exit: Arc<ExitSignal>) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                address: std::env::var("TTRPC_ADDRESS").unwrap_or_default(),
                publisher: Mutex::new(publisher),
                frontend: OnceLock::new(),
                table: Table::default(),
                exit,
            }),
        }
    }
}

impl Inner {
    fn frontend(&self) -> TtrpcResult<&Frontend> {
        self.frontend
            .get()
            .ok_or_else(|| status(Code::FAILED_PRECONDITION, "no container created yet"))
    }

    /// Publishes `event`; once more on a new connection if containerd
    /// restarted since the last one.
    fn publish(&self, topic: &str, event: Box<dyn MessageDyn>) {
        let mut publisher = self.publisher.lock().unwrap_or_else(|e| e.into_inner());
        let again = event.clone_box();
        let Err(first) = publisher.publish(Context::default(), topic, &self.namespace, event)
        else {
            return;
        };
        let retried = RemotePublisher::new(&self.address).and_then(|fresh| {
            *publisher = fresh;
            publisher.publish(Context::default(), topic, &self.namespace, again)
        });
        if let Err(e) = retried {
            log::warn!("publish {topic}: {first}; again: {e}");
        }
    }

    /// Learns of the exit of `exec_id` (the init when empty) of `id` from
    /// the sandbox, on a thread of its own, and tells containerd.
    fn watch(self: &Arc<Self>, id: &str, exec_id: &str, pid: i32) {
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
            inner.publish(topics::TASK_EXIT_EVENT_TOPIC, Box::new(event));
        });
    }

    /// Tells containerd of each OOM kill in container `id`'s cgroup.
    fn watch_oom(self: &Arc<Self>, id: &str) {
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
            inner.publish(topics::TASK_OOM_EVENT_TOPIC, Box::new(event));
        });
    }

    fn create(&self, req: &api::CreateTaskRequest) -> TtrpcResult<i32> {
        if !req.checkpoint.is_empty() {
            return Err(status(
                Code::UNIMPLEMENTED,
                "restore from a checkpoint is not supported by containerd-shim-runsc-v1 yet",
            ));
        }
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
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
        };
        let made = if req.terminal {
            frontend
                .create(&req.id, &bundle, Handover::Terminal)
                .map_err(ttrpc::Error::from)
                .and_then(|(pid, master)| {
                    let master = master.ok_or_else(|| internal("no pty master"))?;
                    Ok((pid, Stdio::terminal(&paths, master).map_err(internal)?))
                })
        } else {
            Stdio::open(&paths).map_err(internal).and_then(|mut stdio| {
                let fds = stdio
                    .child()
                    .ok_or_else(|| internal("stdio already handed over"))?;
                let (pid, _) = frontend.create(&req.id, &bundle, Handover::Pipes(fds))?;
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
            },
        );
        Ok(pid)
    }

    fn start_exec(&self, id: &str, exec_id: &str) -> TtrpcResult<i32> {
        let (spec, paths) = {
            let containers = self.table.lock();
            let exec = containers
                .get(id)
                .and_then(|c| c.execs.get(exec_id))
                .ok_or_else(|| not_found(&format!("exec {exec_id} of {id}")))?;
            (exec.spec.clone(), exec.process.paths.clone())
        };
        let (pid, stdio) = if spec.terminal().unwrap_or(false) {
            let (pid, master) = self.frontend()?.exec(id, spec, Handover::Terminal)?;
            let master = master.ok_or_else(|| internal("no pty master"))?;
            (pid, Stdio::terminal(&paths, master).map_err(internal)?)
        } else {
            let mut stdio = Stdio::open(&paths).map_err(internal)?;
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

/// Mounts containerd's rootfs mounts on `bundle`/rootfs; whether any.
fn mount_rootfs(
    bundle: &Path,
    mounts: &[containerd_shim::protos::types::mount::Mount],
) -> TtrpcResult<bool> {
    let target = bundle.join("rootfs");
    for m in mounts {
        let fstype = Some(m.type_.as_str()).filter(|t| !t.is_empty());
        let source = Some(m.source.as_str()).filter(|s| !s.is_empty());
        if let Err(e) = containerd_shim::mount::mount_rootfs(fstype, source, &m.options, &target) {
            unmount_rootfs(bundle);
            return Err(internal(format!(
                "mount rootfs {} on {}: {e}",
                m.source,
                target.display()
            )));
        }
    }
    Ok(!mounts.is_empty())
}

pub fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    if let Err(e) = containerd_shim::mount::umount_recursive(target.to_str(), libc::MNT_DETACH) {
        log::warn!("unmount {}: {e}", target.display());
    }
}

fn phase_status(p: Phase) -> Status {
    match p {
        Phase::Created => Status::CREATED,
        Phase::Running => Status::RUNNING,
        Phase::Paused => Status::PAUSED,
        Phase::Stopped => Status::STOPPED,
    }
}

impl Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let pid = self.inner.create(&req)?;
        self.inner.watch(&req.id, "", pid);
        self.inner.watch_oom(&req.id);
        self.inner.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            Box::new(TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                pid: pid as u32,
                ..Default::default()
            }),
        );
        Ok(api::CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let pid = if req.exec_id.is_empty() {
            self.inner.frontend()?.start(&req.id)?;
            let mut containers = self.inner.table.lock();
            let c = containers
                .get_mut(&req.id)
                .ok_or_else(|| not_found(&req.id))?;
            if c.init.phase == Phase::Created {
                c.init.phase = Phase::Running;
            }
            let pid = c.init.pid;
            drop(containers);
            self.inner.publish(
                topics::TASK_START_EVENT_TOPIC,
                Box::new(TaskStart {
                    container_id: req.id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
            pid
        } else {
            let pid = self.inner.start_exec(&req.id, &req.exec_id)?;
            self.inner.watch(&req.id, &req.exec_id, pid);
            self.inner.publish(
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                Box::new(TaskExecStarted {
                    container_id: req.id.clone(),
                    exec_id: req.exec_id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                }),
            );
            pid
        };
        Ok(api::StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let containers = self.inner.table.lock();
        let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = c
            .process(&req.exec_id)
            .ok_or_else(|| not_found(&req.exec_id))?;
        let mut resp = api::StateResponse {
            id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            bundle: c.bundle.display().to_string(),
            pid: p.pid as u32,
            stdin: p.paths.stdin.clone(),
            stdout: p.paths.stdout.clone(),
            stderr: p.paths.stderr.clone(),
            ..Default::default()
        };
        resp.status = phase_status(p.phase).into();
        if let Some(exit) = &p.exit {
            resp.exit_status = exit.status;
            resp.exited_at = MessageField::some(exit.at.clone());
        }
        Ok(resp)
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let frontend = self.inner.frontend()?;
        let pid = {
            let containers = self.inner.table.lock();
            let c = containers.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            let p = c
                .process(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?;
            if p.exit.is_some() {
                return Err(status(Code::NOT_FOUND, "process already finished"));
            }
            p.pid
        };
        if req.exec_id.is_empty() {
            frontend.kill(&req.id, req.signal as i32, req.all)?;
        } else {
            frontend.kill_exec(&req.id, pid, req.signal as i32)?;
        }
        Ok(api::Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let exit = self
            .inner
            .table
            .wait(&req.id, &req.exec_id)
            .ok_or_else(|| not_found(&req.id))?;
        Ok(api::WaitResponse {
            exit_status: exit.status,
            exited_at: MessageField::some(exit.at),
            ..Default::default()
        })
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        let mut containers = self.inner.table.lock();
        let c = containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if !req.exec_id.is_empty() {
            let exec = c
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?;
            return Ok(delete_response(&exec.process));
        }
        let resp = delete_response(&c.init);
        let bundle = c.bundle.clone();
        let mounted = c.mounted_rootfs;
        drop(containers);
        self.inner.frontend()?.delete(&req.id)?;
        if mounted {
            unmount_rootfs(&bundle);
        }
        self.inner.table.lock().remove(&req.id);
        self.inner.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            Box::new(TaskDelete {
                container_id: req.id.clone(),
                id: req.id.clone(),
                pid: resp.pid,
                exit_status: resp.exit_status,
                exited_at: resp.exited_at.clone(),
                ..Default::default()
            }),
        );
        Ok(resp)
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let spec: oci_spec::runtime::Process = serde_json::from_slice(
            &req.spec
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or_default(),
        )
        .map_err(|e| {
            status(
                Code::INVALID_ARGUMENT,
                format!("exec {}: process spec: {e}", req.exec_id),
            )
        })?;
        let mut containers = self.inner.table.lock();
        let c = containers
            .get_mut(&req.id)
            .ok_or_else(|| not_found(&req.id))?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(status(
                Code::ALREADY_EXISTS,
                format!("exec {} of {} already exists", req.exec_id, req.id),
            ));
        }
        let paths = Paths {
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
        };
        c.execs.insert(
            req.exec_id.clone(),
            Exec {
                process: Process::new(paths),
                spec,
            },
        );
        drop(containers);
        self.inner.publish(
            topics::TASK_EXEC_ADDED_EVENT_TOPIC,
            Box::new(TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::new())
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let pids = self.inner.frontend()?.pids(&req.id)?;
        let processes = pids
            .into_iter()
            .map(|pid| containerd_shim::protos::types::task::ProcessInfo {
                pid: pid as u32,
                ..Default::default()
            })
            .collect();
        Ok(api::PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        self.inner.frontend()?.pause(&req.id)?;
        self.set_phase(&req.id, Phase::Paused);
        self.inner.publish(
            topics::TASK_PAUSED_EVENT_TOPIC,
            Box::new(TaskPaused {
                container_id: req.id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.inner.frontend()?.resume(&req.id)?;
        self.set_phase(&req.id, Phase::Running);
        self.inner.publish(
            topics::TASK_RESUMED_EVENT_TOPIC,
            Box::new(TaskResumed {
                container_id: req.id.clone(),
                ..Default::default()
            }),
        );
        Ok(api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        // containerd sends the OCI LinuxResources as JSON.
        let value = req
            .resources
            .as_ref()
            .map(|r| r.value.as_slice())
            .unwrap_or_default();
        let resources: oci_spec::runtime::LinuxResources =
            serde_json::from_slice(value).map_err(|e| {
                status(
                    Code::INVALID_ARGUMENT,
                    format!("update {}: resources: {e}", req.id),
                )
            })?;
        self.inner.frontend()?.update(&req.id, &resources)?;
        Ok(api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        let containers = self.inner.table.lock();
        let p = containers
            .get(&req.id)
            .and_then(|c| c.process(&req.exec_id))
            .ok_or_else(|| not_found(&req.id))?;
        if let Some(stdio) = &p.stdio {
            stdio
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .close_stdin();
        }
        Ok(api::Empty::new())
    }

    fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        let stdio = {
            let containers = self.inner.table.lock();
            let p = containers
                .get(&req.id)
                .and_then(|c| c.process(&req.exec_id))
                .ok_or_else(|| not_found(&req.id))?;
            p.stdio.clone()
        };
        if let Some(stdio) = stdio {
            let (w, h) = (
                req.width.min(u16::MAX.into()),
                req.height.min(u16::MAX.into()),
            );
            stdio
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .resize(w as u16, h as u16)
                .map_err(internal)?;
        }
        Ok(api::Empty::new())
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let frontend = self.inner.frontend()?;
        let (stats, ooms) = frontend.stats(&req.id)?;
        let dirs = frontend.cgroup_dirs(&req.id)?;
        let v2 = dirs.iter().all(|d| d.join("cgroup.controllers").exists());
        let any = if v2 {
            crate::stats::v2(&stats, ooms)
        } else {
            crate::stats::v1(&stats, ooms)
        }
        .map_err(internal)?;
        Ok(api::StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let containers = self.inner.table.lock();
        let task_pid = containers.get(&req.id).map(|c| c.init.pid).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid: task_pid as u32,
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, _req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        // One shim serves the whole pod: it stays while any container does.
        if self.inner.table.lock().is_empty() {
            self.inner.exit.signal();
        }
        Ok(api::Empty::new())
    }
}

impl Service {
    fn set_phase(&self, id: &str, phase: Phase) {
        if let Some(c) = self.inner.table.lock().get_mut(id) {
            if c.init.exit.is_none() {
                c.init.phase = phase;
            }
        }
    }
}

fn delete_response(p: &Process) -> api::DeleteResponse {
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
