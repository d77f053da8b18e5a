//! Events to containerd. The containerd-shim crate's RemotePublisher names
//! an event's type by asking protobuf for its descriptor, and protobuf then
//! builds and keeps, for the shim's life, the descriptors of every .proto
//! file the event's file imports, descriptor.proto's comments included:
//! some hundreds of KiB of heap in every shim. So the shim sends the same
//! envelope itself, and packs messages into `Any` (events, Stats' metrics)
//! with the type named from the generated message's name.

use std::sync::Mutex;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::event::Envelope;
use containerd_shim::protos::shim::events::ForwardRequest;
use containerd_shim::protos::ttrpc::context::Context;
use containerd_shim::protos::EventsClient;

/// The package of containerd's task events (events/task.proto).
const EVENTS_PACKAGE: &str = "containerd.events";
/// The packages of the cgroup v1 and v2 metrics (cgroups' metrics.proto).
pub const CGROUPS_V1_PACKAGE: &str = "io.containerd.cgroups.v1";
pub const CGROUPS_V2_PACKAGE: &str = "io.containerd.cgroups.v2";

pub struct Publisher {
    /// containerd's ttrpc address.
    address: String,
    namespace: String,
    /// Connected at the first event, and again after containerd restarted.
    client: Mutex<Option<EventsClient>>,
}

/// The type URL of `M` of protobuf package `package`, as the crate's
/// `convert_to_any` gives it: the message's full protobuf name.
pub fn type_url<M: Message>(package: &str) -> String {
    format!("{package}.{}", M::NAME)
}

/// `m`, of protobuf package `package`, packed in an `Any`.
pub fn pack<M: Message>(package: &str, m: &M) -> Result<Any, String> {
    Ok(Any {
        type_url: type_url::<M>(package),
        value: m
            .write_to_bytes()
            .map_err(|e| format!("encode {}: {e}", M::NAME))?,
        ..Default::default()
    })
}

impl Publisher {
    pub fn new(address: &str, namespace: &str) -> Self {
        Self {
            address: address.to_string(),
            namespace: namespace.to_string(),
            client: Mutex::new(None),
        }
    }

    /// Sends `event` on `topic`; on a new connection once more if the
    /// first try fails (containerd restarted since the last event).
    pub fn publish<M: Message>(&self, topic: &str, event: &M) {
        let event = match pack(EVENTS_PACKAGE, event) {
            Ok(any) => any,
            Err(e) => return log::warn!("publish {topic}: {e}"),
        };
        let envelope = Envelope {
            timestamp: MessageField::some(Timestamp::now()),
            namespace: self.namespace.clone(),
            topic: topic.to_string(),
            event: MessageField::some(event),
            ..Default::default()
        };
        let req = ForwardRequest {
            envelope: MessageField::some(envelope),
            ..Default::default()
        };
        let mut client = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let mut errors = Vec::new();
        for _ in 0..2 {
            if client.is_none() {
                match self.connect() {
                    Ok(c) => *client = Some(c),
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                }
            }
            let sent = client.as_ref().map(|c| c.forward(Context::default(), &req));
            match sent {
                Some(Ok(_)) => return,
                Some(Err(e)) => errors.push(e.to_string()),
                None => {}
            }
            *client = None;
        }
        log::warn!("publish {topic}: {}", errors.join("; again: "));
    }

    fn connect(&self) -> Result<EventsClient, String> {
        let fd = containerd_shim::util::connect(&self.address)
            .map_err(|e| format!("connect to {}: {e}", self.address))?;
        let client = containerd_shim::protos::ttrpc::Client::new(fd)
            .map_err(|e| format!("ttrpc client on {}: {e}", self.address))?;
        Ok(EventsClient::new(client))
    }
}

#[cfg(test)]
mod tests {
    use containerd_shim::protos::cgroups::metrics::Metrics as V1;
    use containerd_shim::protos::cgroups_v2::metrics::Metrics as V2;
    use containerd_shim::protos::events::task::{
        TaskCheckpointed, TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit,
        TaskOOM, TaskPaused, TaskResumed, TaskStart,
    };
    use containerd_shim::protos::protobuf::MessageFull;

    use super::*;

    /// Our type URLs are the ones the descriptors give, for every message
    /// the shim packs.
    #[test]
    fn type_urls_match_the_descriptors() {
        fn check<M: MessageFull>(package: &str) {
            assert_eq!(type_url::<M>(package), M::descriptor().full_name());
        }
        check::<TaskCreate>(EVENTS_PACKAGE);
        check::<TaskStart>(EVENTS_PACKAGE);
        check::<TaskDelete>(EVENTS_PACKAGE);
        check::<TaskExit>(EVENTS_PACKAGE);
        check::<TaskOOM>(EVENTS_PACKAGE);
        check::<TaskExecAdded>(EVENTS_PACKAGE);
        check::<TaskExecStarted>(EVENTS_PACKAGE);
        check::<TaskPaused>(EVENTS_PACKAGE);
        check::<TaskResumed>(EVENTS_PACKAGE);
        check::<TaskCheckpointed>(EVENTS_PACKAGE);
        check::<V1>(CGROUPS_V1_PACKAGE);
        check::<V2>(CGROUPS_V2_PACKAGE);
    }
}
