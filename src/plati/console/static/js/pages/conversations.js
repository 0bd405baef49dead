// Conversations: a filtered list, and one conversation as a timeline.
import { get, messagesAfter, q } from "../api.js";
import { check, empty, field, h, link, table, when } from "../dom.js";
import { conversationHref, renderMessages } from "../timeline.js";

export async function conversationsPage(ctx) {
  const channels = await get("/channels");
  const names = new Map(channels.map((c) => [c.id, c.name]));
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const channel = h("select", { name: "channel_id" }, h("option", { value: "" }, "All channels"),
    channels.map((c) => h("option", { value: c.id, selected: params.get("channel_id") === c.id }, c.name)));
  const identity = h("input", { type: "search", name: "identity_id", value: params.get("identity_id") || "", placeholder: "exact identity id" });
  const failed = h("input", { type: "checkbox", name: "failed", checked: params.get("failed") === "true" });
  const results = h("div", { "aria-live": "polite" });
  const more = h("button", { type: "button", hidden: true }, "Load more");
  let offset = 0;
  let rows = [];

  const load = async (reset) => {
    if (reset) { offset = 0; rows = []; }
    const data = await get(`/conversations${q({
      channel_id: channel.value, identity_id: identity.value.trim(), failed: failed.checked ? "true" : "", limit: 50, offset,
    })}`);
    rows.push(...data.conversations);
    offset = data.next_offset ?? offset;
    more.hidden = !data.has_more;
    results.replaceChildren(rows.length
      ? table(["Identity", "Channel", "Started", "Last message", "Failed turns"], rows.map((c) => [
          link(conversationHref(c), c.identity_id),
          names.get(c.channel_id) || c.channel_id,
          when(c.created_at),
          when(c.updated_at),
          c.failed_turns ? h("span", { class: "badge error" }, String(c.failed_turns)) : "0",
        ]), "Conversations")
      : empty(channel.value || identity.value || failed.checked
          ? "No conversation matches these filters. Clear them to see all."
          : ["No conversations yet. Start one in the ", link("#/playground", "Playground"), "."]));
  };
  const form = h("form", { class: "panel row", role: "search", "aria-label": "Filter conversations" },
    field("Channel", channel), field("Identity", identity), check("Only with failed turns", failed),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load(true); });
  channel.addEventListener("change", () => load(true));
  failed.addEventListener("change", () => load(true));
  more.addEventListener("click", () => load(false));
  await load(true);
  return h("div", {}, form, results, h("div", { class: "buttons" }, more));
}

export async function conversationPage(ctx) {
  const [messages, mcps] = await Promise.all([messagesAfter(ctx.id), get("/workspace/mcps")]);
  // Who and where come with the link from the list (the messages do not repeat them).
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const channels = await get("/channels").catch(() => []);
  const channel = channels.find((c) => c.id === params.get("channel"));
  ctx.title.textContent = params.get("identity") ? `Conversation with ${params.get("identity")}` : "Conversation";
  const names = new Map(mcps.map((m) => [m.id, m.name]));
  const timeline = h("div", { class: "timeline" });
  renderMessages(messages, names, timeline);
  const failedTurns = timeline.querySelectorAll(".turn.failed").length;
  const calls = messages.filter((m) => m.kind === "function_call").length;
  return h("div", {},
    h("p", {}, link("#/conversations", "← All conversations")),
    h("p", { class: "muted" }, channel ? `on ${channel.name} · ` : "", h("span", { class: "mono" }, ctx.id), ` · ${messages.length} messages · ${calls} function calls · ${failedTurns} failed turns`),
    messages.length ? timeline : empty("This conversation has no messages yet."));
}
