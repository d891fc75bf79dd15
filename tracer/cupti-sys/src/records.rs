//! CUPTI activity record layouts, field for field as in `cupti_activity.h`
//! (C field names kept so the layout test can name them in C).
//!
//! CUPTI declares records `__attribute__((packed, aligned(8)))` and pads them
//! by hand so that every member is naturally aligned; `#[repr(C, align(8))]`
//! gives the same layout, which `tests/layout.rs` checks against the real
//! headers (size and every offset). Fields whose name starts with `_` are
//! padding or flags that CUPTI renamed between releases: opaque here, and not
//! compared by name (the total size still is).
//!
//! Kernel records grew by appending: `Kernel10` and `Kernel13` start with
//! every field of `Kernel9` at the same offset, which is what lets one
//! converter read all three (the fields it reads lie in that common prefix).
//! The same holds for `Memcpy5`/`Memcpy6`/`Memcpy7`, `Memset4`/`Memset5`,
//! `Synchronization`/`Synchronization2` and `Overhead`/`Overhead3`: the
//! converter reads every release through the oldest of each family.
//!
//! Records are built without `unsafe`: `Default` gives the all-zero record and
//! `to_bytes` its bytes as they lie in a CUPTI buffer (every member is an
//! integer, an array of them or a raw pointer: see [`Member`]).

use std::ffi::{c_char, c_void};

/// A record layout as the layout test sees it.
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    /// The C type name.
    pub name: &'static str,
    pub size: usize,
    /// (member name, offset), in declaration order; names starting with `_` are
    /// opaque padding whose C name differs between releases.
    pub fields: &'static [(&'static str, usize)],
}

/// A record member: integers, arrays of them, and raw pointers. Gives the
/// all-zero value and the in-memory bytes without `unsafe`, so that records
/// can be built and laid into buffers (tests, stand-ins) soundly.
pub trait Member: Copy {
    /// The all-zero value (null for pointers).
    fn zero() -> Self;
    /// Writes the native-endian bytes of the value to the start of `out`.
    fn put(&self, out: &mut [u8]);
}

macro_rules! int_member {
    ($($t:ty),*) => {$(
        impl Member for $t {
            fn zero() -> Self {
                0
            }
            fn put(&self, out: &mut [u8]) {
                out[..size_of::<$t>()].copy_from_slice(&self.to_ne_bytes());
            }
        }
    )*};
}
int_member!(u8, u16, u32, u64, i32, i64);

impl<T: Member, const N: usize> Member for [T; N] {
    fn zero() -> Self {
        [T::zero(); N]
    }
    fn put(&self, out: &mut [u8]) {
        for (i, v) in self.iter().enumerate() {
            v.put(&mut out[i * size_of::<T>()..]);
        }
    }
}

impl<T> Member for *const T {
    fn zero() -> Self {
        std::ptr::null()
    }
    fn put(&self, out: &mut [u8]) {
        (*self as usize).put(out);
    }
}

impl<T> Member for *mut T {
    fn zero() -> Self {
        std::ptr::null_mut()
    }
    fn put(&self, out: &mut [u8]) {
        (*self as usize).put(out);
    }
}

impl Member for usize {
    fn zero() -> Self {
        0
    }
    fn put(&self, out: &mut [u8]) {
        out[..size_of::<usize>()].copy_from_slice(&self.to_ne_bytes());
    }
}

macro_rules! cupti_struct {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[repr(C, align(8))]
        #[derive(Debug, Clone, Copy)]
        pub struct $name { $(pub $field: $ty),* }

        impl $name {
            /// Size and member offsets, for the layout test.
            pub const LAYOUT: StructLayout = StructLayout {
                name: stringify!($name),
                size: std::mem::size_of::<$name>(),
                fields: &[$((stringify!($field), std::mem::offset_of!($name, $field))),*],
            };

            /// The record's bytes as CUPTI lays it into a buffer (padding zero).
            pub fn to_bytes(&self) -> Vec<u8> {
                let mut out = vec![0u8; size_of::<$name>()];
                $(Member::put(&self.$field, &mut out[std::mem::offset_of!($name, $field)..]);)*
                out
            }
        }

        impl Default for $name {
            /// Every member zero (pointers null).
            fn default() -> Self {
                $name { $($field: <$ty as Member>::zero()),* }
            }
        }
    };
}

