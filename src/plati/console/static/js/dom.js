// DOM helpers. Everything from users, models and function servers goes in as text: elements are
// built with createElement and strings become text nodes (never innerHTML).

let counter = 0;
export const uid = (prefix = "f") => `${prefix}-${++counter}`;

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "value") node.value = value;
    else if (name === "checked" || name === "disabled" || name === "selected" || name === "hidden") node[name] = Boolean(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export const loading = (what) => h("p", { class: "loading", role: "status" }, what);
export const empty = (...what) => h("div", { class: "empty" }, ...what);
export const link = (href, text) => h("a", { href }, text);

export function field(label, control, { hint, error } = {}) {
  const id = control.id || uid();
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("span", { class: "hint", id: hintId }, hint));
  }
  const errorNode = h("span", { class: "field-error", role: "alert" });
  control.fieldError = errorNode;
  parts.push(errorNode);
  if (error) errorNode.textContent = error;
  return h("div", { class: "field" }, parts);
}

export function check(label, control) {
  control.id = control.id || uid();
  return h("div", { class: "check" }, control, h("label", { for: control.id }, label));
}

export const errorBox = () => h("div", { class: "error", role: "alert" });

// Show an API error next to the control that caused it: the message in the API's words, and
// each `details` item on the field it names when the form has one.
export function showError(box, error, form) {
  if (form) {
    for (const node of form.querySelectorAll("[aria-invalid]")) {
      node.removeAttribute("aria-invalid");
      if (node.fieldError) node.fieldError.textContent = "";
    }
  }
  if (!error) {
    box.textContent = "";
    return;
  }
  box.textContent = error.message || String(error);
  const details = Array.isArray(error.details) ? error.details : [];
  if (form) {
    for (const item of details) {
      const name = String(item.field || "").replace(/^body\./, "");
      const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        if (control.fieldError) control.fieldError.textContent = item.message;
      }
    }
  }
}

// Run `action` with `button` disabled; show its error in `box`.
export async function busy(button, box, action, form) {
  button.disabled = true;
  showError(box, null, form);
  try {
    return await action();
  } catch (error) {
    showError(box, error, form);
    return undefined;
  } finally {
    button.disabled = false;
  }
}

export function table(columns, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", { class: "skip" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", {}, c)))))),
    ),
  );
}

export const json = (value) => h("pre", {}, JSON.stringify(value, null, 2) ?? "null");

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function statusBadge(status) {
  const known = ["ok", "error", "unknown"].includes(status) ? status : "unknown";
  return h("span", { class: `badge ${known}` }, status || "unknown");
}

// A modal confirmation (a native <dialog>: focus is trapped and Escape cancels).
export function confirmDialog(message, action = "Delete") {
  return new Promise((resolve) => {
    const yes = h("button", { class: "danger", type: "button", value: "yes" }, action);
    const no = h("button", { type: "button", value: "no" }, "Cancel");
    const dialog = h("dialog", { "aria-label": message }, h("p", {}, message), h("div", { class: "buttons" }, yes, no));
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
}
