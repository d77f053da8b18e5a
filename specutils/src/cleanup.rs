//! A drop guard that undoes partial work unless the work completed.

/// Runs its actions, last added first, when dropped, unless released.
/// Every error path of a multi-step operation (create, restore) gets the
/// undo for free; the success path calls [`Cleanup::release`].
#[derive(Default)]
pub struct Cleanup {
    actions: Vec<Box<dyn FnOnce()>>,
}

impl Cleanup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an undo step; it runs before every step added earlier.
    pub fn add(&mut self, action: impl FnOnce() + 'static) {
        self.actions.push(Box::new(action));
    }

    /// Keeps the work: no action runs.
    pub fn release(mut self) {
        self.actions.clear();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        while let Some(action) = self.actions.pop() {
            action();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn runs_in_reverse_unless_released() {
        let log = Rc::new(RefCell::new(Vec::new()));
        {
            let mut c = Cleanup::new();
            for i in 0..3 {
                let log = log.clone();
                c.add(move || log.borrow_mut().push(i));
            }
        }
        assert_eq!(*log.borrow(), vec![2, 1, 0]);
        let mut c = Cleanup::new();
        let l = log.clone();
        c.add(move || l.borrow_mut().push(9));
        c.release();
        assert_eq!(log.borrow().len(), 3);
    }
}
