//! The schema filter's configuration, validated and compiled once: every
//! schema is compiled here, so a schema that does not compile, a `$ref`
//! that does not resolve, an unknown draft or an OpenAPI document that does
//! not parse refuses the plugin with an error naming the route.

use super::compile::{CompileOptions, Dialect};
use super::contract::{BodySpec, Checked, Operation, ResponseMode, ResponseSpec, StatusKey};
use super::openapi::{OpenApi, RawOpenApi};
use super::params::{Location, Param, RawParam};
use crate::body::{JsonBodyPolicy, RawJsonBody, DEFAULT_MAX_BODY};
use crate::config::{check_name, in_range, parse_json, ConfigError, Field};
use crate::path::{PathPolicy, RawPathPolicy};
use crate::route::{RawRouteMatch, RouteMatch};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::rc::Rc;

pub const DEFAULT_MAX_VIOLATIONS: usize = 10;
pub const MAX_VIOLATIONS_LIMIT: usize = 100;
pub const DEFAULT_MAX_RESPONSE: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    routes: Vec<RawRoute>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    unmatched: Option<String>,
    #[serde(default)]
    max_violations: Option<usize>,
    #[serde(default)]
    path_policy: Option<RawPathPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "match")]
    matcher: RawRouteMatch,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    contract: Option<RawContract>,
    #[serde(default)]
    openapi: Option<RawOpenApi>,
    #[serde(default)]
    select: Option<RawSelect>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelect {
    by: RawSelector,
    cases: BTreeMap<String, RawSource>,
    #[serde(default)]
    default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum RawSelector {
    Header(String),
    Claim(String),
    PathPrefix(bool),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(default)]
    contract: Option<RawContract>,
    #[serde(default)]
    openapi: Option<RawOpenApi>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    #[serde(default)]
    draft: Option<String>,
    #[serde(default)]
    formats: bool,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    body: Option<RawBody>,
    #[serde(default)]
    parameters: Vec<RawParam>,
    #[serde(default)]
    responses: BTreeMap<String, Value>,
    #[serde(default)]
    response_validation: Option<String>,
    #[serde(default)]
    strip_undeclared: bool,
    #[serde(default)]
    max_response_bytes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBody {
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default = "yes")]
    required: bool,
    #[serde(default)]
    content_types: Option<Vec<String>>,
    #[serde(default)]
    max_bytes: Option<usize>,
    #[serde(default)]
    max_depth: Option<usize>,
}

fn yes() -> bool {
    true
}

/// How a route picks its contract.
#[derive(Debug)]
pub enum Selector {
    /// The value of this request header (lower-case name).
    Header(String),
    /// The identity claim at this dotted path (`edgeward.identity`).
    Claim(String),
    /// The case whose key is a segment-aware prefix of the path.
    PathPrefix,
}

/// Where a route's (or a case's) contract comes from.
#[derive(Debug)]
pub enum Source {
    Contract(Rc<Operation>),
    OpenApi(OpenApi),
}

#[derive(Debug)]
pub enum Selection {
    One(Source),
    By {
        by: Selector,
        /// Case key (for `PathPrefix`: its segments) -> source.
        cases: Vec<(String, Vec<String>, Source)>,
        default: Option<usize>,
    },
}

#[derive(Debug)]
pub struct Route {
    pub name: String,
    pub matcher: RouteMatch,
    pub dry_run: bool,
    pub selection: Selection,
}

#[derive(Debug)]
pub struct SchemaConfig {
    pub routes: Vec<Route>,
    pub dry_run: bool,
    pub unmatched_allow: bool,
    pub max_violations: usize,
    pub path_policy: PathPolicy,
}

