//! A container cgroup's directories in every hierarchy: made so that the
//! leaf can hold limits and processes, removed deepest first.
//!
//! With many containers running, writes into their shared parent cost in
//! proportion to its children: a write to `cgroup.subtree_control`, even
//! one that changes nothing, walks (and waits for dying) descendants under
//! the kernel's cgroup mutex, and a v1 `cpuset.cpus`/`mems` write checks
//! every sibling. So controllers are enabled only where missing, and our
//! own parent `/runsc` has the kernel copy its cpuset into each new child
//! (`cgroup.clone_children`) instead of a write per container.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{parent, Cgroup, CgroupError, Kind};

impl Cgroup {
    /// Makes this cgroup's directories in the hierarchies of the `kinds`
    /// asked for, then applies `resources`; on failure, removes the
    /// directories made here again. Existing ones are reused.
    pub(super) fn make(
        &self,
        kinds: impl Fn(Kind) -> bool,
        resources: Option<&LinuxResources>,
    ) -> Result<(), CgroupError> {
        let mut created = Vec::new();
        let parent_lock = self.in_default_parent().then(|| parent::lock(false));
        let made = self.make_dirs(&kinds, &mut created);
        drop(parent_lock);
        let result = made.and_then(|()| resources.map_or(Ok(()), |r| self.update(r)));
        if let Err(err) = result {
            let realtime = self.parent_holds_realtime();
            if realtime {
                self.give_up_realtime();
            }
            // Deepest first: a parent made here can only go once its child has.
            for dir in created.iter().rev() {
                if let Err(e) = fs::remove_dir(dir) {
                    tracing::warn!("cannot undo creation of cgroup {}: {e}", dir.display());
                }
            }
            if realtime {
                self.release_realtime();
            }
            return Err(err);
        }
        Ok(())
    }

