// The studio page: boot (server, key, config), then wire the form, the result
// panel, the queue and the gallery to the API. One job at a time is followed
// live over its SSE stream; the queue is refreshed by polling while jobs run.

import { api, auth, streamJob } from './api.js';
import { $, show } from './dom.js';
import { bindLanguageSwitch, t, translatePage } from './i18n.js';
import { BoardsView } from './boards.js';
import { ExtendPanel } from './extend.js';
import { CreateForm, remixRequest } from './form.js';
import { GalleryView, QueueView, ResultView, isActive } from './views.js';

const CURRENT_JOB = 'shotsmith.currentJob';
const QUEUE_SIZE = 12;
const GALLERY_PAGE = 24;
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

const state = {
  config: null,
  authOn: false,
  queue: [],
  galleryNext: null,
  keyWaiters: [],
};

// Messages -------------------------------------------------------------------

let toastTimer = null;
function toast(message, { error = false } = {}) {
  const el = $('#toast');
  el.textContent = message;
  el.classList.toggle('error', error);
  show(el);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => show(el, false), error ? 8000 : 3500);
}

function banner(message) {
  $('#banner').textContent = message || '';
  show($('#banner'), Boolean(message));
}

function handleError(err) {
  if (err.status === 401) askKey(err.message).then(() => window.location.reload()); // the new key's work
  else toast(err.message, { error: true });
}

// API key ----------------------------------------------------------------------

function openKeyDialog(message = '') {
  const dialog = $('#key-dialog');
  $('#api-key').value = auth.key;
  $('#api-key-error').textContent = message && auth.key ? message : '';
  if (!dialog.open) dialog.showModal();
  $('#api-key').focus();
}

// Opens the key dialog; resolves once the user has entered a key (checked by the caller).
function askKey(message = '') {
  openKeyDialog(message);
  return new Promise((resolve) => state.keyWaiters.push(resolve));
}

function bindKeyDialog() {
  $('#key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('#api-key').value.trim();
    if (!key) {
      $('#api-key-error').textContent = t('Enter the API key the server operator gave you.');
      return;
    }
    auth.set(key);
    $('#key-dialog').close();
    const waiters = state.keyWaiters.splice(0);
    if (waiters.length) waiters.forEach((resolve) => resolve(key));
    else window.location.reload(); // changed the key from the header: show that key's work
  });
  $('#key-dialog').addEventListener('cancel', (event) => {
    if (state.keyWaiters.length) event.preventDefault(); // the page cannot work without a key
  });
  $('#key-forget').addEventListener('click', () => {
    auth.clear();
    localStorage.removeItem(CURRENT_JOB);
    window.location.reload();
  });
  $('#key-button').addEventListener('click', () => openKeyDialog());
}

// Server status --------------------------------------------------------------------

async function checkHealth() {
  const health = await api.health();
  const pill = $('#server-status');
  if (!health) {
    pill.textContent = t('offline');
    pill.dataset.state = t('offline');
    return null;
  }
  const text = { ok: t('ready'), starting: t('loading model…'), degraded: t('worker stopped') }[health.status];
  pill.textContent = text || health.status;
  pill.dataset.state = health.status;
  pill.title = health.worker && health.worker.error ? health.worker.error : `shotsmith ${health.version}`;
  return health;
}

// Following one job ---------------------------------------------------------------

class Tracker {
  constructor() {
    this.controller = null;
  }

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  // Stream the job's progress until it ends; after a dropped stream (restart), poll and retry.
  async follow(id) {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    let delay = 1000;
    while (!controller.signal.aborted) {
      try {
        await streamJob(id, (name, data) => { if (name === 'progress') onProgress(data); }, controller.signal);
      } catch (err) {
        if (controller.signal.aborted) return;
        if (err.status === 404) return forgetJob(id);
        if (err.status === 401) return handleError(err);
      }
      if (controller.signal.aborted) return;
      try {
        const job = await api.job(id);
        if (controller.signal.aborted) return;
        if (!isActive(job)) return onFinished(job);
        result.showJob(job);
      } catch (err) {
        if (err.status === 404) return forgetJob(id);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 8000);
    }
  }
}

const tracker = new Tracker();

function onProgress(event) {
  result.progress(event);
  queue.progress(event);
}

