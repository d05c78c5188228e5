//! The `.npy` header: the magic `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the header's length
//! (`u16` for 1.0, `u32` after), then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (150, 4), }` padded with spaces and ended
//! by a newline. Parsed strictly: exactly those three keys, once each; a plain numeric `descr`;
//! `True`/`False`; a tuple of non-negative integers; nothing after the dict but whitespace.

/// The first 6 bytes of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// The longest header read (NumPy itself refuses headers over 10,000 bytes by default).
const MAX_HEADER: usize = 1 << 20;
/// How deeply lists, tuples and dicts may nest in a header (a structured `descr` nests).
const MAX_DEPTH: usize = 16;

/// What one cell is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// IEEE float, 4 or 8 bytes.
    Float,
    /// Signed integer, 1, 2, 4 or 8 bytes.
    Int,
    /// Unsigned integer, 1, 2, 4 or 8 bytes.
    Uint,
    /// NumPy's bool: one byte, 0 or 1.
    Bool,
}

/// A cell's type: kind, size in bytes and byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// What the bytes mean.
    pub kind: Kind,
    /// Bytes per cell.
    pub size: usize,
    /// Most significant byte first.
    pub big_endian: bool,
}

impl Dtype {
    /// Whether cells are `f32` in this host's byte order (so the data can be viewed in place).
    pub fn is_native_f32(&self) -> bool {
        self.kind == Kind::Float && self.size == 4 && self.big_endian == cfg!(target_endian = "big")
    }
}

/// A parsed header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The `descr` string as written (for messages).
    pub descr: String,
    /// The cell type.
    pub dtype: Dtype,
    /// Column-major (`fortran_order: True`).
    pub fortran: bool,
    /// The dimensions.
    pub shape: Vec<u64>,
    /// Byte offset of the data: the magic, version, length field and header text.
    pub data_offset: u64,
    /// Bytes of data the shape and type announce (checked arithmetic).
    pub data_len: u64,
}