    /// Makes this cgroup's directories in the hierarchies of `kinds`,
    /// recording in `created` those that did not exist, parents before
    /// children.
    fn make_dirs(
        &self,
        kinds: &impl Fn(Kind) -> bool,
        created: &mut Vec<PathBuf>,
    ) -> Result<(), CgroupError> {
        let relative = self.path.strip_prefix("/").unwrap_or(&self.path);
        let leaf_depth = relative.components().count();
        // Whether mkdir with mode 0755 gives 0755 under the caller's umask,
        // learnt from the first directory made: one stat instead of a
        // chmod in each hierarchy (on `create`'s path).
        let mut umask_keeps_mode = None;
        // Whether the directory above the current one has the kernel clone
        // its cpuset into new children (cgroup.clone_children).
        let mut parent_clones = false;
        for h in self.hierarchies.iter().filter(|h| kinds(h.kind)) {
            let controllers = match h.kind {
                Kind::V2 => self.read(&h.root.join("cgroup.controllers"))?,
                Kind::V1 | Kind::V1Cpuset => String::new(),
            };
            let mut current = h.root.clone();
            for (depth, component) in relative.components().enumerate() {
                // Every v2 ancestor must hand the controllers down, or the
                // leaf has no limit files; never the leaf itself, which would
                // then be refused processes ("no internal processes").
                if h.kind == Kind::V2 {
                    enable_controllers(&current, &controllers);
                }
                let parent = current.clone();
                current.push(component);
                let made = match fs::DirBuilder::new().mode(0o755).create(&current) {
                    Ok(()) => {
                        created.push(current.clone());
                        // 0755 whatever the caller's umask: a parent made
                        // under umask 077 would stop other containers'
                        // user-namespaced inits from reaching their own
                        // directories below it (they bind them).
                        let kept =
                            *umask_keeps_mode.get_or_insert_with(|| has_mode(&current, 0o755));
                        if !kept {
                            fs::set_permissions(&current, fs::Permissions::from_mode(0o755))
                                .map_err(|e| {
                                    CgroupError::Chmod(self.path.clone(), current.clone(), e)
                                })?;
                        }
                        true
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
                    Err(e) => return Err(CgroupError::CreateDir(self.path.clone(), current, e)),
                };
                if h.kind == Kind::V1Cpuset {
                    // A directory just made under one that clones has its
                    // CPUs, memory nodes and the flag from the kernel.
                    let cloned = made && parent_clones;
                    if !cloned {
                        self.fill_cpuset(&parent, &current)?;
                    }
                    // On in `/runsc`; off again in the leaf, to which the
                    // kernel passes it on, so that the container's own
                    // children are made as runc's are.
                    let on = depth + 1 < leaf_depth;
                    parent_clones = self.in_default_parent()
                        && self.set_clone_children(&current, on, cloned.then_some(true));
                }
            }
        }
        Ok(())
    }

    /// A new v1 cpuset directory starts with no CPUs or memory nodes unless
    /// its parent clones them, and the kernel then refuses it tasks
    /// (ENOSPC): copy the parent's where they are empty.
    fn fill_cpuset(&self, parent: &Path, dir: &Path) -> Result<(), CgroupError> {
        for name in ["cpuset.cpus", "cpuset.mems"] {
            if self.read(&dir.join(name))?.trim().is_empty() {
                let inherited = self.read(&parent.join(name))?;
                self.write(&dir.join(name), inherited.trim())?;
            }
        }
        Ok(())
    }

    /// Sets `dir`'s `cgroup.clone_children` where it differs: a v1 cpuset
    /// flag that has the kernel copy `dir`'s CPUs and memory nodes into each
    /// new child as it is made, without the checks against every sibling
    /// that a write of them runs. Only a speed-up: where it cannot be set,
    /// [`Cgroup::fill_cpuset`] still fills the child. `known` is the flag
    /// as it is, when the caller knows. Returns whether it is on now.
    fn set_clone_children(&self, dir: &Path, on: bool, known: Option<bool>) -> bool {
        let file = dir.join("cgroup.clone_children");
        let now = match known {
            Some(now) => now,
            None => match fs::read_to_string(&file) {
                Ok(now) => now.trim() == "1",
                Err(e) => {
                    tracing::debug!("cannot read {}: {e}", file.display());
                    return false;
                }
            },
        };
        if now == on {
            return on;
        }
        match fs::write(&file, if on { "1" } else { "0" }) {
            Ok(()) => on,
            Err(e) => {
                tracing::debug!("cannot set {} to {on}: {e}", file.display());
                now
            }
        }
    }

    pub(super) fn remove_dirs(&self) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            self.remove_tree(&h.dir)?;
        }
        Ok(())
    }

    /// rmdir `dir`, after its nested cgroups if it has any. The control
    /// files inside need no removal: the kernel drops them with the
    /// directory. The rmdir is tried first: a container's cgroup seldom
    /// has nested ones, and listing a directory of control files costs
    /// more than the rmdir (seven more syscalls in each of up to a dozen
    /// hierarchies, on `delete`'s path).
    fn remove_tree(&self, dir: &Path) -> Result<(), CgroupError> {
        let remove_err = |e| CgroupError::Remove(self.path.clone(), dir.to_path_buf(), e);
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            // Nested cgroups, or processes: the kernel says EBUSY for both
            // (ENOTEMPTY on some filesystems' terms).
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {}
            Err(e) => return Err(remove_err(e)),
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(remove_err(e)),
        };
        for entry in entries {
            let entry = entry.map_err(remove_err)?;
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.remove_tree(&entry.path())?;
            }
        }
        match fs::remove_dir(dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(remove_err(e)),
            _ => Ok(()),
        }
    }
}

/// Whether `dir`'s permission bits are `mode`; false where it cannot be
/// read, so that the caller sets them.
fn has_mode(dir: &Path, mode: u32) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

/// Enables in `dir`'s `cgroup.subtree_control` those of `controllers` it
/// lacks. A failure is only logged, as the limits that need a controller
/// then fail by name; where the file cannot be read, every controller is
/// written, as before this check.
fn enable_controllers(dir: &Path, controllers: &str) {
    let file = dir.join("cgroup.subtree_control");
    let enabled = fs::read_to_string(&file).unwrap_or_else(|e| {
        tracing::debug!("cannot read {}: {e}", file.display());
        String::new()
    });
    for controller in controllers.split_whitespace() {
        if enabled.split_whitespace().any(|c| c == controller) {
            continue;
        }
        if let Err(e) = fs::write(&file, format!("+{controller}")) {
            tracing::debug!("cannot enable {controller} in {}: {e}", file.display());
        }
    }
}
