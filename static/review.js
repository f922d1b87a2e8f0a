// The review workspace's keyboard shortcuts and focus handling. Every control is a real
// button or link, so the page works without this file; a key only clicks the control that
// carries its `data-shortcut` (a approve, r reject, e edit, j next, k previous).
(function () {
  "use strict";

  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target)) return;
    const workspace = document.getElementById("workspace");
    if (!workspace || document.querySelector("dialog[open]")) return;
    const control = workspace.querySelector(`[data-shortcut="${CSS.escape(event.key)}"]`);
    if (!control || control.disabled) return;
    event.preventDefault();
    control.click();
  });

  // After a swap, put keyboard users on what changed: the first field in error, the stem
  // when editing, else the question's heading (which also tells screen readers where they are).
  function focusWhatChanged(event) {
    const workspace = document.getElementById("workspace");
    if (!workspace) return;
    // The request's target names the workspace even when an outerHTML swap has already
    // detached it (event.detail.elt can then be the old element).
    const target_ = event.detail.target;
    const swapped = event.detail.elt;
    const ours =
      (target_ && target_.id === "workspace") || swapped === workspace || workspace.contains(swapped);
    if (!ours) return;
    const target =
      workspace.querySelector(".has-error textarea") ||
      (workspace.dataset.mode === "edit" ? workspace.querySelector("#edit-stem") : null) ||
      document.getElementById("question-heading");
    if (target) target.focus();
  }
  // On the swap and again once it settled; focusing twice is harmless.
  document.addEventListener("htmx:afterSwap", focusWhatChanged);
  document.addEventListener("htmx:afterSettle", focusWhatChanged);
})();