impl Header {
    /// The shape as NumPy prints it: `(150, 4)`, `(150,)`.
    pub fn shape_text(&self) -> String {
        match self.shape.as_slice() {
            [one] => format!("({one},)"),
            s => format!("({})", s.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// How many bytes the fixed part takes before the dict (magic, version, length) for the
/// version in `pre` (its first 8 bytes), or an error message with its byte offset.
pub fn prefix_len(pre: &[u8]) -> Result<usize, (u64, String)> {
    if pre.len() < 8 || &pre[..6] != MAGIC {
        let what = if pre.len() < 6 { "too short" } else { "the magic is missing" };
        return Err((0, format!("not a NumPy .npy array ({what}: expected the bytes \\x93NUMPY first)")));
    }
    match (pre[6], pre[7]) {
        (1, 0) => Ok(10),
        (2, 0) | (3, 0) => Ok(12),
        (major, minor) => Err((6, format!("format version {major}.{minor}; this build reads 1.0, 2.0 and 3.0"))),
    }
}

/// Parses the header at the start of `bytes` (which holds at least the prefix and the dict).
/// Errors are a byte offset and a message.
pub fn parse(bytes: &[u8]) -> Result<Header, (u64, String)> {
    let prefix = prefix_len(bytes)?;
    if bytes.len() < prefix {
        return Err((8, "the header length field is cut short".into()));
    }
    let len = if prefix == 10 {
        u16::from_le_bytes([bytes[8], bytes[9]]) as usize
    } else {
        u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
    };
    if len > MAX_HEADER {
        return Err((8, format!("header length {len} bytes; at most {MAX_HEADER} are read")));
    }
    let text = bytes.get(prefix..prefix + len).ok_or_else(|| {
        (prefix as u64, format!("the header says {len} bytes of header text, but the file ends first"))
    })?;
    let mut p = Parser { text, at: 0, base: prefix as u64 };
    let dict = p.dict_entries(0)?;
    p.ws();
    if p.at != text.len() {
        return Err(p.err(format!("{:?} after the header's dict: expected only spaces and a newline", p.peek_char())));
    }
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, at, value) in dict {
        let slot = match key.as_str() {
            "descr" => descr.is_some(),
            "fortran_order" => fortran.is_some(),
            "shape" => shape.is_some(),
            _ => {
                return Err((at, format!("unknown key {key:?}: expected 'descr', 'fortran_order' and 'shape'")));
            }
        };
        if slot {
            return Err((at, format!("the key {key:?} appears twice")));
        }
        match key.as_str() {
            "descr" => descr = Some((at, value)),
            "fortran_order" => fortran = Some((at, value)),
            _ => shape = Some((at, value)),
        }
    }
    let missing = |k: &str| (prefix as u64, format!("the header has no {k:?} key"));
    let (descr_at, descr) = descr.ok_or_else(|| missing("descr"))?;
    let (fortran_at, fortran) = fortran.ok_or_else(|| missing("fortran_order"))?;
    let (shape_at, shape) = shape.ok_or_else(|| missing("shape"))?;
    let descr = match descr {
        Value::Str(s) => s,
        Value::List | Value::Dict => {
            return Err((descr_at, "dtype: a structured type (named fields) is not supported: expected one plain number type such as '<f4'".into()));
        }
        v => return Err((descr_at, format!("descr is {}, expected a type string such as '<f4'", v.what()))),
    };
    let dtype = dtype_of(&descr).map_err(|m| (descr_at, m))?;
    let fortran = match fortran {
        Value::Bool(b) => b,
        v => return Err((fortran_at, format!("fortran_order is {}, expected True or False", v.what()))),
    };
    let shape = match shape {
        Value::Tuple(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Int(n) => Ok(n),
                v => Err((shape_at, format!("shape holds {}, expected whole numbers", v.what()))),
            })
            .collect::<Result<Vec<u64>, _>>()?,
        v => return Err((shape_at, format!("shape is {}, expected a tuple such as (150, 4)", v.what()))),
    };
    let cells = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let data_len = cells.and_then(|c| c.checked_mul(dtype.size as u64)).ok_or_else(|| {
        (shape_at, format!("shape {shape:?} of {}-byte cells is more bytes than a file can hold", dtype.size))
    })?;
    Ok(Header { descr, dtype, fortran, shape, data_offset: (prefix + len) as u64, data_len })
}

/// The cell type a `descr` string names, or why it is refused.
fn dtype_of(descr: &str) -> Result<Dtype, String> {
    let b = descr.as_bytes();
    let (order, rest) = match b.first() {
        Some(&c @ (b'<' | b'>' | b'|' | b'=')) => (Some(c), &descr[1..]),
        _ => (None, descr),
    };
    let mut chars = rest.chars();
    let kind_char = chars.next().unwrap_or(' ');
    let digits = chars.as_str();
    let size: Option<usize> = digits.parse().ok().filter(|_| digits.bytes().all(|d| d.is_ascii_digit()));
    let refuse = |what: &str| {
        Err(format!(
            "dtype {descr:?} ({what}) is not supported: expected float32, float64, signed or unsigned integers of 1 to 8 bytes, or bool"
        ))
    };
    let kind = match kind_char {
        'f' => match size {
            Some(4 | 8) => Kind::Float,
            Some(2) => return refuse("float16; convert with .astype(numpy.float32)"),
            _ => return refuse("a float of this size"),
        },
        'i' => Kind::Int,
        'u' => Kind::Uint,
        'b' if size == Some(1) => Kind::Bool,
        'c' => return refuse("complex numbers"),
        'O' => return refuse("Python objects"),
        'U' | 'S' | 'a' => return refuse("strings"),
        'V' => return refuse("raw bytes (void)"),
        'M' | 'm' => return refuse("dates or time spans"),
        _ => return refuse("an unknown type"),
    };
    let Some(size @ (1 | 2 | 4 | 8)) = size else { return refuse("an integer of this size") };
    let big_endian = match order {
        Some(b'>') => true,
        Some(b'<') => false,
        Some(b'=') | None => cfg!(target_endian = "big"),
        _ if size == 1 => false,
        _ => return Err(format!("dtype {descr:?}: '|' (no byte order) on a {size}-byte type; expected '<' or '>'")),
    };
    Ok(Dtype { kind, size, big_endian })
}

/// A dict's entries: key, the key's byte offset, value.
type Entries = Vec<(String, u64, Value)>;

/// A Python literal, as much as a header needs.
enum Value {
    Str(String),
    Int(u64),
    Bool(bool),
    Tuple(Vec<Value>),
    List,
    Dict,
    None,
}

impl Value {
    fn what(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "a number",
            Value::Bool(_) => "a bool",
            Value::Tuple(_) => "a tuple",
            Value::List => "a list",
            Value::Dict => "a dict",
            Value::None => "None",
        }
    }
}

/// A cursor over the header text; `base` is the text's byte offset in the file, for messages.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    base: u64,
}

