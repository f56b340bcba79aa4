"use strict";
// Boots the Go wasm module (which defines window.ditkit) and renders reports.
(function () {
  const status = document.getElementById("status");
  const report = document.getElementById("report");
  const drop = document.getElementById("drop");
  const input = document.getElementById("file");

  const go = new Go();
  const ready = new Promise((resolve) => { window.__ditkitReady = resolve; });
  WebAssembly.instantiateStreaming(fetch("ditkit.wasm"), go.importObject)
    .then((r) => { go.run(r.instance); return ready; })
    .then(() => { status.textContent = "Ready. Your file never leaves this page."; })
    .catch((e) => { status.textContent = "Could not start: " + e; status.className = "error"; });

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    for (const k of kids) e.append(k);
    return e;
  }

  async function show(file) {
    status.textContent = "Reading " + file.name + " …";
    status.className = "";
    try {
      const r = await window.ditkit.inspect(file);
      render(r);
      status.textContent = file.name + ": " + r.tensor_count + " tensors.";
    } catch (e) {
      status.textContent = String(e.message || e);
      status.className = "error";
    }
  }

  function render(r) {
    report.replaceChildren();
    report.hidden = false;
    if (r.safety.verdict === "dangerous" || r.safety.verdict === "unknown") {
      report.append(el("p", { className: "danger", textContent: r.safety.verdict.toUpperCase() + ": " + r.safety.summary }));
    }
    const dl = el("dl");
    const row = (k, v) => dl.append(el("dt", { textContent: k }), el("dd", { textContent: v }));
    row("file", r.file);
    row("format", r.format);
    row("weights root", r.weights_root || "(top level)");
    row("tensors", String(r.tensor_count));
    row("parameters", String(r.params));
    row("safety", r.safety.verdict + " — " + r.safety.summary);
    report.append(dl);
    const table = el("table");
    table.append(el("tr", {}, el("th", { textContent: "name" }), el("th", { textContent: "dtype" }), el("th", { textContent: "shape" })));
    for (const t of r.tensors) {
      table.append(el("tr", {}, el("td", { textContent: t.name }), el("td", { textContent: t.dtype }), el("td", { textContent: "[" + t.shape.join(", ") + "]" })));
    }
    report.append(table);
  }

  input.addEventListener("change", () => { if (input.files.length) show(input.files[0]); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) show(e.dataTransfer.files[0]);
  });
})();
