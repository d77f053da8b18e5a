//! Containers a test started, deleted when it ends, pass or fail.

use super::Env;

/// Deletes containers when dropped, so a failing test still cleans up.
pub struct Reaper<'a> {
    pub env: &'a Env,
    pub ids: Vec<String>,
}

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self.env.runsc(&["delete", "--force", id]);
        }
    }
}

/// A running container of `cmd`, from a bundle `name`; deleted when the
/// reaper drops.
pub fn running<'a>(env: &'a Env, name: &str, cmd: &[&str]) -> (String, Reaper<'a>) {
    let bundle = env.bundle(name, cmd);
    let id = env.id(name);
    env.ok(&["run", "--detach", "-b", bundle.to_str().unwrap(), &id]);
    let reaper = Reaper {
        env,
        ids: vec![id.clone()],
    };
    (id, reaper)
}
