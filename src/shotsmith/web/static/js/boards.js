// The Storyboard view: the key's boards and a form that makes one from a script,
// then one board: its shots as a strip of cards, the selected shot's takes side by
// side (play, pick), Render all with progress per shot and for the board, and the
// export (the cut and the shot list). Everything goes through /api/v1/boards; every
// answer is the whole board, and the view redraws from it. While anything renders,
// the board is polled.

import { api } from './api.js';
import { $, $$, fmtSeconds, fmtWhen, h, show } from './dom.js';
import { fmtNumber, t } from './i18n.js';
import { ShotStrip } from './strip.js';

const POLL_MS = 1500;
const BUSY = new Set(['waiting', 'queued', 'rendering']);
const BOARD_STATUS = {
  draft: t('Draft'), rendering: t('Rendering'), ready: t('Ready to export'), exported: t('Exported'),
};
const TAKE_DONE = 'completed';
// The API's error.param -> the new-board form's error line
const NEW_BOARD_FIELD = {
  name: 'board-name', size: 'board-size', width: 'board-size', height: 'board-size', fps: 'board-fps',
  style: 'board-style', script: 'board-script', backend: 'board-backend', steps: 'board-steps',
  interpolation: 'board-interpolation',
};

// Takes in flight (a shot waiting for the pick before it renders nothing yet)
const isRendering = (board) => board.shots.some((shot) => shot.status === 'queued' || shot.status === 'rendering');
const isWaiting = (board) => board.shots.some((shot) => shot.status === 'waiting');

function parseSize(text) {
  const m = /^\s*(\d{2,5})\s*[x×*]\s*(\d{2,5})\s*$/i.exec(text);
  return m ? { width: Number(m[1]), height: Number(m[2]) } : null;
}

// An error that names a shot (an export with a shot that has no take): that shot's id.
function shotNamed(err, board) {
  const words = `${err.field || ''} ${err.message}`;
  const shot = board.shots.find((s) => words.includes(s.id));
  if (shot) return shot;
  const index = /shots?\[?\.?(\d+)\]?/.exec(err.field || '');
  return index ? board.shots[Number(index[1])] || null : null;
}

export class BoardsView {
  constructor({ onAuthError, toast }) {
    this.onAuthError = onAuthError;
    this.toast = toast;
    this.config = null;
    this.board = null;
    this.selected = null; // the shot whose takes are shown
    this.pollTimer = null;
    this.lost = false; // the last poll found no server
    this.visible = false;
    this.jobs = new Map(); // job id -> finished studio job (signed links), fetched once
    this.links = null; // {board, files, expires_at}: the signed folder link of the board's files
    this.takesOf = null; // `${shot id}:${take ids}` on screen, so a poll does not restart the players
    this.strip = new ShotStrip($('#shot-strip'), {
      onEdit: (shot, patch) => this.editShot(shot, patch),
      onReorder: (ids) => this.reorder(ids),
      onSelect: (shot) => this.select(shot.id),
      onDelete: (shot) => this.deleteShot(shot),
      resolveThumb: (shot, take, done) => this.takeLink(take).then((link) => done(link && link.cover)),
      resolveImage: (url, done) => this.signedFile(url).then(done, () => done(null)),
    });
    this.bind();
  }

  bind() {
    $('#board-new').addEventListener('submit', (event) => { event.preventDefault(); this.create(); });
    $('#board-new').addEventListener('input', (event) => {
      const field = event.target.closest('.field');
      if (field) clearField(field);
    });
    $('#board-script-file').addEventListener('change', (event) => {
      const [file] = event.target.files;
      event.target.value = '';
      if (file) this.loadScript(file);
    });
    $('#board-render').addEventListener('click', () => this.render());
    $('#board-export-open').addEventListener('click', () => {
      show($('#board-export'));
      $('#board-export').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    });
    $('#export-run').addEventListener('click', () => this.exportCut());
    $('#board-delete').addEventListener('click', () => this.deleteBoard());
    $('#board-add-open').addEventListener('click', () => {
      show($('#shot-add'));
      $('#shot-add-text').focus();
    });
    $('#shot-add-cancel').addEventListener('click', () => show($('#shot-add'), false));
    $('#shot-add').addEventListener('submit', (event) => { event.preventDefault(); this.addShot(); });
  }

  populate(config) {
    this.config = config;
    $('#board-sizes').replaceChildren(...config.sizes.map((value) => h('option', { value })));
    for (const value of config.fps_choices) $('#board-fps').append(h('option', { value }, String(value)));
    for (const preset of config.styles) {
      $('#board-style').append(h('option', { value: preset.name, title: preset.description }, t(preset.title)));
    }
  }

