// Settings: the workspace's model provider credentials (secrets masked, never shown in clear).
import { get, patch } from "../api.js";
import { busy, errorBox, field, h } from "../dom.js";

const FIELDS = [
  ["openai_api_key", "OpenAI-compatible API key", true],
  ["openai_base_url", "OpenAI-compatible base URL", false],
  ["openai_model", "Default OpenAI model", false],
  ["anthropic_api_key", "Anthropic API key", true],
  ["anthropic_base_url", "Anthropic base URL", false],
  ["anthropic_model", "Default Anthropic model", false],
];

export async function settingsPage(ctx) {
  const current = await get("/workspace/settings");
  const box = errorBox();
  const inputs = {};
  const removals = {};
  const rows = FIELDS.map(([name, label, secret]) => {
    const input = h("input", {
      type: secret ? "password" : name.endsWith("_base_url") ? "url" : "text",
      name, autocomplete: "off", readonly: !ctx.canWrite || undefined,
      placeholder: current[name] ? (secret ? `set: ${current[name]} (type to replace)` : "") : "not set",
    });
    if (!secret && current[name]) input.value = current[name];
    inputs[name] = input;
    const remove = h("input", { type: "checkbox", id: `remove-${name}` });
    removals[name] = remove;
    return h("div", { class: "row" },
      field(label, input, { hint: secret && current[name] ? `Stored (masked): ${current[name]}` : undefined }),
      ctx.canWrite && current[name] ? h("div", { class: "check" }, remove, h("label", { for: remove.id }, "Remove")) : null);
  });
  const save = h("button", { class: "primary", type: "submit" }, "Save settings");
  const saved = h("p", { role: "status", class: "success", hidden: true }, "Settings saved.");
  const form = h("form", { class: "stack panel" },
    h("p", { class: "muted" }, "Credentials for assistants on OPENAI or ANTHROPIC. They override the operator's for this workspace, are stored encrypted and are only ever shown masked."),
    rows, box, saved, ctx.canWrite ? h("div", { class: "buttons" }, save) : null);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const [name, , secret] of FIELDS) {
      const value = inputs[name].value.trim();
      if (removals[name].checked) body[name] = null;
      else if (secret ? value : value !== (current[name] || "")) body[name] = value || null;
    }
    saved.hidden = true;
    await busy(save, box, async () => {
      await patch("/workspace/settings", body);
      ctx.navigate("#/settings");
    }, form);
  });
  return form;
}
