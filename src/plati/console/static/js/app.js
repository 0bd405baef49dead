// The console's shell: sign-in, the layout, and the hash router (#/page/id).
import { ApiError, get, request, session, whenUnauthorized } from "./api.js";
import { busy, clear, errorBox, field, h, loading, showError } from "./dom.js";
import { assistantsPage, assistantEditor } from "./pages/assistants.js";
import { channelsPage } from "./pages/channels.js";
import { conversationPage, conversationsPage } from "./pages/conversations.js";
import { keysPage } from "./pages/keys.js";
import { mcpPage, mcpsPage } from "./pages/mcps.js";
import { overviewPage } from "./pages/overview.js";
import { playgroundPage } from "./pages/playground.js";
import { settingsPage } from "./pages/settings.js";

const PAGES = [
  { path: "overview", title: "Overview", list: overviewPage },
  { path: "mcps", title: "Function servers", list: mcpsPage, item: mcpPage },
  { path: "assistants", title: "Assistants", list: assistantsPage, item: assistantEditor },
  { path: "channels", title: "Channels", list: channelsPage },
  { path: "conversations", title: "Conversations", list: conversationsPage, item: conversationPage },
  { path: "playground", title: "Playground", list: playgroundPage },
  { path: "keys", title: "API keys", list: keysPage },
  { path: "settings", title: "Settings", list: settingsPage },
];

const root = document.getElementById("app");
let workspace = null;
let generation = 0;
let leaving = null;

function takeKeyFromFragment() {
  // `plati demo` prints http://host:port/#key=...: keep it for this tab only, then drop it from
  // the address bar and the history.
  const match = location.hash.match(/^#key=([^&]+)/);
  if (!match) return;
  session.key = decodeURIComponent(match[1]);
  history.replaceState(null, "", `${location.pathname}#/overview`);
}

function route() {
  const [path = "overview", ...rest] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
  const page = PAGES.find((item) => item.path === path) || PAGES[0];
  return { page, id: rest.length ? decodeURIComponent(rest.join("/")) : null };
}

function signOut(message) {
  session.key = null;
  workspace = null;
  renderSignIn(message);
}

function renderSignIn(message) {
  document.title = "Sign in · Plati console";
  const key = h("input", { type: "password", name: "key", autocomplete: "off", spellcheck: "false", required: true });
  const box = errorBox();
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "stack panel", "aria-labelledby": "signin-title" },
    field("API key", key, { hint: "A workspace key (plati_…) from `plati init`, `plati keys create` or the demo. It is kept in this browser tab only." }),
    box,
    h("div", { class: "buttons" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(submit, box, async () => {
      const answer = await request("GET", "/workspace", undefined, { key: key.value.trim() });
      session.key = key.value.trim();
      workspace = answer.data;
      if (!location.hash.startsWith("#/")) location.hash = "#/overview";
      renderShell();
    }, form);
  });
  clear(root).append(
    h("main", { id: "main", class: "signin" },
      h("h1", { id: "signin-title", tabindex: "-1" }, "Sign in to the Plati console"),
      message ? h("p", { class: "notice", role: "status" }, message) : null,
      form),
  );
  key.focus();
}

function renderShell() {
  const readOnly = workspace.key.access !== "read-write";
  const links = PAGES.map((page) => h("li", {}, h("a", { href: `#/${page.path}`, "data-page": page.path }, page.title)));
  const main = h("main", { id: "main" });
  clear(root).append(
    h("div", { class: "shell" },
      h("header", { class: "topbar" },
        h("span", { class: "brand" }, "Plati"),
        h("span", { class: "who" }, workspace.name, " · key ", h("span", { class: "mono" }, workspace.key.name)),
        readOnly ? h("span", { class: "badge ro", title: "This key can read but not change anything" }, "read-only") : null,
        h("button", { type: "button", onclick: () => signOut("You are signed out.") }, "Sign out")),
      h("div", { class: "body" },
        h("nav", { class: "nav", "aria-label": "Console" }, h("ul", {}, links)),
        main)),
  );
  renderPage();
}

async function renderPage() {
  const main = document.getElementById("main");
  if (!main || !workspace) return;
  const { page, id } = route();
  for (const a of document.querySelectorAll(".nav a")) {
    if (a.dataset.page === page.path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (leaving) leaving();
  leaving = null;
  const mine = ++generation;
  const title = h("h1", { tabindex: "-1" }, page.title);
  const body = h("div", {}, loading("Loading…"));
  clear(main).append(title, body);
  document.title = `${page.title} · Plati console`;
  const ctx = {
    workspace,
    canWrite: workspace.key.access === "read-write",
    id,
    title,
    navigate: (hash) => {
      if (location.hash === hash) renderPage();
      else location.hash = hash;
    },
    onLeave: (fn) => {
      leaving = fn;
    },
    current: () => mine === generation,
  };
  try {
    const view = await (id !== null && page.item ? page.item(ctx) : page.list(ctx));
    if (mine !== generation) return;
    clear(body).append(view);
  } catch (error) {
    if (mine !== generation) return;
    const box = errorBox();
    showError(box, error);
    clear(body).append(box, h("p", {}, h("button", { type: "button", onclick: renderPage }, "Try again")));
  }
  if (document.activeElement === document.body || !main.contains(document.activeElement)) title.focus();
}

async function start() {
  whenUnauthorized(() => signOut("Your API key was refused (revoked or unknown). Sign in again."));
  takeKeyFromFragment();
  if (!session.key) return renderSignIn();
  try {
    workspace = await get("/workspace");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    return renderSignIn(error.message);
  }
  if (!location.hash.startsWith("#/")) history.replaceState(null, "", `${location.pathname}#/overview`);
  renderShell();
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#key=")) return start();
  if (workspace) renderPage();
});
start();