impl Parser<'_> {
    fn err(&self, msg: impl Into<String>) -> (u64, String) {
        (self.base + self.at as u64, msg.into())
    }

    fn peek_char(&self) -> String {
        match self.text.get(self.at) {
            Some(&c) if c.is_ascii_graphic() => (c as char).to_string(),
            Some(&c) => format!("byte {c:#04x}"),
            None => "the end".into(),
        }
    }

    fn ws(&mut self) {
        while self.text.get(self.at).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), (u64, String)> {
        self.ws();
        if self.text.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(format!("found {} in the header, expected {:?}", self.peek_char(), c as char)))
        }
    }

    /// `{key: value, ...}`: the entries with each key's byte offset.
    fn dict_entries(&mut self, depth: usize) -> Result<Entries, (u64, String)> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.text.get(self.at) == Some(&b'}') {
                self.at += 1;
                return Ok(out);
            }
            let at = self.base + self.at as u64;
            let key = match self.value(depth + 1)? {
                Value::Str(s) => s,
                v => return Err((at, format!("a dict key is {}, expected a string", v.what()))),
            };
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            out.push((key, at, value));
            self.ws();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {}
                _ => {
                    return Err(
                        self.err(format!("found {} in the header's dict, expected ',' or '}}'", self.peek_char()))
                    );
                }
            }
        }
    }

    /// `(a, b)` or `[a, b]`, ended by `close`.
    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Value>, (u64, String)> {
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.text.get(self.at) == Some(&close) {
                self.at += 1;
                return Ok(out);
            }
            out.push(self.value(depth + 1)?);
            self.ws();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(&c) if c == close => {}
                _ => {
                    return Err(self.err(format!("found {}, expected ',' or {:?}", self.peek_char(), close as char)));
                }
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, (u64, String)> {
        if depth > MAX_DEPTH {
            return Err(self.err("the header nests too deeply"));
        }
        self.ws();
        let start = self.at;
        let Some(&c) = self.text.get(self.at) else { return Err(self.err("the header ends inside its dict")) };
        match c {
            b'\'' | b'"' => {
                self.at += 1;
                let len = self.text[self.at..].iter().position(|&b| b == c || b == b'\\' || b == b'\n');
                match len.map(|n| (n, self.text[self.at + n])) {
                    Some((n, q)) if q == c => {
                        let s = std::str::from_utf8(&self.text[self.at..self.at + n])
                            .map_err(|_| self.err("a string in the header is not UTF-8"))?;
                        self.at += n + 1;
                        Ok(Value::Str(s.to_string()))
                    }
                    Some((n, _)) => {
                        self.at += n;
                        Err(self.err("a backslash or line end inside a string in the header: not supported"))
                    }
                    None => Err(self.err("a string in the header is not closed")),
                }
            }
            b'(' => {
                self.at += 1;
                Ok(Value::Tuple(self.items(b')', depth)?))
            }
            b'[' => {
                self.at += 1;
                self.items(b']', depth)?;
                Ok(Value::List)
            }
            b'{' => {
                self.dict_entries(depth)?;
                Ok(Value::Dict)
            }
            b'0'..=b'9' => {
                let n = self.text[self.at..].iter().take_while(|b| b.is_ascii_digit()).count();
                let digits = std::str::from_utf8(&self.text[self.at..self.at + n]).expect("ASCII digits");
                let v = digits.parse::<u64>().map_err(|_| self.err(format!("the number {digits} is too large")))?;
                self.at += n;
                // Python 2 wrote long integers with an L (`(150L, 4L)`).
                if self.text.get(self.at) == Some(&b'L') {
                    self.at += 1;
                }
                Ok(Value::Int(v))
            }
            _ => {
                let n = self.text[self.at..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                self.at += n;
                match &self.text[start..self.at] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    _ => {
                        self.at = start;
                        Err(self.err(format!("found {} in the header, expected a Python literal", self.peek_char())))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "header_tests.rs"]
mod tests;
