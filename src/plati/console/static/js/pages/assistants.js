// Assistants: list, create and edit (instructions with function completion, provider, model,
// settings), attach and detach function servers.
import { del, get, patch, post, put } from "../api.js";
import { busy, check, confirmDialog, empty, errorBox, field, h, link, table } from "../dom.js";
import { promptEditor } from "../prompt-editor.js";

const PROVIDERS = ["OFFLINE", "OPENAI", "ANTHROPIC"];

export async function assistantsPage(ctx) {
  const [assistants, mcps] = await Promise.all([get("/assistants"), get("/workspace/mcps")]);
  const names = new Map(mcps.map((m) => [m.id, m.name]));
  const list = assistants.length
    ? table(
        ["Name", "Provider", "Model", "Function servers", "Unresolved references"],
        assistants.map((a) => [
          link(`#/assistants/${encodeURIComponent(a.id)}`, a.name),
          a.provider,
          a.model || "default",
          a.mcp_ids.map((id) => names.get(id) || id).join(", ") || "none",
          a.unresolved_functions.length ? h("span", { class: "badge error" }, a.unresolved_functions.join(", ")) : "none",
        ]),
        "Assistants",
      )
    : empty(ctx.canWrite ? "No assistants yet. Create one, write its instructions and attach function servers." : "No assistants yet.");
  return h("div", {},
    ctx.canWrite ? h("p", {}, h("a", { href: "#/assistants/new", class: "button-link" }, "Create an assistant")) : null,
    list);
}

const number = (name, attrs = {}) => h("input", { type: "number", name, step: "any", ...attrs });

