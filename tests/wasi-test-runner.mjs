#!/usr/bin/env -S node --no-warnings --experimental-wasi-unstable-preview1
// Cargo's runner for wasm32-wasip1 test binaries (set in .cargo/config.toml):
// runs libtest under node's WASI, i.e. in V8, the engine Envoy embeds.
//   tests/wasi-test-runner.mjs test.wasm [libtest args...]
// wasm32-wasip1 panics abort: a failing test traps, node reports the trap and
// exits non-zero, so the run fails (at the first failing test).
import { readFile } from "node:fs/promises";
import { argv, env, exit } from "node:process";
import { WASI } from "node:wasi";

const [path, ...args] = argv.slice(2);
if (!path) {
  console.error("usage: wasi-test-runner.mjs test.wasm [args...]");
  exit(2);
}
// Only what libtest reads; the tests need no files.
const passed = {};
for (const name of ["RUST_TEST_THREADS", "RUST_BACKTRACE", "RUST_TEST_NOCAPTURE"]) {
  if (env[name] !== undefined) passed[name] = env[name];
}
const wasi = new WASI({ version: "preview1", args: [path, ...args], env: passed, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance) ?? 0);
