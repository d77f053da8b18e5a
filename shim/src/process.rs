//! What the shim knows of each process: containers' inits and exec'd
//! processes, their status and exit, and the threads that learn of exits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;

use crate::stdio::{Paths, Stdio};

/// A process's lifecycle as containerd's task API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Created,
    Running,
    Paused,
    Stopped,
}

/// An exit: status (128 + signal for a signal) and when.
#[derive(Debug, Clone)]
pub struct Exit {
    pub status: u32,
    pub at: Timestamp,
}

pub struct Process {
    pub pid: i32,
    pub phase: Phase,
    pub exit: Option<Exit>,
    pub paths: Paths,
    pub stdio: Option<Arc<Mutex<Stdio>>>,
}

impl Process {
    pub fn new(paths: Paths) -> Self {
        Self {
            pid: 0,
            phase: Phase::Created,
            exit: None,
            paths,
            stdio: None,
        }
    }
}

pub struct Exec {
    pub process: Process,
    pub spec: oci_spec::runtime::Process,
}

pub struct Container {
    pub bundle: PathBuf,
    pub init: Process,
    pub execs: HashMap<String, Exec>,
    /// Whether the shim mounted the rootfs, to unmount at delete.
    pub mounted_rootfs: bool,
    /// Restored from a checkpoint: its init runs since Create.
    pub restored: bool,
}

impl Container {
    /// The process `exec_id` names: the init when empty.
    pub fn process(&self, exec_id: &str) -> Option<&Process> {
        if exec_id.is_empty() {
            Some(&self.init)
        } else {
            self.execs.get(exec_id).map(|e| &e.process)
        }
    }

    pub fn process_mut(&mut self, exec_id: &str) -> Option<&mut Process> {
        if exec_id.is_empty() {
            Some(&mut self.init)
        } else {
            self.execs.get_mut(exec_id).map(|e| &mut e.process)
        }
    }
}

/// The shim's containers, and a condition for those waiting on exits.
#[derive(Default)]
pub struct Table {
    containers: Mutex<HashMap<String, Container>>,
    exited: Condvar,
}

impl Table {
    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the exit of `exec_id` of container `id`; wakes waiters.
    pub fn exited(&self, id: &str, exec_id: &str, status: u32) -> Exit {
        let exit = Exit {
            status,
            at: Timestamp::now(),
        };
        let mut containers = self.lock();
        if let Some(p) = containers.get_mut(id).and_then(|c| c.process_mut(exec_id)) {
            p.phase = Phase::Stopped;
            p.exit = Some(exit.clone());
        }
        self.exited.notify_all();
        exit
    }

    /// Blocks until `exec_id` of `id` has exited; None if it is unknown.
    pub fn wait(&self, id: &str, exec_id: &str) -> Option<Exit> {
        let mut containers = self.lock();
        loop {
            let p = containers.get(id).and_then(|c| c.process(exec_id))?;
            if let Some(exit) = &p.exit {
                return Some(exit.clone());
            }
            containers = self
                .exited
                .wait(containers)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}
