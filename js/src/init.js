// Starting a core module: the one place that touches wasm-bindgen's init functions. Each
// loader in ../load/ hands over its module (`../wasm/verify/` or `../wasm/mint/`) in the way
// its runtime allows. Starting a module twice is harmless: wasm-bindgen keeps the first.
import { TaskTokenError } from "./errors.js";

/** Instantiates `core` synchronously from a `WebAssembly.Module` or the .wasm bytes. */
export function startSync(core, module) {
  core.initSync({ module });
  core.setErrorClass(TaskTokenError);
}

/** Instantiates `core` from a URL (or Response, or bytes), streaming where possible. */
export async function start(core, source) {
  await core.default({ module_or_path: source });
  core.setErrorClass(TaskTokenError);
}
