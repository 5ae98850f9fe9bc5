// The alerts page: create / edit rules through the JSON API, preview them, send tests, silence, delete.
// Every server-provided string is written with textContent, never innerHTML; no inline scripts (CSP).
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function $(sel) { return document.querySelector(sel); }
  function form() { return document.getElementById("alert-form"); }

  function token() {
    var input = document.getElementById("f-token");
    if (input && input.value) { try { sessionStorage.setItem("tracker-admin-token", input.value); } catch (e) {} return input.value; }
    try { return sessionStorage.getItem("tracker-admin-token") || ""; } catch (e) { return ""; }
  }

  function headers(json) {
    var h = {};
    if (json) { h["Content-Type"] = "application/json"; }
    var t = token();
    if (t) { h["Authorization"] = "Bearer " + t; }
    return h;
  }

  function numberOrText(value) {
    var v = value.trim();
    if (v === "") { return null; }
    var n = Number(v);
    return isNaN(n) ? v : n;
  }

  function readForm() {
    var f = form();
    var body = {
      name: f.elements.name.value.trim(),
      topic: f.elements.topic.value,
      metric: f.elements.metric.value,
      window: f.elements.window.value.trim(),
      op: f.elements.op.value,
      threshold: numberOrText(f.elements.threshold.value),
      clear_threshold: numberOrText(f.elements.clear_threshold.value),
      min_headlines: numberOrText(f.elements.min_headlines.value),
      "for": f.elements["for"].value.trim() || null,
      repeat_interval: f.elements.repeat_interval.value.trim() || "24h",
      no_data: f.elements.no_data.value,
      on_error: f.elements.on_error.value,
      channels: f.elements.channels.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean)
    };
    if (body.min_headlines === null) { body.min_headlines = 1; }
    body.enabled = f.dataset.enabled !== "false";  // an edit keeps a disabled rule disabled
    return body;
  }

  function clearErrors() {
    document.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    $("#form-status").textContent = "";
  }

  function showErrors(data) {
    var errors = (data && data.errors) || {};
    var shown = false;
    Object.keys(errors).forEach(function (field) {
      var el = document.querySelector('.field-error[data-error-for="' + field + '"]') ||
               document.querySelector('.field-error[data-error-for="body"]');
      if (el) { el.textContent = errors[field]; shown = true; }
    });
    if (!shown) { $("#form-status").textContent = (data && typeof data.detail === "string") ? data.detail : "The rule was not accepted."; }
  }

  function request(method, url, body) {
    return fetch(url, {
      method: method, headers: headers(body !== undefined), credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
        return { status: resp.status, ok: resp.ok, data: data };
      });
    });
  }

  function drawSpark(svg, runs) {
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    (runs || []).forEach(function (pts) {
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", pts);
      line.setAttribute("fill", "none");
      line.setAttribute("stroke", "currentColor");
      line.setAttribute("stroke-width", "1");
      svg.appendChild(line);
    });
  }

  function preview() {
    clearErrors();
    var box = $("#preview");
    $("#preview-summary").textContent = "Computing…";
    box.hidden = false;
    request("POST", "/api/alerts/preview", readForm()).then(function (r) {
      if (r.status === 422) { box.hidden = true; showErrors(r.data); return; }
      if (!r.ok) { $("#preview-summary").textContent = "Preview failed (" + r.status + ")."; return; }
      $("#preview-summary").textContent = r.data.summary;
      drawSpark($("#preview-spark"), r.data.sparkline);
      var list = $("#preview-events");
      while (list.firstChild) { list.removeChild(list.firstChild); }
      (r.data.events || []).filter(function (e) { return e.to === "firing" || e.to === "resolved"; })
        .slice(0, 20).forEach(function (e) {
          var li = document.createElement("li");
          li.textContent = e.at.slice(0, 16).replace("T", " ") + "  " + e.from + " → " + e.to +
            (e.value === null ? "" : "  (" + Number(e.value).toPrecision(4) + ")");
          list.appendChild(li);
        });
    }).catch(function () { $("#preview-summary").textContent = "Preview failed: the server did not answer."; });
  }

  function save(ev) {
    ev.preventDefault();
    clearErrors();
    var id = form().elements.id.value;
    var method = id ? "PUT" : "POST";
    var url = id ? "/api/alerts/" + encodeURIComponent(id) : "/api/alerts";
    request(method, url, readForm()).then(function (r) {
      if (r.status === 422) { showErrors(r.data); return; }
      if (!r.ok) { $("#form-status").textContent = (r.data && r.data.detail) || ("Error " + r.status); return; }
      $("#form-status").textContent = "Saved.";
      window.location.reload();
    }).catch(function () { $("#form-status").textContent = "The server did not answer."; });
  }

  function edit(button) {
    var rule = JSON.parse(button.dataset.rule);
    var f = form();
    f.elements.id.value = button.closest("tr").dataset.ruleId;
    f.dataset.enabled = rule.enabled === false ? "false" : "true";
    ["name", "topic", "metric", "window", "op", "repeat_interval", "no_data", "on_error"].forEach(function (k) {
      if (rule[k] !== undefined && rule[k] !== null) { f.elements[k].value = rule[k]; }
    });
    f.elements.threshold.value = rule.threshold;
    f.elements.clear_threshold.value = rule.clear_threshold === null ? "" : rule.clear_threshold;
    f.elements.min_headlines.value = rule.min_headlines;
    f.elements["for"].value = rule["for"] || "";
    f.elements.channels.value = (rule.channels || []).join("\n");
    $("#form-title").textContent = "Edit rule";
    f.scrollIntoView();
  }

  function resetForm() {
    form().reset();
    form().elements.id.value = "";
    form().dataset.enabled = "true";
    $("#form-title").textContent = "New rule";
    clearErrors();
  }

  function sendTest(button) {
    var status = $("#action-status");
    status.textContent = "Sending a test…";
    request("POST", "/api/alerts/" + encodeURIComponent(button.dataset.id) + "/test").then(function (r) {
      if (!r.ok && !(r.data && r.data.results)) { status.textContent = (r.data && (r.data.detail || (r.data.errors || []).join("; "))) || ("Error " + r.status); return; }
      var parts = (r.data.results || []).map(function (x) { return x.channel + ": " + x.status + (x.error ? " (" + x.error + ")" : ""); });
      status.textContent = "Test: " + r.data.delivered + " delivered. " + parts.join("; ") + " " + (r.data.errors || []).join("; ");
    });
  }

  function silence(button, lift) {
    var url = "/api/alerts/" + encodeURIComponent(button.dataset.id) + "/silence";
    (lift ? request("DELETE", url) : request("POST", url, { "for": "1h" })).then(function (r) {
      if (r.ok) { window.location.reload(); return; }
      $("#action-status").textContent = (r.data && r.data.detail) || ("Error " + r.status);
    });
  }

  function remove(button) {
    if (!window.confirm("Delete the rule " + button.dataset.name + " and its history?")) { return; }
    request("DELETE", "/api/alerts/" + encodeURIComponent(button.dataset.id)).then(function (r) {
      if (r.ok) { window.location.reload(); return; }
      $("#action-status").textContent = (r.data && r.data.detail) || ("Error " + r.status);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!form()) { return; }
    form().addEventListener("submit", save);
    $("#preview-button").addEventListener("click", preview);
    $("#reset-button").addEventListener("click", resetForm);
    document.querySelectorAll(".edit-rule").forEach(function (b) { b.addEventListener("click", function () { edit(b); }); });
    document.querySelectorAll(".test-rule").forEach(function (b) { b.addEventListener("click", function () { sendTest(b); }); });
    document.querySelectorAll(".delete-rule").forEach(function (b) { b.addEventListener("click", function () { remove(b); }); });
    document.querySelectorAll(".silence-rule").forEach(function (b) { b.addEventListener("click", function () { silence(b, false); }); });
    document.querySelectorAll(".unsilence-rule").forEach(function (b) { b.addEventListener("click", function () { silence(b, true); }); });
  });
})();
