//! The hooks the sandbox runs for a pod's later containers. It is in the
//! runtime's namespaces, so a subcontainer's prestart and createRuntime
//! hooks run here, not in the frontend.

use oci_spec::runtime::Hooks;
use specutils::hooks::{run_hooks, HookError, HookState};

/// Runs `hooks`' prestart then createRuntime hooks with `state`.
pub(super) fn create_runtime(hooks: &Hooks, state: &HookState) -> Result<(), HookError> {
    run_hooks(
        "prestart",
        hooks.prestart().as_deref().unwrap_or(&[]),
        state,
    )
    .and_then(|()| {
        run_hooks(
            "createRuntime",
            hooks.create_runtime().as_deref().unwrap_or(&[]),
            state,
        )
    })
}
