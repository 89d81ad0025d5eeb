//! One ShouldRateLimit decision: descriptors -> counters -> storage -> response.
//!
//! Every limit of the domain is evaluated against every descriptor. A request counts
//! at most once against a given counter, however many of its descriptors match it
//! (at the largest of their costs). All counters are checked and counted in one
//! storage step: if any would go over its limit, the request is OVER_LIMIT and
//! nothing is counted.

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::rate_limit::Unit;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::{
    Code, DescriptorStatus, RateLimit,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use limitador::counter::Counter;
use limitador::limit::Context;

use crate::limits::{CompiledLimit, Limits};
use crate::store::{Hit, Store, StoreError};

/// Why a request got no decision; maps to a gRPC status.
#[derive(Debug)]
pub enum DecideError {
    /// The request is malformed or asks for something this service does not do.
    InvalidArgument(String),
    /// A limit of the file failed to evaluate on this request (a limits-file bug).
    Internal(String),
    /// The counters could not be read or written.
    Unavailable(StoreError),
}

pub async fn decide(
    limits: &Limits,
    store: &Store,
    request: &RateLimitRequest,
) -> Result<RateLimitResponse, DecideError> {
    let request_cost = validate(request)?;
    let domain_limits = limits.for_domain(&request.domain);

    // Counters by Redis key, with the descriptor indexes that matched each.
    let mut hits: Vec<Hit> = Vec::new();
    let mut matched_by: Vec<Vec<usize>> = Vec::new();
    let mut index_of_key: HashMap<String, usize> = HashMap::new();
    for (i, descriptor) in request.descriptors.iter().enumerate() {
        let cost = descriptor_cost(descriptor, request_cost);
        let entries: HashMap<String, String> = descriptor
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        let ctx = Context::from(entries.clone());
        for limit in domain_limits {
            let Some(counter) = counter_for(limit, &entries, &ctx)? else {
                continue;
            };
            let hit = Hit::new(counter, cost);
            match index_of_key.get(&hit.key) {
                Some(&at) => {
                    if let (Some(existing), Some(by)) = (hits.get_mut(at), matched_by.get_mut(at)) {
                        existing.delta = existing.delta.max(cost);
                        if by.last() != Some(&i) {
                            by.push(i);
                        }
                    }
                }
                None => {
                    index_of_key.insert(hit.key.clone(), hits.len());
                    hits.push(hit);
                    matched_by.push(vec![i]);
                }
            }
        }
    }

    let admitted = store
        .check_and_count(&mut hits)
        .await
        .map_err(DecideError::Unavailable)?;

    let statuses = (0..request.descriptors.len())
        .map(|i| {
            let mine = hits
                .iter()
                .zip(&matched_by)
                .filter(|(_, by)| by.contains(&i))
                .map(|(hit, _)| hit);
            descriptor_status(mine, admitted)
        })
        .collect();
    Ok(RateLimitResponse {
        overall_code: if admitted { Code::Ok } else { Code::OverLimit } as i32,
        statuses,
        ..Default::default()
    })
}

/// Checks what the service relies on; returns the request-level cost (0 means 1).
fn validate(request: &RateLimitRequest) -> Result<u64, DecideError> {
    let bad = |msg: String| Err(DecideError::InvalidArgument(msg));
    if request.domain.is_empty() {
        return bad("domain: must not be empty".into());
    }
    if request.descriptors.is_empty() {
        return bad("descriptors: at least one descriptor is required".into());
    }
    for (i, descriptor) in request.descriptors.iter().enumerate() {
        if descriptor.entries.is_empty() {
            return bad(format!("descriptors[{i}].entries: must not be empty"));
        }
        let mut seen = std::collections::HashSet::new();
        for (j, entry) in descriptor.entries.iter().enumerate() {
            if entry.key.is_empty() {
                return bad(format!(
                    "descriptors[{i}].entries[{j}].key: must not be empty"
                ));
            }
            if !seen.insert(entry.key.as_str()) {
                return bad(format!(
                    "descriptors[{i}].entries[{j}].key: `{}` appears twice in one descriptor; give each rate-limit action its own descriptor_key",
                    entry.key
                ));
            }
        }
        if descriptor.limit.is_some() {
            return bad(format!(
                "descriptors[{i}].limit: per-descriptor limit overrides are not supported; put the limit in the limits file"
            ));
        }
        if descriptor.is_negative_hits {
            return bad(format!(
                "descriptors[{i}].is_negative_hits: refilling budget is not supported"
            ));
        }
        if let Some(h) = &descriptor.hits_addend {
            if h.value > u64::from(u32::MAX) {
                return bad(format!(
                    "descriptors[{i}].hits_addend: {} is above {}",
                    h.value,
                    u32::MAX
                ));
            }
        }
    }
    Ok(if request.hits_addend == 0 {
        1
    } else {
        u64::from(request.hits_addend)
    })
}

/// A descriptor's own `hits_addend` overrides the request's when it is set and not 0.
fn descriptor_cost(descriptor: &RateLimitDescriptor, request_cost: u64) -> u64 {
    match &descriptor.hits_addend {
        Some(h) if h.value > 0 => h.value,
        _ => request_cost,
    }
}

/// The counter `limit` keeps for this descriptor, if the limit matches it.
fn counter_for(
    limit: &CompiledLimit,
    entries: &HashMap<String, String>,
    ctx: &Context<'_>,
) -> Result<Option<Counter>, DecideError> {
    if !limit.needs.iter().all(|name| entries.contains_key(name)) {
        return Ok(None);
    }
    for predicate in &limit.conditions {
        match predicate.test(ctx) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => {
                return Err(DecideError::Internal(format!(
                    "limit `{}` (domain `{}`): a condition failed to evaluate: {e}; fix it in the limits file",
                    limit.name,
                    limit.limit.namespace().as_ref()
                )))
            }
        }
    }
    Counter::new(limit.limit.clone(), ctx).map_err(|e| {
        DecideError::Internal(format!(
            "limit `{}` (domain `{}`): a variable failed to evaluate: {e}; fix it in the limits file",
            limit.name,
            limit.limit.namespace().as_ref()
        ))
    })
}

