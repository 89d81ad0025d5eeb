//! The messages of `envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`
//! that the filter sends and reads, encoded by hand on [`crate::protobuf`].
//!
//! Request (`RateLimitRequest`): `domain` (1), `descriptors` (2, each
//! `envoy.extensions.common.ratelimit.v3.RateLimitDescriptor`: `entries`
//! (1, `{key: 1, value: 2}`) and `hits_addend` (3, a `UInt64Value`)),
//! `hits_addend` (3). Response (`RateLimitResponse`): `overall_code` (1),
//! `statuses` (2, each `code` (1), `current_limit` (2: `requests_per_unit`
//! 1, `unit` 2, `name` 3), `limit_remaining` (3), `duration_until_reset`
//! (4, a `Duration`: seconds 1, nanos 2)); every other field is skipped.

use crate::protobuf::{put_bytes, put_message, put_uint, DecodeError, Fields};

pub const SERVICE: &str = "envoy.service.ratelimit.v3.RateLimitService";
pub const METHOD: &str = "ShouldRateLimit";

/// Most descriptor statuses read from one reply (a reply has one per
/// descriptor sent; the filter sends at most one per policy).
pub const MAX_STATUSES: usize = 256;

/// One descriptor: ordered key/value entries and its own cost.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub entries: Vec<(String, String)>,
    /// 0: the request's `hits_addend`.
    pub hits_addend: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitRequest {
    pub domain: String,
    pub descriptors: Vec<Descriptor>,
    pub hits_addend: u32,
}

impl RateLimitRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        put_bytes(&mut out, 1, self.domain.as_bytes());
        for d in &self.descriptors {
            put_message(&mut out, 2, |m| {
                for (k, v) in &d.entries {
                    put_message(m, 1, |e| {
                        put_bytes(e, 1, k.as_bytes());
                        put_bytes(e, 2, v.as_bytes());
                    });
                }
                if d.hits_addend != 0 {
                    put_message(m, 3, |w| put_uint(w, 1, d.hits_addend));
                }
            });
        }
        put_uint(&mut out, 3, u64::from(self.hits_addend));
        out
    }
}

/// `RateLimitResponse.Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Code {
    #[default]
    Unknown,
    Ok,
    OverLimit,
}

impl Code {
    fn from_wire(n: u32) -> Code {
        match n {
            1 => Code::Ok,
            2 => Code::OverLimit,
            // Unknown enum values are kept as "unknown" (proto3 open enums).
            _ => Code::Unknown,
        }
    }
}

/// `RateLimitResponse.RateLimit`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentLimit {
    pub requests_per_unit: u32,
    /// 1 second, 2 minute, 3 hour, 4 day, 5 month, 6 year, 7 week (0 unknown).
    pub unit: u32,
    pub name: String,
}

