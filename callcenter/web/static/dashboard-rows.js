// Table bodies updated row by row, in place: a row whose content did not change is left alone, so the
// element with the keyboard focus (a button in a row) stays where the operator left it, and a screen reader
// does not hear the whole list again.

const rendered = new WeakMap();

// `name`: the row's key is also set as data-<name> (data-interface="Local/101@agents"), for styles and tests.
export function syncRows(tbody, items, keyOf, rowHtml, emptyHtml = "", name = "") {
  const focused = document.activeElement;
  const focusedKey = focused && tbody.contains(focused) ? focused.closest("tr")?.dataset.key : null;
  const focusedControl = focusedKey ? controlName(focused) : null;
  const existing = new Map([...tbody.children].map((row) => [row.dataset.key, row]));
  const wanted = items.map((item) => [String(keyOf(item)), rowHtml(item)]);
  if (!wanted.length) {
    if (tbody.dataset.empty !== "1") {
      tbody.innerHTML = emptyHtml;
      tbody.dataset.empty = "1";
    }
    labelCells(tbody.closest("table"));
    return;
  }
  if (tbody.dataset.empty === "1") {
    tbody.replaceChildren();
    delete tbody.dataset.empty;
    existing.clear();
  }
  let previous = null;
  for (const [key, html] of wanted) {
    let row = existing.get(key);
    existing.delete(key);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.key = key;
      if (name) row.setAttribute(`data-${name}`, key);
    }
    if (rendered.get(row) !== html) {
      row.innerHTML = html;
      rendered.set(row, html);
      if (key === focusedKey && focusedControl) row.querySelector(focusedControl)?.focus();
    }
    const after = previous ? previous.nextSibling : tbody.firstChild;
    if (row !== after) tbody.insertBefore(row, after);
    previous = row;
  }
  for (const row of existing.values()) row.remove();
  labelCells(tbody.closest("table"));
}

// A table that narrow cards show as one block per row (table.stack in dashboard.css): each cell gets its column's
// header text as data-label, which the stylesheet writes above the value. A cell across several columns (the
// "nothing here" row) gets none. The roles are the elements' own, said explicitly because some browsers forget
// a table's semantics once CSS displays its parts as blocks; the header row stays in the page for screen readers.
export function labelCells(table) {
  if (!table?.classList.contains("stack")) return;
  const headers = [...(table.tHead?.rows[0]?.cells ?? [])].map((th) => th.textContent.trim());
  table.setAttribute("role", "table");
  for (const section of [table.tHead, ...table.tBodies]) section?.setAttribute("role", "rowgroup");
  for (const th of table.tHead?.rows[0]?.cells ?? []) th.setAttribute("role", "columnheader");
  for (const row of table.rows) {
    row.setAttribute("role", "row");
    if (row.parentElement === table.tHead) continue;
    let column = 0;
    for (const cell of row.cells) {
      if (cell.getAttribute("role") !== "cell") cell.setAttribute("role", "cell");
      const label = cell.colSpan === 1 ? headers[column] ?? "" : "";
      if (!label) cell.removeAttribute("data-label");
      else if (cell.dataset.label !== label) cell.dataset.label = label;
      column += cell.colSpan;
    }
  }
}

// A selector that finds "the same" control in a row rebuilt from new HTML: its data-* action attribute.
function controlName(element) {
  const action = [...element.attributes].find((a) => a.name.startsWith("data-"));
  return action ? `[${action.name}="${CSS.escape(action.value)}"]` : element.tagName.toLowerCase();
}