/// The status of one descriptor: OVER_LIMIT if one of its counters would have gone
/// over; reports that counter, else the one with the fewest hits left. A descriptor
/// no limit matched is OK with no `current_limit`.
fn descriptor_status<'a>(hits: impl Iterator<Item = &'a Hit>, admitted: bool) -> DescriptorStatus {
    // Hits left after this request (when admitted) or as they are (nothing was counted).
    let left = |h: &Hit| {
        let used = if admitted {
            h.before.saturating_add(h.delta)
        } else {
            h.before
        };
        h.counter.max_value().saturating_sub(used)
    };
    // Over-limit counters first (false < true), then the fewest hits left.
    let chosen = hits.min_by_key(|h| (admitted || !h.exceeds(), left(h)));
    let Some(hit) = chosen else {
        return DescriptorStatus {
            code: Code::Ok as i32,
            ..Default::default()
        };
    };
    let over = !admitted && hit.exceeds();
    DescriptorStatus {
        code: if over { Code::OverLimit } else { Code::Ok } as i32,
        current_limit: Some(current_limit(
            hit.counter.limit().name().unwrap_or_default(),
            hit.counter.max_value(),
            hit.counter.window().as_secs(),
        )),
        limit_remaining: u32::try_from(left(hit)).unwrap_or(u32::MAX),
        duration_until_reset: Some(pb_duration(hit.reset_in)),
        ..Default::default()
    }
}

const UNITS: [(u64, Unit); 6] = [
    (365 * 24 * 3600, Unit::Year),
    (30 * 24 * 3600, Unit::Month),
    (7 * 24 * 3600, Unit::Week),
    (24 * 3600, Unit::Day),
    (3600, Unit::Hour),
    (60, Unit::Minute),
];

/// Envoy's RateLimit is `requests_per_unit` per second, minute, hour, day, week, month
/// or year. A window equal to a unit is exact. Otherwise the largest unit not longer
/// than the window is used, with `max` scaled to it and rounded up so it is never 0
/// (10 per 120 s -> 5 per minute; 1 per 30 s -> 1 per second).
pub fn current_limit(name: &str, max: u64, window_seconds: u64) -> RateLimit {
    let window = window_seconds.max(1);
    let (unit_seconds, unit) = UNITS
        .iter()
        .copied()
        .find(|(s, _)| *s <= window)
        .unwrap_or((1, Unit::Second));
    let scaled = if window == unit_seconds {
        max
    } else {
        let per_unit = u128::from(max) * u128::from(unit_seconds);
        let rounded_up = per_unit.div_ceil(u128::from(window));
        u64::try_from(rounded_up)
            .unwrap_or(u64::MAX)
            .max(u64::from(max > 0))
    };
    RateLimit {
        name: name.to_owned(),
        requests_per_unit: u32::try_from(scaled).unwrap_or(u32::MAX),
        unit: unit as i32,
    }
}

