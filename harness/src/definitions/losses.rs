//! What a hop may lose, device by device, from the features its versions
//! declare: each missing feature excuses one declared part of a device's
//! state, and nothing else.
//!
//! | device | missing feature | what the destination holds of it |
//! | --- | --- | --- |
//! | cfi01 | `restores-read-mode` or `migrates-command-state` | ROMD on (reset ran before the load), every other field as sent |
//! | cfi02 | `migrates-command-state` | its power-on state: command cycle, status, modes, erase queue and timers |
//! | any, on its own drives | `writes-back-image` (destination) | the image as its own copy held it: what the guest wrote before the hop is missing from it |
//!
//! The array is never excused (it travels in the RAM block), nor is the
//! image on shared storage.

use crate::definitions::features::{MIGRATES_COMMAND_STATE, RESTORES_READ_MODE, WRITES_BACK_IMAGE};
use crate::definitions::layout::{command_set, CommandSet};
use crate::definitions::versions::Version;
use std::collections::BTreeSet;
use std::fmt;

/// A declared part of one device's state that a hop does not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Loss {
    /// The read mode: the destination serves reads from the array (ROMD
    /// on) whatever mode the device was in, until the next write.
    ReadMode,
    /// The whole command state: the destination holds its power-on state
    /// (array aside).
    CommandState,
    /// The image on a destination's own drive: it stays as the copy was
    /// (no write-back after the load).
    Image,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::ReadMode => "read mode (no restores-read-mode)",
            Loss::CommandState => "command state and timers (no migrates-command-state)",
            Loss::Image => "image on its own drive (no writes-back-image)",
        })
    }
}

/// What one hop loses of one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLoss {
    pub device: String,
    pub loss: Loss,
}

impl fmt::Display for DeviceLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.device, self.loss)
    }
}

impl Version {
    /// The features of device `id` while the version runs `machine_type`
    /// (a destination keeps the machine type of the stream it accepted, so
    /// a version may run another machine type than its own; conditions are
    /// re-evaluated with that `machine-type:` symbol).
    pub fn features_running(&self, id: &str, machine_type: &str) -> BTreeSet<String> {
        let Some(d) = self.device(id) else {
            return BTreeSet::new();
        };
        if machine_type == self.machine_type {
            return d.features.clone();
        }
        let symbols = self.symbols_running(machine_type);
        d.declared_features
            .iter()
            .filter(|f| f.effective(&symbols))
            .map(|f| f.name().to_string())
            .collect()
    }
}

/// What a hop `a → b` running `machine_type` loses, device by device (every
/// device of `a`, in its order): the losses the features missing on either
/// side excuse, and with `own_drives` (no shared storage) the image of a
/// device with a drive whose destination does not write it back.
pub fn hop_losses(
    a: &Version,
    b: &Version,
    machine_type: &str,
    own_drives: bool,
) -> Vec<DeviceLoss> {
    let images = a.devices.iter().filter_map(|d| {
        let drive = b.device(&d.id).is_some_and(|x| x.image_size > 0);
        (own_drives
            && drive
            && !b
                .features_running(&d.id, machine_type)
                .contains(WRITES_BACK_IMAGE))
        .then(|| DeviceLoss {
            device: d.id.clone(),
            loss: Loss::Image,
        })
    });
    let states = a.devices.iter().filter_map(|d| {
        let set = command_set(&d.type_name)?;
        let missing = |feature: &str| {
            [a, b]
                .iter()
                .any(|v| !v.features_running(&d.id, machine_type).contains(feature))
        };
        let loss = match set {
            CommandSet::Intel if missing(RESTORES_READ_MODE) || missing(MIGRATES_COMMAND_STATE) => {
                Loss::ReadMode
            }
            CommandSet::Amd if missing(MIGRATES_COMMAND_STATE) => Loss::CommandState,
            _ => return None,
        };
        Some(DeviceLoss {
            device: d.id.clone(),
            loss,
        })
    });
    states.chain(images).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::project::{default_root, Project};

    fn losses(p: &Project, a: &str, b: &str) -> Vec<String> {
        let (a, b) = (p.version(a).unwrap(), p.version(b).unwrap());
        hop_losses(a, b, &a.machine_type, false)
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    #[test]
    fn each_missing_feature_excuses_its_own_part_of_the_state_and_nothing_else() {
        let p = Project::load(&default_root()).expect("project");
        assert_eq!(losses(&p, "v6", "v6"), Vec::<String>::new());
        let legacy = [
            "flash0: read mode (no restores-read-mode)",
            "flash1: read mode (no restores-read-mode)",
            "versatile: read mode (no restores-read-mode)",
            "musicpal: command state and timers (no migrates-command-state)",
            "bootblock: command state and timers (no migrates-command-state)",
        ];
        assert_eq!(losses(&p, "v5", "v5"), legacy);
        assert_eq!(losses(&p, "v6-compat5", "v5"), legacy);
        // v6 accepting a nor-5.0 stream runs nor-5.0: its conditional
        // features drop.
        assert_eq!(losses(&p, "v5", "v6"), legacy);
    }
}
