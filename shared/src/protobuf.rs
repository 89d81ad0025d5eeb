//! Just enough of the protobuf wire format to speak small gRPC APIs by
//! hand (the Rate Limit Service today): no generated code, no reflection,
//! nothing that can panic on hostile input.
//!
//! Encoding writes fields in tag order. Decoding walks a message field by
//! field, skips fields it does not know (as protobuf requires), refuses the
//! deprecated group wire types, truncated data and varints longer than ten
//! bytes, and never allocates more than the input holds.

/// Wire types (the low three bits of a field key).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// Why a message could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    Truncated,
    VarintTooLong,
    /// Groups (wire types 3, 4) or types 6, 7.
    BadWireType(u8),
    /// Field number 0.
    BadTag,
    /// A known field with the wrong wire type, or a value out of its range.
    BadField(u32),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "truncated message"),
            DecodeError::VarintTooLong => write!(f, "varint longer than 10 bytes"),
            DecodeError::BadWireType(t) => write!(f, "unsupported wire type {t}"),
            DecodeError::BadTag => write!(f, "field number 0"),
            DecodeError::BadField(n) => write!(f, "field {n} has the wrong type or value"),
        }
    }
}

// ---- encoding --------------------------------------------------------------

pub fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_key(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire));
}

/// A varint field; proto3 omits zero values.
pub fn put_uint(out: &mut Vec<u8>, field: u32, n: u64) {
    if n != 0 {
        put_key(out, field, VARINT);
        put_varint(out, n);
    }
}

/// A length-delimited field (string, bytes, embedded message).
pub fn put_bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_key(out, field, LEN);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// An embedded message built by `build`.
pub fn put_message(out: &mut Vec<u8>, field: u32, build: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    build(&mut inner);
    put_bytes(out, field, &inner);
}

// ---- decoding --------------------------------------------------------------

/// One decoded field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

impl<'a> Value<'a> {
    pub fn as_u64(&self, field: u32) -> Result<u64, DecodeError> {
        match self {
            Value::Varint(n) => Ok(*n),
            _ => Err(DecodeError::BadField(field)),
        }
    }
    pub fn as_u32(&self, field: u32) -> Result<u32, DecodeError> {
        // uint32 / enum values are varints; protobuf truncates larger ones,
        // which would silently change a number: refuse instead.
        u32::try_from(self.as_u64(field)?).map_err(|_| DecodeError::BadField(field))
    }
    pub fn as_bytes(&self, field: u32) -> Result<&'a [u8], DecodeError> {
        match self {
            Value::Len(b) => Ok(b),
            _ => Err(DecodeError::BadField(field)),
        }
    }
}

/// Iterates the fields of one message.
pub struct Fields<'a> {
    data: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    pub fn new(data: &'a [u8]) -> Fields<'a> {
        Fields {
            data,
            failed: false,
        }
    }
}

fn take_varint(data: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = data.split_first().ok_or(DecodeError::Truncated)?;
        *data = rest;
        let bits = u64::from(b & 0x7f);
        // The tenth byte may carry only the top bit of a u64.
        if i == 9 && bits > 1 {
            return Err(DecodeError::VarintTooLong);
        }
        n |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(DecodeError::VarintTooLong)
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if data.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.is_empty() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            self.failed = true;
        }
        Some(r)
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let key = take_varint(&mut self.data)?;
        let wire = (key & 7) as u8;
        let number = u32::try_from(key >> 3).map_err(|_| DecodeError::BadTag)?;
        if number == 0 {
            return Err(DecodeError::BadTag);
        }
        let value = match wire {
            VARINT => Value::Varint(take_varint(&mut self.data)?),
            FIXED64 => {
                let b = take(&mut self.data, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Fixed64(u64::from_le_bytes(a))
            }
            FIXED32 => {
                let b = take(&mut self.data, 4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Value::Fixed32(u32::from_le_bytes(a))
            }
            LEN => {
                let n = take_varint(&mut self.data)?;
                let n = usize::try_from(n).map_err(|_| DecodeError::Truncated)?;
                Value::Len(take(&mut self.data, n)?)
            }
            other => return Err(DecodeError::BadWireType(other)),
        };
        Ok((number, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_bounds_hold() {
        for n in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            let mut s = &out[..];
            assert_eq!(take_varint(&mut s), Ok(n));
            assert!(s.is_empty());
        }
        let mut s: &[u8] = &[0xff; 11];
        assert_eq!(take_varint(&mut s), Err(DecodeError::VarintTooLong));
        let mut s: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(take_varint(&mut s), Err(DecodeError::VarintTooLong));
        let mut s: &[u8] = &[0x80];
        assert_eq!(take_varint(&mut s), Err(DecodeError::Truncated));
    }

    #[test]
    fn fields_skip_unknown_and_refuse_garbage() {
        let mut m = Vec::new();
        put_uint(&mut m, 1, 2);
        put_bytes(&mut m, 2, b"abc");
        m.extend_from_slice(&[0x1d, 1, 2, 3, 4]); // field 3, fixed32
        m.extend_from_slice(&[0x21, 1, 2, 3, 4, 5, 6, 7, 8]); // field 4, fixed64
        let got: Vec<_> = Fields::new(&m).collect::<Result<_, _>>().unwrap();
        assert_eq!(got[0], (1, Value::Varint(2)));
        assert_eq!(got[1], (2, Value::Len(b"abc")));
        assert_eq!(got.len(), 4);
        // group start, field 0, truncated length
        for bad in [&[0x0b][..], &[0x00, 0x01], &[0x12, 0x05, b'a']] {
            let r: Result<Vec<_>, _> = Fields::new(bad).collect();
            assert!(r.is_err(), "{bad:?}");
        }
        assert_eq!(
            Value::Varint(1 << 40).as_u32(7),
            Err(DecodeError::BadField(7))
        );
        assert_eq!(Value::Len(b"").as_u64(7), Err(DecodeError::BadField(7)));
    }
}
