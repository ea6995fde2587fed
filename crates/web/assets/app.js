// Starling UI: live updates. Pages work without this file; with it, a page
// showing a journal that changed on another device refreshes its content
// (or, while the person is typing, offers to), and the sync status stays
// current. No framework, nothing from elsewhere (the CSP allows neither).
(function () {
  "use strict";
  var main = function () { return document.querySelector("main"); };
  var journal = document.body.getAttribute("data-journal");
  var live = document.getElementById("live");
  var dirty = false;
  // A form sent back with errors: take the person to the list of them.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
  document.addEventListener("input", function (e) {
    if (e.target && e.target.closest && e.target.closest("form")) { dirty = true; }
  });
  function say(text) {
    if (!live) { return; }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }
  function typing() {
    var a = document.activeElement;
    return dirty || (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA" || a.tagName === "SELECT"));
  }
  // Copy buttons (hidden without a clipboard): the link's text, and a
  // word in the live region that it is copied. One handler on the
  // document, so buttons in a refreshed page work too.
  var canCopy = !!(navigator.clipboard && navigator.clipboard.writeText);
  function showCopy() {
    if (!canCopy) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) { b.hidden = false; });
  }
  showCopy();
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest("button[data-copy]") : null;
    if (!b || !canCopy) { return; }
    var el = document.getElementById(b.getAttribute("data-copy"));
    if (!el) { return; }
    var text = (el.value !== undefined ? el.value : el.textContent).trim();
    navigator.clipboard.writeText(text).then(
      function () {
        say(b.getAttribute("data-copied"));
        b.textContent = b.getAttribute("data-done-label");
        window.setTimeout(function () { b.textContent = b.getAttribute("data-label"); }, 4000);
      },
      function () { say(b.getAttribute("data-failed")); });
  });
  var pending = null;
  function offer(text) {
    var b = document.getElementById("changes-banner");
    if (!b) { return; }
    b.hidden = false;
    var t = b.querySelector("[data-text]");
    if (t) { t.textContent = text; }
  }
  function refresh(text) {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "x-starling-refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.querySelector("main");
        if (next) { main().replaceWith(next); showCopy(); }
        // Only the status's words: the element (a live region) stays.
        var status = doc.getElementById("sync-status-text");
        var here = document.getElementById("sync-status-text");
        if (status && here && here.textContent !== status.textContent) { here.textContent = status.textContent; }
        var b = document.getElementById("changes-banner");
        if (b) { b.hidden = true; }
        dirty = false;
        say(text);
      })
      .catch(function () { /* offline is normal: the next event tries again */ });
  }
  var shown = document.getElementById("changes-show");
  if (shown) { shown.addEventListener("click", function () { refresh(pending || ""); }); }
  if (!window.EventSource) { return; }
  var es = new EventSource("/events");
  var rendered = parseInt(document.body.getAttribute("data-revision") || "0", 10);
  // Changes that arrived while this page was loading: the stream opens
  // with the current revision.
  es.addEventListener("hello", function (ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    if (d.revision > rendered) {
      rendered = d.revision;
      if (typing()) { offer(""); } else { refresh(""); }
    }
  });
  es.addEventListener("update", function (ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    var relevant = ["changed", "conflict", "members_changed", "removed"].indexOf(d.kind) >= 0;
    if (!relevant) { return; }
    if (journal && d.journal && d.journal !== journal) { return; }
    pending = d.text;
    rendered = Math.max(rendered, d.revision || 0);
    if (typing()) { offer(d.text); } else { refresh(d.text); }
  });
  es.addEventListener("status", function (ev) {
    var d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    var el = document.getElementById("sync-status-text");
    if (el) { el.textContent = d.text; }
    // A page about the connection itself (Relay details) shows the change.
    if (document.body.hasAttribute("data-status-page") && !typing()) { refresh(""); }
  });
})();