  // Routing: '#/boards' (the list) or '#/boards/<id>' (one board) -------------------

  async open(boardId) {
    this.visible = true;
    if (!boardId) {
      this.stopPolling();
      this.board = null;
      show($('#board'), false);
      show($('#board-index'));
      await this.loadList();
      return;
    }
    show($('#board-index'), false);
    show($('#board'));
    if (!this.board || this.board.id !== boardId) {
      this.board = null;
      this.selected = null;
      this.takesOf = null;
      this.strip.clear();
      $('#board-title').textContent = t('Loading…');
      show($('#board-export'), false);
    }
    await this.refresh(boardId);
  }

  close() {
    this.visible = false;
    this.stopPolling();
    for (const video of $$('#takes-grid video')) video.pause();
  }

  // The list and the new-board form ----------------------------------------------

  async loadList() {
    try {
      const page = await api.boards();
      const boards = page.data;
      show($('#boards-empty'), boards.length === 0);
      $('#boards-list').dataset.loaded = 'true';
      $('#boards-list').replaceChildren(...boards.map((board) => h('li', { class: 'board-item', dataset: { id: board.id } },
        h('a', { href: `#/boards/${encodeURIComponent(board.id)}`, class: 'board-link' }, board.name),
        board.status ? h('span', { class: `chip status-${board.status}` }, BOARD_STATUS[board.status] || board.status)
          : null,
        h('span', { class: 'hint' }, t`${board.shot_count ?? 0} shots · ${board.width} × ${board.height} · ${
          fmtWhen(board.updated_at)}`))));
    } catch (err) {
      this.fail(err, '#board-form-error');
    }
  }

  async loadScript(file) {
    const text = await file.text();
    $('#board-script').value = text;
    clearField($('#board-script').closest('.field'));
    const lines = text.split('\n').filter((line) => line.trim()).length;
    $('#board-script-note').textContent = t`${file.name}: ${fmtNumber(lines)} lines, ${fmtNumber(file.size)} bytes`;
    if (!$('#board-name').value.trim()) $('#board-name').value = file.name.replace(/\.(md|txt|markdown)$/i, '');
  }

  newBoardBody() {
    const body = { name: $('#board-name').value.trim() };
    const sizeText = $('#board-size').value.trim();
    if (sizeText) {
      const size = parseSize(sizeText);
      if (!size) {
        throw Object.assign(new Error(t('Write the size as WIDTHxHEIGHT, for example 480x320.')), { field: 'size' });
      }
      Object.assign(body, size);
    }
    if ($('#board-fps').value) body.fps = Number($('#board-fps').value);
    if ($('#board-style').value) body.style = $('#board-style').value;
    const steps = $('#board-steps').value.trim();
    if (steps) {
      if (!/^\d+$/.test(steps)) throw Object.assign(new Error(t('Steps must be a whole number.')), { field: 'steps' });
      body.steps = Number(steps);
    }
    if ($('#board-interpolation').value) body.interpolation = $('#board-interpolation').value;
    const script = $('#board-script').value;
    if (script.trim()) {
      body.script = script;
      body.backend = $('input[name=board-backend]:checked').value;
    }
    return body;
  }