impl SchemaConfig {
    pub fn from_json(bytes: &[u8]) -> Result<SchemaConfig, ConfigError> {
        let raw: RawConfig = parse_json(bytes)?;
        let unmatched_allow = match raw.unmatched.as_deref() {
            None | Some("deny") => false,
            Some("allow") => true,
            Some(other) => {
                return Err(Field::root("unmatched").error(format!(
                    "{other:?}: use \"deny\" (the default) or \"allow\""
                )))
            }
        };
        let max_violations = match raw.max_violations {
            None => DEFAULT_MAX_VIOLATIONS,
            Some(n) => in_range(&Field::root("max_violations"), n, 1, MAX_VIOLATIONS_LIMIT)?,
        };
        if raw.routes.is_empty() {
            return Err(Field::root("routes").error("list at least one route"));
        }
        let mut routes = Vec::with_capacity(raw.routes.len());
        for (i, r) in raw.routes.into_iter().enumerate() {
            let route = compile_route(&Field::root("routes").index(i), i, r)?;
            if routes.iter().any(|x: &Route| x.name == route.name) {
                return Err(Field::root("routes")
                    .index(i)
                    .child("name")
                    .error(format!("route {:?} is named twice", route.name)));
            }
            routes.push(route);
        }
        Ok(SchemaConfig {
            routes,
            dry_run: raw.dry_run,
            unmatched_allow,
            max_violations,
            path_policy: PathPolicy::compile(raw.path_policy),
        })
    }
}

fn compile_route(field: &Field, index: usize, raw: RawRoute) -> Result<Route, ConfigError> {
    let name = match &raw.name {
        Some(n) => {
            check_name(&field.child("name"), n)?;
            n.clone()
        }
        None => index.to_string(),
    };
    // Errors name the route: `routes[1] (orders).contract.body.schema: ...`.
    let field = &Field::root(&format!("{field} ({name})"));
    let matcher = RouteMatch::compile(&field.child("match"), &raw.matcher)?;
    let given = [
        raw.contract.is_some(),
        raw.openapi.is_some(),
        raw.select.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(field.error("give exactly one of \"contract\", \"openapi\" or \"select\""));
    }
    let selection = if let Some(c) = raw.contract {
        Selection::One(Source::Contract(Rc::new(compile_contract(
            &field.child("contract"),
            &matcher,
            c,
            "",
        )?)))
    } else if let Some(o) = raw.openapi {
        Selection::One(Source::OpenApi(OpenApi::compile(
            &field.child("openapi"),
            o,
        )?))
    } else if let Some(s) = raw.select {
        compile_select(&field.child("select"), &matcher, s)?
    } else {
        return Err(field.error("give exactly one of \"contract\", \"openapi\" or \"select\""));
    };
    Ok(Route {
        name,
        matcher,
        dry_run: raw.dry_run,
        selection,
    })
}

fn compile_select(
    field: &Field,
    matcher: &RouteMatch,
    raw: RawSelect,
) -> Result<Selection, ConfigError> {
    let by = match raw.by {
        RawSelector::Header(h) => {
            let lower = h.to_ascii_lowercase();
            if lower.is_empty()
                || !lower
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(field
                    .child("by")
                    .child("header")
                    .error(format!("{h:?} is not a header name")));
            }
            Selector::Header(lower)
        }
        RawSelector::Claim(c) => {
            if c.is_empty() || c.split('.').any(str::is_empty) {
                return Err(field
                    .child("by")
                    .child("claim")
                    .error(format!("{c:?} is not a dotted claim path")));
            }
            Selector::Claim(c)
        }
        RawSelector::PathPrefix(true) => Selector::PathPrefix,
        RawSelector::PathPrefix(false) => {
            return Err(field
                .child("by")
                .child("path_prefix")
                .error("true, or choose another selector"))
        }
    };
    if raw.cases.is_empty() {
        return Err(field.child("cases").error("list at least one case"));
    }
    let mut cases = Vec::new();
    for (key, src) in raw.cases {
        let at = field.child("cases").child(&key);
        let segments = match by {
            Selector::PathPrefix => {
                let canon = PathPolicy::STRICT.check(&key).map_err(|v| {
                    at.error(format!("the case of a path_prefix selection is a canonical path such as \"/v1\" ({v})"))
                })?;
                let mut s = canon.segments().to_vec();
                if s.last().is_some_and(String::is_empty) {
                    s.pop();
                }
                s
            }
            _ => {
                if key.is_empty() || key.len() > 256 {
                    return Err(at.error("a case key is 1 to 256 bytes"));
                }
                Vec::new()
            }
        };
        let source = match (src.contract, src.openapi) {
            (Some(c), None) => Source::Contract(Rc::new(compile_contract(
                &at.child("contract"),
                matcher,
                c,
                "",
            )?)),
            (None, Some(o)) => Source::OpenApi(OpenApi::compile(&at.child("openapi"), o)?),
            _ => return Err(at.error("give exactly one of \"contract\" or \"openapi\"")),
        };
        cases.push((key, segments, source));
    }
    if matches!(by, Selector::PathPrefix) {
        // Longest prefix first, so /v1/beta wins over /v1.
        cases.sort_by_key(|c| std::cmp::Reverse(c.1.len()));
    }
    let default = match raw.default {
        None => None,
        Some(d) => Some(cases.iter().position(|(k, _, _)| *k == d).ok_or_else(|| {
            field
                .child("default")
                .error(format!("{d:?} is not one of the cases"))
        })?),
    };
    Ok(Selection::By { by, cases, default })
}

