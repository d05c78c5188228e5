//! What this machine can hold: the bound that sizes read from a file or a flag are checked
//! against before anything is allocated for them.

/// Physical memory in bytes, from `/proc/meminfo`'s `MemTotal` (`None` where it cannot be read).
pub fn physical() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Reads all of `path` when it holds at most `cap` bytes, else an error naming the file: a
/// config, a metrics log or a checkpoint must never make an endless stream (`/dev/zero`, a FIFO
/// that never closes) fill memory.
pub fn read_capped(path: &std::path::Path, cap: u64) -> crate::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| crate::Error::io(path, e))?;
    let mut buf = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut buf).map_err(|e| crate::Error::io(path, e))?;
    if buf.len() as u64 > cap {
        return Err(crate::Error::format(path, format!("longer than {cap} bytes; refusing to read more")));
    }
    Ok(buf)
}
