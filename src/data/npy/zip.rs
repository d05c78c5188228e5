//! A minimal, strict reader of the zip files `numpy.savez` and `savez_compressed` write: the end
//! of central directory record (zip64 too), the central directory, and members stored or
//! deflated. Every offset and size is checked against the file before it is used, member data
//! must lie before the central directory, and a member's bytes are checked against its CRC-32.
//! Encrypted members, other compression methods and multi-disk archives are refused by name.
//!
//! Written here rather than taken from the `zip` crate: it is about 200 lines over `flate2`
//! (already a dependency), and its errors can name the byte and the member.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const EOCD: u32 = 0x0605_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EOCD: u32 = 0x0606_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

/// One member, as the central directory describes it.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its name (`x.npy` for the array `x`).
    pub name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    /// Its size uncompressed.
    pub size: u64,
    local: u64,
}

/// An opened zip file and its members.
pub struct Zip {
    path: PathBuf,
    file: File,
    /// The members, in central directory order.
    pub members: Vec<Member>,
    /// Where the central directory starts: every member's data lies before it.
    cd_start: u64,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"))
}

impl Zip {
    /// Opens `path` and reads its central directory.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let bad = |at: u64, m: String| Error::format(path, format!("byte {at}: {m}"));
        let read = |at: u64, n: u64| -> Result<Vec<u8>> {
            let end = at.checked_add(n).filter(|&e| e <= len);
            let Some(_) = end else {
                return Err(bad(at, format!("{n} bytes of zip structure run past the end of the file ({len} bytes)")));
            };
            let mut b = vec![0u8; n as usize];
            file.read_exact_at(&mut b, at).map_err(|e| Error::io(path, e))?;
            Ok(b)
        };
        if len < 22 {
            return Err(Error::format(path, format!("file is {len} bytes, too short for a zip (.npz) file")));
        }
        // The end record sits 22 bytes plus its comment before the end.
        let tail_len = len.min(22 + 65535);
        let tail = read(len - tail_len, tail_len)?;
        let found = (0..=tail.len() - 22)
            .rev()
            .find(|&i| u32_at(&tail, i) == EOCD && u16_at(&tail, i + 20) as usize == tail.len() - i - 22);
        let Some(i) = found else {
            return Err(Error::format(
                path,
                "no zip end-of-central-directory record: not a zip (.npz) file, or truncated",
            ));
        };
        let eocd_at = len - tail_len + i as u64;
        let e = &tail[i..i + 22];
        let (mut entries, mut cd_size, mut cd_start) =
            (u16_at(e, 10) as u64, u32_at(e, 12) as u64, u32_at(e, 16) as u64);
        let mut end = eocd_at;
        let disks = (u16_at(e, 4), u16_at(e, 6));
        if !(disks == (0, 0) || disks == (0xffff, 0xffff)) || u16_at(e, 8) as u64 != entries {
            return Err(bad(eocd_at, "a multi-disk (split) zip file is not supported".into()));
        }
        if entries == 0xffff || cd_size == 0xffff_ffff || cd_start == 0xffff_ffff {
            let loc_at = eocd_at.checked_sub(20).ok_or_else(|| bad(eocd_at, "zip64 locator missing".into()))?;
            let loc = read(loc_at, 20)?;
            if u32_at(&loc, 0) != ZIP64_LOCATOR {
                return Err(bad(loc_at, "expected the zip64 end-of-central-directory locator".into()));
            }
            let rec_at = u64_at(&loc, 8);
            if rec_at.checked_add(56).is_none_or(|e| e > loc_at) {
                return Err(bad(loc_at + 8, format!("zip64 record offset {rec_at} is not before the locator")));
            }
            let r = read(rec_at, 56)?;
            if u32_at(&r, 0) != ZIP64_EOCD {
                return Err(bad(rec_at, "expected the zip64 end-of-central-directory record".into()));
            }
            if u32_at(&r, 16) != 0 || u32_at(&r, 20) != 0 || u64_at(&r, 24) != u64_at(&r, 32) {
                return Err(bad(rec_at, "a multi-disk (split) zip file is not supported".into()));
            }
            (entries, cd_size, cd_start, end) = (u64_at(&r, 32), u64_at(&r, 40), u64_at(&r, 48), rec_at);
        }
        if cd_start.checked_add(cd_size) != Some(end) {
            return Err(bad(
                eocd_at,
                format!(
                    "the central directory ({cd_size} bytes at byte {cd_start}) does not end where its end record starts ({end})"
                ),
            ));
        }
        if entries > cd_size / 46 {
            return Err(bad(eocd_at, format!("{entries} members cannot fit in a {cd_size}-byte central directory")));
        }
        let cd = read(cd_start, cd_size)?;
        let mut members = Vec::with_capacity(entries as usize);
        let mut at = 0usize;
        for _ in 0..entries {
            let here = cd_start + at as u64;
            let m = parse_central(&cd, &mut at).map_err(|m| bad(here, m))?;
            if members.iter().any(|o: &Member| o.name == m.name) {
                return Err(bad(here, format!("the member {:?} appears twice", m.name)));
            }
            members.push(m);
        }
        if at != cd.len() {
            return Err(bad(cd_start + at as u64, "bytes left over in the central directory after its members".into()));
        }
        Ok(Self { path: path.to_path_buf(), file, members, cd_start })
    }

    /// A reader of `m`'s uncompressed bytes: exactly `m.size` of them, then [`MemberReader::finish`]
    /// checks the CRC-32.
    pub fn reader<'a>(&'a self, m: &'a Member) -> Result<MemberReader<'a>> {
        let bad = |at: u64, msg: String| Error::format(&self.path, format!("byte {at}: member {:?}: {msg}", m.name));
        let mut h = [0u8; 30];
        if m.local.checked_add(30).is_none_or(|e| e > self.cd_start) {
            return Err(bad(m.local, "its local header is not before the central directory".into()));
        }
        self.file.read_exact_at(&mut h, m.local).map_err(|e| Error::io(&self.path, e))?;
        if u32_at(&h, 0) != LOCAL {
            return Err(bad(m.local, "expected a local file header".into()));
        }
        let (n, x) = (u16_at(&h, 26) as u64, u16_at(&h, 28) as u64);
        let mut name = vec![0u8; n as usize];
        let data = m.local + 30 + n + x;
        if data.checked_add(m.compressed).is_none_or(|e| e > self.cd_start) {
            return Err(bad(m.local, format!("its {} bytes of data run into the central directory", m.compressed)));
        }
        self.file.read_exact_at(&mut name, m.local + 30).map_err(|e| Error::io(&self.path, e))?;
        if name != m.name.as_bytes() || u16_at(&h, 8) != m.method {
            return Err(bad(m.local, "the local header disagrees with the central directory (name or method)".into()));
        }
        let raw = (At { file: &self.file, pos: data }).take(m.compressed);
        let inner: Box<dyn Read + '_> = match m.method {
            0 => Box::new(raw),
            _ => Box::new(flate2::read::DeflateDecoder::new(BufReader::new(raw))),
        };
        Ok(MemberReader {
            inner,
            left: m.size,
            crc: crc32fast::Hasher::new(),
            want: m.crc,
            path: &self.path,
            name: &m.name,
        })
    }
}

