// A form generated from a function's JSON Schema (its `input_schema`): one control per property;
// strings, numbers, integers, booleans and enums get their own control, anything else a JSON box.
import { check, field, h } from "./dom.js";

function controlFor(name, schema, required) {
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (Array.isArray(schema.enum)) {
    const select = h("select", { name },
      required ? null : h("option", { value: "" }, "(not set)"),
      schema.enum.map((value) => h("option", { value: JSON.stringify(value) }, String(value))));
    return { node: field(name, select, { hint: schema.description }), read: () => (select.value === "" ? undefined : JSON.parse(select.value)) };
  }
  if (type === "boolean") {
    const box = h("input", { type: "checkbox", name });
    if (schema.default === true) box.checked = true;
    return { node: check(`${name}${schema.description ? ` — ${schema.description}` : ""}`, box), read: () => box.checked };
  }
  if (type === "integer" || type === "number") {
    const input = h("input", { type: "number", name, step: type === "integer" ? "1" : "any", required: required || undefined });
    if (schema.default !== undefined) input.value = String(schema.default);
    return {
      node: field(`${name}${required ? " (required)" : ""}`, input, { hint: schema.description }),
      read: () => (input.value === "" ? undefined : Number(input.value)),
    };
  }
  if (type === "string") {
    const input = h("input", { type: "text", name, required: required || undefined, autocomplete: "off" });
    if (schema.default !== undefined) input.value = String(schema.default);
    return {
      node: field(`${name}${required ? " (required)" : ""}`, input, { hint: schema.description }),
      read: () => (input.value === "" ? undefined : input.value),
    };
  }
  const area = h("textarea", { name, spellcheck: "false", placeholder: type === "array" ? "[ ]" : "{ }" });
  if (schema.default !== undefined) area.value = JSON.stringify(schema.default, null, 2);
  return {
    node: field(`${name} (JSON${type ? `, ${type}` : ""})${required ? " (required)" : ""}`, area, { hint: schema.description }),
    read: () => {
      if (area.value.trim() === "") return undefined;
      try {
        return JSON.parse(area.value);
      } catch {
        const error = new Error(`${name}: not valid JSON`);
        error.details = [{ field: name, message: "not valid JSON" }];
        throw error;
      }
    },
  };
}

// {node, read()} where read() returns the arguments object (unset optional fields left out).
export function schemaForm(schema) {
  const properties = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const controls = Object.entries(properties).map(([name, property]) => [name, controlFor(name, property || {}, required.has(name))]);
  const node = h("div", { class: "stack" },
    controls.length ? controls.map(([, control]) => control.node) : h("p", { class: "muted" }, "This function takes no arguments."));
  return {
    node,
    read() {
      const args = {};
      for (const [name, control] of controls) {
        const value = control.read();
        if (value !== undefined) args[name] = value;
      }
      return args;
    },
  };
}
