// Keyboard use of the worklist, without a mouse. Queue lists: j / k move to the next or
// previous item, Enter opens its claim, / goes to the filters. Review: p posts to the
// suggested claim, s skips to the next payment, q goes back to the queue; after a post, n
// opens the next payment. Each key is written on the page next to what it does. Nothing here is needed to use
// the pages: every action is a link or a form.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
    // Shortcuts named on the page: an element with data-key="p" is pressed by the key p.
    var named = document.querySelector('[data-key="' + (event.key || "").toLowerCase() + '"]');
    if (named && event.key.length === 1) {
      named.click();
      event.preventDefault();
      return;
    }
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.items tbody tr[tabindex]"));
    if (event.key === "/") {
      var first = document.querySelector(".filters input, .filters select");
      if (first) { first.focus(); event.preventDefault(); }
      return;
    }
    if (!rows.length) return;
    var at = rows.indexOf(document.activeElement);
    if (event.key === "j" || event.key === "k") {
      var next = event.key === "j" ? Math.min(at + 1, rows.length - 1) : Math.max(at - 1, 0);
      rows[at === -1 ? 0 : next].focus();
      event.preventDefault();
    } else if (event.key === "Enter" && at !== -1) {
      var link = rows[at].querySelector("a[href]");
      if (link) { link.click(); event.preventDefault(); }
    }
  });
})();
