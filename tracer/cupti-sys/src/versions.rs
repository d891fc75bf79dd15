//! Which record versions a CUPTI release emits, from `cuptiGetVersion`.
//!
//! CUPTI fills buffers with the newest record version it was built with. Read
//! from the headers of the PyPI wheels (`tests/layout.rs` checks this table
//! against each of them):
//!
//! | release (wheel) | API version | kernel | memcpy | memset | sync | overhead |
//! |---|---|---|---|---|---|---|
//! | 12.1 (12.1.105) | 18 | 9 | 5 | 4 | 1 | 1 |
//! | 12.4 (12.4.127), 12.6 (12.6.80) | 22, 24 | 9 | 5 | 4 | 1 | 3 |
//! | 12.8 (12.8.90), 12.9 (12.9.79) | 26, 28 | 9 | 6 | 4 | 2 | 3 |
//! | 13.0 (13.0.85) | 130001 | 10 | 6 | 4 | 2 | 3 |
//! | 13.5 (13.5.25) | 130500 | 13 | 7 | 5 | 2 | 3 |
//!
//! Releases whose headers were not checked (12.0, 12.2, 12.3, 12.5, 12.9.0,
//! 13.0.0, 13.1 to 13.4, later ones) get the layouts of the nearest checked
//! release below them and are marked unverified. Every family grew by
//! appending members, so the converter reads every release through the
//! oldest record of each family (`Kernel9`, `Memcpy5`, `Memset4`,
//! `Synchronization`, `Overhead`) and reads the overhead record's correlation
//! id only where `Overhead3` is emitted.
//!
//! CUPTI 12.0 and 12.1 report API version 18, as CUDA 11.8 does; 11.8 ships
//! as `libcupti.so.11.8`, which boundscope does not search for.

use crate::records::{StructLayout, *};

/// Kernel record version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelRecord {
    V9,
    V10,
    V13,
}

impl KernelRecord {
    /// The version number.
    pub fn number(self) -> u16 {
        match self {
            KernelRecord::V9 => 9,
            KernelRecord::V10 => 10,
            KernelRecord::V13 => 13,
        }
    }
}

/// The record layouts of one CUPTI release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordVersions {
    /// `cuptiGetVersion`.
    pub api_version: u32,
    pub kernel: KernelRecord,
    /// `CUpti_ActivityMemcpy` version: 5, 6 or 7.
    pub memcpy: u8,
    /// `CUpti_ActivityMemset` version: 4 or 5.
    pub memset: u8,
    /// `CUpti_ActivitySynchronization` version: 1 or 2.
    pub sync: u8,
    /// `CUpti_ActivityOverhead` version: 1 or 3.
    pub overhead: u8,
    /// True when these layouts were checked against that release's headers.
    pub verified: bool,
    /// Human-readable release ("12.4", "13.0", ...).
    pub release: &'static str,
}

/// CUPTI API version of CUDA 12.0 and 12.1 (the oldest releases read).
pub const MIN_API_VERSION: u32 = 18;

/// CUPTI of CUDA 13.0 before its update 1: as NVTX injection it crashes in
/// `nvtxNameOsThreadA` (NVIDIA/NVTX issue 125), so NVTX is not forwarded to it.
pub const NVTX_BROKEN_API_VERSION: u32 = 130_000;

impl RecordVersions {
    /// The layouts of the release reporting `api_version`; `None` before CUDA 12.0.
    pub fn for_api_version(api_version: u32) -> Option<RecordVersions> {
        use KernelRecord::*;
        // (kernel, memcpy, memset, sync, overhead, verified, release)
        let row = match api_version {
            v if v < MIN_API_VERSION => return None,
            18 => (V9, 5, 4, 1, 1, true, "12.0/12.1"),
            19..=21 => (V9, 5, 4, 1, 1, false, "12.2/12.3"),
            22 => (V9, 5, 4, 1, 3, true, "12.4"),
            23 => (V9, 5, 4, 1, 3, false, "12.5"),
            24 => (V9, 5, 4, 1, 3, true, "12.6"),
            25 => (V9, 5, 4, 1, 3, false, "12.7"),
            26 => (V9, 6, 4, 2, 3, true, "12.8"),
            27 => (V9, 6, 4, 2, 3, false, "12.9"),
            28 => (V9, 6, 4, 2, 3, true, "12.9 update 1"),
            v if v < 130_000 => (V9, 6, 4, 2, 3, false, "12.x"),
            130_000 => (V10, 6, 4, 2, 3, false, "13.0"),
            130_001 => (V10, 6, 4, 2, 3, true, "13.0 update 1"),
            v if v < 130_500 => (V10, 6, 4, 2, 3, false, "13.1-13.4"),
            130_500 => (V13, 7, 5, 2, 3, true, "13.5"),
            _ => (V13, 7, 5, 2, 3, false, "13.x"),
        };
        let (kernel, memcpy, memset, sync, overhead, verified, release) = row;
        Some(RecordVersions { api_version, kernel, memcpy, memset, sync, overhead, verified, release })
    }

