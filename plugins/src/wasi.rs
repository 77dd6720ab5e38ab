//! The WASI preview 1 calls a plugin may import, implemented by the host
//! over in-memory pipes.
//!
//! This is deliberately not wasmtime-wasi: the allow-list is short enough to
//! write out, and writing it out means the sandbox holds exactly these calls
//! and nothing that a future default could open (a preopened directory, the
//! real clock, the host's environment). Each call checks every guest pointer
//! and answers a bad one with `EFAULT`; none of them blocks, so a plugin can
//! never sit in a host call out of reach of its fuel and its deadline.

use wasmtime::{Caller, Extern, Linker, Memory, ValType};

use crate::host::CallState;

/// The module name every allowed import comes from.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The instant `clock_time_get` always answers: 2024-01-01T00:00:00Z, in
/// nanoseconds. A plugin gets the day of a decision in its input; a clock of
/// its own would make decisions impossible to replay.
pub const FIXED_TIME_NS: u64 = 1_704_067_200_000_000_000;

const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EFAULT: i32 = 21;
const EINVAL: i32 = 28;
const ESPIPE: i32 = 70;

/// `proc_exit` unwinds the guest with this error, carrying the status.
#[derive(Debug)]
pub struct Exit(pub i32);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exited with status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// A write to stdout past the output cap unwinds the guest with this error,
/// so that a megabyte of output costs the host no more than the cap.
#[derive(Debug)]
pub struct OutputTooLarge(pub usize);

impl std::fmt::Display for OutputTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes of output", self.0)
    }
}

impl std::error::Error for OutputTooLarge {}

/// The allowed imports with their WebAssembly signatures, in the order of
/// the documentation.
pub fn allowed() -> &'static [(&'static str, &'static [ValType], &'static [ValType])] {
    use ValType::{I32, I64};
    &[
        ("fd_read", &[I32, I32, I32, I32], &[I32]),
        ("fd_write", &[I32, I32, I32, I32], &[I32]),
        ("fd_fdstat_get", &[I32, I32], &[I32]),
        ("fd_close", &[I32], &[I32]),
        ("fd_seek", &[I32, I64, I32, I32], &[I32]),
        ("fd_prestat_get", &[I32, I32], &[I32]),
        ("fd_prestat_dir_name", &[I32, I32, I32], &[I32]),
        ("environ_sizes_get", &[I32, I32], &[I32]),
        ("environ_get", &[I32, I32], &[I32]),
        ("args_sizes_get", &[I32, I32], &[I32]),
        ("args_get", &[I32, I32], &[I32]),
        ("proc_exit", &[I32], &[]),
        ("clock_time_get", &[I32, I64, I32], &[I32]),
        ("random_get", &[I32, I32], &[I32]),
    ]
}

fn memory(caller: &mut Caller<'_, CallState>) -> Option<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Some(memory),
        _ => None,
    }
}

/// A guest range `[ptr, ptr + len)` as host indices, or `None` when it does
/// not lie inside a memory of `size` bytes.
fn range(ptr: i32, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let start = u32::try_from(ptr).ok()? as usize;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= size).then_some(start..end)
}

fn write_bytes(data: &mut [u8], ptr: i32, bytes: &[u8]) -> bool {
    match range(ptr, bytes.len() as u64, data.len()) {
        Some(r) => {
            data[r].copy_from_slice(bytes);
            true
        }
        None => false,
    }
}

