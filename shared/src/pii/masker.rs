//! The compiled masker: detection over text, and masking of text.

use super::config::ContextRule;
use super::custom::Pattern;
use super::fields::NameList;
use super::json::Pointer;
use super::limits::{self, NonUtf8, Oversize, Prepared};
use super::operator::{self, Action, Hasher};
use super::phone::PhoneOptions;
use super::scan::Run;
use super::ssn::SsnOptions;
use super::{apikey, card, email, iban, ip, phone, resolve, ssn, token, Kind, Match};
use std::borrow::Cow;
use std::cell::RefCell;

/// Which built-in detectors run, and their operators.
pub(super) struct Detectors {
    enabled: [bool; Kind::BUILT_IN.len()],
    actions: [Action; Kind::BUILT_IN.len()],
    pub(super) phone: PhoneOptions,
    pub(super) ssn: SsnOptions,
}

/// Counts of the bytes the detectors key on, from one pass over the text.
#[derive(Default)]
struct Profile {
    digits: usize,
    dots: usize,
    colons: usize,
    dashes: usize,
    ats: usize,
    percents: usize,
    /// `J` (of `eyJ`).
    has_j: bool,
    /// `b`/`B` (of `bearer`, `basic`).
    has_b: bool,
}

impl Profile {
    /// The profile and the digit runs, in one pass.
    fn of(bytes: &[u8]) -> (Profile, Vec<Run>) {
        // A table maps each byte to a counter (16 slots: the index is masked
        // into range, so there is no bounds check in the loop).
        let mut counts = [0usize; 16];
        let mut runs = Vec::new();
        let mut in_run = false;
        let mut run_start = 0;
        for (i, &c) in bytes.iter().enumerate() {
            let class = PROFILE_CLASS[usize::from(c)];
            counts[usize::from(class & 15)] += 1;
            let digit = class == DIGIT;
            if digit != in_run {
                if digit {
                    run_start = i;
                } else {
                    runs.push(Run {
                        start: run_start,
                        end: i,
                    });
                }
                in_run = digit;
            }
        }
        if in_run {
            runs.push(Run {
                start: run_start,
                end: bytes.len(),
            });
        }
        let p = Profile {
            digits: counts[1],
            dots: counts[2],
            colons: counts[3],
            dashes: counts[4],
            ats: counts[5],
            percents: counts[6],
            has_j: counts[7] > 0,
            has_b: counts[8] > 0,
        };
        (p, runs)
    }
}

const DIGIT: u8 = 1;

/// Byte -> `Profile` counter (0: none of interest).
static PROFILE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = 1;
        d += 1;
    }
    t[b'.' as usize] = 2;
    t[b':' as usize] = 3;
    t[b'-' as usize] = 4;
    t[b'@' as usize] = 5;
    t[b'%' as usize] = 6;
    t[b'J' as usize] = 7;
    t[b'b' as usize] = 8;
    t[b'B' as usize] = 8;
    t
};

/// Index of a built-in kind in [`Kind::BUILT_IN`].
fn slot(kind: Kind) -> Option<usize> {
    Some(match kind {
        Kind::PrivateKey => 0,
        Kind::Jwt => 1,
        Kind::ApiKey => 2,
        Kind::UrlPassword => 3,
        Kind::Bearer => 4,
        Kind::BasicAuth => 5,
        Kind::Iban => 6,
        Kind::Card => 7,
        Kind::Ssn => 8,
        Kind::Email => 9,
        Kind::Ipv6 => 10,
        Kind::Ipv4 => 11,
        Kind::Phone => 12,
        Kind::Custom(_) => return None,
    })
}

impl Detectors {
    pub(super) fn none() -> Detectors {
        Detectors {
            enabled: [false; Kind::BUILT_IN.len()],
            actions: [Action::Redact; Kind::BUILT_IN.len()],
            phone: PhoneOptions {
                bare: ContextRule::WithContext,
                words: Vec::new(),
            },
            ssn: SsnOptions {
                weak: ContextRule::WithContext,
                words: Vec::new(),
            },
        }
    }

    pub(super) fn enable(&mut self, kind: Kind, action: Action) {
        if let Some(i) = slot(kind) {
            if let (Some(e), Some(a)) = (self.enabled.get_mut(i), self.actions.get_mut(i)) {
                *e = true;
                *a = action;
            }
        }
    }

    fn on(&self, kind: Kind) -> bool {
        slot(kind)
            .and_then(|i| self.enabled.get(i))
            .copied()
            .unwrap_or(false)
    }
}

