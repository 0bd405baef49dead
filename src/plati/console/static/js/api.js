// The console's only way to the platform: the public HTTP API, with the signed-in key.

const STORAGE = "plati.console.key";

export const session = {
  get key() {
    return sessionStorage.getItem(STORAGE);
  },
  set key(value) {
    if (value) sessionStorage.setItem(STORAGE, value);
    else sessionStorage.removeItem(STORAGE);
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The API answered HTTP ${status}`);
    this.status = status;
    this.code = body && body.error ? body.error.code : undefined;
    this.details = body && body.error ? body.error.details : undefined;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  if (session.key) all.Authorization = `Bearer ${session.key}`;
  return all;
}

async function parse(response) {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return { message: `${response.status} ${response.statusText}: ${text.slice(0, 200)}` };
  }
}

// The whole envelope ({message, data}); throws ApiError with the API's own message.
export async function request(method, path, body, { key } = {}) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { message: "The platform cannot be reached; is `plati serve` running?" });
  }
  const parsed = await parse(response);
  if (!response.ok) {
    const error = new ApiError(response.status, parsed);
    if (response.status === 401 && !key) onUnauthorized(error);
    throw error;
  }
  return parsed;
}

export const get = async (path) => (await request("GET", path)).data;
export const post = async (path, body = {}) => (await request("POST", path, body)).data;
export const put = async (path, body) => (await request("PUT", path, body)).data;
export const patch = async (path, body) => (await request("PATCH", path, body)).data;
export const del = async (path) => (await request("DELETE", path)).data;

export const q = (params) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
};

// POST a chat message and read the reply as Server-Sent Events (fetch, because EventSource cannot
// send the Authorization header). Calls `onEvent` for every event; returns when the stream ends.
export async function streamChat(identity, channelId, text, onEvent, signal) {
  const path = `/conversation/${encodeURIComponent(identity)}/chat/${encodeURIComponent(channelId)}`;
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ text }),
      signal,
    });
  } catch {
    throw new ApiError(0, { message: "The platform cannot be reached; is `plati serve` running?" });
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await parse(response));
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (data) onEvent(JSON.parse(data));
    }
  }
}

// Every message of a conversation after `after` (pages followed, bounded).
export async function messagesAfter(conversationId, after = 0, maxPages = 20) {
  const all = [];
  let cursor = after;
  for (let page = 0; page < maxPages; page++) {
    const data = await get(`/conversation/${encodeURIComponent(conversationId)}/messages${q({ after: cursor, limit: 500 })}`);
    all.push(...data.messages);
    if (!data.has_more || data.next_after === null) break;
    cursor = data.next_after;
  }
  return all;
}
