//! A running machine of one version: its flash devices realized with fresh
//! backing images, driven by trial ops. The trial runner talks to versions
//! only through this small interface (run ops, fork, save/load, canonical
//! state), so a version that is not an in-process model can be added later.

use crate::definitions::losses::{DeviceLoss, Loss};
use crate::definitions::versions::Version;
use crate::generation::generator::TrialOp;
use crate::running::execute::apply_op;
use crate::running::machine::{Drives, Link, Refusal, RunError, Saved, Scratch, VersionMachine};
use crate::running::observation::End;
use devices::migration::stream::PageEncoding;
use devices::migration::{Capability, Machine, MachineBuilder};
use devices::{BlockBackend, DeviceState, FlashDevice, Storage};
use std::sync::Arc;

/// A running machine.
#[derive(Debug)]
pub struct Board {
    pub version: Arc<Version>,
    /// The devices in the version's order (registration order), with the
    /// machine type they run and the ones their release would accept.
    pub machine: Machine,
    /// Scenario device index → index into the machine's devices.
    pub targets: Vec<usize>,
    /// How it passes state to a destination.
    pub link: Link,
    /// The drives as it started with them (a destination without shared
    /// storage opens its own copy of these).
    pub started_with: Vec<BlockBackend>,
}

/// Builds a version's devices for another machine type its release offers:
/// the file's properties with that machine type's compat properties (how
/// the destination would have been started with `-M <type>`).
struct VersionBuilder {
    version: Arc<Version>,
    /// The backing images the machine was started with (shared storage).
    images: Option<Vec<BlockBackend>>,
}

impl MachineBuilder for VersionBuilder {
    fn build(&self, machine_type: &str) -> Result<Vec<Box<dyn FlashDevice>>, String> {
        build_devices(&self.version, machine_type, self.images.as_deref())
    }
}

/// Realizes a version's devices for `machine_type`, on fresh images or on
/// `images` (a destination opens the source's drives: shared storage).
fn build_devices(
    version: &Version,
    machine_type: &str,
    images: Option<&[BlockBackend]>,
) -> Result<Vec<Box<dyn FlashDevice>>, String> {
    version
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let backend = match images {
                Some(images) => images[i].fork(),
                None => d.backend(),
            };
            let spec = version.spec_for(d, machine_type);
            devices::create(&spec, backend)
                .map_err(|e| format!("{}: device '{}': {e}", version.name, d.id))
        })
        .collect()
}

impl Board {
    /// Realizes every device of `version`; `targets` are the scenario's device ids.
    pub fn new(version: &Arc<Version>, targets: &[String]) -> Result<Board, String> {
        Board::with_images(version, targets, None)
    }

    /// Like [`Board::new`], but opening the given backing images.
    pub fn with_images(
        version: &Arc<Version>,
        targets: &[String],
        images: Option<Vec<BlockBackend>>,
    ) -> Result<Board, String> {
        let mut b = Board::plain(version, targets, images)?;
        // Every trial machine enables x-ignore-shared: a destination opens
        // the source's drives (shared storage), so only the pages that differ
        // from the drive image travel, and migration cost follows what the
        // guest touched rather than the flash size.
        b.machine = b
            .machine
            .with_capability(Capability::XIgnoreShared)
            .with_page_encoding(PageEncoding::Compact);
        b.link = Link::Shared;
        Ok(b)
    }

    /// Like [`Board::with_images`] but without migration capabilities, as
    /// QEMU starts: the machine real QEMU exchanges streams with (every
    /// page travels, and QEMU's own streams carry no capabilities).
    pub fn plain(
        version: &Arc<Version>,
        targets: &[String],
        images: Option<Vec<BlockBackend>>,
    ) -> Result<Board, String> {
        let devs = build_devices(version, &version.machine_type, images.as_deref())?;
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
        let offered = version.offered();
        // Pages as QEMU writes them: a plain board exchanges streams with
        // real QEMU, and QEMU 8.2 and later refuse compact uniform pages.
        let machine = Machine::new(&version.machine_type, devs)
            .with_ram_section_id(version.ram_section_id)
            .with_page_encoding(PageEncoding::Qemu)
            .with_builder(
                offered,
                Arc::new(VersionBuilder {
                    version: version.clone(),
                    images,
                }),
            );
        let started_with = machine.devices.iter().map(|d| d.backend().fork()).collect();
        Ok(Board {
            version: version.clone(),
            machine,
            targets,
            link: Link::Qemu,
            started_with,
        })
    }

    /// A destination of `dst` opening the drives of a machine of `from`
    /// (shared storage), with the link's capabilities; a refusal if the two
    /// versions are not the same board.
    pub fn opening(
        from: &Version,
        dst: &Arc<Version>,
        targets: &[String],
        drives: &[BlockBackend],
    ) -> Result<Result<Board, Refusal>, String> {
        if drives.len() != dst.devices.len() {
            return Ok(Err(Refusal::NotTheSameBoard {
                from: from.name.clone(),
                from_devices: drives.len(),
                to: dst.name.clone(),
                to_devices: dst.devices.len(),
            }));
        }
        let drives = drives.iter().map(|d| d.fork()).collect();
        Board::with_images(dst, targets, Some(drives)).map(Ok)
    }