fn pb_duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
    use envoy_types::pb::google::protobuf::UInt64Value;

    fn descriptor(pairs: &[(&str, &str)]) -> RateLimitDescriptor {
        RateLimitDescriptor {
            entries: pairs
                .iter()
                .map(|(k, v)| Entry {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn request(domain: &str, descriptors: Vec<RateLimitDescriptor>, hits: u32) -> RateLimitRequest {
        RateLimitRequest {
            domain: domain.into(),
            descriptors,
            hits_addend: hits,
        }
    }

    fn setup(yaml: &str) -> (Limits, Store) {
        (
            Limits::parse(yaml).unwrap(),
            Store::Memory(MemoryStore::new(1000)),
        )
    }

    async fn ask(l: &Limits, s: &Store, r: &RateLimitRequest) -> RateLimitResponse {
        decide(l, s, r).await.unwrap()
    }

    const PER_TENANT: &str =
        "- {domain: api, name: per-tenant, max: 3, seconds: 60, variables: [tenant]}";

    #[tokio::test]
    async fn allows_exactly_max_then_over_limit_and_denied_hits_are_not_counted() {
        let (l, s) = setup(PER_TENANT);
        let r = request("api", vec![descriptor(&[("tenant", "a")])], 0);
        for left in [2, 1, 0] {
            let resp = ask(&l, &s, &r).await;
            assert_eq!(resp.overall_code, Code::Ok as i32);
            assert_eq!(resp.statuses[0].limit_remaining, left);
        }
        for _ in 0..3 {
            let resp = ask(&l, &s, &r).await;
            assert_eq!(resp.overall_code, Code::OverLimit as i32);
            let st = &resp.statuses[0];
            assert_eq!(st.code, Code::OverLimit as i32);
            assert_eq!(st.limit_remaining, 0);
            let cl = st.current_limit.as_ref().unwrap();
            assert_eq!(
                (cl.requests_per_unit, cl.unit, cl.name.as_str()),
                (3, Unit::Minute as i32, "per-tenant")
            );
            let reset = st.duration_until_reset.as_ref().unwrap();
            assert!(reset.seconds <= 60 && (reset.seconds > 0 || reset.nanos > 0));
        }
        // another tenant has its own counter
        let other = request("api", vec![descriptor(&[("tenant", "b")])], 0);
        assert_eq!(ask(&l, &s, &other).await.overall_code, Code::Ok as i32);
    }

    #[tokio::test]
    async fn cost_is_hits_addend_and_a_too_expensive_request_counts_nothing() {
        let (l, s) = setup(PER_TENANT);
        let r = |h| request("api", vec![descriptor(&[("tenant", "a")])], h);
        assert_eq!(ask(&l, &s, &r(2)).await.statuses[0].limit_remaining, 1);
        let denied = ask(&l, &s, &r(2)).await;
        assert_eq!(denied.overall_code, Code::OverLimit as i32);
        assert_eq!(
            denied.statuses[0].limit_remaining, 1,
            "denied request must not be counted"
        );
        assert_eq!(ask(&l, &s, &r(1)).await.overall_code, Code::Ok as i32);
    }

    #[tokio::test]
    async fn one_descriptor_over_limit_counts_nothing_on_the_others() {
        let (l, s) = setup(
            "- {domain: api, name: tenant, max: 10, seconds: 60, variables: [tenant]}\n\
             - {domain: api, name: path, max: 1, seconds: 60, variables: [path]}",
        );
        let r = request(
            "api",
            vec![
                descriptor(&[("tenant", "a")]),
                descriptor(&[("path", "/x")]),
            ],
            0,
        );
        let first = ask(&l, &s, &r).await;
        assert_eq!(first.overall_code, Code::Ok as i32);
        assert_eq!(first.statuses[0].limit_remaining, 9);
        let second = ask(&l, &s, &r).await;
        assert_eq!(second.overall_code, Code::OverLimit as i32);
        assert_eq!(second.statuses[0].code, Code::Ok as i32);
        assert_eq!(
            second.statuses[0].limit_remaining, 9,
            "tenant counter untouched"
        );
        assert_eq!(second.statuses[1].code, Code::OverLimit as i32);
    }

    #[tokio::test]
    async fn conditions_select_descriptors_and_unmatched_descriptors_are_ok() {
        let (l, s) = setup(
            "- {domain: api, max: 1, seconds: 60, conditions: [\"method == 'POST'\"], variables: [tenant]}",
        );
        let get = request(
            "api",
            vec![descriptor(&[("tenant", "a"), ("method", "GET")])],
            0,
        );
        for _ in 0..3 {
            let resp = ask(&l, &s, &get).await;
            assert_eq!(resp.overall_code, Code::Ok as i32);
            assert!(resp.statuses[0].current_limit.is_none());
        }
        let post = request(
            "api",
            vec![descriptor(&[("tenant", "a"), ("method", "POST")])],
            0,
        );
        assert_eq!(ask(&l, &s, &post).await.overall_code, Code::Ok as i32);
        assert_eq!(
            ask(&l, &s, &post).await.overall_code,
            Code::OverLimit as i32
        );
        // unknown domain: no limits at all
        let other = request("nope", vec![descriptor(&[("tenant", "a")])], 0);
        assert_eq!(ask(&l, &s, &other).await.overall_code, Code::Ok as i32);
    }

    #[tokio::test]
    async fn a_counter_matched_by_two_descriptors_counts_once() {
        let (l, s) = setup("- {domain: api, max: 2, seconds: 60, variables: [tenant]}");
        let r = request(
            "api",
            vec![
                descriptor(&[("tenant", "a")]),
                descriptor(&[("tenant", "a"), ("x", "1")]),
            ],
            0,
        );
        let resp = ask(&l, &s, &r).await;
        assert_eq!(resp.statuses[0].limit_remaining, 1);
        assert_eq!(resp.statuses[1].limit_remaining, 1);
    }

    #[tokio::test]
    async fn a_limit_without_variables_is_one_counter_for_every_matching_descriptor() {
        let (l, s) = setup(
            "- {domain: api, name: all-api, max: 2, seconds: 1, conditions: [\"generic_key == 'api'\"]}",
        );
        let r = |tenant| {
            request(
                "api",
                vec![descriptor(&[("generic_key", "api"), ("tenant", tenant)])],
                0,
            )
        };
        assert_eq!(ask(&l, &s, &r("a")).await.overall_code, Code::Ok as i32);
        let second = ask(&l, &s, &r("b")).await;
        assert_eq!(second.overall_code, Code::Ok as i32);
        let cl = second.statuses[0].current_limit.as_ref().unwrap();
        assert_eq!((cl.requests_per_unit, cl.unit), (2, Unit::Second as i32));
        assert_eq!(
            ask(&l, &s, &r("c")).await.overall_code,
            Code::OverLimit as i32
        );
    }

    #[tokio::test]
    async fn descriptor_hits_addend_overrides_the_request_cost() {
        let (l, s) = setup(PER_TENANT);
        let mut d = descriptor(&[("tenant", "a")]);
        d.hits_addend = Some(UInt64Value { value: 3 });
        let resp = ask(&l, &s, &request("api", vec![d], 1)).await;
        assert_eq!(resp.statuses[0].limit_remaining, 0);
    }

    #[tokio::test]
    async fn malformed_requests_are_invalid_arguments() {
        let (l, s) = setup(PER_TENANT);
        let cases = [
            request("", vec![descriptor(&[("tenant", "a")])], 0),
            request("api", vec![], 0),
            request("api", vec![descriptor(&[])], 0),
            request("api", vec![descriptor(&[("", "a")])], 0),
            request(
                "api",
                vec![descriptor(&[("tenant", "a"), ("tenant", "b")])],
                0,
            ),
        ];
        for r in &cases {
            match decide(&l, &s, r).await {
                Err(DecideError::InvalidArgument(_)) => {}
                other => panic!("{r:?}: expected InvalidArgument, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_condition_that_fails_to_evaluate_is_internal_not_a_panic() {
        let (l, s) =
            setup("- {domain: api, max: 1, seconds: 60, conditions: [\"tenant + 1 == 2\"]}");
        let r = request("api", vec![descriptor(&[("tenant", "a")])], 0);
        assert!(matches!(
            decide(&l, &s, &r).await,
            Err(DecideError::Internal(_))
        ));
    }

    #[test]
    fn current_limit_units() {
        let cl = |max, secs| {
            let r = current_limit("n", max, secs);
            (r.requests_per_unit, Unit::try_from(r.unit).unwrap())
        };
        assert_eq!(cl(5, 1), (5, Unit::Second));
        assert_eq!(cl(5, 60), (5, Unit::Minute));
        assert_eq!(cl(5, 3600), (5, Unit::Hour));
        assert_eq!(cl(5, 86400), (5, Unit::Day));
        assert_eq!(cl(10, 120), (5, Unit::Minute));
        assert_eq!(cl(1, 30), (1, Unit::Second));
        assert_eq!(cl(100, 10), (10, Unit::Second));
        assert_eq!(cl(0, 90), (0, Unit::Minute));
    }
}