fn read_u32(data: &[u8], ptr: u64) -> Option<u32> {
    let start = usize::try_from(ptr).ok()?;
    let bytes = data.get(start..start.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// The `(ptr, len)` pairs of an iovec array, or `None` when it is out of bounds.
fn iovecs(data: &[u8], iovs: i32, count: i32) -> Option<Vec<(u32, u32)>> {
    let base = u64::from(u32::try_from(iovs).ok()?);
    let count = u32::try_from(count).ok()?;
    // A plugin cannot make the host allocate more than its own memory holds.
    if u64::from(count) * 8 > data.len() as u64 {
        return None;
    }
    (0..u64::from(count))
        .map(|i| {
            let at = base + i * 8;
            Some((read_u32(data, at)?, read_u32(data, at + 4)?))
        })
        .collect()
}

/// Writes two zero counts (no arguments, no environment).
fn two_zeros(mut caller: Caller<'_, CallState>, a: i32, b: i32) -> i32 {
    let Some(memory) = memory(&mut caller) else {
        return EFAULT;
    };
    let data = memory.data_mut(&mut caller);
    if write_bytes(data, a, &0u32.to_le_bytes()) && write_bytes(data, b, &0u32.to_le_bytes()) {
        ESUCCESS
    } else {
        EFAULT
    }
}

fn fd_read(mut caller: Caller<'_, CallState>, fd: i32, iovs: i32, count: i32, out: i32) -> i32 {
    if fd != 0 {
        return EBADF;
    }
    let Some(memory) = memory(&mut caller) else {
        return EFAULT;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(vecs) = iovecs(data, iovs, count) else {
        return EFAULT;
    };
    let mut total: u32 = 0;
    for (ptr, len) in vecs {
        let rest = &state.stdin[state.stdin_pos.min(state.stdin.len())..];
        let n = rest.len().min(len as usize);
        let Some(r) = range(ptr as i32, n as u64, data.len()) else {
            return EFAULT;
        };
        data[r].copy_from_slice(&rest[..n]);
        state.stdin_pos += n;
        total = total.saturating_add(n as u32);
        if n < len as usize {
            break;
        }
    }
    if write_bytes(data, out, &total.to_le_bytes()) {
        ESUCCESS
    } else {
        EFAULT
    }
}

fn fd_write(
    mut caller: Caller<'_, CallState>,
    fd: i32,
    iovs: i32,
    count: i32,
    out: i32,
) -> wasmtime::Result<i32> {
    if fd != 1 && fd != 2 {
        return Ok(EBADF);
    }
    let Some(memory) = memory(&mut caller) else {
        return Ok(EFAULT);
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(vecs) = iovecs(data, iovs, count) else {
        return Ok(EFAULT);
    };
    let mut total: u32 = 0;
    for (ptr, len) in vecs {
        let Some(r) = range(ptr as i32, u64::from(len), data.len()) else {
            return Ok(EFAULT);
        };
        let bytes = &data[r];
        if fd == 1 {
            if state.stdout.len() + bytes.len() > state.max_output {
                return Err(wasmtime::Error::new(OutputTooLarge(state.max_output)));
            }
            state.stdout.extend_from_slice(bytes);
        } else {
            // The log is for the author's eyes only and is cut, not refused:
            // a chatty plugin still gives its answer.
            let room = state.max_log.saturating_sub(state.stderr.len());
            state
                .stderr
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        total = total.saturating_add(len);
    }
    Ok(if write_bytes(data, out, &total.to_le_bytes()) {
        ESUCCESS
    } else {
        EFAULT
    })
}

fn fd_fdstat_get(mut caller: Caller<'_, CallState>, fd: i32, out: i32) -> i32 {
    // Rights bits of WASI preview 1: fd_read is 1 << 1, fd_write is 1 << 6.
    let rights: u64 = match fd {
        0 => 1 << 1,
        1 | 2 => 1 << 6,
        _ => return EBADF,
    };
    let Some(memory) = memory(&mut caller) else {
        return EFAULT;
    };
    // fdstat: filetype u8 (0, unknown: not a terminal, so libc buffers fully),
    // flags u16, then the base and inheriting rights as u64 at offsets 8, 16.
    let mut stat = [0u8; 24];
    stat[8..16].copy_from_slice(&rights.to_le_bytes());
    if write_bytes(memory.data_mut(&mut caller), out, &stat) {
        ESUCCESS
    } else {
        EFAULT
    }
}

fn on_stdio(fd: i32, answer: i32) -> i32 {
    if (0..=2).contains(&fd) {
        answer
    } else {
        EBADF
    }
}

fn clock_time_get(mut caller: Caller<'_, CallState>, id: i32, _precision: i64, out: i32) -> i32 {
    // The four preview 1 clocks are 0..=3; any other id is invalid.
    if !(0..=3).contains(&id) {
        return EINVAL;
    }
    let Some(memory) = memory(&mut caller) else {
        return EFAULT;
    };
    if write_bytes(
        memory.data_mut(&mut caller),
        out,
        &FIXED_TIME_NS.to_le_bytes(),
    ) {
        ESUCCESS
    } else {
        EFAULT
    }
}

fn random_get(mut caller: Caller<'_, CallState>, buf: i32, len: i32) -> i32 {
    let Some(memory) = memory(&mut caller) else {
        return EFAULT;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(r) = range(buf, u64::from(len as u32), data.len()) else {
        return EFAULT;
    };
    // xorshift64*, seeded the same for every call: "random" bytes that are
    // the same on every run, so that a decision can be replayed.
    for byte in &mut data[r] {
        let mut x = state.random;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.random = x;
        *byte = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    ESUCCESS
}

/// Adds the allowed calls to a linker. Nothing else is ever added, so a
/// module that slipped past validation still could not link anything more.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "fd_read", fd_read)?;
    linker.func_wrap(MODULE, "fd_write", fd_write)?;
    linker.func_wrap(MODULE, "fd_fdstat_get", fd_fdstat_get)?;
    linker.func_wrap(MODULE, "fd_close", |_: Caller<'_, CallState>, fd: i32| {
        on_stdio(fd, ESUCCESS)
    })?;
    linker.func_wrap(
        MODULE,
        "fd_seek",
        |_: Caller<'_, CallState>, fd: i32, _offset: i64, _whence: i32, _out: i32| {
            on_stdio(fd, ESPIPE)
        },
    )?;
    // No descriptor is preopened: libc asks from 3 upwards and stops at EBADF.
    linker.func_wrap(
        MODULE,
        "fd_prestat_get",
        |_: Caller<'_, CallState>, _: i32, _: i32| EBADF,
    )?;
    linker.func_wrap(
        MODULE,
        "fd_prestat_dir_name",
        |_: Caller<'_, CallState>, _: i32, _: i32, _: i32| EBADF,
    )?;
    linker.func_wrap(MODULE, "environ_sizes_get", two_zeros)?;
    linker.func_wrap(
        MODULE,
        "environ_get",
        |_: Caller<'_, CallState>, _: i32, _: i32| ESUCCESS,
    )?;
    linker.func_wrap(MODULE, "args_sizes_get", two_zeros)?;
    linker.func_wrap(
        MODULE,
        "args_get",
        |_: Caller<'_, CallState>, _: i32, _: i32| ESUCCESS,
    )?;
    linker.func_wrap(
        MODULE,
        "proc_exit",
        |_: Caller<'_, CallState>, status: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(Exit(status)))
        },
    )?;
    linker.func_wrap(MODULE, "clock_time_get", clock_time_get)?;
    linker.func_wrap(MODULE, "random_get", random_get)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_escape_memory() {
        assert_eq!(range(0, 4, 4), Some(0..4));
        assert_eq!(range(1, 4, 4), None);
        assert_eq!(range(-1, 1, 1 << 20), None);
        assert_eq!(range(i32::MAX, u64::MAX, usize::MAX), None);
    }

    #[test]
    fn iovec_arrays_are_bounded_by_memory() {
        let mut data = vec![0u8; 16];
        data[0..4].copy_from_slice(&8u32.to_le_bytes());
        data[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(iovecs(&data, 0, 1), Some(vec![(8, 3)]));
        assert_eq!(iovecs(&data, 12, 1), None);
        assert_eq!(iovecs(&data, 0, i32::MAX), None);
        assert_eq!(iovecs(&data, 0, -1), None);
    }
}
