//! The edge filter: the JWT filter and the tenant authorization filter in
//! one filter entry (`dist/edgeward_edge.wasm`, configuration
//! `{"jwt": {...}, "tenant": {...}}`). It behaves exactly as the two
//! chained (see [`crate::chain`]) and saves a Wasm module's per-request
//! floor, a header-map read and the identity's `get_property`.

use crate::authz::TenantFilter;
use crate::chain::{Chain, Pair};
use crate::jwt::JwtFilter;

/// JWT validation, then tenant authorization.
#[derive(Debug)]
pub struct JwtThenTenant;

impl Pair for JwtThenTenant {
    const NAME: &'static str = "edge";
    type First = JwtFilter;
    type Second = TenantFilter;
}

/// The edge filter.
pub type EdgeFilter = Chain<JwtThenTenant>;
