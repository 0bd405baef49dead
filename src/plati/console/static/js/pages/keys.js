// API keys: create read-only or read-write keys (the key shown once), list, revoke.
import { del, get, post } from "../api.js";
import { busy, confirmDialog, errorBox, field, h, table, when } from "../dom.js";

export async function keysPage(ctx) {
  const keys = await get("/workspace/api-keys");
  const listBox = errorBox();
  const rows = keys.map((k) => {
    let action = "";
    if (k.revoked_at) action = "revoked";
    else if (k.current) action = h("span", { class: "muted" }, "signed in with this key");
    else if (ctx.canWrite) {
      const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke ${k.name}` }, "Revoke");
      revoke.addEventListener("click", async () => {
        if (!(await confirmDialog(`Revoke the key “${k.name}” (${k.prefix}…)? Anything using it stops working at once.`, "Revoke"))) return;
        await busy(revoke, listBox, async () => {
          await del(`/workspace/api-keys/${encodeURIComponent(k.id)}`);
          ctx.navigate("#/keys");
        });
      });
      action = revoke;
    }
    return [k.name, k.access, h("span", { class: "mono" }, `${k.prefix}…`), when(k.created_at), when(k.last_used_at),
      k.revoked_at ? when(k.revoked_at) : "—", h("td", { class: "actions" }, action)];
  });
  const list = table(["Name", "Access", "Key", "Created", "Last used", "Revoked", ""], rows, "API keys");
  if (!ctx.canWrite) return h("div", {}, list, listBox);

  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", placeholder: "ci, dashboard, …" });
  const access = h("select", { name: "access" },
    h("option", { value: "read-only" }, "read-only — reads, nothing else"),
    h("option", { value: "read-write" }, "read-write — everything"));
  const box = errorBox();
  const shown = h("div", { "aria-live": "polite" });
  const submit = h("button", { class: "primary", type: "submit" }, "Create key");
  const form = h("form", { class: "stack panel", "aria-labelledby": "new-key-title" },
    h("h2", { id: "new-key-title" }, "Create a key"),
    h("div", { class: "row" }, field("Name", name), field("Access", access)), box,
    h("div", { class: "buttons" }, submit), shown);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(submit, box, async () => {
      const created = await post("/workspace/api-keys", { name: name.value.trim(), access: access.value });
      const secret = h("input", { type: "text", readonly: true, value: created.key, class: "secret", "aria-label": "The new key" });
      const copy = h("button", { type: "button" }, "Copy");
      copy.addEventListener("click", async () => {
        secret.select();
        try { await navigator.clipboard.writeText(created.key); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy it"; }
      });
      const done = h("button", { type: "button", onclick: () => ctx.navigate("#/keys") }, "Done: I saved it");
      shown.replaceChildren(h("div", { class: "success stack", role: "status" },
        h("strong", {}, `Key “${created.name}” (${created.access}) created. Copy it now: it is not shown again.`),
        h("div", { class: "row" }, h("div", { class: "field" }, secret), copy, done)));
      name.value = "";
      secret.focus();
      secret.select();
    }, form);
  });
  return h("div", {}, form, h("h2", {}, "Keys"), list, listBox);
}
