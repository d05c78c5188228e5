//! bincode 2 decoding with a limit on what the input may make us allocate.
//!
//! bincode allocates a string's or byte vector's claimed length before reading it, so a few
//! hostile bytes claiming 2^62 would abort the process. With a limit, every claim and read is
//! counted against it and a larger claim is an error instead. The limit must be a constant in
//! bincode 2, so the input's size picks the smallest of a ladder of limits (powers of 4) that
//! is at least [`HEADROOM`] times the input (decoded values may be larger in memory than
//! encoded, varints especially): a file can make us allocate at most about 64 times its size.

use serde::de::DeserializeOwned;

/// Decoded bytes allowed per encoded byte, at least.
pub const HEADROOM: usize = 16;

/// Decodes `T` (bincode 2's standard configuration, serde) from `bytes` under a byte limit
/// derived from `bytes.len()`. Returns the value and the bytes used.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), bincode::error::DecodeError> {
    let need = bytes.len().saturating_mul(HEADROOM).max(1 << 12);
    macro_rules! ladder {
        ($($lim:literal)*) => {{
            $(
                if need <= $lim {
                    return bincode::serde::decode_from_slice(bytes, bincode::config::standard().with_limit::<$lim>());
                }
            )*
        }};
    }
    ladder!(4096 16384 65536 262144 1048576 4194304 16777216 67108864 268435456 1073741824 4294967296
            17179869184 68719476736 274877906944 1099511627776);
    Err(bincode::error::DecodeError::LimitExceeded)
}

/// A decoding error in words (bincode's `Display` is its `Debug`, e.g. `OtherString("...")`).
pub fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::OtherString(s) => s.clone(),
        E::LimitExceeded => "it claims more data than the file holds".to_string(),
        E::UnexpectedEnd { additional } => format!("it ends {additional} bytes early"),
        E::Utf8 { .. } => "a text field is not valid UTF-8".to_string(),
        E::UnexpectedVariant { found, .. } => format!("an enum tag {found} is out of range"),
        other => format!("{other:?}"),
    }
}
