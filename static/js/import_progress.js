// While an import is checked or written, ask the server how far it got and
// reload the page when it is finished.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.finished === "1") { return; }
  var bar = box.querySelector(".progress-bar");
  var text = box.querySelector("[data-progress-text]");
  function poll() {
    fetch(box.dataset.progressUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (state) {
        if (state.finished) { window.location.reload(); return; }
        var percent = state.total ? Math.round(100 * state.done / state.total) : 0;
        if (bar) { bar.style.width = percent + "%"; }
        if (text) { text.textContent = state.status_label + " · " + state.done + " / " + state.total; }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
