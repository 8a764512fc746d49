// What the studio shows about jobs: the result panel (progress, clips, settings),
// the queue of the key's jobs and the gallery of finished clips.

import { $, fmtSeconds, fmtWhen, h, show, shorten } from './dom.js';
import { fmtDateTime, t } from './i18n.js';

const STAGES = {
  queued: t('Queued'), starting: t('Starting'), load: t('Loading the model'), text: t('Reading the prompt'),
  denoise: t('Denoising'), decode: t('Decoding frames'), encode: t('Encoding the clip'), completed: t('Done'),
  failed: t('Failed'), cancelled: t('Cancelled'),
};
const ACTIVE = new Set(['queued', 'in_progress']);
// The interpolation names as the form's menu shows them (message ids).
const INTERPOLATION = { minterpolate: 'motion (best)', blend: 'blend (fast)', none: 'none (repeat)' };

export const isActive = (job) => ACTIVE.has(job.status);

export function stageText(job) {
  if (job.status === 'in_progress' && job.cancel_requested) return t('Cancelling…');
  if (job.status !== 'in_progress') return STAGES[job.status] || job.status;
  return STAGES[job.stage] || job.stage || t('Working');
}

export function stepsText(job) {
  const parts = [];
  const stepping = job.stage === 'denoise' || job.stage === 'decode';
  if (job.status === 'in_progress' && stepping && job.total_steps) parts.push(t`step ${job.step} / ${job.total_steps}`);
  if (isActive(job) || job.status === 'completed') parts.push(`${job.progress}%`);
  return parts.join(' · ');
}

function styleTitle(styles, name) {
  const preset = styles.find((s) => s.name === name);
  return preset ? preset.title : name;
}

// "extends “a red ball…”" / "edited from an uploaded clip": what a job was made from.
const MADE_FROM = { extend: t('extends'), edit: t('edited from') };

export function sourceText(job, limit = 60) {
  const source = job.source_clip;
  if (!source || !MADE_FROM[job.operation]) return '';
  let what;
  if (!source.id) what = t('an uploaded clip');
  else if (!source.exists) what = t('a clip since deleted');
  else what = source.prompt ? `“${shorten(source.prompt, limit)}”` : t`clip ${source.id.slice(0, 14)}…`;
  return t`${MADE_FROM[job.operation]} ${what}`;
}

function promptLabel(job) {
  if (job.prompt) return job.prompt;
  if (job.operation === 'extend') return t('(extension, no prompt)');
  return job.task === 'i2v' ? t('(image to video, no prompt)') : job.enhanced_prompt || '';
}

function download(href, name, label) {
  const url = `${href}${href.includes('?') ? '&' : '?'}download=1`;
  return h('a', { class: 'button ghost small', href: url, download: name }, label);
}

// Result panel ----------------------------------------------------------------

export class ResultView {
  // handlers: onCancel(job), onRemixSeed(job), onRemixEdit(job), onReuseSeed(seed),
  //           onUseFrame(video, job, index), onDelete(job), onExtend(job), onEdit(job),
  //           onOpen(id) (the source of an edit or extension), onSwitch(job) (another job shown)
  constructor(handlers, styles) {
    this.handlers = handlers;
    this.styles = styles;
    this.job = null;
    this.clipsOf = null; // the job id whose clips are on screen (not re-made on every update)
    $('#job-cancel').addEventListener('click', () => this.job && this.handlers.onCancel(this.job));
    $('#remix-seed').addEventListener('click', () => this.job && this.handlers.onRemixSeed(this.job));
    $('#remix-edit').addEventListener('click', () => this.job && this.handlers.onRemixEdit(this.job));
    $('#job-delete').addEventListener('click', () => this.job && this.handlers.onDelete(this.job));
    $('#extend-open').addEventListener('click', () => this.job && this.handlers.onExtend(this.job));
    $('#edit-open').addEventListener('click', () => this.job && this.handlers.onEdit(this.job));
    $('#job-source-open').addEventListener('click', () => {
      const source = this.job && this.job.source_clip;
      if (source && source.exists) this.handlers.onOpen(source.id);
    });
  }

  clear() {
    if (this.job) this.handlers.onSwitch(null);
    this.job = null;
    this.clipsOf = null;
    show($('#result-empty'));
    show($('#result-job'), false);
    $('#result-id').textContent = '';
    $('#clips').replaceChildren();
  }

  // A full studio job (GET /api/v1/studio/jobs/{id}).
  showJob(job) {
    if (!this.job || this.job.id !== job.id) {
      this.clipsOf = null;
      $('#clips').replaceChildren();
      this.handlers.onSwitch(job);
    }
    this.job = job;
    show($('#result-empty'), false);
    show($('#result-job'));
    $('#result-id').textContent = job.id;
    this.progress(job);
    const error = job.status === 'failed' && job.error ? job.error.message : '';
    $('#job-error').textContent = error ? t`The job failed: ${error}` : '';
    if (job.status === 'completed' && this.clipsOf !== job.id) this.renderClips(job);
    show($('#job-details'), job.status === 'completed');
    if (job.status === 'completed') this.renderDetails(job);
  }

