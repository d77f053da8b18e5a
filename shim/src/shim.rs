//! The shim binary's lifecycle: `start` finds or starts the pod's shim,
//! `delete` cleans up after a shim that is gone, and the serving shim
//! waits for its last container.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use containerd_shim::api::DeleteResponse;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{Config, Error, ExitSignal, Flags, StartOpts};

use crate::frontend::Frontend;
use crate::options::RuntimeOptions;
use crate::service::Service;

pub struct Shim {
    namespace: String,
    id: String,
    bundle: PathBuf,
    exit: Arc<ExitSignal>,
}

/// The shim a container belongs to: its pod's, by the CRI sandbox-id
/// annotation; its own when it is a pod's sandbox or a lone container.
pub fn grouping(bundle: &Path, id: &str) -> Result<String, Error> {
    let spec = specutils::load_spec(bundle)
        .map_err(|e| Error::InvalidArgument(format!("bundle {}: {e}", bundle.display())))?;
    Ok(match specutils::annotations::pod_role(&spec) {
        specutils::annotations::PodRole::Container { sandbox_id } => sandbox_id,
        specutils::annotations::PodRole::Sandbox => id.to_string(),
    })
}

impl containerd_shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        let bundle = if args.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&args.bundle)
        };
        Self {
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle,
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> Result<String, Error> {
        let group = grouping(&self.bundle, &opts.id)?;
        // A shim already serving the group makes the new one exit at once
        // and answers with the same address.
        let (_, address) = containerd_shim::spawn(opts, &group, Vec::new())?;
        containerd_shim::util::write_address(&address)?;
        // The crate would print the address and then drop its signal
        // handlers, and that drop can spin forever when the SIGCHLD of
        // the shim just started arrives during it (seen in signal-hook's
        // unregister): containerd's start then never returns. Nothing is
        // left to do but answer, so answer and exit here.
        let mut out = std::io::stdout().lock();
        let answered = out.write_all(address.as_bytes()).and_then(|()| out.flush());
        std::process::exit(if answered.is_ok() { 0 } else { 1 })
    }

    fn delete_shim(&mut self) -> Result<DeleteResponse, Error> {
        let options =
            RuntimeOptions::kept(&self.bundle).map_err(|e| Error::Other(e.to_string()))?;
        let frontend = Frontend::open(&options).map_err(|e| Error::Other(e.to_string()))?;
        frontend
            .delete(&self.id)
            .map_err(|e| Error::Other(format!("delete container {}: {e}", self.id)))?;
        crate::rootfs::unmount_rootfs(&self.bundle);
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: MessageField::some(Timestamp::now()),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        Service::new(&self.namespace, publisher, self.exit.clone())
    }
}
