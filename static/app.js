// The few behaviours htmx does not cover: the cancel dialog, focus after swaps, network errors.
// Everything works without this file; it only makes the pages nicer to use.
(function () {
  "use strict";

  function notice(text) {
    const messages = document.getElementById("messages");
    if (!messages) return;
    const p = document.createElement("p");
    p.className = "notice notice-error";
    p.textContent = text;
    messages.replaceChildren(p);
  }

  function focusFirst(...selectors) {
    for (const selector of selectors) {
      const element = document.querySelector(selector);
      if (element) {
        element.focus();
        return;
      }
    }
  }

  // A button with data-opens-dialog asks in a modal dialog instead of going to its
  // confirmation page; browsers without <dialog> still get the page.
  document.addEventListener("click", function (event) {
    const opener = event.target.closest("[data-opens-dialog]");
    if (!opener || opener.disabled) return;
    const dialog = document.getElementById(opener.dataset.opensDialog);
    if (!dialog || typeof dialog.showModal !== "function") return;
    event.preventDefault();
    dialog.showModal();
  });

  // The dialog's action is answered (or failed): close it.
  document.addEventListener("htmx:afterRequest", function (event) {
    const dialog = event.target.closest("dialog");
    if (dialog && dialog.open) dialog.close();
  });

  // A poll may have replaced the button that opened the dialog; focus its successor, or the
  // status when the control no longer applies.
  document.addEventListener(
    "close",
    function (event) {
      if (!(event.target instanceof HTMLDialogElement)) return;
      focusFirst("[data-testid=cancel-button]:not([disabled])", "#batch-status");
    },
    true,
  );

  // A control action swaps its own button away (Pause becomes Resume): keep keyboard users
  // in the controls instead of dropping them at the top of the page.
  document.addEventListener("htmx:afterSettle", function (event) {
    const config = event.detail.requestConfig;
    if (!config || config.verb !== "post" || document.activeElement !== document.body) return;
    focusFirst(".controls button:not([disabled])", "#batch-status");
  });

  // The progress fragment is swapped whole on every poll: carry the export status the user
  // chose, so the server renders it selected again (batches/exports/menu.py CHOSEN_PARAM).
  // Only a choice they made: an untouched menu keeps following the default.
  document.addEventListener("change", function (event) {
    if (event.target.id === "export-status") event.target.dataset.chosen = "true";
  });
  document.addEventListener("htmx:configRequest", function (event) {
    const menu = document.getElementById("export-status");
    if (!menu || !menu.dataset.chosen || event.detail.verb !== "get") return;
    if (!event.detail.elt.closest || !event.detail.elt.closest("#batch-progress")) return;
    event.detail.parameters.export_status = menu.value;
  });

  // Polls fail quietly and try again; an action the user asked for must not.
  document.addEventListener("htmx:sendError", function (event) {
    if (event.detail.requestConfig.verb === "post") {
      notice("The server could not be reached, so nothing was changed. Check your connection and try again.");
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    if (event.detail.requestConfig.verb === "post") {
      const status = event.detail.xhr.status;
      notice(`That did not work (error ${status}). Reload the page and try again.`);
    }
  });
})();