  // A progress event or a job: the status line, the bar, the cancel button.
  progress(state) {
    if (this.job && state.id !== this.job.id) return;
    const merged = { ...(this.job || {}), ...state };
    const box = $('#result-job');
    box.dataset.operation = merged.operation || 'generate';
    box.dataset.status = merged.status;
    box.dataset.stage = merged.stage || '';
    box.dataset.progress = String(merged.progress ?? 0);
    box.dataset.step = String(merged.step ?? 0);
    box.dataset.totalSteps = String(merged.total_steps ?? 0);
    $('#job-stage').textContent = stageText(merged);
    $('#job-steps').textContent = stepsText(merged);
    $('#job-progress').value = merged.progress ?? 0;
    show($('#job-status'), merged.status !== 'completed' || !this.clipsOf);
    const cancel = $('#job-cancel');
    show(cancel, isActive(merged));
    cancel.disabled = Boolean(merged.cancel_requested);
    if (this.job) Object.assign(this.job, state);
  }

  renderClips(job) {
    this.clipsOf = job.id;
    const clips = $('#clips');
    clips.dataset.count = String(job.links.length);
    clips.replaceChildren(...job.links.map((link, index) => this.clipCard(job, link, index)));
    show($('#job-status'), false);
  }

  clipCard(job, link, index) {
    const clip = job.clips[index];
    const video = h('video', {
      src: link.video, poster: link.cover, controls: true, loop: true, muted: true, playsinline: true,
      autoplay: true, preload: 'auto', 'aria-label': t`Clip ${index + 1}, seed ${link.seed}`,
    });
    video.muted = true;
    const base = `shotsmith-${link.seed}`;
    return h('figure', { class: 'clip', dataset: { seed: link.seed, index } },
      video,
      h('figcaption', {},
        h('div', { class: 'row' },
          h('span', { class: 'seed' }, t('seed '), h('b', {}, String(link.seed))),
          h('button', { type: 'button', class: 'ghost small reuse-seed',
            onclick: () => this.handlers.onReuseSeed(link.seed) }, t('Reuse seed'))),
        h('div', { class: 'row wrap' },
          h('button', { type: 'button', class: 'secondary small use-frame',
            onclick: () => this.handlers.onUseFrame(video, job, index) }, t('Use this frame')),
          download(link.video, `${base}.mp4`, 'MP4'),
          link.gif ? download(link.gif, `${base}.gif`, 'GIF') : null,
          download(link.cover, `${base}.jpg`, t('Cover'))),
        h('span', { class: 'hint' },
          `${clip.width} × ${clip.height} · ${clip.fps} fps · ${fmtSeconds(clip.duration)}`)));
  }

  renderDetails(job) {
    const spec = job.spec;
    const made = sourceText(job);
    show($('#job-source'), Boolean(made));
    $('#job-source-text').textContent = made ? made.charAt(0).toUpperCase() + made.slice(1) : '';
    show($('#job-source-open'), Boolean(made && job.source_clip.exists));
    show($('#remix-edit'), job.operation !== 'extend'); // the form has no extend mode: Extend again instead
    $('#job-prompt').textContent = job.enhanced_prompt || spec.enhanced_prompt || spec.prompt || t('(no prompt)');
    const notes = job.notes || [];
    show($('#job-notes'), notes.length > 0);
    $('#job-notes').replaceChildren(...notes.map((note) => h('li', {}, note)));
    const sheet = $('#contact-sheet');
    show(sheet, Boolean(job.contact_sheet_link));
    if (job.contact_sheet_link) sheet.href = job.contact_sheet_link;
    const clip = job.clips[0];
    const operation = { generate: t('a new clip'), edit: t('an edit of a clip'), extend: t('an extension of a clip') };
    const rows = [
      [t('Made as'), `${operation[job.operation] || job.operation}${made ? ` (${made})` : ''}`],
      [t('Your words'), spec.prompt || '—'],
      [t('Model'), spec.model],
      [t('Seeds'), job.seeds.join(', ')],
      [t('Style'), spec.style ? styleTitle(this.styles, spec.style) : t('none')],
      [t('Output'), clip ? `${clip.width} × ${clip.height}, ${clip.fps} fps, ${fmtSeconds(clip.duration)}` : '—'],
      [t('Steps'), spec.steps ?? t('model default')],
      [t('Guidance'), spec.guidance ?? t('model default')],
      [t('Interpolation'), t(INTERPOLATION[spec.interpolation] || spec.interpolation)],
      [t('Candidates'), spec.candidates],
      [t('Negative prompt'), spec.negative_prompt || '—'],
      [t('LoRA'), spec.lora ? t`${spec.lora} at ${spec.lora_scale}` : t('none')],
      [t('First frame'), spec.image ? t('uploaded image') : job.operation === 'extend' ? t('the source clip\'s last') : '—'],
      [t('Last frame'), spec.last_image ? t('uploaded image') : '—'],
      job.operation === 'edit' ? [t('Strength'), spec.strength ?? t('default')] : null,
      job.operation === 'extend' ? [t('Added'), fmtSeconds(spec.seconds ?? 0)] : null,
      [t('Made'), t`${fmtDateTime(job.created_at)} via ${job.source}`],
      [t('Time taken'), job.timings.total ? fmtSeconds(job.timings.total) : '—'],
    ];
    $('#job-settings').replaceChildren(...rows.filter(Boolean)
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
  }
}

// Queue -----------------------------------------------------------------------

export class QueueView {
  constructor({ onOpen, onCancel }) {
    this.onOpen = onOpen;
    this.onCancel = onCancel;
  }

