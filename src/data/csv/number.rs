//! A field to a finite `f32`: plain integers of up to 7 digits (exact in `f32`) without the
//! general parser, everything else through `str::parse`.

use super::reader::RecordReader;
use crate::error::Result;

impl RecordReader<'_> {
    /// Parses field `j` as a finite `f32`, naming the column in the error.
    #[inline]
    pub fn number(&self, j: usize, name: &str) -> Result<f32> {
        let b = self.field_bytes(j);
        // Fast path: a plain integer of up to 7 digits converts to f32 exactly.
        if !b.is_empty() && b.len() <= 7 {
            let mut v = 0u32;
            let mut digits = true;
            for &d in b {
                let x = d.wrapping_sub(b'0');
                digits &= x < 10;
                v = v.wrapping_mul(10).wrapping_add(x as u32);
            }
            if digits {
                return Ok(v as f32);
            }
        }
        self.number_slow(j, name)
    }

    #[cold]
    fn number_slow(&self, j: usize, name: &str) -> Result<f32> {
        let s = self.field(j);
        if s.is_empty() {
            return Err(self.error(j, format!("column {} ({name}): empty field, expected a number", j + 1)));
        }
        match s.parse::<f32>() {
            Ok(v) if v.is_finite() => Ok(v),
            Ok(_) => Err(self.error(j, format!("column {} ({name}): {s:?} is not a finite number", j + 1))),
            Err(_) => Err(self.error(j, format!("column {} ({name}): cannot parse {s:?} as a number", j + 1))),
        }
    }
}
