//! Virtual time: a nanosecond clock and one-shot timers.
//!
//! Only guest-visible delays are modelled (cfi02 erase windows and busy
//! times). Time moves only when the driver asks: `advance` by N ns, or to the
//! next pending deadline, exactly like qtest's `clock_step`.

use serde::{Deserialize, Serialize};

/// Virtual nanoseconds.
pub type Nanos = u64;

/// A virtual clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualClock {
    now: Nanos,
}

impl VirtualClock {
    /// A clock at 0 ns.
    pub fn new() -> VirtualClock {
        VirtualClock { now: 0 }
    }

    /// Current time.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Moves the clock to `t` (never backwards).
    pub fn set(&mut self, t: Nanos) {
        debug_assert!(t >= self.now, "virtual clock moved backwards");
        self.now = self.now.max(t);
    }
}

/// A one-shot timer: at most one pending deadline (QEMU's `QEMUTimer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    deadline: Option<Nanos>,
}

impl Timer {
    /// Arms the timer for the absolute time `deadline`, replacing any pending one.
    pub fn arm(&mut self, deadline: Nanos) {
        self.deadline = Some(deadline);
    }

    /// Cancels the pending deadline, if any.
    pub fn cancel(&mut self) {
        self.deadline = None;
    }

    /// The pending deadline.
    pub fn deadline(&self) -> Option<Nanos> {
        self.deadline
    }

    /// If the deadline is at or before `t`, disarms the timer and returns the deadline.
    pub fn take_expired(&mut self, t: Nanos) -> Option<Nanos> {
        match self.deadline {
            Some(d) if d <= t => {
                self.deadline = None;
                Some(d)
            }
            _ => None,
        }
    }
}
