//! The tenant authorization filter's configuration: raw serde types, and
//! the compiled policy every request is decided on. Everything is checked
//! here, once: templates, JSON pointers, CIDRs, SPIFFE IDs, condition
//! operands, deny responses. Every error names the rule (by name and
//! index) and the field: `rules[2](read-invoices).tenant.body`.

use super::metrics as m;
use crate::body::{JsonBodyPolicy, RawJsonBody};
use crate::client_ip::Cidr;
use crate::config::{check_name, err, in_range, parse_json, ConfigError, Field};
use crate::http::{is_safe_header_value, is_settable_header_name, same_header_name};
use crate::json::is_valid_pointer;
use crate::metrics::labeled;
use crate::path::{PathPolicy, RawPathPolicy};
use crate::route::{RawRouteMatch, RouteMatch};
use serde::Deserialize;
use serde_json::Value;

/// Headers some framework reads as "use this method instead": Rails and
/// Laravel (`_method` form/query field, `X-HTTP-Method-Override`), ASP.NET
/// and Google APIs (`X-HTTP-Method-Override`), OData/SAP (`X-HTTP-Method`),
/// Express `method-override` (`X-Method-Override`). A rule decided on `GET`
/// must not be turned into a `DELETE` upstream.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];
/// The query/form field of the same trick.
pub const METHOD_OVERRIDE_PARAM: &str = "_method";

/// Largest number of rules (each is matched on every request).
pub const MAX_RULES: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    rules: Vec<RawRule>,
    #[serde(default)]
    unmatched: Option<Effect>,
    #[serde(default)]
    shadow: bool,
    #[serde(default)]
    tenant_claim: Option<String>,
    #[serde(default)]
    identity_headers: Vec<RawIdentityHeader>,
    #[serde(default)]
    trusted_hops: Option<usize>,
    #[serde(default)]
    method_override: Option<MethodOverride>,
    #[serde(default)]
    path_policy: Option<RawPathPolicy>,
    #[serde(default)]
    json_body: Option<RawJsonBody>,
    #[serde(default)]
    realm: Option<String>,
}

/// What a rule does when it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Allow,
    Deny,
}

/// What to do with a method-override header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MethodOverride {
    /// 400 `method_override` (default).
    #[default]
    Refuse,
    /// Remove the headers and decide on the real method (the `_method`
    /// query parameter is always refused: it cannot be removed safely).
    Strip,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentityHeader {
    header: String,
    #[serde(default)]
    value: Option<IdentityField>,
    #[serde(default)]
    claim: Option<String>,
}

/// A field of the identity a header can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityField {
    Tenant,
    Sub,
    ClientId,
    Iss,
    Provider,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    effect: Option<Effect>,
    #[serde(rename = "match")]
    route: RawRouteMatch,
    #[serde(default)]
    scopes: Option<RawScopes>,
    #[serde(default)]
    roles: Option<RawRoles>,
    #[serde(default)]
    claims: Vec<RawClaimCondition>,
    #[serde(default)]
    client_ips: Option<Vec<String>>,
    #[serde(default)]
    headers: Vec<RawHeaderCondition>,
    #[serde(default)]
    time: Option<Vec<RawTimeWindow>>,
    #[serde(default)]
    peer: Option<RawPeer>,
    #[serde(default)]
    tenant: Option<RawTenantBinding>,
    #[serde(default)]
    requires_identity: Option<bool>,
    #[serde(default)]
    shadow: bool,
    #[serde(default)]
    deny: Option<RawDenyResponse>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScopes {
    #[serde(default)]
    all_of: Vec<String>,
    #[serde(default)]
    any_of: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoles {
    claim: String,
    #[serde(default)]
    all_of: Vec<String>,
    #[serde(default)]
    any_of: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimCondition {
    claim: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default, rename = "in")]
    one_of: Option<Vec<Value>>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    exists: Option<bool>,
    #[serde(default)]
    gt: Option<f64>,
    #[serde(default)]
    gte: Option<f64>,
    #[serde(default)]
    lt: Option<f64>,
    #[serde(default)]
    lte: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderCondition {
    name: String,
    equals: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeWindow {
    #[serde(default)]
    weekdays: Option<Vec<String>>,
    #[serde(default)]
    hours: Option<[u8; 2]>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    #[serde(default)]
    spiffe_ids: Option<Vec<String>>,
    #[serde(default)]
    trust_domain: Option<String>,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenantBinding {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDenyResponse {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "type")]
    type_uri: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

/// Scopes the identity must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes {
    pub all_of: Vec<String>,
    pub any_of: Vec<String>,
}

/// Roles read from a claim (a list of strings, or one string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    pub claim: String,
    pub all_of: Vec<String>,
    pub any_of: Vec<String>,
}

/// One test on a (nested) claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOp {
    Equals(Value),
    In(Vec<Value>),
    Prefix(String),
    Exists(bool),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCondition {
    pub claim: String,
    pub op: ClaimOp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    /// Lower-case.
    pub name: String,
    pub equals: String,
}

/// A UTC window: any of `weekdays` (0 = Monday; empty: every day) and the
/// hours `from..to` (to exclusive; `from > to` wraps past midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub weekdays: Vec<u8>,
    pub hours: Option<(u8, u8)>,
}

