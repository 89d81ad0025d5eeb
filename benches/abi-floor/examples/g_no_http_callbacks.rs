//! (g) The lifecycle exports and no HTTP callback at all: what remains is
//! Envoy's Wasm filter object and the per-request context create, done and
//! delete calls into the VM.
edgeward_abi_floor::lifecycle_exports!();
