// Overview: counts, recent conversations, function-server health.
import { conversationHref } from "../timeline.js";
import { get } from "../api.js";
import { empty, h, link, statusBadge, table, when } from "../dom.js";

export async function overviewPage() {
  const [mcps, assistants, channels, recent] = await Promise.all([
    get("/workspace/mcps"),
    get("/assistants"),
    get("/channels"),
    get("/conversations?limit=5"),
  ]);
  const all = await get("/conversations?limit=200");
  const conversationCount = `${all.conversations.length}${all.has_more ? "+" : ""}`;
  const channelNames = new Map(channels.map((c) => [c.id, c.name]));
  const card = (n, label, href) => h("div", { class: "card" }, h("a", { href }, h("span", { class: "n" }, n), label));
  const cards = h("div", { class: "cards" },
    card(mcps.length, "Function servers", "#/mcps"),
    card(assistants.length, "Assistants", "#/assistants"),
    card(channels.length, "Channels", "#/channels"),
    card(conversationCount, "Conversations", "#/conversations"));

  const conversations = recent.conversations.length
    ? table(
        ["Identity", "Channel", "Last message", "Failed turns"],
        recent.conversations.map((c) => [
          link(conversationHref(c), c.identity_id),
          channelNames.get(c.channel_id) || c.channel_id,
          when(c.updated_at),
          c.failed_turns ? h("span", { class: "badge error" }, String(c.failed_turns)) : "0",
        ]),
      )
    : empty("No conversations yet. Try an assistant in the ", link("#/playground", "Playground"), ", or chat through the API.");

  const health = mcps.length
    ? table(
        ["Server", "Status", "Tools", "Last error"],
        mcps.map((m) => [
          link(`#/mcps/${encodeURIComponent(m.id)}`, m.name),
          m.enabled ? statusBadge(m.status) : h("span", { class: "badge off" }, "disabled"),
          String(m.tools_count),
          m.last_error || "—",
        ]),
      )
    : empty("No function servers yet. ", link("#/mcps", "Register one"), " to give assistants functions to call.");

  const steps = [];
  if (!mcps.length) steps.push(h("li", {}, link("#/mcps", "Register a function server")));
  if (!assistants.length) steps.push(h("li", {}, link("#/assistants/new", "Create an assistant")));
  if (!channels.length) steps.push(h("li", {}, link("#/channels", "Open a channel")));
  return h("div", {},
    cards,
    steps.length ? h("div", { class: "panel" }, h("h2", {}, "Next steps"), h("ol", {}, steps)) : null,
    h("h2", {}, "Recent conversations"), conversations,
    h("h2", {}, "Function-server health"), health);
}
