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

/// systemd's "infinity" for its u64 limits.
const INFINITY: u64 = u64::MAX;

/// The spec's limits that systemd has unit properties for, in its units.
/// What systemd has no property for (io.max, hugetlb, unified keys, the
/// exact cpu.max period) is only written into the cgroup.
pub fn limit_properties(resources: Option<&LinuxResources>) -> Vec<(&'static str, u64)> {
    let mut props = Vec::new();
    let Some(r) = resources else {
        return props;
    };
    let bytes = |v: i64| if v < 0 { INFINITY } else { v as u64 };
    if let Some(m) = r.memory() {
        if let Some(limit) = m.limit() {
            props.push(("MemoryMax", bytes(limit)));
        }
        if let Some(low) = m.reservation().filter(|v| *v != 0) {
            props.push(("MemoryLow", bytes(low)));
        }
        // OCI's swap is memory plus swap, as on cgroup v1.
        match (m.limit(), m.swap()) {
            (_, Some(-1)) => props.push(("MemorySwapMax", INFINITY)),
            (Some(limit), Some(swap)) if limit > 0 && swap >= limit => {
                props.push(("MemorySwapMax", (swap - limit) as u64))
            }
            _ => {}
        }
    }
    if let Some(p) = r.pids() {
        match p.limit() {
            l if l > 0 => props.push(("TasksMax", l as u64)),
            l if l < 0 => props.push(("TasksMax", INFINITY)),
            _ => {}
        }
    }
    if let Some(cpu) = r.cpu() {
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            props.push(("CPUWeight", weight_of_shares(shares)));
        }
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            let period = cpu.period().filter(|p| *p > 0).unwrap_or(100_000);
            // systemd keeps a percentage: round up to whole 10 ms per
            // second so that its value never undercuts cpu.max.
            let per_sec = (quota as u64).saturating_mul(1_000_000) / period;
            props.push(("CPUQuotaPerSecUSec", per_sec.div_ceil(10_000) * 10_000));
        }
    }
    props
}

/// cgroup v1 cpu.shares (2..262144) as a v2 cpu.weight (1..10000) by the
/// map runc 1.3 adopted (the one libcgroups writes into cpu.weight): a
/// curve through 2 -> 1, 1024 -> 100 (both defaults) and 262144 -> 10000,
/// quadratic in log2(shares) on a log10 scale.
fn weight_of_shares(shares: u64) -> u64 {
    match shares {
        0..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{
        LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder,
    };
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
    fn limits_become_systemd_properties() -> Result<(), Box<dyn std::error::Error>> {
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64 << 20)
                    .swap(96 << 20)
                    .build()?,
            )
            .pids(LinuxPidsBuilder::default().limit(20).build()?)
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(50_000i64)
                    .period(100_000u64)
                    .build()?,
            )
            .build()?;
        let props = limit_properties(Some(&r));
        assert_eq!(
            props,
            vec![
                ("MemoryMax", 64 << 20),
                ("MemorySwapMax", 32 << 20),
                ("TasksMax", 20),
                ("CPUWeight", 100),
                ("CPUQuotaPerSecUSec", 500_000),
            ]
        );
        Ok(())
    }

    #[test]
    fn unlimited_is_infinity_and_quota_rounds_up() -> Result<(), Box<dyn std::error::Error>> {
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(-1).swap(-1).build()?)
            .pids(LinuxPidsBuilder::default().limit(-1).build()?)
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(1_234i64)
                    .period(10_000u64)
                    .build()?,
            )
            .build()?;
        let props = limit_properties(Some(&r));
        assert_eq!(
            props,
            vec![
                ("MemoryMax", INFINITY),
                ("MemorySwapMax", INFINITY),
                ("TasksMax", INFINITY),
                ("CPUQuotaPerSecUSec", 130_000),
            ]
        );
        assert!(limit_properties(None).is_empty());
        Ok(())
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

    #[test]
    fn shares_map_onto_weights() {
        assert_eq!(weight_of_shares(2), 1);
        assert_eq!(weight_of_shares(262_144), 10_000);
        assert_eq!(weight_of_shares(1024), 100);
        assert_eq!(weight_of_shares(512), 59);
        assert_eq!(weight_of_shares(0), 1);
    }
}
