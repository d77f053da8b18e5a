//! The systemd cgroup driver: with `--systemd-cgroup` on a host that
//! systemd runs, the container's cgroup is a transient scope unit that
//! systemd knows, registered over D-Bus as runc does. Otherwise systemd
//! would find a directory in its tree that no unit owns, and could move or
//! reset it. The scope holds the sandbox (and, while `create` runs, the
//! gofer), the container's processes as the host sees them.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use zbus::blocking::Connection;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

mod limits;

pub use limits::limit_properties;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
/// A scope's start job only moves processes, but under emulation (the
/// test guests) systemd can take seconds to get to it.
const JOB_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("--systemd-cgroup: systemd does not answer on the system bus: {0}")]
    Connect(Box<zbus::Error>),
    #[error(
        "--systemd-cgroup: the systemd user manager of uid {uid} does not answer on its bus \
         ($DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus; is the user logged in or \
         lingering?): {source}"
    )]
    ConnectUser { uid: u32, source: Box<zbus::Error> },
    #[error(
        "--systemd-cgroup: ask the systemd user manager of uid {uid} for its cgroup: {source}"
    )]
    ManagerCgroup { uid: u32, source: Box<zbus::Error> },
    #[error("systemd unit {unit}: {what}: {source}")]
    Call {
        unit: String,
        what: &'static str,
        source: Box<zbus::Error>,
    },
    #[error("systemd unit {unit} did not start: it is {state}")]
    NotStarted { unit: String, state: String },
    #[error("systemd unit {unit} did not stop: it is {state}")]
    NotStopped { unit: String, state: String },
}

/// Whether systemd is the host's init, by sd_booted(3)'s test. Without it
/// `--systemd-cgroup` only places the cgroup where systemd would.
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The unit and slice of a cgroup path made from `slice:prefix:name`:
/// `/a.slice/a-b.slice/x-1.scope` is unit `x-1.scope` in `a-b.slice`
/// (`-.slice`, the root slice, when it has no parent). None for a path
/// that names no scope.
pub fn scope_of(path: &Path) -> Option<(String, String)> {
    let unit = path.file_name()?.to_str()?;
    if !unit.ends_with(".scope") {
        return None;
    }
    let slice = match path.parent()?.file_name() {
        None => "-.slice",
        Some(s) => s.to_str().filter(|s| s.ends_with(".slice"))?,
    };
    Some((unit.to_owned(), slice.to_owned()))
}

/// A connection to the systemd that manages the caller's units.
pub struct Systemd {
    conn: Connection,
    /// The host uid whose user manager this is; None for PID 1.
    user: Option<u32>,
}

impl Systemd {
    /// PID 1 on the system bus for host root. Anyone else, root of a user
    /// namespace included (rootless Podman runs us so), gets the user's own
    /// manager (user@UID.service) on the user's bus, as runc's rootless
    /// systemd driver does: PID 1 refuses units to them.
    pub fn connect() -> Result<Self, SystemdError> {
        match host_uid() {
            0 => {
                let conn = Connection::system().map_err(|e| SystemdError::Connect(Box::new(e)))?;
                Ok(Self { conn, user: None })
            }
            uid => {
                let fail = |e| SystemdError::ConnectUser {
                    uid,
                    source: Box::new(e),
                };
                // EXTERNAL authentication names a uid, which the bus checks
                // against the socket's peer: the host's, not ours (0 in a
                // user namespace).
                let builder = match user_bus(uid) {
                    Some(path) => zbus::blocking::connection::Builder::address(
                        format!("unix:path={}", path.display()).as_str(),
                    ),
                    None => zbus::blocking::connection::Builder::session(),
                };
                let conn = builder.map_err(fail)?.user_id(uid).build().map_err(fail)?;
                Ok(Self {
                    conn,
                    user: Some(uid),
                })
            }
        }
    }

    /// The cgroup the manager's units live under: None for PID 1 (the
    /// root), `/user.slice/user-UID.slice/user@UID.service` for a user's.
    pub fn manager_cgroup(&self) -> Result<Option<String>, SystemdError> {
        let Some(uid) = self.user else {
            return Ok(None);
        };
        let fail = |e| SystemdError::ManagerCgroup {
            uid,
            source: Box::new(e),
        };
        let reply = self
            .conn
            .call_method(
                Some(SYSTEMD),
                MANAGER_PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(MANAGER, "ControlGroup"),
            )
            .map_err(fail)?;
        let value: OwnedValue = reply.body().deserialize().map_err(fail)?;
        let cgroup = String::try_from(value).map_err(|e| fail(e.into()))?;
        Ok(Some(cgroup))
    }