  async create() {
    for (const field of $$('#board-new .field')) clearField(field);
    $('#board-form-error').textContent = '';
    const button = $('#board-create');
    button.disabled = true;
    button.textContent = t('Breaking the script down…');
    try {
      const board = await api.createBoard(this.newBoardBody());
      $('#board-new').reset();
      $('#board-script-note').textContent = '';
      this.toast(t`Board “${board.name}” made with ${board.shots.length} shots.`);
      window.location.hash = `#/boards/${encodeURIComponent(board.id)}`;
    } catch (err) {
      if (err.status === 401) return this.onAuthError(err);
      const name = NEW_BOARD_FIELD[err.field] || NEW_BOARD_FIELD[String(err.field || '').split(/[.[]/)[0]];
      if (name) {
        if (name === 'board-steps' || name === 'board-interpolation') $('#board-advanced').open = true;
        fieldError(name, err);
      }
      else $('#board-form-error').textContent = err.message;
    } finally {
      button.disabled = false;
      button.textContent = t('Make the board');
    }
  }

  // One board ----------------------------------------------------------------------

  async refresh(boardId = this.board && this.board.id) {
    if (!boardId) return;
    try {
      const board = await api.board(boardId);
      if (this.lost) { // the server is back (a restart): its board, takes and queue carry on
        this.lost = false;
        $('#board-error').textContent = '';
      }
      this.draw(board);
    } catch (err) {
      if ((err.status === 0 || err.status >= 500) && this.visible && this.board && this.board.id === boardId) {
        this.lost = true; // unreachable or restarting: say so and keep asking
        $('#board-error').textContent = err.message;
        this.poll(POLL_MS * 2);
        return;
      }
      if (err.status === 404) {
        this.toast(t('That board is not there (deleted, or made with another key).'), { error: true });
        window.location.hash = '#/boards';
        return;
      }
      this.fail(err);
    }
  }

  draw(board) {
    if (!this.visible || (this.board && this.board.id !== board.id)) return;
    this.board = board;
    document.body.dataset.board = board.id;
    $('#board').dataset.status = board.status;
    $('#board-title').textContent = board.name;
    const status = $('#board-status');
    status.textContent = BOARD_STATUS[board.status] || board.status;
    status.className = `chip status-${board.status}`;
    const style = board.style ? (this.config.styles.find((s) => s.name === board.style) || { title: board.style }).title
      : null;
    $('#board-meta').textContent = [`${board.width} × ${board.height}`, t`${board.fps} fps`,
      style ? t(style) : t('no style'), board.model || t('default models'),
      fmtSeconds(board.shots.reduce((sum, shot) => sum + Number(shot.duration || 0), 0))].join(' · ');
    const progress = board.progress || { shots: board.shots.length, rendered: 0, picked: 0, percent: 0 };
    $('#board-progress').value = progress.percent;
    $('#board').dataset.progress = String(progress.percent);
    $('#board-progress-text').textContent = t`${progress.rendered} of ${progress.shots} shots rendered · ${
      progress.picked} picked · ${progress.percent}%`;
    const busy = isRendering(board);
    $('#board-render').disabled = busy || board.shots.length === 0;
    $('#board-render').textContent = busy ? t('Rendering…') : t('Render all');
    if (!board.shots.some((shot) => shot.id === this.selected)) this.selected = this.firstToPick(board);
    this.strip.render(board.shots, this.selected);
    this.drawTakes();
    this.drawExport();
    if (busy || isWaiting(board)) this.poll(busy ? POLL_MS : POLL_MS * 3); // a pick elsewhere can start a shot
    else this.stopPolling();
  }

  // The shot to show first: one with takes and no pick, else the first one.
  firstToPick(board) {
    const waiting = board.shots.find((shot) => !shot.picked_take_id && shot.takes.some((take) => take.status === TAKE_DONE));
    return (waiting || board.shots[0] || { id: null }).id;
  }

  poll(delay) {
    if (this.pollTimer) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      if (this.visible && this.board) this.refresh();
    }, document.hidden ? delay * 4 : delay);
  }

  stopPolling() {
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  }

  // Show a shot's takes; from a tap on a phone, scroll down to them (they are below the strip).
  select(shotId, { toTakes = true } = {}) {
    this.selected = shotId;
    if (!this.board) return;
    this.strip.render(this.board.shots, this.selected);
    this.drawTakes();
    if (toTakes && window.matchMedia('(max-width: 899px)').matches) {
      $('#takes').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    }
  }

  // Takes of the selected shot, side by side ------------------------------------------------

  drawTakes() {
    const shot = this.board.shots.find((s) => s.id === this.selected);
    const grid = $('#takes-grid');
    if (!shot) {
      $('#takes-title').textContent = t('Takes');
      $('#takes-empty').textContent = t('Add a shot to start.');
      show($('#takes-empty'));
      grid.replaceChildren();
      this.takesOf = null;
      return;
    }
    $('#takes-title').textContent = t`Takes of ${shot.title}`;
    $('#takes').dataset.shot = shot.id;
    const empty = shot.takes.length === 0;
    show($('#takes-empty'), empty);
    $('#takes-empty').textContent = shot.status === 'waiting' ? t('This shot continues the one before it: it renders once that one has a pick.')
      : t('No takes yet: press Render all (or Render this shot) to make them.');
    const key = `${shot.id}:${shot.takes.map((take) => `${take.id}/${take.status}`).join()}`;
    if (key !== this.takesOf) {
      this.takesOf = key;
      grid.dataset.count = String(shot.takes.length);
      grid.replaceChildren(...shot.takes.map((take, index) => this.takeCard(shot, take, index)));
    }
    for (const figure of $$('.take', grid)) {
      const take = shot.takes.find((tk) => tk.id === figure.dataset.id);
      if (!take) continue;
      const picked = take.id === shot.picked_take_id;
      figure.classList.toggle('picked', picked);
      figure.dataset.picked = String(picked);
      const button = $('.pick', figure);
      if (button) {
        button.textContent = picked ? t('Picked') : t('Pick this take');
        button.disabled = picked || take.status !== TAKE_DONE;
        button.setAttribute('aria-pressed', String(picked));
      }
      const bar = $('progress', figure);
      if (bar) bar.value = take.progress || 0;
    }
    const again = $('#takes-render') || h('button', { type: 'button', id: 'takes-render', class: 'secondary small',
      onclick: () => this.render([this.selected]) }, t('Render this shot'));
    again.textContent = shot.takes.length ? t('Render more takes') : t('Render this shot');
    again.disabled = BUSY.has(shot.status);
    if (!again.isConnected) $('#takes-title').after(again);
  }

  takeCard(shot, take, index) {
    const done = take.status === TAKE_DONE;
    const figure = h('figure', { class: 'take', dataset: { id: take.id, status: take.status, seed: take.seed } });
    const media = h('div', { class: 'take-media' }, done ? t('Loading…') : h('progress', { max: 100,
      value: take.progress || 0, 'aria-label': t('Progress') }));
    figure.append(media, h('figcaption', {},
      h('div', { class: 'row' },
        h('span', { class: 'seed' }, t`Take ${index + 1} · seed `, h('b', {}, String(take.seed))),
        h('span', { class: `chip status-${take.status}` }, done ? fmtSeconds(take.duration ?? 0) : take.status)),
      h('button', { type: 'button', class: 'primary small pick', disabled: !done,
        onclick: () => this.pick(shot.id, take.id) }, t('Pick this take'))));
    if (done) {
      this.takeLink(take).then((link) => {
        if (!link) {
          media.textContent = t('The clip could not be loaded.');
          return;
        }
        const video = h('video', { src: link.video, poster: link.cover, controls: true, loop: true, muted: true,
          playsinline: true, preload: 'metadata', 'aria-label': t`Take ${index + 1}, seed ${take.seed}` });
        video.muted = true;
        media.replaceChildren(video);
      });
    }
    return figure;
  }

  // A finished take's signed links (video, cover), from its job (fetched once per job).
  async takeLink(take) {
    if (!take || take.status !== TAKE_DONE || !take.job_id) return null;
    let job = this.jobs.get(take.job_id);
    if (!job) {
      try {
        job = await api.job(take.job_id);
      } catch {
        return null;
      }
      if (job.status !== TAKE_DONE) return null;
      this.jobs.set(take.job_id, job);
    }
    return job.links.find((link) => link.seed === take.seed) || job.links[0] || null;
  }

  // A board file's API path (…/files/<name>) as a link a browser can open without the key:
  // the board's signed folder link (fetched once, renewed before it expires) + the name.
  async signedFile(path) {
    const board = this.board.id;
    const now = Date.now() / 1000;
    if (!this.links || this.links.board !== board || this.links.expires_at - now < 600) {
      const answer = await api.boardLinks(board);
      this.links = { board, files: answer.files, expires_at: answer.expires_at };
    }
    return this.links.files + path.slice(path.indexOf('/files/') + '/files/'.length);
  }

  // Actions ------------------------------------------------------------------------------------

  async act(call, { card = null, line = '#board-error' } = {}) {
    $('#board-error').textContent = '';
    try {
      const board = await call();
      if (board && board.object === 'board' && board.shots) this.draw(board);
      return board;
    } catch (err) {
      if (err.status === 401) return this.onAuthError(err);
      const named = card ? null : shotNamed(err, this.board);
      const target = card || (named && this.strip.card(named.id));
      if (target) target.showError(err);
      if (!card) $(typeof line === 'function' ? line(err) : line).textContent = err.message;
      if (err.status === 404 || err.status === 409) this.refresh(); // the board moved on: show it as it is
      return null;
    }
  }

  async editShot(shot, patch) {
    const card = this.strip.card(shot.id);
    const board = await this.act(() => api.updateShot(this.board.id, shot.id, patch), { card });
    if (board && card) card.clearError(); // saved: whatever the card said before is answered
    return board;
  }

  reorder(ids) {
    return this.act(() => api.reorder(this.board.id, ids));
  }

  async render(shotIds = null) {
    this.strip.clearErrors();
    const board = await this.act(() => api.render(this.board.id, shotIds ? { shot_ids: shotIds } : {}));
    if (board) this.toast(t('Rendering: each shot shows its progress; pick a take once they are done.'));
  }

  pick(shotId, takeId) {
    this.strip.clearErrors(); // an export refused for want of this pick is answered by it
    return this.act(() => api.pick(this.board.id, shotId, takeId), { line: '#board-error' });
  }

  async deleteShot(shot) {
    if (!window.confirm(t`Delete “${shot.title}” and its takes?`)) return;
    await this.act(() => api.deleteShot(this.board.id, shot.id));
  }

  async addShot() {
    const text = $('#shot-add-text').value.trim();
    $('#shot-add-text-error').textContent = '';
    if (!text) {
      $('#shot-add-text-error').textContent = t('Say what happens in the shot.');
      return;
    }
    const board = await this.act(() => api.addShot(this.board.id, { text }), { line: '#shot-add-text-error' });
    if (board) {
      $('#shot-add').reset();
      show($('#shot-add'), false);
      const added = board.shots[board.shots.length - 1].id;
      this.select(added, { toTakes: false });
      this.strip.card(added).el.scrollIntoView({ block: 'nearest', inline: 'nearest' }); // the new card, to edit
    }
  }

  async deleteBoard() {
    if (!window.confirm(t`Delete the board “${this.board.name}”, its takes and its files?`)) return;
    const answer = await this.act(() => api.deleteBoard(this.board.id));
    if (answer) {
      this.toast(t('Board deleted.'));
      this.board = null;
      window.location.hash = '#/boards';
    }
  }

  async exportCut() {
    $('#export-crossfade-error').textContent = '';
    $('#export-error').textContent = '';
    this.strip.clearErrors();
    $('#export-note').textContent = t('Cutting the picked takes together…');
    $('#export-run').disabled = true;
    const crossfade = Number($('#export-crossfade').value || 0);
    const board = await this.act(() => api.exportBoard(this.board.id, { crossfade }),
      { line: (err) => (err.field === 'crossfade' ? '#export-crossfade-error' : '#export-error') });
    $('#export-run').disabled = false;
    if (!board) $('#export-note').textContent = '';
    else this.toast(t('Exported: download the cut or open the shot list.'));
  }

  async drawExport() {
    const done = this.board.export;
    show($('#board-export'), !$('#board-export').hidden || Boolean(done));
    const list = $('#export-links');
    if (done) {
      const seconds = t`${fmtNumber(done.duration, { maximumFractionDigits: 2 })} s`;
      $('#export-note').textContent = t`The cut: ${seconds}, ${done.chapters} chapters, made ${fmtWhen(done.created_at)}.`;
    }
    const key = done ? `${this.board.id}:${done.created_at}:${done.cut_url}` : '';
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    if (!done) {
      list.replaceChildren();
      return;
    }
    const base = this.board.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'board';
    try {
      const [cut, html, csv, md] = await Promise.all([done.cut_url, done.html_url, done.csv_url, done.md_url]
        .map((url) => this.signedFile(url)));
      list.replaceChildren(
        fileLink(cut, `${base}.mp4`, t('Download the cut (MP4)'), 'export-cut'),
        fileLink(html, null, t('Open the shot list'), 'export-html'),
        fileLink(csv, `${base}-shots.csv`, t('Shot list as CSV'), 'export-csv'),
        fileLink(md, `${base}-shots.md`, t('Shot list as Markdown'), 'export-md'));
    } catch (err) {
      list.dataset.key = '';
      this.fail(err, '#export-error');
    }
  }

  fail(err, line = '#board-error') {
    if (err.status === 401) this.onAuthError(err);
    else $(line).textContent = err.message;
  }
}

function fieldError(name, err) {
  const line = $(`#${name}-error`);
  let message = err.message;
  if (err.field && message.startsWith(`${err.field}: `)) {
    message = message.slice(err.field.length + 2);
    message = message.charAt(0).toUpperCase() + message.slice(1);
  }
  line.textContent = message;
  const field = line.closest('.field');
  if (field) field.classList.add('invalid');
  line.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
}

function clearField(field) {
  field.classList.remove('invalid');
  for (const line of $$('.error', field)) line.textContent = '';
}

// A link to an export file: a download (with its name) or, for the shot list, a new tab.
function fileLink(href, downloadName, label, id) {
  return h('li', {}, h('a', { id, class: 'button ghost small', href, download: downloadName || null,
    target: downloadName ? null : '_blank', rel: 'noopener' }, label));
}
