//! The protocol-buffers wire format, as much of it as an ONNX file needs: varints and
//! length-delimited fields, written field by field into a byte buffer.
//!
//! | wire type | used for | bytes |
//! | --- | --- | --- |
//! | 0, varint | `int64`, `int32`, enums | 7 bits per byte, low first, high bit set on all but the last; a negative `int64` is its two's complement, 10 bytes |
//! | 2, length-delimited | strings, bytes, nested messages | the length as a varint, then the bytes |
//!
//! A field begins with its key, `(field_number << 3) | wire_type`, as a varint. Repeated scalar
//! fields are written one key per value (proto2's unpacked form, which onnx.proto declares and
//! every parser reads). A nested message is encoded first and copied into its parent, so each
//! length is known before it is written.
//!
//! Strict: a message may not exceed [`MAX_MESSAGE`] bytes (protobuf's 2 GiB limit, which every
//! reader enforces); [`Message::finish`] refuses one that does.

use crate::error::{Error, Result};

/// The largest message protobuf readers accept: `2^31 − 1` bytes.
pub const MAX_MESSAGE: usize = i32::MAX as usize;

/// Wire type 0: a varint.
const VARINT: u32 = 0;
/// Wire type 2: a length, then that many bytes.
const LEN: u32 = 2;

/// One message being encoded: its fields' bytes, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    buf: Vec<u8>,
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes encoded so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no field has been added.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn key(&mut self, field: u32, wire: u32) {
        debug_assert!((1..1 << 29).contains(&field), "field number {field} out of range");
        push_varint(&mut self.buf, u64::from(field << 3 | wire));
    }

    /// An `int64`, `int32` or enum field (a negative value as its 64-bit two's complement).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, VARINT);
        push_varint(&mut self.buf, v as u64);
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.key(field, LEN);
        push_varint(&mut self.buf, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    /// A `string` field (UTF-8, as Rust strings are).
    pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    /// A nested message field.
    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// The encoded message, or an error naming `what` when it is larger than [`MAX_MESSAGE`].
    pub fn finish(self, what: &str) -> Result<Vec<u8>> {
        if self.buf.len() > MAX_MESSAGE {
            return Err(Error::Config(format!(
                "{what} would be {} bytes, over protobuf's limit of {MAX_MESSAGE} bytes (2 GiB) for one message",
                self.buf.len()
            )));
        }
        Ok(self.buf)
    }
}

/// Appends `v` as a varint: 7 bits per byte, least significant first.
fn push_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        push_varint(&mut b, v);
        b
    }

    #[test]
    fn varints_as_the_protobuf_documentation_writes_them() {
        // protobuf.dev/programming-guides/encoding: 1 is 01, 150 is 96 01.
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(150), [0x96, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(varint(u64::MAX), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }

    #[test]
    fn fields_carry_their_key_and_length() {
        // The documentation's `message Test1 { int32 a = 1; }` with a = 150: 08 96 01.
        let mut m = Message::new();
        m.int(1, 150);
        assert_eq!(m.clone().finish("test").unwrap(), [0x08, 0x96, 0x01]);
        // `string b = 2` = "testing": 12 07 74 65 73 74 69 6e 67.
        let mut s = Message::new();
        s.string(2, "testing");
        assert_eq!(s.clone().finish("test").unwrap(), b"\x12\x07testing");
        // A nested message `Test3 { Test1 c = 3; }`: 1a 03 08 96 01.
        let mut outer = Message::new();
        outer.message(3, &m);
        assert_eq!(outer.finish("test").unwrap(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
        // A negative int64 is ten bytes of two's complement; field 20 needs a two-byte key.
        let mut n = Message::new();
        n.int(20, -1);
        let b = n.finish("test").unwrap();
        assert_eq!(&b[..2], [0xa0, 0x01]);
        assert_eq!(b[2..], varint(u64::MAX));
    }
}
