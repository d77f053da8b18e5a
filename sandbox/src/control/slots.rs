//! Descriptors that ride with a control request, in named slots.
//!
//! The sender packs each request's descriptor struct into one SCM_RIGHTS
//! list and a table of `(name, count)` slots that travels in the frame;
//! the receiver takes the slots back by the same names, in the same order,
//! so a mismatch is an error that names the slot rather than a descriptor
//! quietly landing in the wrong place.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// One named run of descriptors in a request's SCM_RIGHTS list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Slot {
    pub name: String,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlotError {
    #[error("descriptor slot {expected} expected, {found} found")]
    Name { expected: String, found: String },
    #[error("descriptor slot {name} holds {count}, one expected")]
    NotOne { name: String, count: u32 },
    #[error("the slots name {named} descriptors, {carried} arrived")]
    Count { named: usize, carried: usize },
    #[error("descriptor slot {0} left unread")]
    Leftover(String),
}

/// Descriptors being packed for sending.
pub struct Packer<F> {
    slots: Vec<Slot>,
    fds: Vec<F>,
}

impl<F> Packer<F> {
    fn new() -> Self {
        Self {
            slots: Vec::new(),
            fds: Vec::new(),
        }
    }

    pub fn one(&mut self, name: &str, fd: F) {
        self.many(name, vec![fd]);
    }

    pub fn many(&mut self, name: &str, fds: Vec<F>) {
        self.slots.push(Slot {
            name: name.to_string(),
            count: fds.len() as u32,
        });
        self.fds.extend(fds);
    }
}

/// Descriptors received, being taken back out by name.
pub struct Unpacker<F> {
    slots: VecDeque<Slot>,
    fds: VecDeque<F>,
}

impl<F> Unpacker<F> {
    fn new(slots: Vec<Slot>, fds: Vec<F>) -> Result<Self, SlotError> {
        let named: usize = slots.iter().map(|s| s.count as usize).sum();
        if named != fds.len() {
            return Err(SlotError::Count {
                named,
                carried: fds.len(),
            });
        }
        Ok(Self {
            slots: slots.into(),
            fds: fds.into(),
        })
    }

    /// The next slot's name, to choose between alternatives.
    pub fn peek(&self) -> Option<&str> {
        self.slots.front().map(|s| s.name.as_str())
    }

    pub fn many(&mut self, name: &str) -> Result<Vec<F>, SlotError> {
        let slot = self.slots.pop_front().ok_or_else(|| SlotError::Name {
            expected: name.to_string(),
            found: "nothing".to_string(),
        })?;
        if slot.name != name {
            return Err(SlotError::Name {
                expected: name.to_string(),
                found: slot.name,
            });
        }
        Ok(self.fds.drain(..slot.count as usize).collect())
    }

    pub fn one(&mut self, name: &str) -> Result<F, SlotError> {
        let mut fds = self.many(name)?;
        match (fds.pop(), fds.is_empty()) {
            (Some(fd), true) => Ok(fd),
            (_, _) => Err(SlotError::NotOne {
                name: name.to_string(),
                count: fds.len() as u32 + 1,
            }),
        }
    }

    fn finish(self) -> Result<(), SlotError> {
        match self.slots.front() {
            Some(s) => Err(SlotError::Leftover(s.name.clone())),
            None => Ok(()),
        }
    }
}

/// A request's descriptors, by name; `F` is a borrowed descriptor on the
/// sending side and an owned one on the receiving side.
pub trait Descriptors<F>: Sized {
    fn pack(self, into: &mut Packer<F>);
    fn unpack(from: &mut Unpacker<F>) -> Result<Self, SlotError>;
}

pub(crate) fn pack<F, D: Descriptors<F>>(fds: D) -> (Vec<Slot>, Vec<F>) {
    let mut packer = Packer::new();
    fds.pack(&mut packer);
    (packer.slots, packer.fds)
}

pub(crate) fn unpack<F, D: Descriptors<F>>(slots: Vec<Slot>, fds: Vec<F>) -> Result<D, SlotError> {
    let mut from = Unpacker::new(slots, fds)?;
    let d = D::unpack(&mut from)?;
    from.finish()?;
    Ok(d)
}

/// For requests that carry no descriptors.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoFds;

impl<F> Descriptors<F> for NoFds {
    fn pack(self, _: &mut Packer<F>) {}
    fn unpack(_: &mut Unpacker<F>) -> Result<Self, SlotError> {
        Ok(NoFds)
    }
}

/// A process's stdio: a console socket through which its pty master goes
/// back to the caller, or its streams (stdin, stdout, stderr, then any
/// descriptors preserved at 3 and up).
#[derive(Debug)]
pub enum Stdio<F> {
    Console(F),
    Streams(Vec<F>),
}

impl<F> Descriptors<F> for Stdio<F> {
    fn pack(self, into: &mut Packer<F>) {
        match self {
            Stdio::Console(fd) => into.one("console", fd),
            Stdio::Streams(fds) => into.many("streams", fds),
        }
    }

    fn unpack(from: &mut Unpacker<F>) -> Result<Self, SlotError> {
        match from.peek() {
            Some("console") => Ok(Stdio::Console(from.one("console")?)),
            _ => Ok(Stdio::Streams(from.many("streams")?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Two {
        a: u8,
        b: Vec<u8>,
    }

    impl Descriptors<u8> for Two {
        fn pack(self, into: &mut Packer<u8>) {
            into.one("a", self.a);
            into.many("b", self.b);
        }
        fn unpack(from: &mut Unpacker<u8>) -> Result<Self, SlotError> {
            Ok(Two {
                a: from.one("a")?,
                b: from.many("b")?,
            })
        }
    }

    #[test]
    fn round_trip_by_name() {
        let (slots, fds) = pack(Two {
            a: 1,
            b: vec![2, 3],
        });
        assert_eq!(fds, vec![1, 2, 3]);
        assert_eq!(
            unpack::<_, Two>(slots, fds),
            Ok(Two {
                a: 1,
                b: vec![2, 3]
            })
        );
    }

    #[test]
    fn wrong_name_or_count_is_an_error() {
        let (mut slots, fds) = pack(Two { a: 1, b: vec![2] });
        slots[0].name = "x".into();
        assert!(matches!(
            unpack::<_, Two>(slots, fds),
            Err(SlotError::Name { .. })
        ));
        let (slots, mut fds) = pack(Two { a: 1, b: vec![2] });
        fds.pop();
        assert!(matches!(
            unpack::<_, Two>(slots, fds),
            Err(SlotError::Count { .. })
        ));
        let (slots, fds) = pack(Stdio::Streams(vec![0u8, 1, 2]));
        assert!(matches!(
            unpack::<_, NoFds>(slots, fds),
            Err(SlotError::Leftover(_))
        ));
    }
}