pub(super) struct JsonRules {
    pub(super) fields: NameList,
    pub(super) field_action: Action,
    pub(super) pointers: Vec<(Pointer, Action)>,
    pub(super) scan_values: bool,
    pub(super) scan_keys: bool,
}

pub(super) struct QueryRules {
    pub(super) params: NameList,
    pub(super) action: Action,
    pub(super) scan_values: bool,
}

pub(super) struct HeaderRules {
    pub(super) sensitive: NameList,
    pub(super) action: Action,
    pub(super) drop: Vec<String>,
    pub(super) url_headers: Vec<String>,
    pub(super) scan_values: bool,
}

/// A compiled masking configuration ([`super::PiiConfig::compile`]). Cheap to
/// share: every method takes `&self`.
pub struct Masker {
    pub(super) det: Detectors,
    pub(super) patterns: Vec<(String, Pattern, Action)>,
    pub(super) hasher: Hasher,
    pub(super) json: JsonRules,
    pub(super) query: QueryRules,
    pub(super) headers: HeaderRules,
    pub(super) max_value_bytes: usize,
    pub(super) oversize: Oversize,
    pub(super) non_utf8: NonUtf8,
    /// Replacements made since the last [`Masker::take_tally`], by label
    /// (detector kind, or `field`/`param`/`header`/`cookie`/...). A `Cell`:
    /// masking takes `&self`, and a filter VM is single-threaded.
    pub(super) tally: RefCell<Vec<(String, u64)>>,
}

impl Masker {
    /// The replacements counted since the last call, by label, and resets.
    pub fn take_tally(&self) -> Vec<(String, u64)> {
        self.tally.take()
    }

    fn count(&self, label: &str) {
        if let Ok(mut t) = self.tally.try_borrow_mut() {
            match t.iter_mut().find(|(l, _)| l == label) {
                Some((_, n)) => *n = n.saturating_add(1),
                None => t.push((label.to_string(), 1)),
            }
        }
    }

    /// Whether a `hash.key` was configured (the keyed-hash operator works).
    pub fn can_hash(&self) -> bool {
        self.hasher.has_key()
    }

    /// `[HASH:<label>:<hex>]` of the value as it is; `[REDACTED:<label>]`
    /// without a key.
    pub fn pseudonym(&self, label: &str, value: &str) -> String {
        self.count(label);
        operator::apply(Action::Hash, label, None, value, &self.hasher)
    }

    /// The non-overlapping matches of every enabled detector in `text`,
    /// sorted by start ([`resolve`] says which kind wins an overlap).
    /// Scans all of `text`: the size cap applies in the `mask_*` methods.
    pub fn find(&self, text: &str) -> Vec<Match> {
        self.find_in(text, "")
    }

    /// Like [`Masker::find`], for text that came from the field, parameter
    /// or header named `name`: the name counts as a context word for the
    /// ambiguous forms (a bare `4155550132` in `"mobile"` is a phone number).
    pub fn find_in(&self, text: &str, name: &str) -> Vec<Match> {
        let b = text.as_bytes();
        let hint = name.as_bytes();
        let d = &self.det;
        let mut c: Vec<Match> = Vec::new();
        // One pass tells which detectors can match at all: most JSON values
        // are short words and skip nearly everything.
        let (p, runs) = Profile::of(b);
        let on = |k: Kind| d.on(k);
        if p.dashes >= 10 && on(Kind::PrivateKey) {
            apikey::find_private_keys(b, &mut c);
        }
        if p.has_j && p.dots >= 2 && on(Kind::Jwt) {
            token::find_jwt(b, &mut c);
        }
        if b.len() >= apikey::MIN_KEY_LEN && on(Kind::ApiKey) {
            apikey::find_api_keys(b, &mut c);
        }
        if p.colons >= 2 && p.ats >= 1 && on(Kind::UrlPassword) {
            apikey::find_url_passwords(b, &mut c);
        }
        if p.has_b && on(Kind::Bearer) {
            token::find_bearer(b, &mut c);
        }
        if p.has_b && on(Kind::BasicAuth) {
            token::find_basic(b, &mut c);
        }
        if p.digits >= 2 && (on(Kind::Iban) || on(Kind::Card)) {
            let ibans = if b.len() >= 15 {
                iban::spans(b, &runs)
            } else {
                Vec::new()
            };
            if p.digits >= 12 && on(Kind::Card) {
                card::find(b, &runs, &ibans, &mut c);
            }
            if on(Kind::Iban) {
                c.extend(ibans);
            }
        }
        if p.digits >= 9 && on(Kind::Ssn) {
            ssn::find(b, &runs, &d.ssn, hint, &mut c);
        }
        if (p.ats >= 1 || p.percents >= 1) && on(Kind::Email) {
            email::find(b, &mut c);
        }
        if p.colons >= 2 && on(Kind::Ipv6) {
            ip::find_v6(b, &mut c);
        }
        if p.digits >= 4 && p.dots >= 3 && on(Kind::Ipv4) {
            ip::find_v4(b, &mut c);
        }
        if p.digits >= 7 && on(Kind::Phone) {
            phone::find(b, &runs, &d.phone, hint, &mut c);
        }
        for (i, (_, p, _)) in self.patterns.iter().enumerate() {
            p.find(text, u16::try_from(i).unwrap_or(u16::MAX), &mut c);
        }
        // Byte-level detectors can stop inside a multi-byte character next
        // to ASCII text (found by fuzzing: an email run after U+FFFD): widen
        // to char boundaries, which only ever masks more.
        for m in c.iter_mut() {
            while m.start > 0 && !text.is_char_boundary(m.start) {
                m.start -= 1;
            }
            while m.end < text.len() && !text.is_char_boundary(m.end) {
                m.end += 1;
            }
        }
        resolve::resolve(c)
    }