function onFinished(job) {
  if (result.job && result.job.id === job.id) result.showJob(job);
  refreshQueue();
  if (job.status === 'completed') refreshGallery();
}

async function openJob(id, { scroll = false } = {}) {
  try {
    const job = await api.job(id);
    localStorage.setItem(CURRENT_JOB, id);
    result.showJob(job);
    if (isActive(job)) tracker.follow(id);
    else tracker.stop();
    markCurrent(id);
    if (scroll) $('#result').scrollIntoView({ behavior: 'smooth', block: 'start' });
  } catch (err) {
    if (err.status === 404) forgetJob(id);
    else handleError(err);
  }
}

function forgetJob(id) {
  if (localStorage.getItem(CURRENT_JOB) === id) localStorage.removeItem(CURRENT_JOB);
  if (result.job && result.job.id === id) result.clear();
  tracker.stop();
}

function markCurrent(id) {
  for (const item of document.querySelectorAll('#queue-list li')) {
    item.classList.toggle('current', item.dataset.id === id);
  }
}

// Actions ----------------------------------------------------------------------------

async function submit(body) {
  const job = await api.createJob(body);
  await openJob(job.id);
  refreshQueue();
  if (window.matchMedia('(max-width: 899px)').matches) {
    $('#result').scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
}

async function cancelJob(job) {
  try {
    const updated = await api.cancel(job.id);
    onProgress(updated);
    if (result.job && result.job.id === job.id && !isActive(updated)) onFinished(await api.job(job.id));
    toast(updated.status === 'cancelled' ? t('Cancelled.') : t('Cancelling: the job stops after the current step.'));
    refreshQueue();
  } catch (err) {
    handleError(err);
  }
}

async function remixSeed(job) {
  try {
    await submit(await remixRequest(job));
    toast(t('Remixing with a new seed.'));
  } catch (err) {
    handleError(err);
  }
}

async function remixEdit(job) {
  try {
    await form.load(job, { keepSeed: true });
    $('#create').scrollIntoView({ behavior: 'smooth', block: 'start' });
    toast(t('Settings loaded: edit the prompt (or press Random for a new seed) and Generate.'));
  } catch (err) {
    handleError(err);
  }
}

async function extendJob(body) {
  await submit(body);
  toast(t`Extending by ${body.seconds} s: the new part follows the clip's last frame.`);
}

function editWithPrompt(job) {
  form.editClip(job);
  $('#create').scrollIntoView({ behavior: 'smooth', block: 'start' });
  $('#idea').focus({ preventScroll: true });
  toast(t('Clip loaded to edit: say what should change, set the strength and Generate.'));
}

function reuseSeed(seed) {
  form.setSeed(seed);
  toast(t`Seed ${seed} set: the next clip repeats it.`);
}

// "Use this frame": the video's current frame, drawn to a canvas, becomes the I2V image.
async function useFrame(video, job, index) {
  try {
    if (video.readyState < 2) {
      await new Promise((resolve, reject) => {
        video.addEventListener('loadeddata', resolve, { once: true });
        video.addEventListener('error', () => reject(new Error(t('The clip could not be loaded.'))), { once: true });
      });
    }
    video.pause();
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => { canvas.toBlob(resolve, 'image/png'); });
    if (!blob) throw new Error(t('The browser could not capture this frame.'));
    const clip = job.clips[index];
    const frame = Math.min(clip.frames - 1, Math.round(video.currentTime * clip.fps));
    await form.setImageBlob(blob, `frame ${frame + 1} of the clip with seed ${clip.seed}`);
    $('#create').scrollIntoView({ behavior: 'smooth', block: 'start' });
    toast(t('Frame set as the first frame: describe what happens next and Generate.'));
  } catch (err) {
    toast(err.message, { error: true });
  }
}

async function deleteJob(job) {
  if (!window.confirm(t('Delete this clip and its files?'))) return;
  try {
    await api.remove(job.id);
    forgetJob(job.id);
    refreshQueue();
    refreshGallery();
  } catch (err) {
    handleError(err);
  }
}

// Queue and gallery ---------------------------------------------------------------------