  render(jobs, currentId) {
    const list = $('#queue-list');
    const active = jobs.filter(isActive).length;
    $('#queue-count').textContent = active ? t`${active} running or waiting` : '';
    show($('#queue-empty'), jobs.length === 0);
    list.replaceChildren(...jobs.map((job) => this.item(job, currentId)));
  }

  item(job, currentId) {
    const label = shorten(promptLabel(job), 90);
    return h('li', { class: `queue-item status-${job.status}${job.id === currentId ? ' current' : ''}`,
      dataset: { id: job.id, status: job.status } },
    h('button', { type: 'button', class: 'open', onclick: () => this.onOpen(job.id) }, label),
    h('span', { class: `chip status-${job.status}` }, stageText(job)),
    isActive(job) ? h('progress', { max: 100, value: job.progress, 'aria-label': t('Progress') }) : null,
    h('span', { class: 'hint steps' }, [stepsText(job), fmtWhen(job.created_at)].filter(Boolean).join(' · ')),
    isActive(job) ? h('button', { type: 'button', class: 'danger small cancel', disabled: job.cancel_requested,
      onclick: () => this.onCancel(job) }, t('Cancel')) : null);
  }

  progress(state) {
    const item = document.querySelector(`#queue-list li[data-id="${state.id}"]`);
    if (!item) return;
    const bar = item.querySelector('progress');
    if (bar) bar.value = state.progress;
    const chip = item.querySelector('.chip');
    if (chip) chip.textContent = stageText(state);
    const steps = item.querySelector('.steps');
    if (steps) steps.textContent = stepsText(state);
  }
}

// Gallery ---------------------------------------------------------------------

export class GalleryView {
  constructor({ onOpen }, styles) {
    this.onOpen = onOpen;
    this.styles = styles;
  }

  render(jobs, { append = false, hasMore = false, filtered = false } = {}) {
    const grid = $('#gallery-grid');
    const cards = jobs.map((job) => this.card(job));
    if (append) grid.append(...cards);
    else grid.replaceChildren(...cards);
    const empty = grid.children.length === 0;
    show($('#gallery-empty'), empty);
    $('#gallery-empty').textContent = filtered ? t('No clips match.') : t('No clips yet: your finished clips show here.');
    show($('#gallery-more'), hasMore);
  }

  card(job) {
    const link = job.links[0];
    const clip = job.clips[0];
    const prompt = promptLabel(job);
    const made = sourceText(job, 40);
    const source = job.source_clip;
    return h('article', { class: 'card', dataset: { id: job.id, style: job.style || 'none',
      operation: job.operation || 'generate', source: source && source.id ? source.id : '' } },
      h('button', { type: 'button', class: 'thumb', onclick: () => this.onOpen(job.id),
        'aria-label': t`Open clip: ${shorten(prompt, 60)}` },
      link ? h('img', { src: link.cover, alt: '', loading: 'lazy' }) : null,
      job.links.length > 1 ? h('span', { class: 'badge' }, t`${job.links.length} clips`) : null),
      h('p', { class: 'card-prompt', title: job.enhanced_prompt || prompt }, shorten(prompt, 120)),
      made ? h('p', { class: 'card-source', title: sourceText(job, 400) }, source.exists
        ? h('button', { type: 'button', class: 'link', onclick: () => this.onOpen(source.id),
          'aria-label': t`Open the source: ${sourceText(job, 400)}` }, made)
        : made) : null,
      h('div', { class: 'card-meta' },
        h('span', { class: 'chip' }, job.style ? styleTitle(this.styles, job.style) : t('no style')),
        job.operation === 'extend' ? h('span', { class: 'chip op' }, t('extension')) : null,
        job.operation === 'edit' ? h('span', { class: 'chip op' }, t('edit')) : null,
        job.spec.image ? h('span', { class: 'chip' }, job.spec.last_image ? t('first + last frame') : t('from image'))
          : null,
        h('span', { class: 'hint' }, t`seed ${job.seeds.join(', ')}`),
        clip ? h('span', { class: 'hint' }, fmtSeconds(clip.duration)) : null,
        h('span', { class: 'hint' }, fmtWhen(job.created_at))));
  }
}