/// The mTLS peer's SPIFFE ID.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerMatch {
    /// Exactly one of these IDs.
    Ids(Vec<String>),
    /// In this trust domain, its path matched by a route template (which
    /// may capture `{tenant}`: then it must equal the identity's tenant).
    Domain {
        trust_domain: String,
        path: Option<RouteMatch>,
        binds_tenant: bool,
    },
}

/// Where the request names its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantBinding {
    /// A capture of the rule's template.
    Path { capture: String, index: usize },
    /// A request header (lower-case).
    Header(String),
    /// A JSON Pointer into the JSON body.
    Body(String),
}

/// The reply a denial by this rule gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DenyResponse {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub type_uri: Option<String>,
    pub title: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub effect: Effect,
    pub route: RouteMatch,
    pub scopes: Option<Scopes>,
    pub roles: Option<Roles>,
    pub claims: Vec<ClaimCondition>,
    pub client_ips: Option<Vec<Cidr>>,
    pub headers: Vec<HeaderCondition>,
    pub time: Option<Vec<TimeWindow>>,
    pub peer: Option<PeerMatch>,
    pub tenant: Option<TenantBinding>,
    /// Without a verified identity the rule does not allow (401
    /// `no_identity`); false for rules on public or mTLS-only routes.
    pub requires_identity: bool,
    pub shadow: bool,
    pub deny: DenyResponse,
    /// Metric names, built once.
    pub allowed_metric: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeader {
    pub header: String,
    pub source: HeaderSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderSource {
    Field(IdentityField),
    Claim(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthzConfig {
    pub rules: Vec<Rule>,
    pub unmatched: Effect,
    pub shadow: bool,
    /// Dotted claim path of the tenant; None: the identity's `tenant`.
    pub tenant_claim: Option<String>,
    pub identity_headers: Vec<IdentityHeader>,
    pub trusted_hops: usize,
    pub method_override: MethodOverride,
    pub path_policy: PathPolicy,
    pub json_body: JsonBodyPolicy,
    pub realm: String,
    /// Some rule reads the client address / the body.
    pub needs_client_ip: bool,
    pub needs_body: bool,
    /// Some rule, header or the tenant reads the identity's claims (when
    /// none does, the identity is read without them: cheaper).
    pub needs_claims: bool,
    /// Headers a request decision reads (conditions, bindings): each must
    /// appear once, in one spelling, without a comma list.
    pub decision_headers: Vec<String>,
}

/// Envoy's largest configurable trusted hop count is far below this.
const MAX_TRUSTED_HOPS: usize = 16;

impl AuthzConfig {
    pub fn from_json(bytes: &[u8]) -> Result<AuthzConfig, ConfigError> {
        let raw: RawConfig = parse_json(bytes).map_err(|e| name_the_rule(bytes, e))?;
        compile(raw)
    }
}

/// A serde error at `rules[i]...` is reported as `rules[i](name)...`,
/// like every other rule error, when the rule has a readable name.
fn name_the_rule(bytes: &[u8], e: ConfigError) -> ConfigError {
    let Some(rest) = e.field.strip_prefix("rules[") else {
        return e;
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return e;
    };
    let name = serde_json::from_slice::<Value>(bytes).ok().and_then(|doc| {
        let i: usize = index.parse().ok()?;
        doc.get("rules")?
            .get(i)?
            .get("name")?
            .as_str()
            .map(str::to_string)
    });
    match name {
        Some(n) if check_name(&Field::root("n"), &n).is_ok() => ConfigError {
            field: format!("rules[{index}]({n}){tail}"),
            message: e.message,
        },
        _ => e,
    }
}

fn compile(raw: RawConfig) -> Result<AuthzConfig, ConfigError> {
    let unmatched = raw.unmatched.unwrap_or(Effect::Deny);
    if raw.rules.is_empty() && unmatched == Effect::Deny {
        return Err(err(
            "rules",
            "no rules and unmatched requests denied: every request would be refused; add a rule",
        ));
    }
    if raw.rules.len() > MAX_RULES {
        return Err(err("rules", format!("at most {MAX_RULES} rules")));
    }
    let tenant_claim = match raw.tenant_claim {
        Some(c) => Some(claim_path(&Field::root("tenant_claim"), c)?),
        None => None,
    };
    let mut identity_headers: Vec<IdentityHeader> = Vec::new();
    for (i, h) in raw.identity_headers.into_iter().enumerate() {
        let f = Field::root("identity_headers").index(i);
        check_output_header(&f.child("header"), &h.header)?;
        if identity_headers
            .iter()
            .any(|x| same_header_name(&x.header, &h.header))
        {
            return Err(f
                .child("header")
                .error(format!("{:?} is listed twice", h.header)));
        }
        let source = match (h.value, h.claim) {
            (Some(v), None) => HeaderSource::Field(v),
            (None, Some(c)) => HeaderSource::Claim(claim_path(&f.child("claim"), c)?),
            _ => {
                return Err(f.error(
                    "give exactly one of \"value\" (tenant, sub, client_id, iss, provider) or \"claim\"",
                ))
            }
        };
        identity_headers.push(IdentityHeader {
            header: h.header,
            source,
        });
    }
    let trusted_hops = match raw.trusted_hops {
        Some(n) => in_range(&Field::root("trusted_hops"), n, 0, MAX_TRUSTED_HOPS)?,
        None => 0,
    };
    let realm = raw.realm.unwrap_or_else(|| "edgeward".to_string());
    if !is_safe_header_value(&realm) || realm.contains('"') || realm.contains('\\') {
        return Err(err("realm", "must be printable ASCII without '\"' or '\\'"));
    }
    let path_policy = PathPolicy::compile(raw.path_policy);
    let json_body = JsonBodyPolicy::compile(&Field::root("json_body"), raw.json_body.as_ref())?;
    let mut rules: Vec<Rule> = Vec::new();
    for (i, r) in raw.rules.into_iter().enumerate() {
        // Errors name the rule by index and name: `rules[2](read-invoices).tenant.body`.
        let f = Field::root(&format!("rules[{i}]({})", r.name));
        let rule = compile_rule(&f, r, &identity_headers)?;
        if rules.iter().any(|x| x.name == rule.name) {
            return Err(f.child("name").error("another rule has this name"));
        }
        rules.push(rule);
    }
    let mut decision_headers: Vec<String> = Vec::new();
    for r in &rules {
        let names = r
            .headers
            .iter()
            .map(|h| h.name.clone())
            .chain(match &r.tenant {
                Some(TenantBinding::Header(h)) => Some(h.clone()),
                _ => None,
            });
        for n in names {
            if !decision_headers.contains(&n) {
                decision_headers.push(n);
            }
        }
    }
    let needs_claims = tenant_claim.is_some()
        || identity_headers
            .iter()
            .any(|h| matches!(h.source, HeaderSource::Claim(_)))
        || rules
            .iter()
            .any(|r| r.roles.is_some() || !r.claims.is_empty());
    Ok(AuthzConfig {
        needs_claims,
        needs_client_ip: rules.iter().any(|r| r.client_ips.is_some()),
        needs_body: rules
            .iter()
            .any(|r| matches!(r.tenant, Some(TenantBinding::Body(_)))),
        rules,
        unmatched,
        shadow: raw.shadow,
        tenant_claim,
        identity_headers,
        trusted_hops,
        method_override: raw.method_override.unwrap_or_default(),
        path_policy,
        json_body,
        realm,
        decision_headers,
    })
}

fn claim_path(f: &Field, c: String) -> Result<String, ConfigError> {
    if c.is_empty() || c.split('.').any(str::is_empty) {
        return Err(f.error(format!(
            "{c:?} is not a claim path: use dotted names such as \"org.tenant_id\""
        )));
    }
    Ok(c)
}

fn check_output_header(f: &Field, name: &str) -> Result<(), ConfigError> {
    const FORBIDDEN: [&str; 9] = [
        "content-type",
        "keep-alive",
        "proxy-connection",
        "trailer",
        "expect",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-forwarded-for",
    ];
    if !is_settable_header_name(name)
        || FORBIDDEN.contains(&name)
        || name.starts_with("x-envoy-")
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(f.error(format!(
            "{name:?} cannot be an identity header: use a lower-case [a-z0-9-] name that is \
             not a hop-by-hop, framing, credential or x-envoy- header"
        )));
    }
    Ok(())
}

fn compile_rule(
    f: &Field,
    r: RawRule,
    identity_headers: &[IdentityHeader],
) -> Result<Rule, ConfigError> {
    check_name(&f.child("name"), &r.name)?;
    let effect = r.effect.unwrap_or(Effect::Allow);
    let route = RouteMatch::compile(&f.child("match"), &r.route)?;
    let scopes = match r.scopes {
        Some(s) => {
            let sf = f.child("scopes");
            if s.all_of.is_empty() && s.any_of.is_empty() {
                return Err(sf.error("list scopes in \"all_of\" and/or \"any_of\""));
            }
            for (k, list) in [("all_of", &s.all_of), ("any_of", &s.any_of)] {
                for (i, sc) in list.iter().enumerate() {
                    if sc.is_empty() || !sc.bytes().all(is_scope_char) {
                        return Err(sf.child(k).index(i).error(format!(
                            "{sc:?} is not a scope (RFC 6749: printable ASCII, no space, '\"' or '\\\\')"
                        )));
                    }
                }
            }
            Some(Scopes {
                all_of: s.all_of,
                any_of: s.any_of,
            })
        }
        None => None,
    };
    let roles = match r.roles {
        Some(ro) => {
            let rf = f.child("roles");
            let claim = claim_path(&rf.child("claim"), ro.claim)?;
            if ro.all_of.is_empty() && ro.any_of.is_empty() {
                return Err(rf.error("list roles in \"all_of\" and/or \"any_of\""));
            }
            Some(Roles {
                claim,
                all_of: ro.all_of,
                any_of: ro.any_of,
            })
        }
        None => None,
    };
    let mut claims = Vec::new();
    for (i, c) in r.claims.into_iter().enumerate() {
        claims.push(compile_claim(&f.child("claims").index(i), c)?);
    }
    let client_ips = match r.client_ips {
        Some(list) => {
            let cf = f.child("client_ips");
            if list.is_empty() {
                return Err(cf.error("omit it or list address ranges"));
            }
            Some(
                list.iter()
                    .enumerate()
                    .map(|(i, s)| Cidr::parse(&cf.index(i), s))
                    .collect::<Result<Vec<_>, _>>()?,
            )
        }
        None => None,
    };
    let mut headers = Vec::new();
    for (i, h) in r.headers.into_iter().enumerate() {
        let hf = f.child("headers").index(i);
        let name = h.name.to_ascii_lowercase();
        if !is_header_token(&name) || name.starts_with(':') {
            return Err(hf
                .child("name")
                .error(format!("{:?} is not a header name", h.name)));
        }
        if identity_headers
            .iter()
            .any(|x| same_header_name(&x.header, &name))
        {
            return Err(hf.child("name").error(format!(
                "{name:?} is an identity header: client copies are removed before any rule is read"
            )));
        }
        if h.equals.contains(',') || !is_safe_header_value(&h.equals) || h.equals.trim() != h.equals
        {
            return Err(hf.child("equals").error(
                "a value without commas, control bytes or surrounding whitespace (a list would be read two ways)",
            ));
        }
        headers.push(HeaderCondition {
            name,
            equals: h.equals,
        });
    }
    let time = match r.time {
        Some(ws) => {
            let tf = f.child("time");
            if ws.is_empty() {
                return Err(tf.error("omit it or list windows"));
            }
            let mut out = Vec::new();
            for (i, w) in ws.into_iter().enumerate() {
                out.push(compile_window(&tf.index(i), w)?);
            }
            Some(out)
        }
        None => None,
    };
    let tenant = match r.tenant {
        Some(b) => Some(compile_binding(
            &f.child("tenant"),
            b,
            &route,
            identity_headers,
        )?),
        None => None,
    };
    if tenant.is_some() && effect == Effect::Deny {
        return Err(f.child("tenant").error(
            "only an allow rule binds the tenant (a deny rule denies what its conditions describe)",
        ));
    }
    let peer = match r.peer {
        Some(p) => Some(compile_peer(&f.child("peer"), p)?),
        None => None,
    };
    let needs_identity = scopes.is_some()
        || roles.is_some()
        || !claims.is_empty()
        || tenant.is_some()
        || matches!(
            peer,
            Some(PeerMatch::Domain {
                binds_tenant: true,
                ..
            })
        );
    let requires_identity = match r.requires_identity {
        Some(false) if needs_identity => {
            return Err(f.child("requires_identity").error(
                "false, but the rule has identity conditions (scopes, roles, claims, tenant)",
            ))
        }
        Some(v) => v,
        None => true,
    };
    let deny = match r.deny {
        Some(d) => compile_deny(&f.child("deny"), d)?,
        None => DenyResponse::default(),
    };
    Ok(Rule {
        allowed_metric: labeled(m::ALLOWED, &[("rule", &r.name)]),
        name: r.name,
        effect,
        route,
        scopes,
        roles,
        claims,
        client_ips,
        headers,
        time,
        peer,
        tenant,
        requires_identity,
        shadow: r.shadow,
        deny,
    })
}

fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

fn is_header_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

fn compile_claim(f: &Field, c: RawClaimCondition) -> Result<ClaimCondition, ConfigError> {
    let claim = claim_path(&f.child("claim"), c.claim)?;
    let mut ops = Vec::new();
    if let Some(v) = c.equals {
        if v.is_object() || v.is_array() || v.is_null() {
            return Err(f
                .child("equals")
                .error("compare with a string, number or boolean"));
        }
        ops.push(ClaimOp::Equals(v));
    }
    if let Some(list) = c.one_of {
        if list.is_empty()
            || list
                .iter()
                .any(|v| v.is_object() || v.is_array() || v.is_null())
        {
            return Err(f
                .child("in")
                .error("list one or more strings, numbers or booleans"));
        }
        ops.push(ClaimOp::In(list));
    }
    if let Some(p) = c.prefix {
        if p.is_empty() {
            return Err(f
                .child("prefix")
                .error("an empty prefix matches everything"));
        }
        ops.push(ClaimOp::Prefix(p));
    }
    if let Some(e) = c.exists {
        ops.push(ClaimOp::Exists(e));
    }
    for (k, v, op) in [
        ("gt", c.gt, ClaimOp::Gt as fn(f64) -> ClaimOp),
        ("gte", c.gte, ClaimOp::Gte),
        ("lt", c.lt, ClaimOp::Lt),
        ("lte", c.lte, ClaimOp::Lte),
    ] {
        if let Some(n) = v {
            if !n.is_finite() {
                return Err(f.child(k).error("must be a finite number"));
            }
            ops.push(op(n));
        }
    }
    match (ops.pop(), ops.is_empty()) {
        (Some(op), true) => Ok(ClaimCondition { claim, op }),
        _ => Err(f.error(
            "give exactly one of equals, in, prefix, exists, gt, gte, lt, lte (list several conditions for a range)",
        )),
    }
}

fn compile_window(f: &Field, w: RawTimeWindow) -> Result<TimeWindow, ConfigError> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut weekdays = Vec::new();
    if let Some(ds) = w.weekdays {
        if ds.is_empty() {
            return Err(f.child("weekdays").error("omit it or list days"));
        }
        for (i, d) in ds.iter().enumerate() {
            let lower = d.to_ascii_lowercase();
            let Some(n) = DAYS.iter().position(|x| *x == lower) else {
                return Err(f.child("weekdays").index(i).error(format!(
                    "{d:?} is not a day: use mon, tue, wed, thu, fri, sat, sun"
                )));
            };
            weekdays.push(n as u8);
        }
    }
    let hours = match w.hours {
        Some([from, to]) => {
            let hf = f.child("hours");
            in_range(&hf.index(0), from, 0, 23)?;
            in_range(&hf.index(1), to, 0, 24)?;
            if from == to || (from == 0 && to == 24) {
                return Err(hf.error(
                    "[from, to) must be a proper part of the day (omit hours for all day)",
                ));
            }
            Some((from, to))
        }
        None => None,
    };
    if weekdays.is_empty() && hours.is_none() {
        return Err(f.error("give weekdays and/or hours"));
    }
    Ok(TimeWindow { weekdays, hours })
}

fn compile_binding(
    f: &Field,
    b: RawTenantBinding,
    route: &RouteMatch,
    identity_headers: &[IdentityHeader],
) -> Result<TenantBinding, ConfigError> {
    match (b.path, b.header, b.body) {
        (Some(capture), None, None) => {
            let Some(index) = route.capture_index(&capture) else {
                return Err(f.child("path").error(format!(
                    "the rule's match has no template capture {{{capture}}}"
                )));
            };
            Ok(TenantBinding::Path { capture, index })
        }
        (None, Some(h), None) => {
            let name = h.to_ascii_lowercase();
            if !is_header_token(&name) {
                return Err(f.child("header").error(format!("{h:?} is not a header name")));
            }
            if identity_headers
                .iter()
                .any(|x| same_header_name(&x.header, &name))
            {
                return Err(f.child("header").error(format!(
                    "{name:?} is an identity header: client copies are removed and it is set from the token, so it cannot name the tenant"
                )));
            }
            Ok(TenantBinding::Header(name))
        }
        (None, None, Some(p)) => {
            if p.is_empty() || !is_valid_pointer(&p) {
                return Err(f.child("body").error(format!(
                    "{p:?} is not a JSON Pointer to a member, such as \"/customer/tenant_id\""
                )));
            }
            Ok(TenantBinding::Body(p))
        }
        _ => Err(f.error("give exactly one of \"path\" (a template capture), \"header\" or \"body\" (a JSON Pointer)")),
    }
}

fn compile_peer(f: &Field, p: RawPeer) -> Result<PeerMatch, ConfigError> {
    match (p.spiffe_ids, p.trust_domain) {
        (Some(ids), None) => {
            if p.path.is_some() {
                return Err(f.child("path").error("a path goes with \"trust_domain\""));
            }
            if ids.is_empty() {
                return Err(f.child("spiffe_ids").error("list one or more SPIFFE IDs"));
            }
            for (i, id) in ids.iter().enumerate() {
                if parse_spiffe_id(id).is_none() {
                    return Err(f.child("spiffe_ids").index(i).error(format!(
                        "{id:?} is not a SPIFFE ID such as \"spiffe://corp/ns/billing/sa/api\""
                    )));
                }
            }
            Ok(PeerMatch::Ids(ids))
        }
        (None, Some(td)) => {
            if !is_trust_domain(&td) {
                return Err(f.child("trust_domain").error(format!(
                    "{td:?} is not a trust domain (lower-case letters, digits, '.', '-', '_')"
                )));
            }
            let (path, binds_tenant) = match p.path {
                Some(t) => {
                    let raw = RawRouteMatch {
                        template: Some(t),
                        ..RawRouteMatch::default()
                    };
                    let m = RouteMatch::compile(&f.child("path"), &raw).map_err(|e| {
                        f.child("path").error(e.message)
                    })?;
                    let binds = m.has_capture("tenant");
                    (Some(m), binds)
                }
                None => (None, false),
            };
            Ok(PeerMatch::Domain {
                trust_domain: td,
                path,
                binds_tenant,
            })
        }
        _ => Err(f.error("give exactly one of \"spiffe_ids\" or \"trust_domain\" (with an optional \"path\" template)")),
    }
}

fn is_trust_domain(td: &str) -> bool {
    !td.is_empty()
        && td.len() <= 255
        && td.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}

/// A SPIFFE ID's trust domain and path (`spiffe://td/path`), or None when
/// it is not one (SPIFFE ID spec: lower-case scheme and trust domain, no
/// port, userinfo, query or fragment; a canonical path).
pub fn parse_spiffe_id(id: &str) -> Option<(&str, &str)> {
    let rest = id.strip_prefix("spiffe://")?;
    let (td, path) = match rest.find('/') {
        Some(i) => (rest.get(..i)?, rest.get(i..)?),
        None => (rest, ""),
    };
    if !is_trust_domain(td) {
        return None;
    }
    if !path.is_empty() {
        let ok_chars = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'));
        if !ok_chars || path.ends_with('/') || PathPolicy::STRICT.check(path).is_err() {
            return None;
        }
    }
    Some((td, path))
}

fn compile_deny(f: &Field, d: RawDenyResponse) -> Result<DenyResponse, ConfigError> {
    let status = match d.status {
        Some(s) => Some(in_range(&f.child("status"), s, 400, 599)?),
        None => None,
    };
    let mut headers = Vec::new();
    for (k, v) in d.headers.unwrap_or_default() {
        let hf = f.child("headers").child(&k);
        let name = k.to_ascii_lowercase();
        if !is_header_token(&name)
            || matches!(
                name.as_str(),
                "content-type"
                    | "content-length"
                    | "transfer-encoding"
                    | "connection"
                    | "set-cookie"
            )
        {
            return Err(hf.error("not a header a deny response may set"));
        }
        let Some(v) = v.as_str() else {
            return Err(hf.error("a header value is a string"));
        };
        if !is_safe_header_value(v) {
            return Err(hf.error("printable ASCII only"));
        }
        headers.push((name, v.to_string()));
    }
    for (k, v) in [("type", &d.type_uri), ("title", &d.title)] {
        if let Some(v) = v {
            if v.is_empty() || v.chars().any(char::is_control) {
                return Err(f
                    .child(k)
                    .error("a non-empty string without control characters"));
            }
        }
    }
    Ok(DenyResponse {
        status,
        headers,
        type_uri: d.type_uri,
        title: d.title,
    })
}
