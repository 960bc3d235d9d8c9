// Starting the core: the one place that touches wasm-bindgen's init functions. Each loader
// in ../load/ hands over the module in the way its runtime allows.
import init, { initSync, setErrorClass } from "../wasm/tasktoken.js";
import { TaskTokenError } from "./errors.js";

/** Instantiates the core synchronously from a `WebAssembly.Module` or the .wasm bytes. */
export function startSync(module) {
  initSync({ module });
  setErrorClass(TaskTokenError);
}

/** Instantiates the core from a URL (or Response, or bytes), streaming where possible. */
export async function start(source) {
  await init({ module_or_path: source });
  setErrorClass(TaskTokenError);
}
