//! Schema enforcement: JSON Schema and OpenAPI contracts on requests and
//! responses, compiled once at configure time (validation by the
//! `jsonschema` crate).
//!
//! - [`config`]: the plugin configuration (routes, contract selection)
//! - [`contract`]: a compiled operation (body, parameters, responses)
//! - [`compile`]: drafts, schema compilation, violations without values
//! - [`fast`]: the single-pass fast path (accepts valid bodies without a tree)
//! - [`declared`]: declared properties (strict mode, response stripping)
//! - [`params`]: path / query / header parameters and their coercion
//! - [`openapi`]: OpenAPI 3.0 / 3.1 documents as contract sources
//! - [`metrics`]: every counter, declared once
//! - [`runtime`]: [`SchemaFilter`], the filter on the shared filter layer
pub mod compile;
pub mod config;
pub mod contract;
pub mod declared;
pub mod fast;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod runtime;

pub use runtime::SchemaFilter;