export async function assistantEditor(ctx) {
  const isNew = ctx.id === "new";
  if (isNew && !ctx.canWrite) throw new Error("A read-only key cannot create assistants.");
  const [assistant, mcps] = await Promise.all([
    isNew ? Promise.resolve(null) : get(`/assistant/${encodeURIComponent(ctx.id)}`),
    get("/workspace/mcps"),
  ]);
  ctx.title.textContent = isNew ? "New assistant" : assistant.name;
  const ro = !ctx.canWrite;
  const a = assistant || { name: "", instructions: "", provider: "OFFLINE", model: null, languages: [], settings: {}, mcp_ids: [] };
  const tools = new Map();
  const attached = new Set(a.mcp_ids);
  const available = () => {
    const out = [];
    for (const id of attached) for (const tool of tools.get(id) || []) {
      out.push({ name: tool.name, params: Object.keys((tool.input_schema && tool.input_schema.properties) || {}), description: tool.description });
    }
    return out;
  };
  const editor = promptEditor({ value: a.instructions, functions: available, readOnly: ro });
  const load = async (id) => {
    if (!tools.has(id)) tools.set(id, await get(`/workspace/mcps/${encodeURIComponent(id)}/tools`).catch(() => []));
  };
  await Promise.all([...attached].map(load));
  editor.check();

  const name = h("input", { type: "text", name: "name", value: a.name, required: true, readonly: ro || undefined, autocomplete: "off" });
  const provider = h("select", { name: "provider", disabled: ro || undefined }, PROVIDERS.map((p) => h("option", { value: p, selected: p === a.provider }, p)));
  const model = h("input", { type: "text", name: "model", value: a.model || "", placeholder: "the provider's default", readonly: ro || undefined });
  const languages = h("input", { type: "text", name: "languages", value: a.languages.join(", "), placeholder: "en, fr", readonly: ro || undefined });
  const s = a.settings || {};
  const settings = {
    temperature: number("settings.temperature", { min: "0", max: "2", value: s.temperature ?? "" }),
    max_tokens: number("settings.max_tokens", { min: "1", step: "1", value: s.max_tokens ?? "" }),
    step_limit: number("settings.step_limit", { min: "1", step: "1", value: s.step_limit ?? "" }),
    timeout_seconds: number("settings.timeout_seconds", { min: "0.1", value: s.timeout_seconds ?? "" }),
    base_url: h("input", { type: "url", name: "settings.base_url", value: s.base_url || "", placeholder: "http://127.0.0.1:11434/v1" }),
  };
  if (ro) Object.values(settings).forEach((input) => input.setAttribute("readonly", ""));

  const servers = mcps.length
    ? h("fieldset", {}, h("legend", {}, "Function servers"),
        mcps.map((m) => {
          const box = h("input", { type: "checkbox", name: `mcp-${m.id}`, checked: attached.has(m.id), disabled: ro || undefined });
          box.addEventListener("change", async () => {
            if (box.checked) attached.add(m.id);
            else attached.delete(m.id);
            if (box.checked) await load(m.id);
            editor.check();
          });
          return check(`${m.name} (${m.tools_count} tools)`, box);
        }))
    : empty("No function servers to attach yet. ", link("#/mcps", "Register one"), " first.");

  const instructionsLabel = h("label", { for: editor.textarea.id || (editor.textarea.id = "instructions") }, "Instructions");
  const box = errorBox();
  const save = h("button", { class: "primary", type: "submit" }, isNew ? "Create assistant" : "Save");
  const form = h("form", { class: "stack" },
    h("div", { class: "panel stack" },
      h("div", { class: "row" }, field("Name", name), field("Provider", provider, { hint: "OFFLINE is built in and needs no network." }), field("Model", model)),
      h("div", { class: "field" }, instructionsLabel, editor.node),
      servers,
      h("details", {}, h("summary", {}, "Model settings"),
        h("div", { class: "row" },
          field("Temperature", settings.temperature), field("Max output tokens", settings.max_tokens),
          field("Model calls per turn", settings.step_limit), field("Timeout (seconds)", settings.timeout_seconds)),
        field("Base URL (OpenAI- or Anthropic-compatible server)", settings.base_url),
        field("Languages", languages, { hint: "Comma-separated" }))),
    assistant && assistant.unresolved_functions.length
      ? h("p", { class: "notice" }, "Saved instructions reference functions no attached server offers: ", assistant.unresolved_functions.join(", "))
      : null,
    box,
    ctx.canWrite ? h("div", { class: "buttons" }, save) : null);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(),
      instructions: editor.textarea.value,
      provider: provider.value,
      model: model.value.trim() || null,
      languages: languages.value.split(",").map((x) => x.trim()).filter(Boolean),
      settings: {},
    };
    for (const [key, input] of Object.entries(settings)) {
      if (input.value === "") continue;
      body.settings[key] = key === "base_url" ? input.value.trim() : Number(input.value);
    }
    await busy(save, box, async () => {
      const saved = isNew ? await post("/assistant", body) : await patch(`/assistant/${encodeURIComponent(a.id)}`, body);
      const before = new Set(isNew ? [] : a.mcp_ids);
      for (const id of attached) if (!before.has(id)) await put(`/assistant/${encodeURIComponent(saved.id)}/mcp/${encodeURIComponent(id)}`);
      for (const id of before) if (!attached.has(id)) await del(`/assistant/${encodeURIComponent(saved.id)}/mcp/${encodeURIComponent(id)}`);
      ctx.navigate(`#/assistants/${encodeURIComponent(saved.id)}`);
    }, form);
  });

  let remove = null;
  if (!isNew && ctx.canWrite) {
    const removeBox = errorBox();
    const button = h("button", { type: "button", class: "danger" }, "Delete assistant");
    button.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete the assistant “${a.name}”? Its channels stop answering.`))) return;
      await busy(button, removeBox, async () => {
        await del(`/assistant/${encodeURIComponent(a.id)}`);
        ctx.navigate("#/assistants");
      });
    });
    remove = h("div", { class: "stack" }, h("h2", {}, "Danger zone"), h("div", { class: "buttons" }, button), removeBox);
  }
  return h("div", {}, h("p", {}, link("#/assistants", "← All assistants")), form, remove);
}
