// The exam blueprint editor of the create form (docs/blueprint.md).
// Without JavaScript the blueprint is a CSV textarea (objective,bloom_level,difficulty,count);
// this turns it into rows one adds and removes, with a running total against the number of
// questions, and takes rows pasted from a spreadsheet (tab-separated). The textarea stays the
// submitted field: every change writes the rows back to it as CSV.
(function () {
  "use strict";

  var BLOOM = ["remember", "understand", "apply", "analyze", "evaluate", "create"];
  var DIFFICULTY = ["", "easy", "medium", "hard"];
  var COLUMNS = ["objective", "bloom_level", "difficulty", "count"];

  function splitLine(line, delimiter) {
    var cells = [];
    var cell = "";
    var quoted = false;
    for (var i = 0; i < line.length; i++) {
      var ch = line[i];
      if (quoted) {
        if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (ch === '"') { quoted = false; }
        else { cell += ch; }
      } else if (ch === '"' && cell === "") {
        quoted = true;
      } else if (ch === delimiter) {
        cells.push(cell); cell = "";
      } else {
        cell += ch;
      }
    }
    cells.push(cell);
    return cells.map(function (c) { return c.trim(); });
  }

  function parse(text) {
    var lines = text.split(/\r?\n/).filter(function (l) { return l.trim() !== ""; });
    if (!lines.length) { return []; }
    var delimiter = lines[0].indexOf("\t") >= 0 ? "\t" : ",";
    var columns = COLUMNS;
    var header = splitLine(lines[0], delimiter).map(function (c) { return c.toLowerCase(); });
    if (header.indexOf("objective") >= 0 && header.indexOf("count") >= 0) {
      columns = header;
      lines = lines.slice(1);
    }
    return lines.map(function (line) {
      var cells = splitLine(line, delimiter);
      var row = {};
      columns.forEach(function (name, i) { row[name] = cells[i] || ""; });
      return {
        objective: row.objective || "",
        bloom_level: (row.bloom_level || "").toLowerCase(),
        difficulty: (row.difficulty || "").toLowerCase(),
        count: row.count || ""
      };
    });
  }

  function quote(value) {
    value = String(value);
    return /[",\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function toCSV(rows) {
    if (!rows.length) { return ""; }
    return [COLUMNS.join(",")].concat(rows.map(function (row) {
      return COLUMNS.map(function (c) { return quote(row[c]); }).join(",");
    })).join("\n") + "\n";
  }

  function element(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function select(options, value, label) {
    var node = element("select", { "aria-label": label });
    options.forEach(function (option) {
      var opt = element("option", { value: option }, option || "batch's");
      if (option === value) { opt.selected = true; }
      node.appendChild(opt);
    });
    return node;
  }

  function init(fieldset) {
    var textarea = fieldset.querySelector("textarea");
    var target = document.getElementById("id_target_count");
    if (!textarea) { return; }

    var table = element("table", { "class": "blueprint-table", "data-testid": "blueprint-table" });
    table.innerHTML = "<thead><tr><th scope='col'>Objective</th><th scope='col'>Bloom level</th>" +
      "<th scope='col'>Difficulty</th><th scope='col'>Count</th><th scope='col'><span class='sr-only'>Remove</span></th></tr></thead>";
    var body = element("tbody");
    table.appendChild(body);
    var tools = element("div", { "class": "blueprint-tools" });
    var add = element("button", { type: "button", "class": "btn btn-outline", "data-testid": "blueprint-add-row" }, "Add row");
    var total = element("p", { "class": "blueprint-total", "aria-live": "polite", "data-testid": "blueprint-total" });
    var asText = element("button", { type: "button", "class": "btn btn-outline" }, "Edit as text");
    tools.appendChild(add);
    tools.appendChild(asText);
    tools.appendChild(total);
    var hint = element("p", { "class": "help" },
      "Paste rows copied from a spreadsheet into any cell: objective, Bloom level, difficulty, count.");
    var wrap = element("div", { "class": "blueprint-editor" });
    var scroller = element("div", { "class": "blueprint-scroll" });
    scroller.appendChild(table);
    wrap.appendChild(scroller);
    wrap.appendChild(tools);
    wrap.appendChild(hint);
    textarea.parentNode.insertBefore(wrap, textarea);
    textarea.hidden = true;

    function rows() {
      return Array.prototype.map.call(body.rows, function (tr) {
        var inputs = tr.querySelectorAll("input, select");
        return {
          objective: inputs[0].value.trim(),
          bloom_level: inputs[1].value,
          difficulty: inputs[2].value,
          count: inputs[3].value.trim()
        };
      }).filter(function (row) { return row.objective || row.count; });
    }

    function sync() {
      var current = rows();
      textarea.value = toCSV(current);
      var sum = current.reduce(function (s, row) { return s + (parseInt(row.count, 10) || 0); }, 0);
      var wanted = parseInt(target && target.value, 10);
      if (target && !target.value && sum > 0) { target.value = sum; wanted = sum; }
      if (!current.length) {
        total.textContent = "No rows: the questions follow the objectives above.";
        total.className = "blueprint-total";
      } else if (sum === wanted) {
        total.textContent = "Total " + sum + " of " + wanted + " questions.";
        total.className = "blueprint-total is-ok";
      } else {
        total.textContent = "Total " + sum + " of " + (isNaN(wanted) ? "?" : wanted) +
          " questions: the counts must add up to the number of questions.";
        total.className = "blueprint-total is-off";
      }
    }

    function addRow(row, before) {
      row = row || { objective: "", bloom_level: "apply", difficulty: "", count: "" };
      var tr = element("tr");
      var objective = element("input", { type: "text", maxlength: "300", "aria-label": "Objective" });
      objective.value = row.objective;
      var count = element("input", { type: "number", min: "1", "aria-label": "Count", "class": "blueprint-count" });
      count.value = row.count;
      var remove = element("button", { type: "button", "class": "btn btn-outline blueprint-remove", "aria-label": "Remove row" }, "×");
      remove.addEventListener("click", function () { tr.remove(); sync(); });
      var bloom = BLOOM.indexOf(row.bloom_level) >= 0 ? row.bloom_level : row.bloom_level || "apply";
      var cells = [objective, select(BLOOM.indexOf(bloom) >= 0 ? BLOOM : BLOOM.concat([bloom]), bloom, "Bloom level"),
        select(DIFFICULTY, row.difficulty, "Difficulty"), count, remove];
      cells.forEach(function (control) { var td = element("td"); td.appendChild(control); tr.appendChild(td); });
      body.insertBefore(tr, before || null);
      return tr;
    }

    body.addEventListener("input", sync);
    body.addEventListener("change", sync);
    if (target) { target.addEventListener("input", sync); }
    add.addEventListener("click", function () { addRow().querySelector("input").focus(); sync(); });
    asText.addEventListener("click", function () {
      var showing = !textarea.hidden;
      if (showing) {
        // Back from text: the rows are what the text says.
        body.innerHTML = "";
        parse(textarea.value).forEach(function (row) { addRow(row); });
        if (!body.rows.length) { addRow(); }
        sync();
      }
      textarea.hidden = showing;
      scroller.hidden = !showing;
      asText.textContent = showing ? "Edit as text" : "Edit as rows";
    });
    table.addEventListener("paste", function (event) {
      var text = (event.clipboardData || window.clipboardData).getData("text");
      if (text.indexOf("\t") < 0 && text.indexOf("\n") < 0) { return; }
      event.preventDefault();
      var at = event.target.closest("tr");
      var pasted = parse(text);
      pasted.forEach(function (row) { addRow(row, at && at.parentNode === body ? at : null); });
      // The empty row pasted into goes: the pasted rows take its place.
      if (at && at.parentNode === body) {
        var left = at.querySelectorAll("input");
        if (!left[0].value.trim() && !left[1].value.trim()) { at.remove(); }
      }
      sync();
    });

    parse(textarea.value).forEach(function (row) { addRow(row); });
    if (!body.rows.length) { addRow(); }
    sync();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-blueprint-editor]"), init);
  });
})();
