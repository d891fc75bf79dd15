//! Which record versions a CUPTI release emits, from `cuptiGetVersion`.
//!
//! CUPTI fills buffers with the newest record version it was built with: the
//! kernel record was `Kernel9` through 12.x, `Kernel10` in 13.0 and `Kernel13`
//! in 13.5 (read from the headers of the PyPI wheels 12.9.79, 13.0.85 and
//! 13.5.25; `tests/layout.rs` checks this table against them). Releases in
//! between or after are not verified: their kernel records still begin with
//! the `Kernel9` members (CUPTI appends fields), so they are read through that
//! prefix and the collector says the layout is unverified.

use crate::records::{StructLayout, *};

/// Kernel record version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelRecord {
    V9,
    V10,
    V13,
    /// A release not checked by boundscope; only the `Kernel9` prefix is read.
    Unverified,
}

impl KernelRecord {
    /// The version number (0 for unverified).
    pub fn number(self) -> u16 {
        match self {
            KernelRecord::V9 => 9,
            KernelRecord::V10 => 10,
            KernelRecord::V13 => 13,
            KernelRecord::Unverified => 0,
        }
    }
}

/// The record layouts of one CUPTI release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordVersions {
    /// `cuptiGetVersion`.
    pub api_version: u32,
    pub kernel: KernelRecord,
    /// True when every layout below was checked against that release's headers.
    pub verified: bool,
    /// Human-readable release ("12.x", "13.0", ...).
    pub release: &'static str,
}

/// CUPTI API version of CUDA 12.0 (the oldest release whose kernel record is `Kernel9`).
pub const MIN_API_VERSION: u32 = 19;

impl RecordVersions {
    /// The layouts of the release reporting `api_version`; `None` before CUDA 12.0.
    ///
    /// API versions count 18 (CUDA 11.8) .. 28 (12.9 update 1) in 12.x, then
    /// encode the release from 13.0 on (130001 = 13.0, 130500 = 13.5).
    pub fn for_api_version(api_version: u32) -> Option<RecordVersions> {
        let (kernel, verified, release) = match api_version {
            v if v < MIN_API_VERSION => return None,
            v if v < 130_000 => (KernelRecord::V9, true, "12.x"),
            v if v < 130_100 => (KernelRecord::V10, true, "13.0"),
            v if (130_500..130_600).contains(&v) => (KernelRecord::V13, true, "13.5"),
            _ => (KernelRecord::Unverified, false, "13.x"),
        };
        Some(RecordVersions { api_version, kernel, verified, release })
    }

    /// Layouts of the records this release emits, as the layout test checks them.
    pub fn layouts(&self) -> Vec<StructLayout> {
        let mut v = vec![
            CUpti_Activity::LAYOUT,
            CUpti_ActivityAPI::LAYOUT,
            CUpti_ActivitySynchronization2::LAYOUT,
            CUpti_ActivityMarker2::LAYOUT,
            CUpti_ActivityExternalCorrelation::LAYOUT,
            CUpti_ActivityOverhead3::LAYOUT,
        ];
        match self.kernel {
            KernelRecord::V9 | KernelRecord::V10 => {
                v.push(CUpti_ActivityMemcpy6::LAYOUT);
                v.push(CUpti_ActivityMemset4::LAYOUT);
            }
            KernelRecord::V13 => {
                v.push(CUpti_ActivityMemcpy7::LAYOUT);
                v.push(CUpti_ActivityMemset5::LAYOUT);
            }
            KernelRecord::Unverified => {}
        }
        match self.kernel {
            KernelRecord::V9 => v.push(CUpti_ActivityKernel9::LAYOUT),
            KernelRecord::V10 => v.push(CUpti_ActivityKernel10::LAYOUT),
            KernelRecord::V13 => v.push(CUpti_ActivityKernel13::LAYOUT),
            KernelRecord::Unverified => {}
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_map_to_record_versions() {
        assert_eq!(RecordVersions::for_api_version(18), None);
        assert_eq!(RecordVersions::for_api_version(28).map(|r| r.kernel), Some(KernelRecord::V9));
        assert_eq!(RecordVersions::for_api_version(130_001).map(|r| r.kernel), Some(KernelRecord::V10));
        assert_eq!(RecordVersions::for_api_version(130_500).map(|r| r.kernel), Some(KernelRecord::V13));
        let mid = RecordVersions::for_api_version(130_200).expect("13.2");
        assert_eq!((mid.kernel, mid.verified), (KernelRecord::Unverified, false));
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
        ];
        for (old, new) in pairs {
            assert!(new.size > old.size, "{} vs {}", old.name, new.name);
            for (i, f) in old.fields.iter().enumerate() {
                assert_eq!(new.fields[i], *f, "{} in {}", f.0, new.name);
            }
        }
    }
}
