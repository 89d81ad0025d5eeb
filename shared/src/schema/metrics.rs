//! Every counter the schema filter emits, declared once. Labels (see
//! [`crate::metrics`]): `route`, `outcome`, `reason`.

/// Requests decided: `outcome` `allowed`, `denied` (with `reason`),
/// `dry_run` (would have been denied; with `reason`) or `unmatched`
/// (no route, allowed).
pub const REQUESTS: &str = "edgeward.schema.requests";
/// Responses validated: `outcome` `valid`, `replaced` (502) or `logged`.
pub const RESPONSES: &str = "edgeward.schema.responses";
/// Undeclared response fields removed (label `route`).
pub const STRIPPED_FIELDS: &str = "edgeward.schema.stripped_fields";