/// Feeds the members of `CUpti_ActivityKernel9`, then `$extra`, to `cupti_struct!`.
macro_rules! with_kernel9_members {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        cupti_struct! {
            $(#[$meta])*
            $name {
                kind: u32,
                cacheConfig: u8,
                sharedMemoryConfig: u8,
                registersPerThread: u16,
                partitionedGlobalCacheRequested: u32,
                partitionedGlobalCacheExecuted: u32,
                start: u64,
                end: u64,
                completed: u64,
                deviceId: u32,
                contextId: u32,
                streamId: u32,
                gridX: i32,
                gridY: i32,
                gridZ: i32,
                blockX: i32,
                blockY: i32,
                blockZ: i32,
                staticSharedMemory: i32,
                dynamicSharedMemory: i32,
                localMemoryPerThread: u32,
                localMemoryTotal: u32,
                correlationId: u32,
                gridId: i64,
                name: *const c_char,
                reserved0: *mut c_void,
                queued: u64,
                submitted: u64,
                launchType: u8,
                isSharedMemoryCarveoutRequested: u8,
                sharedMemoryCarveoutRequested: u8,
                padding: u8,
                sharedMemoryExecuted: u32,
                graphNodeId: u64,
                shmemLimitConfig: u32,
                graphId: u32,
                pAccessPolicyWindow: *mut c_void,
                channelID: u32,
                channelType: u32,
                clusterX: u32,
                clusterY: u32,
                clusterZ: u32,
                clusterSchedulingPolicy: u32,
                localMemoryTotal_v2: u64,
                maxPotentialClusterSize: u32,
                maxActiveClusters: u32,
                $($extra)*
            }
        }
    };
}

/// Feeds the members of `CUpti_ActivityMemcpy6`, then `$extra`, to `cupti_struct!`.
macro_rules! with_memcpy6_members {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        cupti_struct! {
            $(#[$meta])*
            $name {
                kind: u32,
                copyKind: u8,
                srcKind: u8,
                dstKind: u8,
                flags: u8,
                bytes: u64,
                start: u64,
                end: u64,
                deviceId: u32,
                contextId: u32,
                streamId: u32,
                correlationId: u32,
                runtimeCorrelationId: u32,
                pad: u32,
                reserved0: *mut c_void,
                graphNodeId: u64,
                graphId: u32,
                channelID: u32,
                channelType: u32,
                // `pad2` in 12.x; `isDeviceLaunched` + `pad2[3]` from 13.0.
                _pad2: [u8; 4],
                copyCount: u64,
                $($extra)*
            }
        }
    };
}