/// Compiles a hand-written contract. `label` names the operation (empty:
/// derived from the route).
pub fn compile_contract(
    field: &Field,
    matcher: &RouteMatch,
    raw: RawContract,
    label: &str,
) -> Result<Operation, ConfigError> {
    let dialect = match &raw.draft {
        None => Dialect::Draft202012,
        Some(d) => Dialect::parse(&field.child("draft"), d)?,
    };
    let opts = CompileOptions {
        dialect,
        formats: raw.formats,
    };
    let body = match raw.body {
        None => None,
        Some(b) => {
            let at = field.child("body");
            let policy = JsonBodyPolicy::compile(
                &at,
                Some(&RawJsonBody {
                    max_bytes: b.max_bytes.or(Some(DEFAULT_MAX_BODY)),
                    max_depth: b.max_depth,
                    content_types: b.content_types,
                }),
            )?;
            let schema = match &b.schema {
                Some(s) => Some(Rc::new(Checked::build(
                    &at.child("schema"),
                    s,
                    "",
                    opts,
                    raw.strict,
                )?)),
                None => None,
            };
            // One schema for every allowed type.
            let schemas = policy
                .content_types
                .iter()
                .map(|t| (t.clone(), schema.clone()))
                .collect();
            Some(BodySpec {
                policy,
                required: b.required,
                schemas,
            })
        }
    };
    let mut params: Vec<Param> = Vec::new();
    for (i, p) in raw.parameters.iter().enumerate() {
        let at = field.child("parameters").index(i);
        if p.location == Location::Path && !matcher.has_capture(&p.name) {
            return Err(at.child("name").error(format!(
                "the route's template has no capture {{{}}}",
                p.name
            )));
        }
        let param = Param::compile(&at, p, None, None, opts)?;
        if params
            .iter()
            .any(|q| q.location == param.location && q.name == param.name)
        {
            return Err(at.child("name").error("this parameter is declared twice"));
        }
        params.push(param);
    }
    let response_mode = match raw.response_validation.as_deref() {
        None if raw.responses.is_empty() => ResponseMode::Off,
        None => ResponseMode::Enforce,
        Some(m) => ResponseMode::parse(&field.child("response_validation"), m)?,
    };
    if raw.strip_undeclared && raw.responses.is_empty() {
        return Err(field
            .child("strip_undeclared")
            .error("needs response schemas (\"responses\")"));
    }
    let mut responses = Vec::new();
    for (k, schema) in &raw.responses {
        let at = field.child("responses").child(k);
        let status = StatusKey::parse(&at, k)?;
        let checked = Checked::build(&at, schema, "", opts, raw.strip_undeclared)?;
        responses.push(ResponseSpec {
            status,
            schema: Some(checked),
        });
    }
    let max_response_bytes = match raw.max_response_bytes {
        None => DEFAULT_MAX_RESPONSE,
        Some(n) => in_range(
            &field.child("max_response_bytes"),
            n,
            1,
            crate::body::MAX_BODY_LIMIT,
        )?,
    };
    Ok(Operation {
        label: label.to_string(),
        params,
        captures: Vec::new(),
        body,
        strict: raw.strict,
        responses,
        response_mode,
        strip: raw.strip_undeclared,
        max_response_bytes,
    })
}
