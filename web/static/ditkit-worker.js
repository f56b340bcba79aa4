"use strict";
// A Web Worker running its own ditkit Go wasm instance: one shard of a
// model for the page's CPU backend on every core (wasm/workers.go). The
// page posts {type: "boot", module} (the compiled ditkit.wasm), then
// messages the Go side handles once it has registered itself.
importScripts("wasm_exec.js");
let handle = null;
const queue = [];
self.__ditkitWorkerReady = (fn) => {
  handle = fn;
  for (const m of queue.splice(0)) handle(m);
};
self.onmessage = (e) => {
  const m = e.data;
  if (m && m.type === "boot") {
    const go = new Go();
    WebAssembly.instantiate(m.module, go.importObject)
      .then((inst) => {
        self.__ditkitMemory = inst.exports.mem;
        return go.run(inst);
      })
      .catch((err) => self.postMessage({ type: "error", message: "worker could not start: " + err }));
    return;
  }
  if (handle) handle(m);
  else queue.push(m);
};