    /// Whether overhead records carry a correlation id (`Overhead3`).
    pub fn overhead_has_correlation(&self) -> bool {
        self.overhead >= 3
    }

    /// Layouts of the records this release emits, as the layout test checks them.
    pub fn layouts(&self) -> Vec<StructLayout> {
        let mut v = vec![
            CUpti_Activity::LAYOUT,
            CUpti_ActivityAPI::LAYOUT,
            CUpti_ActivityMarker2::LAYOUT,
            CUpti_ActivityExternalCorrelation::LAYOUT,
        ];
        v.push(match self.kernel {
            KernelRecord::V9 => CUpti_ActivityKernel9::LAYOUT,
            KernelRecord::V10 => CUpti_ActivityKernel10::LAYOUT,
            KernelRecord::V13 => CUpti_ActivityKernel13::LAYOUT,
        });
        v.push(match self.memcpy {
            5 => CUpti_ActivityMemcpy5::LAYOUT,
            6 => CUpti_ActivityMemcpy6::LAYOUT,
            _ => CUpti_ActivityMemcpy7::LAYOUT,
        });
        v.push(if self.memset == 4 { CUpti_ActivityMemset4::LAYOUT } else { CUpti_ActivityMemset5::LAYOUT });
        v.push(if self.sync == 1 {
            CUpti_ActivitySynchronization::LAYOUT
        } else {
            CUpti_ActivitySynchronization2::LAYOUT
        });
        v.push(if self.overhead == 1 { CUpti_ActivityOverhead::LAYOUT } else { CUpti_ActivityOverhead3::LAYOUT });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_map_to_record_versions() {
        assert_eq!(RecordVersions::for_api_version(17), None);
        let r121 = RecordVersions::for_api_version(18).expect("12.1");
        assert_eq!((r121.kernel, r121.memcpy, r121.sync, r121.overhead), (KernelRecord::V9, 5, 1, 1));
        assert!(!r121.overhead_has_correlation());
        assert_eq!(RecordVersions::for_api_version(28).map(|r| (r.kernel, r.memcpy)), Some((KernelRecord::V9, 6)));
        assert_eq!(RecordVersions::for_api_version(130_001).map(|r| r.kernel), Some(KernelRecord::V10));
        assert_eq!(RecordVersions::for_api_version(130_500).map(|r| r.kernel), Some(KernelRecord::V13));
        let mid = RecordVersions::for_api_version(130_200).expect("13.2");
        assert_eq!((mid.kernel, mid.verified), (KernelRecord::V10, false));
        let ga = RecordVersions::for_api_version(NVTX_BROKEN_API_VERSION).expect("13.0.0");
        assert!(!ga.verified);
    }

    #[test]
    fn later_records_extend_earlier_ones() {
        // The converter reads newer records through the older prefix: every
        // member of the older record sits at the same offset in the newer one.
        let pairs = [
            (CUpti_ActivityKernel9::LAYOUT, CUpti_ActivityKernel10::LAYOUT),
            (CUpti_ActivityKernel9::LAYOUT, CUpti_ActivityKernel13::LAYOUT),
            (CUpti_ActivityMemcpy6::LAYOUT, CUpti_ActivityMemcpy7::LAYOUT),
            (CUpti_ActivityMemset4::LAYOUT, CUpti_ActivityMemset5::LAYOUT),
            (CUpti_ActivitySynchronization::LAYOUT, CUpti_ActivitySynchronization2::LAYOUT),
            (CUpti_ActivityOverhead::LAYOUT, CUpti_ActivityOverhead3::LAYOUT),
        ];
        for (old, new) in pairs {
            assert!(new.size > old.size, "{} vs {}", old.name, new.name);
            for (i, f) in old.fields.iter().enumerate() {
                assert_eq!(new.fields[i], *f, "{} in {}", f.0, new.name);
            }
        }
        // Memcpy5 names its last padding `pad2`, Memcpy6 `_pad2`: same offsets.
        let (m5, m6) = (CUpti_ActivityMemcpy5::LAYOUT, CUpti_ActivityMemcpy6::LAYOUT);
        assert!(m6.size > m5.size);
        for (a, b) in m5.fields.iter().zip(m6.fields) {
            assert_eq!(a.1, b.1, "{} / {}", a.0, b.0);
        }
    }
}
