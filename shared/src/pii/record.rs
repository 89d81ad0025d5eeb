//! Pieces of the audit record that need no host: timestamps, the client
//! address under its policy, trace context, the denying filter.

use super::audit_config::IpAction;
use super::Masker;
use std::net::IpAddr;

/// The prefix of every record line in Envoy's log: `edgeward-audit {json}`.
/// Stable: log shippers select the lines by it.
pub const LOG_PREFIX: &str = "edgeward-audit ";

/// Filter-state key of the whole masked record (Envoy:
/// `wasm.edgeward.log`); single fields are `edgeward.log.<field>`.
pub const RECORD_PROPERTY: &str = "edgeward.log";

/// RFC 3339 UTC with milliseconds: `2026-12-02T01:50:30.123Z`.
pub fn rfc3339_ms(ms_since_epoch: u64) -> String {
    let secs = ms_since_epoch / 1000;
    let millis = ms_since_epoch % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    // Written digit by digit: `format!` costs several times more in Wasm,
    // once per request.
    let mut out = String::with_capacity(24);
    push_digits(&mut out, u64::try_from(y).unwrap_or(0), 4);
    for (sep, v, width) in [
        ('-', u64::from(m), 2),
        ('-', u64::from(d), 2),
        ('T', rem / 3600, 2),
        (':', (rem % 3600) / 60, 2),
        (':', rem % 60, 2),
        ('.', millis, 3),
    ] {
        out.push(sep);
        push_digits(&mut out, v, width);
    }
    out.push('Z');
    out
}

/// `v` in `width` decimal digits (zero-padded; higher digits cut).
fn push_digits(out: &mut String, v: u64, width: u32) {
    for i in (0..width).rev() {
        let d = (v / 10u64.pow(i)) % 10;
        out.push(char::from(b'0' + u8::try_from(d).unwrap_or(0)));
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// The client address as the policy says.
pub fn client_ip(masker: &Masker, ip: IpAddr, action: IpAction) -> String {
    match action {
        IpAction::Keep => ip.to_string(),
        IpAction::Truncate => match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
        },
        IpAction::Hash => masker.pseudonym("client_ip", &ip.to_string()),
        IpAction::Redact => "[REDACTED:client_ip]".to_string(),
    }
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`, lower-case, not
/// all zeros): its trace id; anything else is not a trace context.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let b = traceparent.as_bytes();
    let hex = |s: &[u8]| {
        s.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    if b.len() != 55
        || b.get(2) != Some(&b'-')
        || b.get(35) != Some(&b'-')
        || b.get(52) != Some(&b'-')
    {
        return None;
    }
    let (ver, trace, span, flags) = (b.get(..2)?, b.get(3..35)?, b.get(36..52)?, b.get(53..)?);
    let ok = hex(ver)
        && ver != b"ff"
        && hex(trace)
        && hex(span)
        && hex(flags)
        && trace.iter().any(|c| *c != b'0')
        && span.iter().any(|c| *c != b'0');
    ok.then(|| traceparent.get(3..35)).flatten()
}

/// The edgeward filter and reason of a local reply's response code details
/// (`edgeward_<filter>_denied.<reason>`), when it is one.
pub fn denial(details: &str) -> Option<(&str, &str)> {
    let rest = details.strip_prefix("edgeward_")?;
    let (filter, reason) = rest.split_once("_denied.")?;
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    (token(filter) && token(reason)).then_some((filter, reason))
}

/// An HTTP method as a token (RFC 9110), else `None`.
pub fn method_token(m: &str) -> Option<&str> {
    let ok = !m.is_empty()
        && m.len() <= 32
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then_some(m)
}

/// A little-endian integer property (Envoy serialises int64, durations and
/// timestamps as 8 bytes).
pub fn int_property(bytes: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(arr))
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_800_000_000_123), "2027-01-15T08:00:00.123Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn addresses_under_each_policy() {
        let m = PiiConfig::from_json(br#"{"hash": {"key": "0123456789abcdef0123"}}"#).unwrap();
        let v4: IpAddr = "203.0.113.77".parse().unwrap();
        let v6: IpAddr = "2001:db8:1234:5678::1".parse().unwrap();
        assert_eq!(client_ip(&m, v4, IpAction::Truncate), "203.0.113.0/24");
        assert_eq!(client_ip(&m, v6, IpAction::Truncate), "2001:db8:1234::/48");
        assert_eq!(client_ip(&m, v4, IpAction::Keep), "203.0.113.77");
        assert_eq!(client_ip(&m, v4, IpAction::Redact), "[REDACTED:client_ip]");
        let h = client_ip(&m, v4, IpAction::Hash);
        assert!(
            h.starts_with("[HASH:client_ip:") && !h.contains("203"),
            "{h}"
        );
        assert_eq!(h, client_ip(&m, v4, IpAction::Hash));
    }

    #[test]
    fn trace_context_and_denials() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(tp), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-bob@example.com",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
        assert_eq!(
            denial("edgeward_jwt_denied.expired"),
            Some(("jwt", "expired"))
        );
        assert_eq!(denial("via_upstream"), None);
        assert_eq!(denial("edgeward_jwt_denied.Bob Smith"), None);
        assert_eq!(method_token("GET"), Some("GET"));
        assert_eq!(method_token("G ET"), None);
        assert_eq!(int_property(&200i64.to_le_bytes()), Some(200));
        assert_eq!(int_property(b"200"), None);
    }
}
