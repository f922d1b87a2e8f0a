// The review workspace's keyboard shortcuts and focus handling. Every control is a real
// button or link, so the page works without this file; a key only clicks the control that
// carries its `data-shortcut` (a approve, r reject, e edit, g regenerate, j next, k previous).
// It also keeps the URL on the question shown, guards unsaved edits, and says when j or k
// has nowhere to go; `?` shows the list of shortcuts.
(function () {
  "use strict";

  function typing(target) {
    if (!(target instanceof HTMLElement)) return false;
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  function say(text, level) {
    const messages = document.getElementById("messages");
    if (!messages) return;
    const notice = document.createElement("p");
    notice.className = "notice notice-" + (level || "info");
    notice.dataset.testid = "key-notice";
    notice.textContent = text;
    messages.replaceChildren(notice);
  }

  function dirty(workspace) {
    return workspace.dataset.mode === "edit" && workspace.dataset.dirty === "1";
  }

  const NOWHERE = { j: "This is the last question in this filter.", k: "This is the first question in this filter." };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target)) return;
    const workspace = document.getElementById("workspace");
    if (!workspace || document.querySelector("dialog[open]")) return;
    if (event.key === "?") {
      const shortcuts = document.querySelector('[data-testid="shortcuts"]');
      if (shortcuts) {
        event.preventDefault();
        shortcuts.open = !shortcuts.open;
      }
      return;
    }
    if ((event.key === "j" || event.key === "k") && dirty(workspace)) {
      // Moving on would drop the edit form: stay, and say why.
      event.preventDefault();
      say("You have unsaved edits: save them or cancel the edit before moving on.", "warning");
      return;
    }
    const control = workspace.querySelector(`[data-shortcut="${CSS.escape(event.key)}"]`);
    if (!control || control.disabled) {
      if (NOWHERE[event.key]) say(NOWHERE[event.key]);
      return;
    }
    event.preventDefault();
    control.click();
  });

  // An edit is unsaved from the first keystroke in its form until the workspace is swapped.
  document.addEventListener("input", function (event) {
    const workspace = document.getElementById("workspace");
    if (workspace && workspace.dataset.mode === "edit" && workspace.contains(event.target)) {
      workspace.dataset.dirty = "1";
    }
  });
  // A click on Previous or Next with unsaved edits asks first.
  document.addEventListener(
    "click",
    function (event) {
      const workspace = document.getElementById("workspace");
      const link = event.target instanceof Element ? event.target.closest("[rel=prev], [rel=next]") : null;
      if (!workspace || !link || !dirty(workspace)) return;
      if (!window.confirm("Discard your unsaved edits to this question?")) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );
  window.addEventListener("beforeunload", function (event) {
    const workspace = document.getElementById("workspace");
    if (workspace && dirty(workspace)) event.preventDefault();
  });

  // After a swap, put keyboard users on what changed: the confirm button when a regenerate
  // asks for feedback, the first field in error, the stem when editing, else the question's heading
  // (which also tells screen readers where they are). The URL follows the question shown, so
  // a reload stays on it.
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
    if (workspace.dataset.url && window.location.pathname + window.location.search !== workspace.dataset.url) {
      window.history.replaceState(window.history.state, "", workspace.dataset.url);
    }
    // A poll that brought nothing new must not steal the focus from the reader.
    if (event.detail.requestConfig && event.detail.requestConfig.elt &&
        event.detail.requestConfig.elt.dataset.testid === "regenerating-poll" &&
        workspace.querySelector('[data-testid="regenerating-poll"]')) return;
    const target =
      // Asked for feedback: on the confirm button, so `g` (or Enter) confirms and Shift+Tab
      // reaches the feedback field.
      (workspace.dataset.askFeedback ? workspace.querySelector('[data-testid="regenerate-confirm"]') : null) ||
      workspace.querySelector(".has-error textarea") ||
      (workspace.dataset.mode === "edit" ? workspace.querySelector("#edit-stem") : null) ||
      document.getElementById("question-heading");
    if (target) target.focus();
  }
  // On the swap and again once it settled; focusing twice is harmless.
  document.addEventListener("htmx:afterSwap", focusWhatChanged);
  document.addEventListener("htmx:afterSettle", focusWhatChanged);
})();
