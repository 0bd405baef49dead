// Rendering a conversation: message bubbles and function-call cards, shared by the conversation
// timeline and the playground. Every value is text (h() makes text nodes).
import { h, json } from "./dom.js";

export function bubble(role, text) {
  const body = h("span", { class: "text" }, text);
  const node = h("div", { class: `bubble ${role}` }, h("span", { class: "who" }, role === "user" ? "User" : "Assistant"), body);
  node.body = body;
  return node;
}

// A function call as a card: arguments → result or error; `update(result)` fills it in later.
export function functionCard(call, serverName) {
  const status = h("span", { class: "meta" }, "running…");
  const server = h("span", { class: "meta" }, serverName ? `on ${serverName}` : "");
  const outcome = h("div", {});
  const node = h("article", { class: "fcard", "aria-label": `Function call ${call.name}` },
    h("div", { class: "head" }, h("span", { class: "mono" }, call.name), server, status),
    h("div", {}, h("span", { class: "muted" }, "Arguments"), json(call.arguments || {})),
    outcome);
  node.update = (result, name) => {
    if (name) server.textContent = `on ${name}`;
    const ms = result.duration_ms ?? (result.meta && result.meta.duration_ms);
    status.textContent = `${result.success ? "succeeded" : "failed"}${ms !== undefined ? ` in ${Math.round(ms)} ms` : ""}`;
    node.classList.toggle("failed", !result.success);
    outcome.replaceChildren(
      result.success
        ? h("div", {}, h("span", { class: "muted" }, `Result${result.truncated ? " (cut to the size cap)" : ""}`), json(result.result))
        : h("div", {}, h("span", { class: "muted" }, "Error"), h("pre", { class: "error-text" }, String(result.error)),
            result.error_detail || (result.meta && result.meta.error_detail)
              ? h("p", { class: "muted" }, "Detail: ", result.error_detail || result.meta.error_detail,
                  ` (${result.error_code || (result.meta && result.meta.error_code) || "error"})`)
              : null),
    );
  };
  return node;
}

// Stored messages → turns of bubbles and cards (a call and its result paired by call_id).
export function renderMessages(messages, mcpNames, into, cards = new Map()) {
  const turns = new Map();
  for (const message of messages) {
    let turn = turns.get(message.turn_id) || into.querySelector(`[data-turn="${CSS.escape(message.turn_id)}"]`);
    if (!turn) {
      turn = h("section", { class: "turn", "data-turn": message.turn_id, "aria-label": "Turn" });
      into.append(turn);
    }
    turns.set(message.turn_id, turn);
    const server = message.meta && message.meta.mcp_id ? mcpNames.get(message.meta.mcp_id) || message.meta.mcp_id : undefined;
    if (message.kind === "user_text") turn.append(bubble("user", message.text));
    else if (message.kind === "assistant_text") turn.append(bubble("assistant", message.text));
    else if (message.kind === "function_call") {
      const card = functionCard(message);
      cards.set(message.call_id, card);
      turn.append(card);
    } else if (message.kind === "function_result") {
      let card = cards.get(message.call_id);
      if (!card) {
        card = functionCard({ name: message.name, arguments: {} });
        turn.append(card);
      }
      card.update(message, server);
    } else if (message.kind === "error") {
      turn.classList.add("failed");
      const detail = message.meta && (message.meta.error_detail || message.meta.error_code);
      turn.append(h("p", { class: "error", role: "note" }, h("strong", {}, "Turn failed: "), message.message,
        detail ? h("span", { class: "muted" }, ` — ${detail}`) : null));
    }
  }
  return cards;
}

// A conversation's timeline, with who and where for its heading.
export function conversationHref(c) {
  const who = new URLSearchParams({ identity: c.identity_id, channel: c.channel_id });
  return `#/conversations/${encodeURIComponent(c.id)}?${who}`;
}