impl CurrentLimit {
    /// The unit in seconds (None when unknown).
    pub fn unit_seconds(&self) -> Option<u64> {
        Some(match self.unit {
            1 => 1,
            2 => 60,
            3 => 3600,
            4 => 86_400,
            5 => 30 * 86_400,
            6 => 365 * 86_400,
            7 => 7 * 86_400,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescriptorStatus {
    pub code: Code,
    pub current_limit: Option<CurrentLimit>,
    pub limit_remaining: u32,
    /// `duration_until_reset` in milliseconds (None when absent).
    pub reset_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitResponse {
    pub overall_code: Code,
    pub statuses: Vec<DescriptorStatus>,
}

impl RateLimitResponse {
    pub fn decode(data: &[u8]) -> Result<RateLimitResponse, DecodeError> {
        let mut r = RateLimitResponse::default();
        for f in Fields::new(data) {
            let (n, v) = f?;
            match n {
                1 => r.overall_code = Code::from_wire(v.as_u32(n)?),
                2 => {
                    if r.statuses.len() >= MAX_STATUSES {
                        return Err(DecodeError::BadField(n));
                    }
                    r.statuses.push(decode_status(v.as_bytes(n)?)?);
                }
                _ => {}
            }
        }
        Ok(r)
    }
}

fn decode_status(data: &[u8]) -> Result<DescriptorStatus, DecodeError> {
    let mut s = DescriptorStatus::default();
    for f in Fields::new(data) {
        let (n, v) = f?;
        match n {
            1 => s.code = Code::from_wire(v.as_u32(n)?),
            2 => s.current_limit = Some(decode_limit(v.as_bytes(n)?)?),
            3 => s.limit_remaining = v.as_u32(n)?,
            4 => s.reset_ms = Some(decode_duration_ms(v.as_bytes(n)?)?),
            _ => {}
        }
    }
    Ok(s)
}

fn decode_limit(data: &[u8]) -> Result<CurrentLimit, DecodeError> {
    let mut l = CurrentLimit::default();
    for f in Fields::new(data) {
        let (n, v) = f?;
        match n {
            1 => l.requests_per_unit = v.as_u32(n)?,
            2 => l.unit = v.as_u32(n)?,
            3 => {
                l.name = String::from_utf8(v.as_bytes(n)?.to_vec())
                    .map_err(|_| DecodeError::BadField(n))?
            }
            _ => {}
        }
    }
    Ok(l)
}

/// A `google.protobuf.Duration` as milliseconds; negative durations are 0.
fn decode_duration_ms(data: &[u8]) -> Result<u64, DecodeError> {
    let (mut secs, mut nanos) = (0i64, 0i64);
    for f in Fields::new(data) {
        let (n, v) = f?;
        match n {
            // int64 / int32 are two's complement in a varint.
            1 => secs = v.as_u64(n)? as i64,
            2 => nanos = i64::from(v.as_u64(n)? as i32),
            _ => {}
        }
    }
    let ms = secs.saturating_mul(1000).saturating_add(nanos / 1_000_000);
    Ok(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::put_varint;

    #[test]
    fn request_encoding_matches_the_wire_format() {
        let r = RateLimitRequest {
            domain: "d".into(),
            descriptors: vec![Descriptor {
                entries: vec![("k".into(), "v".into())],
                hits_addend: 3,
            }],
            hits_addend: 3,
        };
        assert_eq!(
            r.encode(),
            vec![
                0x0a, 1, b'd', // domain
                0x12, 12, // descriptor
                0x0a, 6, 0x0a, 1, b'k', 0x12, 1, b'v', // entry
                0x1a, 2, 0x08, 3, // hits_addend wrapper
                0x18, 3 // request hits_addend
            ]
        );
    }

    fn status(code: u64, remaining: u64, reset_s: u64) -> Vec<u8> {
        let mut s = Vec::new();
        put_uint(&mut s, 1, code);
        put_message(&mut s, 2, |l| {
            put_uint(l, 1, 10);
            put_uint(l, 2, 2);
            put_bytes(l, 3, b"per-tenant");
        });
        put_uint(&mut s, 3, remaining);
        put_message(&mut s, 4, |d| {
            put_uint(d, 1, reset_s);
            put_uint(d, 2, 500_000_000);
        });
        s
    }

    #[test]
    fn responses_decode() {
        let mut m = Vec::new();
        put_uint(&mut m, 1, 2);
        put_bytes(&mut m, 2, &status(1, 4, 30));
        put_bytes(&mut m, 2, &status(2, 0, 7));
        put_bytes(&mut m, 6, b"\x0a\x00"); // dynamic_metadata: skipped
        let r = RateLimitResponse::decode(&m).unwrap();
        assert_eq!(r.overall_code, Code::OverLimit);
        assert_eq!(r.statuses.len(), 2);
        assert_eq!(r.statuses[0].limit_remaining, 4);
        assert_eq!(r.statuses[0].reset_ms, Some(30_500));
        let l = r.statuses[1].current_limit.clone().unwrap();
        assert_eq!(
            (l.requests_per_unit, l.unit_seconds(), l.name.as_str()),
            (10, Some(60), "per-tenant")
        );
        assert_eq!(
            RateLimitResponse::decode(&[]).unwrap().overall_code,
            Code::Unknown
        );
    }

    #[test]
    fn hostile_responses_fail_cleanly() {
        let mut neg = Vec::new();
        put_message(&mut neg, 4, |d| {
            d.push(0x08);
            put_varint(d, u64::MAX); // seconds = -1
        });
        let mut m = Vec::new();
        put_bytes(&mut m, 2, &neg);
        assert_eq!(
            RateLimitResponse::decode(&m).unwrap().statuses[0].reset_ms,
            Some(0)
        );
        for bad in [
            &[0x08][..],
            &[0x12, 0x03, 0x08],
            &[0x0a, 0x00],
            &[0x12, 0x02, 0x0b, 0x00],
        ] {
            assert!(RateLimitResponse::decode(bad).is_err(), "{bad:?}");
        }
        let mut big = Vec::new();
        for _ in 0..=MAX_STATUSES {
            put_bytes(&mut big, 2, &[]);
        }
        assert!(RateLimitResponse::decode(&big).is_err());
    }
}
