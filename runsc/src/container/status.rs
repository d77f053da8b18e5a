//! The container status machine: Creating → Created → Running ⇄ Paused →
//! Stopped, with Stopped also reachable from Creating and Created.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("container is {from}: cannot become {to}")]
pub struct StatusError {
    pub from: Status,
    pub to: Status,
}

impl Status {
    /// The status after moving to `to`, or an error naming both ends.
    pub fn transition(self, to: Status) -> Result<Status, StatusError> {
        use Status::*;
        let ok = matches!(
            (self, to),
            (Creating, Created)
                | (Creating, Stopped)
                | (Created, Running)
                | (Created, Stopped)
                | (Running, Paused)
                | (Running, Stopped)
                | (Paused, Running)
                | (Paused, Stopped)
        );
        if ok {
            Ok(to)
        } else {
            Err(StatusError { from: self, to })
        }
    }

    /// Whether a sandbox process should exist in this status.
    pub fn has_sandbox(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn lifecycle_moves() {
        assert_eq!(Creating.transition(Created), Ok(Created));
        assert_eq!(Created.transition(Running), Ok(Running));
        assert_eq!(Running.transition(Paused), Ok(Paused));
        assert_eq!(Paused.transition(Running), Ok(Running));
        assert_eq!(Paused.transition(Stopped), Ok(Stopped));
        assert_eq!(Creating.transition(Stopped), Ok(Stopped));
    }

    #[test]
    fn invalid_moves_are_errors() {
        for (from, to) in [
            (Stopped, Running),
            (Created, Paused),
            (Running, Created),
            (Stopped, Stopped),
            (Paused, Paused),
        ] {
            let err = from.transition(to).unwrap_err();
            assert_eq!(err, StatusError { from, to });
            assert!(err.to_string().contains(from.as_str()));
        }
    }
}
