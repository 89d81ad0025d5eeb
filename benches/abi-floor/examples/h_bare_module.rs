//! (h) Only the ABI version, the allocator and `_initialize`: Envoy enters
//! the VM for nothing per request (context create, done and delete are not
//! exported either), so this is the cost of the Wasm filter's C++ side.
edgeward_abi_floor::module_exports!();
