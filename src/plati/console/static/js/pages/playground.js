// Playground: chat with an assistant through a channel, tokens streamed, function calls shown
// live as cards; messages that arrive later (follow-ups) are picked up while the page is open.
import { ApiError, get, messagesAfter, streamChat } from "../api.js";
import { busy, empty, errorBox, field, h, link } from "../dom.js";
import { bubble, functionCard, renderMessages } from "../timeline.js";

const POLL_MS = 3000;
const newIdentity = () => `console-${Math.random().toString(36).slice(2, 8)}`;

export async function playgroundPage(ctx) {
  const [channels, mcps] = await Promise.all([get("/channels"), get("/workspace/mcps")]);
  const usable = channels.filter((c) => c.active && c.assistant_id);
  if (!usable.length) {
    return empty("No active channel with an assistant yet. ",
      ctx.canWrite ? [link("#/channels", "Create a channel"), " and choose the assistant that answers it."] : "A read-write key can create one.");
  }
  if (!ctx.canWrite) {
    return empty("The playground sends messages, which a read-only key cannot do. Read past conversations on ", link("#/conversations", "Conversations"), ".");
  }
  const names = new Map(mcps.map((m) => [m.id, m.name]));
  const channel = h("select", { name: "channel" }, usable.map((c) => h("option", { value: c.id, selected: c.id === ctx.id }, c.name)));
  const identity = h("input", { type: "text", name: "identity", value: newIdentity(), autocomplete: "off" });
  const log = h("div", { class: "chatlog", role: "log", "aria-label": "Conversation", tabindex: "0" },
    h("p", { class: "muted placeholder" }, "Send a message to start a conversation."));
  const text = h("textarea", { name: "text", placeholder: "Check my order ORD-001", "aria-label": "Message" });
  const send = h("button", { class: "primary", type: "submit" }, "Send");
  const box = errorBox();
  const restart = h("button", { type: "button" }, "New conversation");
  const state = { conversationId: null, lastSeq: 0, knownTurns: new Set(), cards: new Map(), sending: false };

  const reset = () => {
    state.conversationId = null;
    state.lastSeq = 0;
    state.knownTurns.clear();
    state.cards.clear();
    log.replaceChildren(h("p", { class: "muted placeholder" }, "Send a message to start a conversation."));
    box.textContent = "";
  };
  restart.addEventListener("click", () => { identity.value = newIdentity(); reset(); text.focus(); });
  channel.addEventListener("change", reset);
  identity.addEventListener("change", reset);
  const scroll = () => { log.scrollTop = log.scrollHeight; };

  const catchUp = async () => {
    // Everything stored after what we have shown: later turns (follow-ups) are rendered.
    if (!state.conversationId || state.sending) return;
    const fresh = await messagesAfter(state.conversationId, state.lastSeq);
    if (!fresh.length) return;
    state.lastSeq = fresh[fresh.length - 1].seq;
    const unseen = fresh.filter((m) => !state.knownTurns.has(m.turn_id));
    if (unseen.length) {
      renderMessages(unseen, names, log, state.cards);
      scroll();
    }
  };
  const timer = setInterval(() => { catchUp().catch(() => {}); }, POLL_MS);
  ctx.onLeave(() => clearInterval(timer));

  const form = h("form", { class: "composer" }, h("div", { class: "field", style: null }, text), send);
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = text.value.trim();
    if (!message) return;
    log.querySelector(".placeholder")?.remove();
    const turn = h("section", { class: "turn", "aria-label": "Turn" }, bubble("user", message));
    log.append(turn);
    text.value = "";
    let answer = null;
    const cards = new Map();
    state.sending = true;
    await busy(send, box, async () => {
      try {
        await streamChat(identity.value.trim(), channel.value, message, (event) => {
          if (event.type === "token") {
            if (!answer) { answer = bubble("assistant", ""); turn.append(answer); }
            answer.body.textContent += event.content;
          } else if (event.type === "function_call") {
            answer = null; // text after the calls goes in a new bubble
            const card = functionCard(event, names.get(event.mcp_id));
            cards.set(event.id, card);
            turn.append(card);
          } else if (event.type === "function_result") {
            const card = cards.get(event.id);
            if (card) card.update(event, names.get(event.mcp_id));
          } else if (event.type === "complete") {
            if (!answer) { answer = bubble("assistant", ""); turn.append(answer); }
            answer.body.textContent = event.content;
            state.conversationId = event.data.conversation_id;
            state.knownTurns.add(event.data.turn_id);
          } else if (event.type === "error") {
            turn.classList.add("failed");
            turn.append(h("p", { class: "error", role: "alert" }, h("strong", {}, "The turn failed: "), event.content));
          } else if (event.type === "queued") {
            turn.append(h("p", { class: "muted" }, "Queued: a reply in this conversation is still running."));
          }
          scroll();
        });
      } catch (error) {
        if (error instanceof ApiError) turn.classList.add("failed");
        throw error;
      }
    });
    state.sending = false;
    if (state.conversationId) {
      const stored = await messagesAfter(state.conversationId, state.lastSeq).catch(() => []);
      for (const m of stored) if (state.knownTurns.has(m.turn_id)) state.lastSeq = Math.max(state.lastSeq, m.seq);
      const later = stored.filter((m) => !state.knownTurns.has(m.turn_id));
      if (later.length) renderMessages(later, names, log, state.cards);
      if (stored.length) state.lastSeq = stored[stored.length - 1].seq;
    }
    text.focus();
    scroll();
  });

  const conversationLink = h("p", { class: "muted" }, "The conversation is stored: find it under ", link("#/conversations", "Conversations"), ".");
  return h("div", {},
    h("div", { class: "panel row" }, field("Channel", channel), field("Identity", identity, { hint: "A conversation per identity and channel." }), restart),
    log, form, box, conversationLink);
}
