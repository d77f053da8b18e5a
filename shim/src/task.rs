//! The shim v2 task API, one method per request, over the frontend.

use containerd_shim::api::{self, Status};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics;
use containerd_shim::protos::ttrpc::{Code, TtrpcContext};
use containerd_shim::{Task, TtrpcResult};

use crate::process::{Exec, Phase, Process};
use crate::rootfs::unmount_rootfs;
use crate::service::{delete_response, internal, not_found, status, Service};
use crate::stdio::Paths;

/// Ends a deleted process's stdio: its copiers, and its logging program.
fn close_stdio(p: &Process) {
    if let Some(stdio) = &p.stdio {
        stdio.lock().unwrap_or_else(|e| e.into_inner()).close();
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
        // Create allocates the most of any request, and frees most of it.
        crate::malloc::trim();
        self.inner.publish(
            topics::TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                pid: pid as u32,
                ..Default::default()
            },
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
            let restored = self
                .inner
                .table
                .lock()
                .get(&req.id)
                .is_some_and(|c| c.restored);
            if !restored {
                self.inner.frontend()?.start(&req.id)?;
            }
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
                TaskStart {
                    container_id: req.id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                },
            );
            pid
        } else {
            let pid = self.inner.start_exec(&req.id, &req.exec_id)?;
            self.inner.watch(&req.id, &req.exec_id, pid);
            self.inner.publish(
                topics::TASK_EXEC_STARTED_EVENT_TOPIC,
                TaskExecStarted {
                    container_id: req.id.clone(),
                    exec_id: req.exec_id.clone(),
                    pid: pid as u32,
                    ..Default::default()
                },
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
            drop(containers);
            close_stdio(&exec.process);
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
        // After the frontend's delete, so that what the init wrote last is
        // copied; not under the table's lock, as a logger may take its time.
        let init = self.inner.table.lock().remove(&req.id);
        if let Some(c) = &init {
            close_stdio(&c.init);
        }
        self.inner.publish(
            topics::TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: req.id.clone(),
                id: req.id.clone(),
                pid: resp.pid,
                exit_status: resp.exit_status,
                exited_at: resp.exited_at.clone(),
                ..Default::default()
            },
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
            TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
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
            TaskPaused {
                container_id: req.id.clone(),
                ..Default::default()
            },
        );
        Ok(api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.inner.frontend()?.resume(&req.id)?;
        self.set_phase(&req.id, Phase::Running);
        self.inner.publish(
            topics::TASK_RESUMED_EVENT_TOPIC,
            TaskResumed {
                container_id: req.id.clone(),
                ..Default::default()
            },
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

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        let exit = match req.options.as_ref() {
            Some(any) => crate::options::checkpoint_exits(&any.value)
                .map_err(|e| status(Code::INVALID_ARGUMENT, format!("checkpoint options: {e}")))?,
            None => false,
        };
        self.inner
            .frontend()?
            .checkpoint(&req.id, std::path::Path::new(&req.path), exit)?;
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
