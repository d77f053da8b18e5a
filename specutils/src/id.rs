//! Container ids: what runc accepts, and nothing that could name a path
//! outside the state root.

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("invalid container id: empty")]
    Empty,
    #[error("invalid container id {0:?}: longer than {MAX_ID_LEN} bytes")]
    TooLong(String),
    #[error("invalid container id {0:?}: must match ^[\\w+\\-.]+$ and not be . or ..")]
    BadChars(String),
}

/// Checks `id` against `^[\w+\-.]+$` (ASCII word characters), rejecting `.`
/// and `..` so that `<root>/<id>` always stays a child of the root.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        let shown: String = id.chars().take(32).collect();
        return Err(IdError::TooLong(format!("{shown}...")));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if id == "." || id == ".." || !id.chars().all(allowed) {
        return Err(IdError::BadChars(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_ids() {
        for id in ["a", "abc-123", "A_b.c+d", "...x", &"x".repeat(MAX_ID_LEN)] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn rejects_paths_and_junk() {
        assert_eq!(validate_id(""), Err(IdError::Empty));
        for id in [".", "..", "../x", "a/b", "a\0b", "a b", "é", "a\n"] {
            assert!(
                matches!(validate_id(id), Err(IdError::BadChars(_))),
                "{id:?}"
            );
        }
        assert!(matches!(
            validate_id(&"x".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong(_))
        ));
    }
}
