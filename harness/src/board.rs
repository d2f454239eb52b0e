//! A running machine of one version: its flash devices realized with fresh
//! backing images, driven by trial ops. The trial runner talks to versions
//! only through this small interface (run ops, fork, save/load, canonical
//! state), so a version that is not an in-process model can be added later.

use crate::generator::TrialOp;
use crate::machines::Version;
use devices::{bus_read, bus_write, DeviceState, FlashDevice, Storage};
use std::sync::Arc;

/// A running machine.
#[derive(Debug)]
pub struct Board {
    pub version: Arc<Version>,
    /// Devices in the version's order (registration order).
    pub devices: Vec<Box<dyn FlashDevice>>,
    /// Scenario device index → index into `devices`.
    pub targets: Vec<usize>,
}

/// Why a migration did not happen: the destination refused the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
}

impl Board {
    /// Realizes every device of `version`; `targets` are the scenario's device ids.
    pub fn new(version: &Arc<Version>, targets: &[String]) -> Result<Board, String> {
        let mut devs = Vec::with_capacity(version.devices.len());
        for d in &version.devices {
            let dev = devices::create(&d.spec, d.backend())
                .map_err(|e| format!("{}: device '{}': {e}", version.name, d.id))?;
            devs.push(dev);
        }
        let targets = targets
            .iter()
            .map(|id| {
                version
                    .devices
                    .iter()
                    .position(|d| &d.id == id)
                    .ok_or_else(|| format!("version {} has no device '{id}'", version.name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Board {
            version: version.clone(),
            devices: devs,
            targets,
        })
    }

    /// Applies one op (not `Migrate`); returns the value of a read.
    pub fn apply(&mut self, op: &TrialOp) -> Option<u64> {
        match op {
            TrialOp::Write {
                dev,
                addr,
                width,
                val,
            } => {
                bus_write(
                    self.devices[self.targets[*dev]].as_mut(),
                    *addr,
                    *width,
                    *val,
                );
                None
            }
            TrialOp::Read { dev, addr, width } => Some(bus_read(
                self.devices[self.targets[*dev]].as_mut(),
                *addr,
                *width,
            )),
            TrialOp::Step { ns } => {
                let by = match ns {
                    Some(ns) => *ns,
                    // qtest's bare clock_step: to the earliest deadline of any device.
                    None => self
                        .devices
                        .iter()
                        .filter_map(|d| d.next_deadline().map(|t| t.saturating_sub(d.now())))
                        .min()
                        .unwrap_or(0),
                };
                for d in &mut self.devices {
                    d.advance(by);
                }
                None
            }
            TrialOp::Reset => {
                for d in &mut self.devices {
                    d.reset();
                }
                None
            }
            TrialOp::Migrate => None,
        }
    }

    /// An independent copy (copy-on-write: costs per touched page).
    pub fn fork(&self) -> Board {
        Board {
            version: self.version.clone(),
            devices: self.devices.iter().map(|d| d.fork()).collect(),
            targets: self.targets.clone(),
        }
    }

    /// Canonical state of every device, by device id.
    pub fn states(&self) -> Vec<(String, DeviceState)> {
        self.version
            .devices
            .iter()
            .zip(&self.devices)
            .map(|(c, d)| (c.id.clone(), d.state()))
            .collect()
    }

    /// Flash arrays by device id.
    pub fn arrays(&self) -> Vec<(String, Storage)> {
        self.version
            .devices
            .iter()
            .zip(&self.devices)
            .map(|(c, d)| (c.id.clone(), d.array().clone()))
            .collect()
    }

    /// Backing images by device id.
    pub fn images(&self) -> Vec<(String, Option<Storage>)> {
        self.version
            .devices
            .iter()
            .zip(&self.devices)
            .map(|(c, d)| (c.id.clone(), d.backend().image().cloned()))
            .collect()
    }
}

/// Migrates `src` to a fresh machine of version `dst`: save on the source,
/// load on the destination. The source is never modified; on refusal the
/// caller keeps running it.
pub fn migrate(src: &Board, dst: &Arc<Version>) -> Result<Board, Refusal> {
    if !dst
        .release
        .offers
        .contains(&src.version.machine_type.as_str())
    {
        return Err(Refusal {
            reason: format!(
                "Machine type received is '{}' and local is '{}' (release {} offers {})",
                src.version.machine_type,
                dst.machine_type,
                dst.release.name,
                dst.release.offers.join(", ")
            ),
        });
    }
    if src.version.release.name != dst.release.name {
        return Err(Refusal {
            reason: format!(
                "migration between releases {} and {} needs the migration stream",
                src.version.release.name, dst.release.name
            ),
        });
    }
    Ok(Board {
        version: dst.clone(),
        devices: src.devices.iter().map(|d| d.migrated()).collect(),
        targets: src.targets.clone(),
    })
}
