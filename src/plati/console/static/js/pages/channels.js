// Channels: where conversations come in (type "api"), each answered by one assistant.
import { del, get, post, put } from "../api.js";
import { busy, check, confirmDialog, empty, errorBox, field, h, link, table } from "../dom.js";

const STRATEGIES = [
  ["enqueue", "enqueue — answer it after the running reply"],
  ["reject", "reject — refuse it (409) while a reply runs"],
  ["interrupt", "interrupt — stop the running reply, answer this"],
];

export async function channelsPage(ctx) {
  const [channels, assistants] = await Promise.all([get("/channels"), get("/assistants")]);
  const names = new Map(assistants.map((a) => [a.id, a.name]));
  const actionsBox = errorBox();

  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const assistant = h("select", { name: "assistant_id" }, h("option", { value: "" }, "(none: the channel does not answer)"),
    assistants.map((a) => h("option", { value: a.id }, a.name)));
  const active = h("input", { type: "checkbox", name: "active", checked: true });
  const strategy = h("select", { name: "multitask_strategy" }, STRATEGIES.map(([v, label]) => h("option", { value: v }, label)));
  const box = errorBox();
  const submit = h("button", { class: "primary", type: "submit" }, "Create channel");
  const cancel = h("button", { type: "button", hidden: true }, "Cancel editing");
  const formTitle = h("h2", { id: "channel-form-title" }, "Create a channel");
  let editing = null;
  const form = h("form", { class: "stack panel", "aria-labelledby": "channel-form-title" }, formTitle,
    h("div", { class: "row" }, field("Name", name), field("Assistant", assistant)),
    h("div", { class: "row" }, field("A message while a reply runs", strategy), check("Active", active)),
    box, h("div", { class: "buttons" }, submit, cancel));
  const reset = () => {
    editing = null;
    form.reset();
    active.checked = true;
    formTitle.textContent = "Create a channel";
    submit.textContent = "Create channel";
    cancel.hidden = true;
  };
  cancel.addEventListener("click", reset);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), type: "api", assistant_id: assistant.value || null, active: active.checked, multitask_strategy: strategy.value };
    await busy(submit, box, async () => {
      if (editing) await put(`/channels/${encodeURIComponent(editing)}`, body);
      else await post("/channels", body);
      ctx.navigate("#/channels");
    }, form);
  });

  const rows = channels.map((c) => {
    const actions = [];
    if (ctx.canWrite) {
      actions.push(h("button", { type: "button", class: "link", onclick: () => {
        editing = c.id;
        name.value = c.name;
        assistant.value = c.assistant_id || "";
        active.checked = c.active;
        strategy.value = c.multitask_strategy;
        formTitle.textContent = `Edit “${c.name}”`;
        submit.textContent = "Save channel";
        cancel.hidden = false;
        name.focus();
      } }, "Edit"));
      const remove = h("button", { type: "button", class: "link" }, "Delete");
      remove.addEventListener("click", async () => {
        if (!(await confirmDialog(`Delete the channel “${c.name}” and its conversations?`))) return;
        await busy(remove, actionsBox, async () => {
          await del(`/channels/${encodeURIComponent(c.id)}`);
          ctx.navigate("#/channels");
        });
      });
      actions.push(remove);
    }
    return [
      c.name,
      h("span", { class: "mono" }, c.id),
      c.assistant_id ? link(`#/assistants/${encodeURIComponent(c.assistant_id)}`, names.get(c.assistant_id) || c.assistant_id) : "none",
      c.active ? "yes" : "no",
      c.multitask_strategy,
      h("td", { class: "actions" }, link(`#/playground/${encodeURIComponent(c.id)}`, "Try"), " ", actions),
    ];
  });
  const list = channels.length
    ? table(["Name", "Id", "Assistant", "Active", "While a reply runs", ""], rows, "Channels")
    : empty(ctx.canWrite ? "No channels yet. Create one below and pick the assistant that answers it." : "No channels yet.");
  return h("div", {}, list, actionsBox, ctx.canWrite ? form : null);
}
