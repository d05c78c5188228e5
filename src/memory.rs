//! What this machine can hold: the bound that sizes read from a file or a flag are checked
//! against before anything is allocated for them.

/// Physical memory in bytes, from `/proc/meminfo`'s `MemTotal` (`None` where it cannot be read).
pub fn physical() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