    /// The name of a kind as it appears in masks and in the configuration.
    pub fn kind_name(&self, kind: Kind) -> &str {
        match kind {
            Kind::Custom(i) => self
                .patterns
                .get(usize::from(i))
                .map_or("custom", |(n, _, _)| n.as_str()),
            k => k.name().unwrap_or("custom"),
        }
    }

    /// The operator configured for a kind.
    pub fn action(&self, kind: Kind) -> Action {
        match kind {
            Kind::Custom(i) => self
                .patterns
                .get(usize::from(i))
                .map_or(Action::Redact, |(_, _, a)| *a),
            k => slot(k)
                .and_then(|i| self.det.actions.get(i))
                .copied()
                .unwrap_or(Action::Redact),
        }
    }

    /// `text` with every match replaced by its kind's operator, after the
    /// size cap.
    pub fn mask_text(&self, text: &str) -> String {
        self.mask_text_in(text, "")
    }

    /// [`Masker::mask_text`] for the value of the field/parameter `name`.
    pub fn mask_text_in(&self, text: &str, name: &str) -> String {
        self.mask_cow(text, name).into_owned()
    }

    /// The masked text, borrowed when nothing had to change.
    pub(super) fn mask_cow<'a>(&self, text: &'a str, name: &str) -> Cow<'a, str> {
        Cow::Owned(
            match limits::prepare(text, self.max_value_bytes, self.oversize) {
                Prepared::Whole(t) => {
                    let matches = self.find_in(t, name);
                    if matches.is_empty() {
                        return Cow::Borrowed(t);
                    }
                    self.apply(t, &matches)
                }
                Prepared::Cut {
                    window,
                    cut,
                    original_len,
                } => {
                    // Matches found past the cut were scanned only to move the
                    // cut before any value that straddles it.
                    let mut cut = cut;
                    let mut matches = self.find_in(window, name);
                    if let Some(straddling) = matches.iter().find(|m| m.start < cut && m.end > cut)
                    {
                        cut = straddling.start;
                    }
                    matches.retain(|m| m.end <= cut);
                    let mut s = self.apply(window.get(..cut).unwrap_or(""), &matches);
                    s.push_str(&limits::truncated_mark(original_len));
                    self.count("truncated");
                    s
                }
                Prepared::Dropped { original_len } => {
                    self.count("oversize");
                    limits::dropped_mark(original_len)
                }
            },
        )
    }

    /// Bytes that should be text (a header value, a body): masked as text;
    /// never returned raw when they are not UTF-8 (see `non_utf8`).
    pub fn mask_bytes(&self, bytes: &[u8]) -> String {
        self.mask_bytes_in(bytes, "")
    }

    pub(super) fn mask_bytes_in(&self, bytes: &[u8], name: &str) -> String {
        match std::str::from_utf8(bytes) {
            Ok(t) => self.mask_text_in(t, name),
            Err(_) => match self.non_utf8 {
                NonUtf8::Redact => {
                    self.count("non_utf8");
                    limits::NON_UTF8_MARK.to_string()
                }
                NonUtf8::Lossy => self.mask_text_in(&String::from_utf8_lossy(bytes), name),
            },
        }
    }

    /// Replaces `matches` (found in `text`) by their operators.
    fn apply(&self, text: &str, matches: &[Match]) -> String {
        if matches.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in matches {
            let (Some(before), Some(value)) = (text.get(last..m.start), text.get(m.start..m.end))
            else {
                // Offsets are char boundaries by construction; if that ever
                // broke, hide everything rather than cut a char in half.
                return operator::redacted("text");
            };
            out.push_str(before);
            let kind = m.kind;
            self.count(self.kind_name(kind));
            out.push_str(&operator::apply(
                self.action(kind),
                self.kind_name(kind),
                Some(kind),
                value,
                &self.hasher,
            ));
            last = m.end;
        }
        out.push_str(text.get(last..).unwrap_or(""));
        out
    }

    /// The operator applied to a whole value (a sensitive field, parameter or
    /// header); `None` when the action is `drop`.
    pub(super) fn apply_whole(&self, action: Action, label: &str, value: &str) -> Option<String> {
        self.count(label);
        match action {
            Action::Drop => None,
            a => Some(operator::apply(a, label, None, value, &self.hasher)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::PiiConfig;
    use super::*;

    fn masker(json: &str) -> Masker {
        PiiConfig::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn masks_every_kind_with_its_operator() {
        let m = masker(
            r#"{"hash": {"key": "0123456789abcdef0123456789abcdef"},
                "detectors": {"card": {"action": {"partial": {"keep_last": 4}}}, "email": {"action": "hash"},
                              "ipv4": {"action": "drop"}},
                "patterns": [{"name": "order_id", "regex": "ORD-[0-9]{8}"}]}"#,
        );
        let out = m.mask_text(
            "bob@example.com paid with 4111 1111 1111 1111 from 10.0.0.1 for ORD-12345678",
        );
        assert!(out.starts_with("[HASH:email:"), "{out}");
        assert!(
            out.contains(" paid with ***************1111 from  for [REDACTED:order_id]"),
            "{out}"
        );
    }

    #[test]
    fn precedence_in_the_engine() {
        let m = masker("{}");
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let t = format!("Authorization: Bearer {jwt}");
        assert_eq!(m.mask_text(&t), "Authorization: Bearer [REDACTED:jwt]");
        assert_eq!(m.mask_text("ssn 078-05-1123"), "ssn [REDACTED:ssn]");
        // Invalid SSNs stay: the SSN layout is not taken for a phone number.
        for invalid in [
            "ssn 078-05-1120",
            "666-12-3456",
            "123-00-4567",
            "900-12-3456",
        ] {
            assert_eq!(m.mask_text(invalid), invalid);
        }
        // A US number written 3-3-4 still is one.
        assert_eq!(m.mask_text("415-555-0132"), "[REDACTED:phone]");
        assert_eq!(
            m.mask_text("DE89 3704 0044 0532 0130 00"),
            "[REDACTED:iban]"
        );
        assert_eq!(m.mask_text("::ffff:10.0.0.1"), "[REDACTED:ipv6]");
        assert_eq!(
            m.mask_text("https://x.example/reset?email=bob@example.com&t=1"),
            "https://x.example/reset?email=[REDACTED:email]&t=1"
        );
        assert_eq!(
            m.mask_text("postgres://app:s3cret@db.example.com/prod"),
            "postgres://app:[REDACTED:url_password]@db.example.com/prod"
        );
    }

    #[test]
    fn detectors_switch_off() {
        let m =
            masker(r#"{"detectors": {"email": {"enabled": false}, "ipv4": {"enabled": false}}}"#);
        assert_eq!(
            m.mask_text("bob@example.com 10.0.0.1"),
            "bob@example.com 10.0.0.1"
        );
        assert_eq!(m.mask_text("4111111111111111"), "[REDACTED:card]");
    }

    #[test]
    fn size_cap_truncates_or_drops_and_never_leaves_a_fragment() {
        let m = masker(r#"{"max_value_bytes": 32}"#);
        let t = "user bob@example.com card 4111 1111 1111 1111";
        let out = m.mask_text(t);
        assert_eq!(
            out,
            format!("user [REDACTED:email] card[TRUNCATED:{} bytes]", t.len())
        );
        let m = masker(r#"{"max_value_bytes": 32, "oversize": "drop"}"#);
        assert_eq!(m.mask_text(t), format!("[DROPPED:{} bytes]", t.len()));
    }

    #[test]
    fn non_utf8_is_never_returned_raw() {
        let m = masker("{}");
        let bad = b"card 4111111111111111 \xff\xfe";
        assert_eq!(m.mask_bytes(bad), "[REDACTED:non_utf8]");
        let m = masker(r#"{"non_utf8": "lossy"}"#);
        assert_eq!(m.mask_bytes(bad), "card [REDACTED:card] \u{fffd}\u{fffd}");
        assert_eq!(m.mask_bytes(b"plain"), "plain");
    }
}