    /// Starts transient scope `unit` in `slice` around `pids`, delegated
    /// to us, with the limits of `resources` that systemd has properties
    /// for; waits until it runs. The caller writes all limits into the
    /// cgroup afterwards, as systemd sets the ones it knows when it starts
    /// the unit.
    pub fn start_scope(
        &self,
        unit: &str,
        slice: &str,
        description: &str,
        pids: &[u32],
        resources: Option<&LinuxResources>,
    ) -> Result<(), SystemdError> {
        let mut props: Vec<(&str, Value)> = vec![
            ("Description", Value::from(description)),
            ("Slice", Value::from(slice)),
            ("Delegate", Value::from(true)),
            // Not stopped before shutdown.target's units by default
            // ordering: the container's lifecycle is its manager's.
            ("DefaultDependencies", Value::from(false)),
            ("PIDs", Value::from(pids.to_vec())),
            ("MemoryAccounting", Value::from(true)),
            ("CPUAccounting", Value::from(true)),
            ("TasksAccounting", Value::from(true)),
            ("IOAccounting", Value::from(true)),
        ];
        props.extend(
            limit_properties(resources)
                .into_iter()
                .map(|(k, v)| (k, Value::from(v))),
        );
        let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
        let call = |what, source| SystemdError::Call {
            unit: unit.to_owned(),
            what,
            source: Box::new(source),
        };
        self.conn
            .call_method(
                Some(SYSTEMD),
                MANAGER_PATH,
                Some(MANAGER),
                "StartTransientUnit",
                &(unit, "fail", props, aux),
            )
            .map_err(|e| call("StartTransientUnit", e))?;
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut delay = Duration::from_millis(1);
        loop {
            let state = self.active_state(unit)?;
            match state.as_deref() {
                Some("active") => return Ok(()),
                Some("activating") | Some("inactive") if Instant::now() < deadline => {}
                _ => {
                    return Err(SystemdError::NotStarted {
                        unit: unit.to_owned(),
                        state: state.unwrap_or_else(|| "gone".into()),
                    })
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Gives running unit `unit` the limits of `resources` that systemd has
    /// properties for, until it stops, so that systemd does not put the
    /// old ones back. The caller writes them into the cgroup afterwards.
    pub fn set_limits(&self, unit: &str, resources: &LinuxResources) -> Result<(), SystemdError> {
        let props: Vec<(&str, Value)> = limit_properties(Some(resources))
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        if props.is_empty() {
            return Ok(());
        }
        self.conn
            .call_method(
                Some(SYSTEMD),
                MANAGER_PATH,
                Some(MANAGER),
                "SetUnitProperties",
                &(unit, true, props),
            )
            .map_err(|e| SystemdError::Call {
                unit: unit.to_owned(),
                what: "SetUnitProperties",
                source: Box::new(e),
            })?;
        Ok(())
    }

    /// Stops `unit` (killing what is left in it) and waits until systemd
    /// forgets it, also when it failed (an OOM kill marks a scope failed,
    /// and systemd keeps failed units). A unit systemd does not know is
    /// already gone.
    pub fn stop_unit(&self, unit: &str) -> Result<(), SystemdError> {
        let call = |what, source| SystemdError::Call {
            unit: unit.to_owned(),
            what,
            source: Box::new(source),
        };
        match self.conn.call_method(
            Some(SYSTEMD),
            MANAGER_PATH,
            Some(MANAGER),
            "StopUnit",
            &(unit, "replace"),
        ) {
            Ok(_) => {}
            Err(e) if is_no_such_unit(&e) => return Ok(()),
            Err(e) => return Err(call("StopUnit", e)),
        }
        // The stop is a job: wait until systemd has forgotten the unit.
        let deadline = Instant::now() + JOB_TIMEOUT;
        let mut delay = Duration::from_millis(1);
        loop {
            match self.active_state(unit)?.as_deref() {
                None => return Ok(()),
                Some("failed") => self.reset_failed(unit),
                Some(_) if Instant::now() < deadline => {}
                Some(state) => {
                    return Err(SystemdError::NotStopped {
                        unit: unit.to_owned(),
                        state: state.to_owned(),
                    })
                }
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    /// Makes systemd forget a failed unit (systemd keeps those).
    fn reset_failed(&self, unit: &str) {
        let reply = self.conn.call_method(
            Some(SYSTEMD),
            MANAGER_PATH,
            Some(MANAGER),
            "ResetFailedUnit",
            &(unit,),
        );
        if let Err(e) = reply {
            tracing::debug!("systemd unit {unit}: ResetFailedUnit: {e}");
        }
    }

    /// The unit's ActiveState, or None when systemd has no such unit.
    fn active_state(&self, unit: &str) -> Result<Option<String>, SystemdError> {
        let call = |what, source| SystemdError::Call {
            unit: unit.to_owned(),
            what,
            source: Box::new(source),
        };
        let reply = match self.conn.call_method(
            Some(SYSTEMD),
            MANAGER_PATH,
            Some(MANAGER),
            "GetUnit",
            &(unit,),
        ) {
            Ok(r) => r,
            Err(e) if is_no_such_unit(&e) => return Ok(None),
            Err(e) => return Err(call("GetUnit", e)),
        };
        let path: OwnedObjectPath = reply.body().deserialize().map_err(|e| call("GetUnit", e))?;
        let reply = self
            .conn
            .call_method(
                Some(SYSTEMD),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.systemd1.Unit", "ActiveState"),
            )
            .map_err(|e| call("get ActiveState", e))?;
        let value: OwnedValue = reply
            .body()
            .deserialize()
            .map_err(|e| call("get ActiveState", e))?;
        let state = String::try_from(value).map_err(|e| call("get ActiveState", e.into()))?;
        Ok(Some(state))
    }
}

/// The user's bus socket when `$DBUS_SESSION_BUS_ADDRESS` does not name
/// one: `$XDG_RUNTIME_DIR/bus`, else systemd's `/run/user/UID/bus` (Podman
/// passes neither the address nor, with its own runtime directory, that
/// one to its runtime). None leaves the choice, and its error, to zbus.
fn user_bus(uid: u32) -> Option<std::path::PathBuf> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
        return None;
    }
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    let candidates = xdg
        .map(|d| Path::new(&d).join("bus"))
        .into_iter()
        .chain([Path::new("/run/user").join(uid.to_string()).join("bus")]);
    candidates.into_iter().find(|p| p.exists())
}

/// Our effective uid as the host sees it, through each line of our user
/// namespace's map (one level: ours, or the one rootless Podman made).
fn host_uid() -> u32 {
    let euid = rustix::process::geteuid().as_raw();
    let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
    host_id_of(euid, &map)
}

fn host_id_of(id: u32, map: &str) -> u32 {
    for line in map.lines() {
        let n: Vec<u64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if let [inside, outside, len] = n[..] {
            if u64::from(id) >= inside && u64::from(id) < inside + len {
                return u32::try_from(outside + (u64::from(id) - inside)).unwrap_or(id);
            }
        }
    }
    id
}

fn is_no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if name.as_str() == NO_SUCH_UNIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn scopes_are_found_in_their_slice() {
        let scope = |p: &str| scope_of(&PathBuf::from(p));
        assert_eq!(
            scope("/system.slice/runsc-c1.scope"),
            Some(("runsc-c1.scope".into(), "system.slice".into()))
        );
        assert_eq!(
            scope("/a.slice/a-b.slice/x.scope"),
            Some(("x.scope".into(), "a-b.slice".into()))
        );
        assert_eq!(
            scope("/x.scope"),
            Some(("x.scope".into(), "-.slice".into()))
        );
        assert_eq!(scope("/a.slice/a-b.slice"), None);
        assert_eq!(scope("/runsc/c1"), None);
        assert_eq!(scope("/runsc/c1.scope"), None);
    }

    #[test]
    fn host_uid_is_read_through_the_user_namespace_map() {
        use super::host_id_of;
        assert_eq!(host_id_of(0, "         0          0 4294967295\n"), 0);
        assert_eq!(host_id_of(0, "         0       1000          1\n"), 1000);
        let podman = "0 1000 1\n1 100000 65536\n";
        assert_eq!(host_id_of(0, podman), 1000);
        assert_eq!(host_id_of(5, podman), 100004);
        assert_eq!(host_id_of(7, ""), 7);
    }
}
