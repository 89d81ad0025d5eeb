//! Precedence when detectors overlap.
//!
//! Every enabled detector reports its candidates independently; then:
//!
//! 1. Overlapping candidates (sharing at least one byte) are merged into ONE
//!    match covering their union, so every byte any detector flagged is
//!    masked: masking errs on the side of hiding more, never less.
//! 2. The merged match takes the kind of its longest member (the container
//!    wins: an IBAN over the card-like digits inside it, an IPv4-mapped IPv6
//!    address over its IPv4 tail, an email over a phone number in its local
//!    part).
//! 3. Members of equal length are ranked, most specific first: user-defined
//!    patterns, `private_key`, `jwt`, `api_key`, `url_password`, `bearer`,
//!    `basic_auth`, `iban`, `card`, `ssn`, `email`, `ipv6`, `ipv4`, `phone`.
//!    So `Bearer eyJ...` is reported as `jwt` (the bearer detector's span is
//!    the credential after the scheme word, the same span as the JWT), and
//!    `078-05-1123` as `ssn`, not `phone`.
//!
//! Adjacent matches that do not share a byte stay separate.

use super::{Kind, Match};

/// Lower is stronger on a tie of lengths.
pub fn rank(kind: Kind) -> usize {
    match kind {
        Kind::Custom(i) => usize::from(i),
        built_in => {
            let pos = Kind::BUILT_IN
                .iter()
                .position(|k| *k == built_in)
                .unwrap_or(Kind::BUILT_IN.len());
            usize::from(u16::MAX).saturating_add(1).saturating_add(pos)
        }
    }
}

/// Merges overlapping candidates (rules above). Empty candidates are
/// ignored. The result is sorted by start and non-overlapping.
pub fn resolve(mut candidates: Vec<Match>) -> Vec<Match> {
    candidates.retain(|m| !m.is_empty());
    if candidates.len() <= 1 {
        return candidates;
    }
    candidates.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Match> = Vec::with_capacity(candidates.len());
    // The member that decides the current group's kind.
    let mut best: Option<Match> = None;
    for m in candidates {
        match (out.last_mut(), best.as_mut()) {
            (Some(group), Some(b)) if m.start < group.end => {
                group.end = group.end.max(m.end);
                if stronger(&m, b) {
                    *b = m;
                    group.kind = m.kind;
                }
            }
            _ => {
                out.push(m);
                best = Some(m);
            }
        }
    }
    out
}

fn stronger(a: &Match, b: &Match) -> bool {
    a.len() > b.len() || (a.len() == b.len() && rank(a.kind) < rank(b.kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(start: usize, end: usize, kind: Kind) -> Match {
        Match { start, end, kind }
    }

    #[test]
    fn overlapping_candidates_merge_and_the_longest_names_the_kind() {
        // Card digits inside an IBAN: one match, the IBAN's span and kind.
        let r = resolve(vec![m(5, 21, Kind::Card), m(0, 27, Kind::Iban)]);
        assert_eq!(r, vec![m(0, 27, Kind::Iban)]);
        // Partial overlap: the union is masked.
        let r = resolve(vec![m(0, 10, Kind::Phone), m(8, 30, Kind::Email)]);
        assert_eq!(r, vec![m(0, 30, Kind::Email)]);
    }

    #[test]
    fn equal_spans_are_ranked() {
        let r = resolve(vec![m(7, 50, Kind::Bearer), m(7, 50, Kind::Jwt)]);
        assert_eq!(r, vec![m(7, 50, Kind::Jwt)]);
        let r = resolve(vec![m(0, 11, Kind::Phone), m(0, 11, Kind::Ssn)]);
        assert_eq!(r, vec![m(0, 11, Kind::Ssn)]);
        let r = resolve(vec![m(0, 11, Kind::Ssn), m(0, 11, Kind::Custom(3))]);
        assert_eq!(r, vec![m(0, 11, Kind::Custom(3))]);
    }

    #[test]
    fn adjacent_matches_stay_apart_and_empties_vanish() {
        let r = resolve(vec![
            m(4, 8, Kind::Ipv4),
            m(0, 4, Kind::Email),
            m(9, 9, Kind::Card),
        ]);
        assert_eq!(r, vec![m(0, 4, Kind::Email), m(4, 8, Kind::Ipv4)]);
    }

    #[test]
    fn a_chain_of_overlaps_becomes_one_match() {
        let r = resolve(vec![
            m(0, 5, Kind::Phone),
            m(4, 9, Kind::Phone),
            m(8, 12, Kind::Ipv4),
        ]);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].start, r[0].end), (0, 12));
    }
}
