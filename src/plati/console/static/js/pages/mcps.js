// Function servers: register, inspect, refresh, enable/disable, delete; try a function.
import { del, get, patch, post } from "../api.js";
import {
  busy, clear, confirmDialog, empty, errorBox, field, h, json, link, showError, statusBadge, table, when,
} from "../dom.js";
import { schemaForm } from "../schema-form.js";

const TRANSPORTS = [
  ["http", "http — detect MCP or the simple protocol"],
  ["rest", "rest — the simple protocol (/tools, /call)"],
  ["streamable-http", "streamable-http — MCP"],
  ["sse", "sse — MCP over SSE (older servers)"],
  ["stdio", "stdio — a local command"],
];

function headerRows() {
  const list = h("div", { class: "stack" });
  const add = (key = "", value = "") => {
    const k = h("input", { type: "text", "aria-label": "Header name", placeholder: "Authorization", value: key, autocomplete: "off" });
    const v = h("input", { type: "password", "aria-label": "Header value (secret)", placeholder: "Bearer …", value, autocomplete: "off" });
    const row = h("div", { class: "row header-row" },
      h("div", { class: "field" }, k), h("div", { class: "field" }, v),
      h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove"));
    list.append(row);
    return k;
  };
  const addButton = h("button", { type: "button", onclick: () => add().focus() }, "Add a header");
  const node = h("fieldset", {}, h("legend", {}, "Headers (values are secrets: stored encrypted, shown masked)"), list, h("div", {}, addButton));
  const read = () =>
    [...list.querySelectorAll(".header-row")]
      .map((row) => row.querySelectorAll("input"))
      .map(([k, v]) => ({ key: k.value.trim(), value: v.value }))
      .filter((item) => item.key);
  return { node, read };
}

function registerForm(ctx) {
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const transport = h("select", { name: "transport" },
    TRANSPORTS.filter(([value]) => value !== "stdio" || ctx.workspace.stdio_allowed).map(([value, label]) => h("option", { value }, label)));
  const url = h("input", { type: "url", name: "url", placeholder: "http://127.0.0.1:5000", autocomplete: "off" });
  const timeout = h("input", { type: "number", name: "timeout_seconds", min: "0.1", step: "any", placeholder: "30" });
  const command = h("input", { type: "text", name: "command", autocomplete: "off" });
  const args = h("input", { type: "text", name: "args", placeholder: "space-separated", autocomplete: "off" });
  const env = h("textarea", { name: "env", placeholder: "NAME=value, one a line (secrets, shown masked)" });
  const headers = headerRows();
  const urlField = field("URL", url, { hint: "The platform calls {url}/tools and {url}/call, or MCP at this URL." });
  const stdio = h("fieldset", { hidden: true }, h("legend", {}, "stdio"), field("Command", command), field("Arguments", args), field("Environment", env));
  const sync = () => {
    const isStdio = transport.value === "stdio";
    stdio.hidden = !isStdio;
    urlField.hidden = isStdio;
    headers.node.hidden = isStdio;
  };
  transport.addEventListener("change", sync);
  const box = errorBox();
  const submit = h("button", { class: "primary", type: "submit" }, "Register");
  const form = h("form", { class: "stack panel", "aria-labelledby": "register-title" },
    h("h2", { id: "register-title" }, "Register a function server"),
    h("div", { class: "row" }, field("Name", name), field("Transport", transport)),
    urlField, headers.node,
    h("div", { class: "row" }, field("Timeout (seconds)", timeout, { hint: "Per call; the operator's maximum applies." })),
    stdio,
    box,
    h("div", { class: "buttons" }, submit, h("span", { class: "muted" }, "Tools are discovered when you register.")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim(), transport: transport.value };
    if (transport.value === "stdio") {
      body.command = command.value.trim();
      body.args = args.value.trim() ? args.value.trim().split(/\s+/) : [];
      body.env = Object.fromEntries(env.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => [l.split("=")[0], l.split("=").slice(1).join("=")]));
    } else {
      body.url = url.value.trim();
      body.headers = headers.read();
    }
    if (timeout.value) body.timeout_seconds = Number(timeout.value);
    await busy(submit, box, async () => {
      const created = await post("/workspace/mcps", body);
      ctx.navigate(`#/mcps/${encodeURIComponent(created.id)}`);
    }, form);
  });
  return form;
}

export async function mcpsPage(ctx) {
  const mcps = await get("/workspace/mcps");
  const list = mcps.length
    ? table(
        ["Name", "Transport", "Protocol", "Status", "Tools", "Enabled"],
        mcps.map((m) => [
          link(`#/mcps/${encodeURIComponent(m.id)}`, m.name),
          m.transport,
          m.protocol || "not detected yet",
          statusBadge(m.status),
          String(m.tools_count),
          m.enabled ? "yes" : "no",
        ]),
        "Function servers",
      )
    : empty(ctx.canWrite ? "No function servers yet. Register one below: its URL, and an Authorization header if it needs one." : "No function servers yet (a read-write key can register one).");
  return h("div", {}, list, ctx.canWrite ? registerForm(ctx) : null);
}

