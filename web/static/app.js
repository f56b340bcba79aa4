"use strict";
// Boots the Go wasm module, which fills window.ditkit and mounts the page's
// vugu components on #app. window.ditkit.ready resolves once both are done.
(function () {
  let resolveReady, rejectReady;
  const ready = new Promise((res, rej) => { resolveReady = res; rejectReady = rej; });
  window.ditkit = { ready };
  window.__ditkitReady = () => {
    window.__ditkitInteractiveMs = performance.now();
    resolveReady(true);
  };
  const fail = (e) => {
    const boot = document.getElementById("boot");
    if (boot) {
      boot.textContent = "ditkit could not start: " + e;
      boot.className = "error";
    }
    rejectReady(new Error("ditkit could not start: " + e));
  };
  window.__ditkitFailed = fail;
  // Keep a stray drop outside the drop zone from navigating away (the page
  // would lose what the user dropped).
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch("ditkit.wasm"), go.importObject)
    .then((r) => {
      // The SIMD kernel (wasm/simd) runs on Go's memory; the Web Workers
      // of the CPU backend (ditkit-worker.js) start from the same module.
      window.__ditkitMemory = r.instance.exports.mem;
      window.__ditkitModule = r.module;
      return go.run(r.instance);
    })
    .catch(fail);
})();