/// Feeds the members of `CUpti_ActivityMemset4`, then `$extra`, to `cupti_struct!`.
macro_rules! with_memset4_members {
    ($(#[$meta:meta])* $name:ident { $($extra:tt)* }) => {
        cupti_struct! {
            $(#[$meta])*
            $name {
                kind: u32,
                value: u32,
                bytes: u64,
                start: u64,
                end: u64,
                deviceId: u32,
                contextId: u32,
                streamId: u32,
                correlationId: u32,
                flags: u16,
                memoryKind: u16,
                pad: u32,
                reserved0: *mut c_void,
                graphNodeId: u64,
                graphId: u32,
                channelID: u32,
                channelType: u32,
                // `pad2` in 12.x; `isDeviceLaunched` + `pad2[3]` from 13.0.
                _pad2: [u8; 4],
                $($extra)*
            }
        }
    };
}

cupti_struct! {
    /// `CUpti_Activity`: the common head of every record.
    CUpti_Activity { kind: u32 }
}

with_kernel9_members! {
    /// Kernel record emitted by CUPTI 12.x (CONCURRENT_KERNEL).
    CUpti_ActivityKernel9 {}
}

with_kernel9_members! {
    /// Kernel record emitted by CUPTI 13.0.
    CUpti_ActivityKernel10 {
        isDeviceLaunched: u8,
        padding3: [u8; 7],
    }
}

with_kernel9_members! {
    /// Kernel record emitted by CUPTI 13.5.
    CUpti_ActivityKernel13 {
        isDeviceLaunched: u8,
        padding3: [u8; 7],
        priority: i32,
        padding4: u32,
        executionModel: u32,
        padding5: u32,
        sourceGraphId: u32,
        padding6: u32,
        sourceGraphNodeId: u64,
    }
}

cupti_struct! {
    /// Memory copy record of CUPTI 12.0 to 12.7: `Memcpy6` without `copyCount`.
    CUpti_ActivityMemcpy5 {
        kind: u32,
        copyKind: u8,
        srcKind: u8,
        dstKind: u8,
        flags: u8,
        bytes: u64,
        start: u64,
        end: u64,
        deviceId: u32,
        contextId: u32,
        streamId: u32,
        correlationId: u32,
        runtimeCorrelationId: u32,
        pad: u32,
        reserved0: *mut c_void,
        graphNodeId: u64,
        graphId: u32,
        channelID: u32,
        channelType: u32,
        pad2: u32,
    }
}

with_memcpy6_members! {
    /// Memory copy record of CUPTI 12.8, 12.9 and 13.0.
    CUpti_ActivityMemcpy6 {}
}

with_memcpy6_members! {
    /// Memory copy record of CUPTI 13.5.
    CUpti_ActivityMemcpy7 {
        sourceGraphId: u32,
        pad3: u32,
        sourceGraphNodeId: u64,
    }
}

with_memset4_members! {
    /// Memory set record of CUPTI 12.x and 13.0.
    CUpti_ActivityMemset4 {}
}

with_memset4_members! {
    /// Memory set record of CUPTI 13.5.
    CUpti_ActivityMemset5 {
        sourceGraphId: u32,
        pad3: u32,
        sourceGraphNodeId: u64,
    }
}

cupti_struct! {
    /// Runtime or driver API call (RUNTIME / DRIVER), unchanged from 12.0 to 13.5.
    CUpti_ActivityAPI {
        kind: u32,
        cbid: u32,
        start: u64,
        end: u64,
        processId: u32,
        threadId: u32,
        correlationId: u32,
        returnValue: u32,
    }
}

cupti_struct! {
    /// Host synchronization (SYNCHRONIZATION) of CUPTI 12.0 to 12.7.
    CUpti_ActivitySynchronization {
        kind: u32,
        r#type: u32,
        start: u64,
        end: u64,
        correlationId: u32,
        contextId: u32,
        streamId: u32,
        cudaEventId: u32,
    }
}

cupti_struct! {
    /// Host synchronization (SYNCHRONIZATION) from CUPTI 12.8 on.
    CUpti_ActivitySynchronization2 {
        kind: u32,
        r#type: u32,
        start: u64,
        end: u64,
        correlationId: u32,
        contextId: u32,
        streamId: u32,
        cudaEventId: u32,
        cudaEventSyncId: u64,
        returnValue: u32,
        pad: u32,
    }
}

cupti_struct! {
    /// NVTX marker (MARKER): start, end or instant.
    CUpti_ActivityMarker2 {
        kind: u32,
        flags: u32,
        timestamp: u64,
        id: u32,
        objectKind: u32,
        // CUpti_ActivityObjectKindId: pt {processId, threadId} or dcs {deviceId, contextId, streamId}.
        objectId: [u32; 3],
        pad: u32,
        name: *const c_char,
        domain: *const c_char,
    }
}

cupti_struct! {
    /// Links a correlation id to an external (framework) id (EXTERNAL_CORRELATION).
    CUpti_ActivityExternalCorrelation {
        kind: u32,
        externalKind: u32,
        externalId: u64,
        correlationId: u32,
        reserved: u32,
    }
}

cupti_struct! {
    /// CUPTI's own overhead (OVERHEAD) of CUPTI 12.0 and 12.1: no correlation id.
    CUpti_ActivityOverhead {
        kind: u32,
        overheadKind: u32,
        objectKind: u32,
        objectId: [u32; 3],
        start: u64,
        end: u64,
    }
}

cupti_struct! {
    /// CUPTI's own overhead (OVERHEAD) from CUPTI 12.4 on.
    CUpti_ActivityOverhead3 {
        kind: u32,
        overheadKind: u32,
        objectKind: u32,
        objectId: [u32; 3],
        start: u64,
        end: u64,
        correlationId: u32,
        reserved0: u32,
        overheadData: *mut c_void,
    }
}