function tryForm(ctx, mcp, tool) {
  const form = schemaForm(tool.input_schema);
  const box = errorBox();
  const out = h("div", { "aria-live": "polite" });
  const submit = h("button", { class: "primary", type: "submit" }, "Call ", tool.name);
  const node = h("form", { class: "stack" }, form.node, box, h("div", { class: "buttons" }, submit), out);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out);
    await busy(submit, box, async () => {
      const args = form.read();
      const started = performance.now();
      const data = await post(`/workspace/mcps/${encodeURIComponent(mcp.id)}/call`, { name: tool.name, arguments: args });
      const elapsed = Math.round(performance.now() - started);
      out.append(
        h("p", { class: data.success ? "success" : "error", role: "status" },
          data.success ? "Success" : `The function reported a failure: ${data.error}`,
          ` · ${data.duration_ms} ms at the server (${elapsed} ms round trip)`),
        h("h4", {}, "Raw result"),
        json(data),
      );
    }, node);
  });
  return h("details", {}, h("summary", {}, "Try it"), node);
}

export async function mcpPage(ctx) {
  const id = encodeURIComponent(ctx.id);
  const [mcp, tools] = await Promise.all([get(`/workspace/mcps/${id}`), get(`/workspace/mcps/${id}/tools`).catch((error) => error)]);
  ctx.title.textContent = mcp.name;
  const box = errorBox();
  const buttons = [];
  if (ctx.canWrite) {
    const refresh = h("button", { type: "button" }, "Refresh tools");
    refresh.addEventListener("click", () => busy(refresh, box, async () => {
      await post(`/workspace/mcps/${id}/refresh`);
      ctx.navigate(`#/mcps/${id}`);
    }));
    const toggle = h("button", { type: "button" }, mcp.enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", () => busy(toggle, box, async () => {
      await patch(`/workspace/mcps/${id}`, { enabled: !mcp.enabled });
      ctx.navigate(`#/mcps/${id}`);
    }));
    const remove = h("button", { type: "button", class: "danger" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!(await confirmDialog(`Delete the function server “${mcp.name}”? Assistants lose its functions.`))) return;
      await busy(remove, box, async () => {
        await del(`/workspace/mcps/${id}`);
        ctx.navigate("#/mcps");
      });
    });
    buttons.push(refresh, toggle, remove);
  }
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "Status"), h("dd", {}, statusBadge(mcp.status), mcp.enabled ? "" : " (disabled)"),
    h("dt", {}, "Last error"), h("dd", {}, mcp.last_error || "—"),
    h("dt", {}, "Transport"), h("dd", {}, mcp.transport),
    h("dt", {}, "Detected protocol"), h("dd", {}, mcp.protocol || "not detected yet"),
    mcp.url ? [h("dt", {}, "URL"), h("dd", { class: "mono" }, mcp.url)] : [h("dt", {}, "Command"), h("dd", { class: "mono" }, [mcp.command, ...mcp.args].join(" "))],
    h("dt", {}, "Headers"), h("dd", {}, mcp.headers.length ? mcp.headers.map((item) => h("div", { class: "secret" }, `${item.key}: ${item.value}`)) : "none"),
    Object.keys(mcp.env || {}).length ? [h("dt", {}, "Environment"), h("dd", {}, Object.entries(mcp.env).map(([k, v]) => h("div", { class: "secret" }, `${k}=${v}`)))] : null,
    h("dt", {}, "Timeout"), h("dd", {}, `${mcp.timeout_seconds} s`),
    h("dt", {}, "Tools refreshed"), h("dd", {}, when(mcp.tools_refreshed_at)));
  let toolList;
  if (tools instanceof Error) {
    toolList = errorBox();
    showError(toolList, tools);
  } else if (!tools.length) {
    toolList = empty("No tools discovered. ", ctx.canWrite ? "Check the status above, then refresh." : "");
  } else {
    toolList = h("div", { class: "panel" }, tools.map((tool) => h("section", { class: "tool", "aria-label": tool.name },
      h("h3", { class: "mono" }, tool.name),
      tool.description ? h("p", {}, tool.description) : null,
      h("details", {}, h("summary", {}, "Input schema"), json(tool.input_schema)),
      tool.output_schema ? h("details", {}, h("summary", {}, "Output schema"), json(tool.output_schema)) : null,
      ctx.canWrite ? tryForm(ctx, mcp, tool) : null)));
  }
  return h("div", {},
    h("p", {}, link("#/mcps", "← All function servers")),
    h("div", { class: "panel" }, facts),
    buttons.length ? h("div", { class: "buttons" }, buttons) : null, box,
    h("h2", {}, `Tools (${tools instanceof Error ? "?" : tools.length})`), toolList);
}
