//! The frontend as a library: what the `runsc` subcommands and the
//! containerd shim both call.
//!
//! [`Container`] is a container in a store, with one method per lifecycle
//! operation (create, start, signal, wait, exec, processes, pause, resume,
//! update, stats, checkpoint, restore, delete). [`Sandbox`] is a pod's
//! sandbox, with one typed method per control request; [`Container`] uses
//! it, and so may a caller that tracks processes itself.
//!
//! A caller that is not the CLI (the containerd shim) points children at
//! the runsc binary with [`crate::container::spawn::use_exe`], gives a
//! container's init its own stdio through `CreateOptions::stdio`, and
//! starts exec'd processes with [`Container::exec_process`].
//!
//! ```no_run
//! use runsc::api::Container;
//! use runsc::container::options::CreateOptions;
//! use runsc::container::ContainerStore;
//!
//! # fn main() -> Result<(), runsc::container::LifecycleError> {
//! let store = ContainerStore::open("/run/runsc".as_ref())?;
//! let opts = CreateOptions::new("web", "/bundles/web".into());
//! let (web, _created) = Container::create(&store, opts)?;
//! web.start()?;
//! let pids = web.processes()?;
//! println!("{} runs {pids:?}", web.id());
//! web.signal(libc::SIGTERM, false)?;
//! let status = web.wait()?;
//! web.delete(false)?;
//! # let _ = status;
//! # Ok(())
//! # }
//! ```

mod container;
mod sandbox;

pub use self::container::{Container, Waiting};
pub use self::sandbox::Sandbox;
