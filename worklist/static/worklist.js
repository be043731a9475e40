// Keyboard use of the worklist, without a mouse. Queue lists: j / k move to the next or
// previous item, Enter opens its claim, / goes to the filters. Nothing here is needed to use
// the pages: every action is a link or a form.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) return;
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
