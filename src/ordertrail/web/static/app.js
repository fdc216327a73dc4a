// ordertrail pages: live regions refreshed from /api/events, and expandable rows.
(function () {
  "use strict";
  var pending = {};
  var timer = null;
  var asked = 0;  // refreshes sent so far; each region shows the answer of the latest one
  var shown = {};  // region id -> the refresh whose answer it shows
  var retry = 1000;  // wait before trying a failed refresh again (doubling, at most 15 s)
  var live = document.getElementById("live");

  function regions() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live]"));
  }

  function expanded(root) {
    var open = {};
    root.querySelectorAll('.expander[aria-expanded="true"]').forEach(function (button) {
      open[button.getAttribute("aria-controls")] = true;
    });
    root.querySelectorAll("details[open][id]").forEach(function (details) {
      open[details.id] = true;
    });
    return open;
  }

  function versions(root) {
    var seen = {};
    root.querySelectorAll("[data-key]").forEach(function (item) {
      seen[item.getAttribute("data-key")] = item.getAttribute("data-version");
    });
    return seen;
  }

  function setExpanded(button, open) {
    var target = document.getElementById(button.getAttribute("aria-controls"));
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (target) { target.hidden = !open; }
  }

  function refresh(ids) {
    var mine = ++asked;
    return fetch(window.location.href, { headers: { "X-Requested-With": "live" } })
      .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
      .then(function (html) {
        retry = 1000;
        var next = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) {
          if ((shown[id] || 0) > mine) { return; }  // a later refresh's answer came first
          shown[id] = mine;
          var old = document.getElementById(id);
          var fresh = next.getElementById(id);
          if (!old || !fresh) { return; }
          var open = expanded(old);
          var before = versions(old);
          old.innerHTML = fresh.innerHTML;
          old.querySelectorAll(".expander").forEach(function (button) {
            if (open[button.getAttribute("aria-controls")]) { setExpanded(button, true); }
          });
          old.querySelectorAll("details[id]").forEach(function (details) {
            if (open[details.id]) { details.open = true; }
          });
          old.querySelectorAll("[data-key]").forEach(function (item) {
            var key = item.getAttribute("data-key");
            if (before[key] !== item.getAttribute("data-version")) { item.classList.add("flash"); }
          });
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      })
      .catch(function () {
        // Try again (a page must not stay behind a change it was told of), waiting longer
        // each time while the server does not answer.
        ids.forEach(function (id) { pending[id] = true; });
        setTimeout(flush, retry);
        retry = Math.min(retry * 2, 15000);
      });
  }

  function flush() {
    var ids = Object.keys(pending);
    pending = {};
    timer = null;
    if (ids.length) { refresh(ids); }
  }

  function schedule(kind, data) {
    regions().forEach(function (region) {
      var topics = (region.getAttribute("data-live") || "").split(" ");
      if (kind !== "refresh" && topics.indexOf(kind) < 0) { return; }
      var only = region.getAttribute("data-order-id");
      if (only && kind === "order" && data && String(data.id) !== only) { return; }
      pending[region.id] = true;
    });
    if (timer || !Object.keys(pending).length) { return; }
    timer = setTimeout(flush, 150);
  }

  function connect() {
    if (!window.EventSource || !regions().length) { return; }
    var source = new EventSource("/api/events");
    source.addEventListener("open", function () {
      live.className = "live on";
      live.textContent = "live";
      schedule("refresh", null);
    });
    source.addEventListener("error", function () {
      live.className = "live off";
      live.textContent = "reconnecting";
    });
    ["order", "trade", "alert", "alerts", "proposal", "refresh"].forEach(function (kind) {
      source.addEventListener(kind, function (event) {
        var data = null;
        try { data = JSON.parse(event.data); } catch (e) { data = null; }
        schedule(kind, data);
      });
    });
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("a, details, summary")) { return; }
    var row = event.target.closest("[data-expand]");
    if (!row) { return; }
    var button = row.querySelector(".expander");
    if (button) { setExpanded(button, button.getAttribute("aria-expanded") !== "true"); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    connect();
    regions().forEach(function (region) {
      var every = Number(region.getAttribute("data-every"));
      if (every > 0) { setInterval(function () { refresh([region.id]); }, every); }
    });
  });
})();
