// Draws the figures embedded as JSON blocks and makes the filter form submit on change.
// Kept out of the pages so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  function drawFigures() {
    if (typeof Plotly === "undefined") { return; }
    document.querySelectorAll("script.figure-data").forEach(function (block) {
      var target = document.getElementById(block.dataset.target);
      if (!target) { return; }
      var fig = JSON.parse(block.textContent);
      Plotly.newPlot(target, fig.data || [], fig.layout || {}, { displaylogo: false, responsive: true });
    });
  }
  function wireFilters() {
    var form = document.getElementById("filters");
    if (!form) { return; }
    var range = document.getElementById("f-range");
    var custom = document.getElementById("f-custom");
    form.querySelectorAll("select.autosubmit").forEach(function (sel) {
      sel.addEventListener("change", function () {
        if (sel === range && range.value === "custom") {
          custom.classList.remove("hidden");
          custom.querySelectorAll("input").forEach(function (i) { i.disabled = false; });
          return;  // wait for the dates
        }
        if (sel === range) {
          custom.querySelectorAll("input").forEach(function (i) { i.disabled = true; });
          // A new range gets the bucket that suits it, not the old one.
          var bucket = document.getElementById("f-bucket");
          if (bucket) { bucket.disabled = true; }
        }
        form.submit();
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { wireFilters(); drawFigures(); });
})();
