//! The OCI state document, in the layout `runc state` prints.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{Container, MetaView, Status};

pub use specutils::spec::OCI_VERSION;

/// Borrowed from a [`MetaView`] where it can be (`list` makes thousands),
/// owned when made from a [`Container`].
#[derive(Debug, Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: Cow<'a, str>,
    pub pid: i32,
    pub status: Status,
    pub bundle: Cow<'a, Path>,
    pub rootfs: Cow<'a, Path>,
    pub created: Cow<'a, str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub owner: Cow<'a, str>,
    /// Who made the entry, for `list` to name; not part of the document.
    #[serde(skip)]
    pub owner_uid: Option<u32>,
}

impl OciState<'static> {
    /// The state of `c` as of now, liveness included; takes `c`'s strings.
    pub fn of(c: Container) -> Self {
        let status = c.live_status();
        Self {
            oci_version: OCI_VERSION,
            pid: c.reported_pid(status),
            status,
            id: Cow::Owned(c.id),
            bundle: Cow::Owned(c.bundle),
            rootfs: Cow::Owned(c.rootfs),
            created: Cow::Owned(c.created),
            annotations: c
                .annotations
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                .collect(),
            owner: Cow::Owned(c.owner),
            owner_uid: c.owner_uid,
        }
    }
}

impl<'a> OciState<'a> {
    /// As [`OciState::of`], from a view of meta.json.
    pub fn from_view(v: MetaView<'a>) -> Self {
        let status = v.live_status();
        Self {
            oci_version: OCI_VERSION,
            pid: v.reported_pid(status),
            status,
            id: v.id,
            bundle: path(v.bundle),
            rootfs: path(v.rootfs),
            created: v.created,
            annotations: v.annotations,
            owner: v.owner,
            owner_uid: v.owner_uid,
        }
    }
}

fn path(s: Cow<'_, str>) -> Cow<'_, Path> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(Path::new(s)),
        Cow::Owned(s) => Cow::Owned(s.into()),
    }
}
