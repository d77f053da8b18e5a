//! A container cgroup's directories in every hierarchy: made so that the
//! leaf can hold limits and processes, removed deepest first.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Cgroup, CgroupError, Kind};

impl Cgroup {
    /// Makes this cgroup's directories, recording in `created` those that did
    /// not exist, parents before children.
    pub(super) fn make_dirs(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        let relative = self.path.strip_prefix("/").unwrap_or(&self.path);
        for h in &self.hierarchies {
            let controllers = match h.kind {
                Kind::V2 => self.read(&h.root.join("cgroup.controllers"))?,
                Kind::V1 | Kind::V1Cpuset => String::new(),
            };
            let mut current = h.root.clone();
            for component in relative.components() {
                // Every v2 ancestor must hand the controllers down, or the
                // leaf has no limit files; never the leaf itself, which would
                // then be refused processes ("no internal processes").
                for controller in controllers.split_whitespace() {
                    let file = current.join("cgroup.subtree_control");
                    if let Err(e) = fs::write(&file, format!("+{controller}")) {
                        tracing::debug!("cannot enable {controller} in {}: {e}", file.display());
                    }
                }
                let parent = current.clone();
                current.push(component);
                match fs::create_dir(&current) {
                    Ok(()) => created.push(current.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(CgroupError::CreateDir(self.path.clone(), current, e)),
                }
                if h.kind == Kind::V1Cpuset {
                    for name in ["cpuset.cpus", "cpuset.mems"] {
                        if self.read(&current.join(name))?.trim().is_empty() {
                            let inherited = self.read(&parent.join(name))?;
                            self.write(&current.join(name), inherited.trim())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(super) fn remove_dirs(&self) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            self.remove_tree(&h.dir)?;
        }
        Ok(())
    }

    /// rmdir `dir` after its nested cgroups. The control files inside need no
    /// removal: the kernel drops them with the directory.
    fn remove_tree(&self, dir: &Path) -> Result<(), CgroupError> {
        let remove_err = |e| CgroupError::Remove(self.path.clone(), dir.to_path_buf(), e);
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
