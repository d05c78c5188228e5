//! Cells to numbers: every supported dtype to `f32` as the CSV parser would read the same number
//! written as decimal text, and a label cell to the text a CSV column would hold for it.
//!
//! Integers convert with one correct rounding (`as`, ties to even), which is what parsing their
//! decimal text gives. A `float64` is rounded as its shortest decimal text (Python's `repr`,
//! what `pandas.to_csv` writes) parses to `f32`: that is `v as f32`, except for a value exactly
//! halfway between two `f32`s, where the text (a little above or below the halfway point) decides
//! instead of ties-to-even. Such values need 25 significant bits and are rare in real data.

use super::header::{Dtype, Kind};

/// `v` rounded to `f32` as its shortest decimal text would be by `str::parse::<f32>`.
pub fn f64_to_f32(v: f64) -> f32 {
    let f = v as f32;
    if !f.is_finite() || f as f64 == v {
        return f;
    }
    let other = if (f as f64) < v { f.next_up() } else { f.next_down() };
    // Both differences are exact (the values are within one f32 step of each other).
    if other.is_finite() && (v - f as f64).abs() == (other as f64 - v).abs() {
        return format!("{v}").parse::<f32>().unwrap_or(f);
    }
    f
}

fn each<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        *o = f(c.try_into().expect("chunks of N bytes"));
    }
}

/// Decodes the whole cells in `bytes` into `out` (one value per cell). `Err(k)`: cell `k` is a
/// bool byte other than 0 or 1.
pub fn to_f32(dt: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<(), usize> {
    let be = dt.big_endian;
    macro_rules! num {
        ($t:ty, $n:literal, $conv:expr) => {
            each::<$n>(bytes, out, |c| {
                let v = if be { <$t>::from_be_bytes(c) } else { <$t>::from_le_bytes(c) };
                $conv(v)
            })
        };
    }
    match (dt.kind, dt.size) {
        (Kind::Float, 4) => num!(f32, 4, |v: f32| v),
        (Kind::Float, _) => num!(f64, 8, f64_to_f32),
        (Kind::Int, 1) => num!(i8, 1, |v: i8| v as f32),
        (Kind::Int, 2) => num!(i16, 2, |v: i16| v as f32),
        (Kind::Int, 4) => num!(i32, 4, |v: i32| v as f32),
        (Kind::Int, _) => num!(i64, 8, |v: i64| v as f32),
        (Kind::Uint, 1) => num!(u8, 1, |v: u8| v as f32),
        (Kind::Uint, 2) => num!(u16, 2, |v: u16| v as f32),
        (Kind::Uint, 4) => num!(u32, 4, |v: u32| v as f32),
        (Kind::Uint, _) => num!(u64, 8, |v: u64| v as f32),
        (Kind::Bool, _) => {
            if let Some(k) = bytes.iter().position(|&b| b > 1) {
                return Err(k);
            }
            num!(u8, 1, |v: u8| v as f32)
        }
    }
    Ok(())
}

/// A cell's bytes as one number, for looking labels up without making their text again.
pub fn key(cell: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    k[..cell.len()].copy_from_slice(cell);
    u64::from_le_bytes(k)
}

/// The class label a cell stands for, as the text a CSV target column would hold for the same
/// number (`3` for an int 3 or a float 3.0, `False`/`True` for a bool), or why it is not a class.
pub fn label_text(dt: Dtype, cell: &[u8]) -> Result<String, String> {
    let mut b = [0u8; 8];
    let n = dt.size;
    if dt.big_endian {
        b[..n].copy_from_slice(cell);
        b[..n].reverse();
    } else {
        b[..n].copy_from_slice(cell);
    }
    let raw = u64::from_le_bytes(b);
    match dt.kind {
        Kind::Uint => Ok(raw.to_string()),
        Kind::Int => {
            let shift = 64 - 8 * n as u32;
            Ok((((raw << shift) as i64) >> shift).to_string())
        }
        Kind::Bool if raw <= 1 => Ok(if raw == 1 { "True" } else { "False" }.to_string()),
        Kind::Bool => Err(format!("byte {raw:#04x} is not a bool (0 or 1)")),
        Kind::Float => {
            let v = if n == 4 { f32::from_bits(raw as u32) as f64 } else { f64::from_bits(raw) };
            if !v.is_finite() {
                Err(format!("label {v} is not a finite number"))
            } else if v.fract() != 0.0 {
                Err(format!(
                    "label {v} is not a whole number: class labels are integers (for real-valued targets, use --task regression)"
                ))
            } else if v == 0.0 {
                Ok("0".into())
            } else {
                Ok(format!("{v:.0}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float64_rounds_as_its_shortest_text_parses() {
        for v in [5.1, 0.1, 1e-40, 3.4e38, -2.5, 1.0 + 2f64.powi(-24), 1.0 + 3.0 * 2f64.powi(-24), 7e-46] {
            assert_eq!(f64_to_f32(v).to_bits(), format!("{v}").parse::<f32>().unwrap().to_bits(), "{v}");
        }
        // Exactly halfway between 1 and the next f32: ties-to-even says 1, the text says up.
        let half = 1.0 + 2f64.powi(-24);
        assert_eq!(half as f32, 1.0);
        assert_eq!(f64_to_f32(half), 1.0 + 2f32.powi(-23));
        assert!(f64_to_f32(1e39).is_infinite());
    }

    #[test]
    fn labels_read_as_a_csv_column_would_hold_them() {
        let dt = |kind, size, big_endian| Dtype { kind, size, big_endian };
        assert_eq!(label_text(dt(Kind::Int, 2, true), &(-3i16).to_be_bytes()).unwrap(), "-3");
        assert_eq!(label_text(dt(Kind::Uint, 8, false), &u64::MAX.to_le_bytes()).unwrap(), u64::MAX.to_string());
        assert_eq!(label_text(dt(Kind::Float, 8, false), &(-0.0f64).to_le_bytes()).unwrap(), "0");
        assert_eq!(label_text(dt(Kind::Float, 4, false), &1e20f32.to_le_bytes()).unwrap(), "100000002004087734272");
        assert!(label_text(dt(Kind::Float, 8, false), &0.5f64.to_le_bytes()).unwrap_err().contains("whole number"));
        assert!(label_text(dt(Kind::Float, 8, false), &f64::NAN.to_le_bytes()).unwrap_err().contains("finite"));
        assert!(label_text(dt(Kind::Bool, 1, false), &[2]).is_err());
        let mut out = [0.0; 2];
        assert_eq!(to_f32(dt(Kind::Bool, 1, false), &[1, 7], &mut out), Err(1));
        to_f32(dt(Kind::Int, 8, true), &[(-2i64).to_be_bytes(), 16777217i64.to_be_bytes()].concat(), &mut out).unwrap();
        assert_eq!(out, [-2.0, "16777217".parse::<f32>().unwrap()]);
    }
}
