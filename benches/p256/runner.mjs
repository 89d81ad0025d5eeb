// Runs a wasm32-wasip1 command module under node's WASI (V8, as in Envoy).
//   node --no-warnings --experimental-wasi-unstable-preview1 runner.mjs module.wasm [args...]
import { readFile } from "node:fs/promises";
import { argv, exit } from "node:process";
import { WASI } from "node:wasi";

const [path, ...args] = argv.slice(2);
if (!path) {
  console.error("usage: runner.mjs module.wasm [args...]");
  exit(2);
}
const wasi = new WASI({ version: "preview1", args: [path, ...args], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const code = wasi.start(instance);
exit(code ?? 0);
