// Sluice console: the Map iteration picker navigates; a running execution refreshes itself.
"use strict";

function wire() {
  const picker = document.getElementById("iteration-picker");
  if (picker) {
    picker.addEventListener("change", () => {
      if (picker.value) window.location.href = picker.value;
    });
  }
}

async function refresh() {
  const main = document.getElementById("main");
  if (!main || main.dataset.status !== "RUNNING") return;
  try {
    const response = await fetch(main.dataset.poll, { cache: "no-store" });
    if (response.ok) {
      const update = await response.json();
      if (update.version !== main.dataset.version) {
        main.outerHTML = update.html;
        wire();
      }
    }
  } catch (err) {
    // The gateway may be restarting; keep polling.
  }
  setTimeout(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  setTimeout(refresh, 1000);
});
