// Keeps an open page current without a reload: the server's event stream says when
// something changed, and the page fetches itself again and swaps its <main>. While
// someone is typing in a form on the page, the swap waits until they are done.
(function () {
  "use strict";
  var updates = 0;
  function busy(main) {
    var a = document.activeElement;
    return a && main.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.value !== "";
  }
  function refresh() {
    var main = document.getElementById("main");
    if (!main) return;
    if (busy(main)) { setTimeout(refresh, 1000); return; }
    fetch(location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!fresh) return;
        main.replaceWith(fresh);
        updates += 1;
        document.body.setAttribute("data-updates", String(updates));
        sortable();
      });
  }
  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (th, col) {
        th.onclick = function () {
          var body = table.tBodies[0];
          var asc = th.getAttribute("data-sort") !== "asc";
          var number = th.getAttribute("data-type") === "number";
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = a.cells[col], y = b.cells[col];
            var vx = x.getAttribute("data-value") || x.textContent, vy = y.getAttribute("data-value") || y.textContent;
            var d = number ? parseFloat(vx) - parseFloat(vy) : vx.localeCompare(vy);
            return asc ? d : -d;
          });
          rows.forEach(function (r) { body.appendChild(r); });
          table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-sort"); });
          th.setAttribute("data-sort", asc ? "asc" : "desc");
        };
      });
    });
  }
  document.addEventListener("DOMContentLoaded", sortable);
  if (window.EventSource) {
    var source = new EventSource("/live");
    var timer = null;
    source.addEventListener("change", function () {
      if (timer) return;
      timer = setTimeout(function () { timer = null; refresh(); }, 150);
    });
    source.addEventListener("open", function () { document.body.setAttribute("data-live", "open"); });
  }
})();
