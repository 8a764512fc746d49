// The Extend panel under a finished clip: how much to add (the lengths the hosted API
// offers) and what happens next. It sends POST /api/v1/jobs with `extend_from` = the
// clip's job id, at the clip's own size and frame rate, and shows the API's errors
// beside the part they are about.

import { $, $$, fmtSeconds, h, show } from './dom.js';
import { fmtNumber, t } from './i18n.js';

// The API's error.param -> this panel's error line (#extend-<name>-error); the rest above the button.
const FIELD_OF = { seconds: 'seconds', prompt: 'prompt', enhanced_prompt: 'prompt' };

export class ExtendPanel {
  // onSubmit(body): queue the extension and show it (throws an ApiError on refusal)
  constructor({ onSubmit, onAuthError }) {
    this.onSubmit = onSubmit;
    this.onAuthError = onAuthError;
    this.job = null;
    this.config = null;
    $('#extend-form').addEventListener('submit', (event) => { event.preventDefault(); this.submit(); });
    $('#extend-cancel').addEventListener('click', () => this.close({ focus: true }));
    $('#extend-form').addEventListener('input', () => this.clearErrors());
    $('#extend-form').addEventListener('change', () => this.describe());
    $('#extend-form').addEventListener('keydown', (event) => {
      if (event.key === 'Escape') this.close({ focus: true });
    });
  }

  populate(config) {
    this.config = config;
    const choices = config.limits.extend_seconds || [4, 8, 12, 16, 20];
    $('#extend-seconds').replaceChildren(...choices.map((value, index) => h('label', {},
      h('input', { type: 'radio', name: 'extend-seconds', value, checked: index === 0 }),
      h('span', {}, t`${fmtNumber(value)} s`))));
  }

  get seconds() { return Number($('input[name=extend-seconds]:checked').value); }

  get isOpen() { return !$('#extend-form').hidden; }

  open(job) {
    this.job = job;
    this.clearErrors();
    $('#extend-prompt').value = job.prompt || job.enhanced_prompt || '';
    show($('#extend-form'));
    $('#extend-open').setAttribute('aria-expanded', 'true');
    this.describe();
    $('#extend-form').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    $('#extend-prompt').focus();
  }

  close({ focus = false } = {}) {
    show($('#extend-form'), false);
    $('#extend-open').setAttribute('aria-expanded', 'false');
    if (focus) $('#extend-open').focus();
  }

  describe() {
    if (!this.job) return;
    const clip = this.job.clips[0];
    const now = clip ? clip.duration : 0;
    const limit = this.config ? this.config.limits.max_extended_seconds : 120;
    const total = now + this.seconds;
    $('#extend-note').textContent = t`The new part starts from the last frame of this ${fmtSeconds(now)} clip; `
      + t`you get one clip of about ${fmtSeconds(total)}` + (total > limit ? t` (over the ${fmtSeconds(limit)} limit)` : '')
      + t('.');
  }

  body() {
    const job = this.job;
    const spec = job.spec;
    const clip = job.clips[0];
    const body = {
      extend_from: job.id,
      seconds: this.seconds,
      prompt: $('#extend-prompt').value.trim(),
      size: clip ? `${clip.width}x${clip.height}` : `${spec.width}x${spec.height}`,
      fps: Math.round(clip ? clip.fps : spec.fps),
      interpolation: spec.interpolation,
      enhance: spec.enhance !== false,
    };
    for (const key of ['style', 'steps', 'negative_prompt']) {
      if (spec[key] !== null && spec[key] !== undefined && spec[key] !== '') body[key] = spec[key];
    }
    return body;
  }

  async submit() {
    if (!this.job) return;
    this.clearErrors();
    const button = $('#extend-submit');
    button.disabled = true;
    button.textContent = t('Sending…');
    try {
      await this.onSubmit(this.body());
      this.close();
    } catch (err) {
      if (err.status === 401) this.onAuthError(err);
      else this.showError(err);
    } finally {
      button.disabled = false;
      button.textContent = t('Extend');
    }
  }

  showError(err) {
    const name = (err.field && FIELD_OF[err.field]) || '';
    let message = err.message;
    if (name && message.startsWith(`${err.field}: `)) {
      message = message.slice(err.field.length + 2);
      message = message.charAt(0).toUpperCase() + message.slice(1);
    }
    const line = $(name ? `#extend-${name}-error` : '#extend-error');
    line.textContent = message;
    const field = line.closest('.field');
    if (field) field.classList.add('invalid');
    line.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  clearErrors() {
    for (const line of $$('#extend-form .error')) {
      line.textContent = '';
      const field = line.closest('.field');
      if (field) field.classList.remove('invalid');
    }
  }
}
