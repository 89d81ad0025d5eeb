//! The PII detectors and masking, and the audit excerpt repair: no panic;
//! matches are sorted, non-overlapping, inside the text and on char
//! boundaries; redacted output never holds a value a detector matched as it
//! was (for values long enough not to occur by chance elsewhere); a repaired
//! truncated excerpt is a prefix of the input plus closing brackets.
//!
//! Input: the first byte picks a configuration, the rest is the text (also
//! tried as JSON, a query string, a URL and a header value).
#![no_main]
use edgeward_core::pii::excerpt::repair;
use edgeward_core::pii::{Masker, PiiConfig};
use libfuzzer_sys::fuzz_target;

fn compile(j: &str) -> Masker {
    match PiiConfig::from_json(j.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("fuzz config: {e}"),
    }
}

thread_local! {
    // Masker counts its replacements in a RefCell: one per thread.
    static MASKERS: [Masker; 3] = [
        compile("{}"),
        compile(
            r#"{"hash": {"key": "fuzz-key-0123456789abcdef"}, "max_value_bytes": 256,
                "detectors": {"email": {"action": "hash"},
                              "card": {"action": {"partial": {"keep_last": 4}}},
                              "phone": {"bare_digits": "always"},
                              "ssn": {"weak_forms": "always"}},
                "patterns": [{"name": "order", "regex": "ORD-[0-9]{6}"}]}"#,
        ),
        compile(r#"{"oversize": "drop", "max_value_bytes": 64, "non_utf8": "lossy"}"#),
    ];
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    MASKERS.with(|ms| run(&ms[usize::from(pick % 3)], pick, rest));
});

fn run(m: &Masker, pick: u8, rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let matches = m.find(&text);
    let mut last_end = 0;
    for x in &matches {
        assert!(x.start >= last_end && x.start < x.end && x.end <= text.len(), "{x:?}");
        assert!(text.is_char_boundary(x.start) && text.is_char_boundary(x.end), "{x:?}");
        last_end = x.end;
    }
    let masked = m.mask_text(&text);
    if pick % 3 == 0 && text.len() <= 64 * 1024 {
        // Default config: every kind redacted. A matched value of 12+ bytes
        // that occurs once in the input is gone from the output.
        for x in &matches {
            let v = &text[x.start..x.end];
            if v.len() >= 12 && text.matches(v).count() == 1 {
                assert!(!masked.contains(v), "{v:?} survived in {masked:?}");
            }
        }
    }
    let _ = m.mask_bytes(rest);
    let _ = m.mask_query(&text);
    let _ = m.mask_url(&text);
    let _ = m.mask_header("cookie", rest);
    let _ = m.mask_header("authorization", rest);
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(rest) {
        m.mask_json(&mut v);
    }
    let _ = m.take_tally();
    if let Some(fixed) = repair(rest) {
        let common = fixed.iter().zip(rest).take_while(|(a, b)| a == b).count();
        assert!(
            fixed[common..].iter().all(|b| matches!(b, b'}' | b']')),
            "repair added more than closing brackets"
        );
    }
}
