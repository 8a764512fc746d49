// The studio's HTTP client: the same API the SDKs use, with the key as a Bearer token.
// Every failure becomes an ApiError whose message is words a person can act on and
// whose `field` names the form field at fault (the API's error.param).

import { t } from './i18n.js';

const KEY_STORAGE = 'shotsmith.apiKey';

export class ApiError extends Error {
  constructor(message, { status = 0, field = null, code = null } = {}) {
    super(message);
    this.status = status;
    this.field = field;
    this.code = code;
  }
}

export const auth = {
  get key() { return localStorage.getItem(KEY_STORAGE) || ''; },
  set(key) { localStorage.setItem(KEY_STORAGE, key.trim()); },
  clear() { localStorage.removeItem(KEY_STORAGE); },
};

function headers(json) {
  const out = { Accept: 'application/json' };
  if (json) out['Content-Type'] = 'application/json';
  if (auth.key) out.Authorization = `Bearer ${auth.key}`;
  return out;
}

// A message for a person: never a traceback, never a wall of text.
export function readable(message) {
  let text = String(message || '').trim();
  const cut = text.search(/Traceback \(most recent call last\)|\n\s+File "/);
  if (cut >= 0) text = text.slice(0, cut).trim() || t('The server hit an internal error; its log has the details.');
  return text.length > 600 ? `${text.slice(0, 600)}…` : text;
}

export async function errorFrom(response) {
  let message = t`The server answered ${response.status} ${response.statusText || ''}`.trim();
  let field = null;
  let code = null;
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      field = body.error.param || null;
      code = body.error.code || null;
    }
  } catch { /* not JSON: keep the status line */ }
  if (response.status === 413 && !field) message = t`${message} (the image or request is too large)`;
  return new ApiError(readable(message), { status: response.status, field, code });
}

async function send(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError(t('Cannot reach the shotsmith server. Is it running?'), { status: 0 });
  }
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

const jobPath = (id) => `/api/v1/jobs/${encodeURIComponent(id)}`;
const boardPath = (id) => `/api/v1/boards/${encodeURIComponent(id)}`;
const shotPath = (id, shotId) => `${boardPath(id)}/shots/${encodeURIComponent(shotId)}`;

export const api = {
  async health() {
    try {
      const response = await fetch('/healthz', { headers: { Accept: 'application/json' } });
      return await response.json();
    } catch {
      return null;
    }
  },
  config: () => send('GET', '/api/v1/studio/config'),
  enhance: (body) => send('POST', '/api/v1/enhance', body),
  createJob: (body) => send('POST', '/api/v1/jobs', body),
  job: (id) => send('GET', `/api/v1/studio/jobs/${encodeURIComponent(id)}`),
  jobs: (params) => send('GET', `/api/v1/studio/jobs?${new URLSearchParams(params)}`),
  cancel: (id) => send('POST', `${jobPath(id)}/cancel`),
  remove: (id) => send('DELETE', jobPath(id)),
  // Storyboards (/api/v1/boards): every call answers the whole board, so the view redraws from it
  boards: () => send('GET', '/api/v1/boards'),
  board: (id) => send('GET', boardPath(id)),
  createBoard: (body) => send('POST', '/api/v1/boards', body),
  deleteBoard: (id) => send('DELETE', boardPath(id)),
  addShot: (id, body) => send('POST', `${boardPath(id)}/shots`, body),
  updateShot: (id, shotId, body) => send('PATCH', shotPath(id, shotId), body),
  deleteShot: (id, shotId) => send('DELETE', shotPath(id, shotId)),
  reorder: (id, shotIds) => send('PUT', `${boardPath(id)}/order`, { shot_ids: shotIds }),
  render: (id, body = {}) => send('POST', `${boardPath(id)}/render`, body),
  pick: (id, shotId, takeId) => send('POST', `${shotPath(id, shotId)}/pick`, { take_id: takeId }),
  exportBoard: (id, body) => send('POST', `${boardPath(id)}/export`, body),
  boardLinks: (id) => send('GET', `/api/v1/studio/boards/${encodeURIComponent(id)}/links`),
};

// The job's server-sent events, read with fetch (EventSource cannot send a header).
// Calls onEvent(name, data) per event; resolves with the `done` job, or null when
// the stream ended early (server restart, network): the caller then polls.
export async function streamJob(id, onEvent, signal) {
  let response;
  try {
    response = await fetch(`${jobPath(id)}/events`, { headers: headers(false), signal });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    return null;
  }
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      buffer += value.replace(/\r\n/g, '\n');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = parseEvent(block);
        if (!event) continue;
        onEvent(event.name, event.data);
        if (event.name === 'done') return event.data;
        if (event.name === 'deleted') return null;
      }
    }
  } catch (err) {
    if (signal && signal.aborted) throw err;
    return null;
  } finally {
    reader.releaseLock();
  }
}

function parseEvent(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const key = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (key === 'event') name = value;
    else if (key === 'data') data.push(value);
  }
  if (!data.length) return null;
  try {
    return { name, data: JSON.parse(data.join('\n')) };
  } catch {
    return null;
  }
}