/// One central directory entry at `*at`, advancing past it.
fn parse_central(cd: &[u8], at: &mut usize) -> std::result::Result<Member, String> {
    let b = cd.get(*at..*at + 46).ok_or("a central directory entry is cut short")?;
    if u32_at(b, 0) != CENTRAL {
        return Err("expected a central directory entry".into());
    }
    let (flags, method) = (u16_at(b, 8), u16_at(b, 10));
    let (n, x, c) = (u16_at(b, 28) as usize, u16_at(b, 30) as usize, u16_at(b, 32) as usize);
    let rest = cd.get(*at + 46..*at + 46 + n + x + c).ok_or("a central directory entry is cut short")?;
    let name = String::from_utf8_lossy(&rest[..n]).into_owned();
    if flags & 0x41 != 0 {
        return Err(format!("member {name:?} is encrypted"));
    }
    if method != 0 && method != 8 {
        return Err(format!("member {name:?}: compression method {method}; expected stored (0) or deflated (8)"));
    }
    let (mut compressed, mut size, mut local) = (u32_at(b, 20) as u64, u32_at(b, 24) as u64, u32_at(b, 42) as u64);
    let mut extra = &rest[n..n + x];
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        let body = extra.get(4..4 + len).ok_or(format!("member {name:?}: an extra field is cut short"))?;
        if id == 1 {
            let mut vals = body.chunks_exact(8).map(|v| u64_at(v, 0));
            for slot in [&mut size, &mut compressed, &mut local] {
                if *slot == 0xffff_ffff {
                    *slot = vals.next().ok_or(format!("member {name:?}: its zip64 extra field is cut short"))?;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    if u16_at(b, 34) != 0 && u16_at(b, 34) != 0xffff {
        return Err(format!("member {name:?} is on another disk (split zip files are not supported)"));
    }
    if method == 0 && compressed != size {
        return Err(format!("member {name:?} is stored, but its sizes differ ({compressed} and {size})"));
    }
    // Deflate expands at most about 1032 to 1 (258-byte matches in codes of 2 bits), so a larger
    // declared size is a lie that would size an allocation.
    if method != 0 && size > compressed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(64) {
        return Err(format!(
            "member {name:?} claims {size} bytes from {compressed} compressed ones, more than deflate can expand to"
        ));
    }
    *at += 46 + n + x + c;
    Ok(Member { name, method, crc: u32_at(b, 16), compressed, size, local })
}

/// Reads a file at a position of its own (no shared offset).
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Deflate's largest expansion, output bytes per input byte (1032:1, rounded up).
const MAX_DEFLATE_RATIO: u64 = 1033;

/// A member's uncompressed bytes, at most its declared size, hashed as they are read.
pub struct MemberReader<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
    crc: crc32fast::Hasher,
    want: u32,
    path: &'a Path,
    name: &'a str,
}

impl Read for MemberReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.crc.update(&buf[..got]);
        self.left -= got as u64;
        Ok(got)
    }
}

impl MemberReader<'_> {
    /// After the member's last byte: no more data, and the CRC-32 matches.
    pub fn finish(mut self) -> Result<()> {
        let err = |m: &str| Error::format(self.path, format!("member {:?}: {m}", self.name));
        let mut probe = [0u8; 1];
        let more = self.left > 0 || self.inner.read(&mut probe).map_err(|e| Error::io(self.path, e))? > 0;
        if more {
            return Err(err("its data is not the size the zip directory gives"));
        }
        if self.crc.clone().finalize() != self.want {
            return Err(err("CRC-32 mismatch (the .npz file is damaged)"));
        }
        Ok(())
    }
}
