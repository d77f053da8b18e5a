//! The OCI state document, in the layout `runc state` prints.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{Container, Status};

pub use specutils::spec::OCI_VERSION;

#[derive(Debug, Serialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub owner: String,
}

impl OciState {
    /// As [`OciState::of`], taking `c`'s strings rather than copying them
    /// (`list` makes thousands).
    pub fn from_container(c: Container) -> Self {
        let status = c.live_status();
        Self {
            oci_version: OCI_VERSION,
            pid: c.reported_pid(status),
            status,
            id: c.id,
            bundle: c.bundle,
            rootfs: c.rootfs,
            created: c.created,
            annotations: c.annotations,
            owner: c.owner,
        }
    }

    /// The state of `c` as of now, liveness included.
    pub fn of(c: &Container) -> Self {
        Self::from_container(c.clone())
    }
}