let queueTimer = null;
async function refreshQueue() {
  clearTimeout(queueTimer);
  try {
    const page = await api.jobs({ status: 'all', limit: QUEUE_SIZE });
    state.queue = page.data;
    queue.render(page.data, result.job ? result.job.id : null);
  } catch (err) {
    if (err.status === 401) handleError(err);
  }
  const busy = state.queue.some(isActive);
  queueTimer = setTimeout(refreshQueue, document.hidden ? 30000 : busy ? 2000 : 15000);
}

function galleryQuery() {
  const query = { status: 'completed', limit: GALLERY_PAGE };
  const q = $('#gallery-search').value.trim();
  const style = $('#gallery-style').value;
  if (q) query.q = q;
  if (style) query.style = style;
  return query;
}

let galleryRequest = 0;
async function refreshGallery({ more = false } = {}) {
  const ticket = ++galleryRequest;
  const query = galleryQuery();
  if (more && state.galleryNext) query.after = state.galleryNext;
  try {
    const page = await api.jobs(query);
    if (ticket !== galleryRequest) return; // a newer search is on its way
    state.galleryNext = page.next_after;
    gallery.render(page.data, { append: more, hasMore: page.has_more, filtered: Boolean(query.q || query.style) });
  } catch (err) {
    handleError(err);
  }
}

function bindGallery() {
  let debounce = null;
  $('#gallery-search').addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => refreshGallery(), 250);
  });
  $('#gallery-style').addEventListener('change', () => refreshGallery());
  $('#gallery-more').addEventListener('click', () => refreshGallery({ more: true }));
}

// Boot ------------------------------------------------------------------------------------

const form = new CreateForm({ onSubmit: submit, onAuthError: handleError });
const extendPanel = new ExtendPanel({ onSubmit: extendJob, onAuthError: handleError });
const result = new ResultView({
  onCancel: cancelJob, onRemixSeed: remixSeed, onRemixEdit: remixEdit, onReuseSeed: reuseSeed,
  onUseFrame: useFrame, onDelete: deleteJob, onExtend: (job) => extendPanel.open(job), onEdit: editWithPrompt,
  onOpen: (id) => openJob(id, { scroll: true }), onSwitch: () => extendPanel.close(),
}, []);
const queue = new QueueView({ onOpen: (id) => openJob(id, { scroll: true }), onCancel: cancelJob });
const gallery = new GalleryView({ onOpen: (id) => openJob(id, { scroll: true }) }, []);
const boards = new BoardsView({ onAuthError: handleError, toast });

// Views: the generator and gallery ('#/', the default) and the Storyboard ('#/boards[/<id>]').
function route() {
  const match = /^#\/boards(?:\/([^/?#]+))?/.exec(window.location.hash);
  show($('#studio-view'), !match);
  show($('#boards-view'), Boolean(match));
  for (const [tab, current] of [[$('#tab-create'), !match], [$('#tab-boards'), Boolean(match)]]) {
    if (current) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  document.body.dataset.view = match ? 'boards' : 'create';
  if (match) boards.open(match[1] ? decodeURIComponent(match[1]) : null);
  else boards.close();
}

async function loadConfig() {
  for (;;) {
    try {
      return await api.config();
    } catch (err) {
      if (err.status === 401) {
        await askKey(auth.key ? err.message : '');
        continue;
      }
      banner(t`${err.message} Retrying…`);
      await sleep(3000);
    }
  }
}

async function boot() {
  translatePage();
  bindLanguageSwitch($('#language'));
  bindKeyDialog();
  bindGallery();
  let health = await checkHealth();
  while (!health) {
    banner(t('Cannot reach the shotsmith server. Retrying…'));
    await sleep(3000);
    health = await checkHealth();
  }
  state.authOn = health.auth;
  show($('#key-button'), health.auth);
  state.config = await loadConfig();
  banner('');
  result.styles = state.config.styles;
  gallery.styles = state.config.styles;
  for (const preset of state.config.styles) {
    const option = document.createElement('option');
    option.value = preset.name;
    option.textContent = t(preset.title);
    $('#gallery-style').append(option);
  }
  form.populate(state.config);
  extendPanel.populate(state.config);
  boards.populate(state.config);
  window.addEventListener('hashchange', route);
  route();
  document.body.dataset.ready = 'true';
  const current = localStorage.getItem(CURRENT_JOB);
  if (current) openJob(current);
  refreshQueue();
  refreshGallery();
  setInterval(checkHealth, 15000);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshQueue(); });
}

boot();
