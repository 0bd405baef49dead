// The instructions editor: completes {{function.…}} from the functions the assistant can call,
// and lists the references none of them offers as you type.
import { h, uid } from "./dom.js";

// As the platform's plati.prompt.FUNCTION_REFERENCE.
const REFERENCE = /\{\{\s*function\.([^\s(){}]+)\s*(?:\(([^)}]*)\))?\s*\}\}/g;
const OPEN = /\{\{\s*function\.([^\s(){}]*)$/;

export function references(text) {
  return [...new Set([...text.matchAll(REFERENCE)].map((m) => m[1]))];
}

// `functions()` returns [{name, params: [..]}] of what is available now.
export function promptEditor({ value = "", functions, readOnly = false }) {
  const textarea = h("textarea", { class: "prompt", name: "instructions", spellcheck: "false", readonly: readOnly || undefined });
  textarea.value = value;
  const listId = uid("suggest");
  const list = h("ul", { class: "suggestions", id: listId, role: "listbox", "aria-label": "Functions", hidden: true });
  const warning = h("div", { class: "notice", role: "status", hidden: true });
  const hint = h("span", { class: "hint", id: uid("hint") },
    "Type {{function. to insert a function of the attached servers (↓/↑ to choose, Enter or Tab to insert, Escape to close).");
  textarea.setAttribute("aria-describedby", hint.id);
  textarea.setAttribute("aria-autocomplete", "list");
  textarea.setAttribute("aria-controls", listId);
  let options = [];
  let active = 0;

  const close = () => {
    list.hidden = true;
    options = [];
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  };
  const mark = () => {
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    if (list.children[active]) textarea.setAttribute("aria-activedescendant", list.children[active].id);
  };
  const insert = (fn) => {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const after = textarea.value.slice(textarea.selectionEnd);
    const open = before.match(OPEN);
    const start = before.length - (open ? open[1].length : 0);
    let rest = after;
    if (rest.startsWith("}}")) rest = rest.slice(2);
    const text = `${fn.name}(${fn.params.join(", ")})}}`;
    textarea.value = before.slice(0, start) + text + rest;
    const caret = start + text.length;
    textarea.setSelectionRange(caret, caret);
    close();
    check();
    textarea.dispatchEvent(new Event("input"));
  };
  const suggest = () => {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const open = before.match(OPEN);
    if (!open || readOnly) return close();
    const typed = open[1].toLowerCase();
    options = functions().filter((fn) => fn.name.toLowerCase().includes(typed));
    list.replaceChildren(...options.map((fn, i) => {
      const li = h("li", { role: "option", id: `${listId}-${i}`, onmousedown: (event) => { event.preventDefault(); insert(fn); } },
        h("span", { class: "mono" }, fn.name), fn.description ? h("span", { class: "muted" }, ` — ${fn.description}`) : null);
      return li;
    }));
    if (!options.length) {
      list.replaceChildren(h("li", { class: "muted" }, functions().length ? "No function matches." : "No functions yet: attach a function server below."));
    }
    active = 0;
    list.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
    mark();
  };
  const check = () => {
    const known = new Set(functions().map((fn) => fn.name));
    const missing = references(textarea.value).filter((name) => !known.has(name));
    warning.hidden = missing.length === 0;
    warning.replaceChildren(
      h("strong", {}, "Unresolved: "),
      `no attached function server offers ${missing.map((n) => `“${n}”`).join(", ")}. The model will not be able to call ${missing.length > 1 ? "them" : "it"}.`,
    );
  };
  textarea.addEventListener("input", () => { suggest(); check(); });
  textarea.addEventListener("click", suggest);
  textarea.addEventListener("blur", () => setTimeout(close, 100));
  textarea.addEventListener("keydown", (event) => {
    if (list.hidden || !options.length) {
      if (event.key === "Escape" && !list.hidden) { event.preventDefault(); close(); }
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
      mark();
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insert(options[active]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    }
  });
  check();
  return { textarea, node: h("div", { class: "editor" }, textarea, list, hint, warning), check };
}