    /// A destination of `dst` on copies of the images (by device id, in
    /// the version's order), without capabilities, as QEMU starts.
    pub fn on_copies(
        dst: &Arc<Version>,
        targets: &[String],
        images: &[(String, Vec<u8>)],
    ) -> Result<Board, String> {
        let backends = dst
            .devices
            .iter()
            .zip(images)
            .map(|(d, (_, bytes))| {
                BlockBackend::memory_from(Storage::from_bytes(bytes), !d.read_only)
            })
            .collect();
        Board::plain(dst, targets, Some(backends))
    }

    /// The devices, in registration order.
    pub fn devices(&self) -> &[Box<dyn FlashDevice>] {
        &self.machine.devices
    }

    /// The device a scenario index targets.
    pub fn target(&self, dev: usize) -> &dyn FlashDevice {
        self.machine.devices[self.targets[dev]].as_ref()
    }

    /// Applies one op (a `Migrate` marker does nothing); returns the value of a read.
    pub fn apply(&mut self, op: &TrialOp) -> Option<u64> {
        apply_op(&mut self.machine.devices, &self.targets, op)
    }

    /// An independent copy (copy-on-write: costs per touched page).
    pub fn fork(&self) -> Board {
        Board {
            version: self.version.clone(),
            machine: self.machine.fork(),
            targets: self.targets.clone(),
            link: self.link,
            started_with: self.started_with.iter().map(|d| d.fork()).collect(),
        }
    }

    fn by_id<T>(&self, f: impl Fn(&dyn FlashDevice) -> T) -> Vec<(String, T)> {
        self.version
            .devices
            .iter()
            .zip(&self.machine.devices)
            .map(|(c, d)| (c.id.clone(), f(d.as_ref())))
            .collect()
    }

    /// Canonical state of every device, by device id.
    pub fn states(&self) -> Vec<(String, DeviceState)> {
        self.by_id(|d| d.state())
    }

    /// Flash arrays by device id.
    pub fn arrays(&self) -> Vec<(String, Storage)> {
        self.by_id(|d| d.array().clone())
    }

    /// Backing images by device id.
    pub fn images(&self) -> Vec<(String, Option<Storage>)> {
        self.by_id(|d| d.backend().image().cloned())
    }
}

impl VersionMachine for Board {
    fn version(&self) -> &Arc<Version> {
        &self.version
    }

    fn machine_type(&self) -> &str {
        &self.machine.machine_type
    }

    fn apply(&mut self, op: &TrialOp) -> Result<Option<u64>, RunError> {
        Ok(Board::apply(self, op))
    }

    fn target_state(&self, dev: usize) -> Option<DeviceState> {
        Some(self.target(dev).state())
    }

    fn arrays(&self) -> Option<Vec<(String, Storage)>> {
        Some(Board::arrays(self))
    }

    fn after_hop(&mut self, loss: &DeviceLoss, lost: bool) -> Result<bool, RunError> {
        let Some(i) = self
            .version
            .devices
            .iter()
            .position(|d| d.id == loss.device)
        else {
            return Err(RunError::NoSuchDevice {
                version: self.version.name.clone(),
                device: loss.device.clone(),
            });
        };
        let dev = self.machine.devices[i].as_mut();
        let state = match (loss.loss, lost) {
            // The destination's own copy, as it started with it.
            (Loss::Image, true) => {
                dev.reopen_drive(self.started_with[i].fork());
                return Ok(true);
            }
            // Written back whole after the load.
            (Loss::Image, false) => {
                let mut drive = dev.backend().fork();
                let len = drive.size().unwrap_or(0).min(dev.array().len());
                drive.write_back(dev.array(), 0, len);
                dev.reopen_drive(drive);
                return Ok(true);
            }
            (Loss::ReadMode, false) => dev.state().with_read_mode_restored(),
            (Loss::CommandState, false) => return Ok(true),
            // Reset ran before the load: ROMD is on.
            (Loss::ReadMode, true) => dev.state().with_romd(true),
            // Nothing travelled: the state of a device just realized.
            (Loss::CommandState, true) => {
                let spec = self
                    .version
                    .spec_for(&self.version.devices[i], &self.machine.machine_type);
                devices::create(&spec, BlockBackend::none())
                    .map_err(|e| RunError::Realize(format!("{}: {e}", self.version.name)))?
                    .state()
            }
        };
        state
            .set_on(dev)
            .map_err(|e| RunError::Realize(format!("{}: {e}", self.version.name)))?;
        Ok(true)
    }

    fn pass_drives(&mut self, own_drives: bool) {
        if !own_drives {
            self.started_with = self
                .machine
                .devices
                .iter()
                .map(|d| d.backend().fork())
                .collect();
        }
    }

    fn save(&mut self, _: &Scratch) -> Result<Saved, RunError> {
        let drives = match self.link {
            Link::Shared => Drives::Shared(
                self.machine
                    .devices
                    .iter()
                    .map(|d| d.backend().fork())
                    .collect(),
            ),
            Link::Qemu => Drives::Copied(
                self.images()
                    .into_iter()
                    .map(|(id, s)| (id, s.map(|s| s.to_vec()).unwrap_or_default()))
                    .collect(),
            ),
        };
        Ok(Saved {
            from: self.version.clone(),
            stream: self.machine.save(),
            drives,
            machine_type: self.machine.machine_type.clone(),
            arrays: Some(Board::arrays(self)),
            started_with: Some(self.started_with.iter().map(|d| d.fork()).collect()),
        })
    }

    fn end(&mut self, _: &Scratch) -> Result<End, RunError> {
        Ok(End {
            version: self.version.clone(),
            arrays: Board::arrays(self),
            images: self.images(),
            states: Some(self.states()),
        })
    }
}
