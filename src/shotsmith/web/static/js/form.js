// The Create form: mode, first-frame image, idea or scene + content, the prompt
// agent, and the generation settings. It builds the body of POST /api/v1/jobs and
// shows any error beside the field it is about.

import { ApiError, api } from './api.js';
import { $, $$, h, readAsDataUrl, show } from './dom.js';

// The API's error.param -> the field whose error line (#<name>-error) shows it.
const FIELD_OF = {
  image: 'image', input_reference: 'image', prompt: 'prompt', enhanced_prompt: 'prompt', text: 'idea',
  scene: 'idea', content: 'idea', negative_prompt: 'negative', seed: 'seed', model: 'model', size: 'size',
  width: 'size', height: 'size', native_width: 'size', native_height: 'size', seconds: 'seconds',
  frames: 'seconds', fps: 'fps', steps: 'steps', guidance: 'guidance', interpolation: 'interpolation',
  style: 'style', candidates: 'candidates', mode: 'form', backend: 'form', lora: 'lora', lora_scale: 'lora-scale',
};
const ADVANCED = new Set(['negative', 'steps', 'guidance', 'interpolation', 'lora', 'lora-scale']);
const SOURCE_LABEL = {
  user: 'your words', preset: 'style preset', default: 'default', llm: 'LLM', omitted: 'left out to fit',
};

export class CreateForm {
  constructor({ onSubmit, onAuthError }) {
    this.onSubmit = onSubmit;
    this.onAuthError = onAuthError;
    this.config = null;
    this.image = null; // {dataUrl, note}
    this.formulaMode = null; // the mode the formula prompt on screen was written for
    this.bind();
  }

  // Setup -------------------------------------------------------------------

  bind() {
    $$('input[name=mode]').forEach((el) => el.addEventListener('change', () => this.applyMode()));
    $$('input[name=input]').forEach((el) => el.addEventListener('change', () => this.applyInput()));
    $('#image-input').addEventListener('change', (event) => {
      const [file] = event.target.files;
      if (file) this.setImageFile(file);
      event.target.value = '';
    });
    const drop = $('#image-drop');
    drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      const [file] = event.dataTransfer.files;
      if (file) this.setImageFile(file);
    });
    $('#image-clear').addEventListener('click', () => this.clearImage());
    $('#enhance').addEventListener('click', () => this.enhance());
    $('#prompt-discard').addEventListener('click', () => this.discardFormula());
    $('#seed-random').addEventListener('click', () => { $('#seed').value = ''; this.clearErrors(['seed']); });
    $('#size').addEventListener('change', () => this.applySize());
    $('#model').addEventListener('change', () => this.applyModel());
    $('#create-form').addEventListener('submit', (event) => { event.preventDefault(); this.submit(); });
    $('#create-form').addEventListener('input', (event) => this.clearErrorOf(event.target));
  }

  populate(config) {
    this.config = config;
    const style = $('#style');
    for (const preset of config.styles) {
      style.append(h('option', { value: preset.name, title: preset.description }, preset.title));
    }
    const model = $('#model');
    for (const entry of config.models) {
      const kind = entry.task === 'i2v' ? 'image to video' : 'text to video';
      const label = `${entry.name}${entry.available ? '' : ' (not downloaded)'}`;
      model.append(h('option', { value: entry.name, title: `${entry.description} (${kind})`,
        dataset: { task: entry.task } }, label));
    }
    const size = $('#size');
    for (const value of config.sizes) size.append(h('option', { value }, value.replace('x', ' × ')));
    size.append(h('option', { value: 'custom' }, 'Custom…'));
    size.value = config.defaults.size;
    const fps = $('#fps');
    for (const value of config.fps_choices) fps.append(h('option', { value }, String(value)));
    fps.value = String(config.defaults.fps);
    $('#interpolation').value = config.defaults.interpolation;
    for (const name of config.loras || []) $('#lora').append(h('option', { value: name }, name));
    $('#auto-enhance').checked = config.defaults.enhance;
    $('#seed').placeholder = 'random';
    this.applyMode();
    this.applyInput();
  }

  // State -------------------------------------------------------------------

  get mode() { return $('input[name=mode]:checked').value; }

  get inputMode() { return $('input[name=input]:checked').value; }

  setMode(mode) {
    $(`input[name=mode][value="${mode}"]`).checked = true;
    this.applyMode();
  }

  applyMode() {
    const i2v = this.mode === 'i2v';
    if (this.formulaMode && this.formulaMode !== this.mode && !$('#enhanced').hidden) {
      // a formula prompt is written for one mode (an i2v one continues the first frame): not reused
      this.discardFormula();
      $('#enhance-note').textContent = `Mode changed: press Enhance again for a prompt written for ${
        i2v ? 'image to video' : 'text to video'}.`;
    }
    show($('#image-field'), i2v);
    show($('#idea-optional'), i2v);
    const select = $('#model');
    for (const option of select.options) option.disabled = option.dataset.task !== this.mode;
    const current = select.selectedOptions[0];
    if (this.config && (!current || current.disabled)) {
      select.value = i2v ? this.config.defaults.i2v_model : this.config.defaults.model;
    }
    this.applyModel();
  }

  applyInput() {
    const scene = this.inputMode === 'scene';
    show($('#idea-field'), !scene);
    show($('#scene-fields'), scene);
  }

  applySize() {
    const custom = $('#size').value === 'custom';
    show($('#size-custom'), custom);
    if (custom) $('#size-custom').focus();
  }

  modelEntry() {
    return this.config ? this.config.models.find((m) => m.name === $('#model').value) : null;
  }

  applyModel() {
    const entry = this.modelEntry();
    if (!entry) return;
    const parts = [`native ${entry.native_size.replace('x', '×')} at ${entry.fps} fps, up to ${entry.max_seconds} s`];
    if (!entry.available) parts.push('weights not on this server yet');
    $('#model-note').textContent = parts.join(' · ');
    $('#steps').placeholder = String(entry.steps);
    $('#guidance').placeholder = String(entry.guidance);
    $('#seconds').placeholder = String(entry.native_seconds);
    $('#seconds').max = String(entry.max_seconds);
  }

  ideaText() {
    if (this.inputMode === 'idea') return $('#idea').value.trim();
    const sentence = (text) => text.charAt(0).toUpperCase() + text.slice(1).replace(/[.\s]+$/, '');
    const parts = [$('#content').value.trim(), $('#scene').value.trim()].filter(Boolean).map(sentence);
    return parts.length ? `${parts.join('. ')}.` : '';
  }

  formulaText() {
    return $('#enhanced').hidden ? '' : $('#prompt').value.trim();
  }

  setSeed(seed) {
    $('#seed').value = String(seed);
    this.clearErrors(['seed']);
  }

  // First-frame image -------------------------------------------------------

  async setImageFile(file) {
    this.clearErrors(['image']);
    const limit = this.config ? this.config.limits.max_image_bytes : Infinity;
    if (file.type && !file.type.startsWith('image/')) {
      this.fieldError('image', `${file.name} is not an image: choose a PNG, JPEG, WebP, BMP or GIF file.`);
      return;
    }
    if (file.size > limit) {
      const mb = (n) => (n / 1048576).toFixed(1);
      this.fieldError('image', `${file.name} is ${mb(file.size)} MB; this server takes images up to ${mb(limit)} MB.`);
      return;
    }
    await this.setImageBlob(file, file.name);
  }

  async setImageBlob(blob, note) {
    const dataUrl = await readAsDataUrl(blob);
    this.image = { dataUrl, note };
    const preview = $('#image-preview');
    preview.onload = () => {
      $('#image-note').textContent = `${note} · ${preview.naturalWidth} × ${preview.naturalHeight}`;
    };
    preview.onerror = () => {
      show(preview, false);
      show($('#image-hint'));
      $('#image-note').textContent = `${note} (no preview: the browser cannot show this file)`;
    };
    preview.src = dataUrl;
    show(preview);
    show($('#image-hint'), false);
    $('#image-note').textContent = note;
    show($('#image-clear'));
    this.clearErrors(['image']);
    if (this.mode !== 'i2v') this.setMode('i2v');
  }

  clearImage() {
    this.image = null;
    const preview = $('#image-preview');
    preview.removeAttribute('src');
    show(preview, false);
    show($('#image-hint'));
    $('#image-note').textContent = '';
    show($('#image-clear'), false);
  }

  // Prompt agent ------------------------------------------------------------

  enhanceBody() {
    const body = { mode: this.mode };
    const style = $('#style').value;
    if (style) body.style = style;
    if (this.inputMode === 'idea') {
      const text = $('#idea').value.trim();
      if (text) body.text = text;
    } else {
      const scene = $('#scene').value.trim();
      const content = $('#content').value.trim();
      if (scene) body.scene = scene;
      if (content) body.content = content;
    }
    return body;
  }

  async enhance() {
    this.clearErrors(['idea', 'prompt', 'style']);
    const body = this.enhanceBody();
    if (this.mode === 't2v' && !body.text && !body.scene && !body.content) {
      this.fieldError('idea', 'Type an idea first (or a scene and what happens in it).');
      return;
    }
    const button = $('#enhance');
    button.disabled = true;
    button.textContent = 'Enhancing…';
    try {
      this.showFormula(await api.enhance(body));
    } catch (err) {
      this.showError(err, 'idea');
    } finally {
      button.disabled = false;
      button.textContent = 'Enhance';
    }
  }

  showFormula(result) {
    this.formulaMode = this.mode;
    $('#enhance-note').textContent = '';
    show($('#enhanced'));
    $('#prompt').value = result.prompt;
    const slots = $('#slots');
    slots.replaceChildren();
    for (const [name, slot] of Object.entries(result.slots || {})) {
      slots.append(h('li', { class: `slot src-${slot.source}`, dataset: { slot: name, source: slot.source } },
        h('b', {}, name), h('span', {}, slot.text || '—'), h('em', {}, SOURCE_LABEL[slot.source] || slot.source)));
    }
    const meta = [];
    if (result.tokens !== undefined) meta.push(`${result.tokens} / ${result.token_limit} tokens`);
    if (result.style) {
      const preset = this.config && this.config.styles.find((s) => s.name === result.style);
      meta.push(`style: ${preset ? preset.title : result.style}`);
    }
    if (result.fallback_reason) meta.push(`rule-based (${result.fallback_reason})`);
    for (const note of result.notes || []) meta.push(note);
    $('#prompt-meta').textContent = meta.join(' · ');
  }

  discardFormula() {
    this.formulaMode = null;
    $('#prompt').value = '';
    $('#slots').replaceChildren();
    show($('#enhanced'), false);
    this.clearErrors(['prompt']);
  }

  // Submit ------------------------------------------------------------------

  async submit() {
    this.clearErrors();
    const button = $('#generate');
    button.disabled = true;
    button.textContent = 'Sending…';
    try {
      await this.onSubmit(await this.request());
    } catch (err) {
      if (err.status === 401) this.onAuthError(err);
      else this.showError(err);
    } finally {
      button.disabled = false;
      button.textContent = 'Generate';
    }
  }

  sizeValue() {
    const value = $('#size').value;
    return value === 'custom' ? $('#size-custom').value.trim() : value;
  }

  // The body of POST /api/v1/jobs; obvious gaps are caught here, the API judges the rest.
  async request() {
    const mode = this.mode;
    const idea = this.ideaText();
    const formula = this.formulaText();
    if (mode === 'i2v' && !this.image) {
      throw new ApiError('Choose a first-frame image (or use a frame of one of your clips).', { field: 'image' });
    }
    if (mode === 't2v' && !idea && !formula) {
      throw new ApiError('Type an idea first (or a scene and what happens in it).', { field: 'text' });
    }
    const body = {
      prompt: idea,
      model: $('#model').value,
      size: this.sizeValue(),
      fps: Number($('#fps').value),
      candidates: Number($('input[name=candidates]:checked').value),
      interpolation: $('#interpolation').value,
      enhance: $('#auto-enhance').checked,
    };
    if (formula) {
      body.enhanced_prompt = formula;
    } else if (body.enhance && this.inputMode === 'scene' && idea) {
      // the agent reads scene and content apart; the job API takes one prompt, so ask it now
      body.enhanced_prompt = (await api.enhance(this.enhanceBody())).prompt;
    }
    const style = $('#style').value;
    if (style) body.style = style;
    const seed = $('#seed').value.trim();
    if (seed) {
      const max = this.config ? this.config.limits.max_seed : 4294967295;
      if (!/^\d+$/.test(seed) || Number(seed) > max) {
        throw new ApiError(`Seed must be a whole number from 0 to ${max} (or empty for a random one).`,
          { field: 'seed' });
      }
      body.seed = Number(seed);
    }
    for (const [id, key] of [['seconds', 'seconds'], ['steps', 'steps'], ['guidance', 'guidance']]) {
      const el = $(`#${id}`);
      if (el.value.trim() === '') continue;
      if (el.validity.badInput || Number.isNaN(Number(el.value))) { // ranges are the API's to judge
        throw new ApiError(`${el.labels[0].textContent.trim()} must be a number.`, { field: key });
      }
      body[key] = Number(el.value);
    }
    const negative = $('#negative').value.trim();
    if (negative) body.negative_prompt = negative;
    if ($('#lora').value) {
      body.lora = $('#lora').value;
      const scale = $('#lora-scale').value.trim();
      if (scale !== '') {
        if (Number.isNaN(Number(scale))) throw new ApiError('LoRA strength must be a number.', { field: 'lora_scale' });
        body.lora_scale = Number(scale);
      }
    }
    if (mode === 'i2v') body.image = this.image.dataUrl;
    return body;
  }

  // Load a finished job's settings for "Edit & remix".
  async load(job, { keepSeed = true } = {}) {
    const spec = job.spec;
    this.clearErrors();
    this.setMode(job.task);
    $('input[name=input][value=idea]').checked = true;
    this.applyInput();
    $('#idea').value = spec.prompt || '';
    const formula = job.enhanced_prompt || spec.enhanced_prompt;
    if (formula) this.showFormula({ prompt: formula, slots: {}, notes: ['the prompt this clip was made with'] });
    else this.discardFormula();
    $('#style').value = spec.style || '';
    $('#model').value = spec.model;
    this.applyModel();
    const size = `${spec.width}x${spec.height}`;
    $('#size').value = this.config.sizes.includes(size) ? size : 'custom';
    $('#size-custom').value = this.config.sizes.includes(size) ? '' : size;
    show($('#size-custom'), $('#size').value === 'custom');
    $('#seconds').value = spec.seconds ?? '';
    if (![...$('#fps').options].some((o) => o.value === String(spec.fps))) {
      $('#fps').append(h('option', { value: spec.fps }, String(spec.fps)));
    }
    $('#fps').value = String(spec.fps);
    $(`input[name=candidates][value="${spec.candidates || 1}"]`).checked = true;
    $('#steps').value = spec.steps ?? '';
    $('#guidance').value = spec.guidance ?? '';
    $('#negative').value = spec.negative_prompt || '';
    $('#interpolation').value = spec.interpolation || 'minterpolate';
    if (spec.lora && ![...$('#lora').options].some((o) => o.value === spec.lora)) {
      $('#lora').append(h('option', { value: spec.lora }, spec.lora));
    }
    $('#lora').value = spec.lora || '';
    $('#lora-scale').value = spec.lora_scale ?? 1;
    $('#auto-enhance').checked = spec.enhance !== false;
    $('#seed').value = keepSeed && job.seeds.length ? String(job.seeds[0]) : '';
    if (job.input_image_url) await this.setImageBlob(await fetchBlob(job.input_image_url), `first frame of ${job.id}`);
    else this.clearImage();
  }

  // Errors ------------------------------------------------------------------

  showError(err, fallback = 'form') {
    let name = err.field ? (FIELD_OF[err.field] || FIELD_OF[err.field.split('.')[0]]) : fallback;
    if (name === 'prompt' && $('#enhanced').hidden) name = 'idea';
    if (!name || !$(`#${name}-error`)) name = 'form';
    let message = err.message;
    if (name !== 'form' && err.field && message.startsWith(`${err.field}: `)) {
      message = message.slice(err.field.length + 2); // the field is named by where the message stands
      message = message.charAt(0).toUpperCase() + message.slice(1);
    }
    this.fieldError(name, message);
  }

  fieldError(name, message) {
    if (ADVANCED.has(name)) $('#advanced').open = true;
    const line = $(`#${name}-error`);
    line.textContent = message;
    const field = line.closest('.field');
    if (field) field.classList.add('invalid');
    line.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  clearErrors(names = null) {
    for (const line of $$('#create-form .error')) {
      if (names && !names.includes(line.id.replace(/-error$/, ''))) continue;
      line.textContent = '';
      const field = line.closest('.field');
      if (field) field.classList.remove('invalid');
    }
  }

  clearErrorOf(el) {
    const field = el.closest('.field');
    if (!field) return;
    field.classList.remove('invalid');
    for (const line of $$('.error', field)) line.textContent = '';
  }
}

async function fetchBlob(url) {
  const response = await fetch(url);
  if (!response.ok) throw new ApiError('Could not load the first-frame image of that clip.', { field: 'image' });
  return response.blob();
}

// The body that re-makes a job with the same settings and a new (random) seed.
export async function remixRequest(job) {
  const spec = job.spec;
  const body = {
    prompt: spec.prompt || '', model: spec.model, size: `${spec.width}x${spec.height}`, fps: spec.fps,
    candidates: spec.candidates || 1, interpolation: spec.interpolation, enhance: spec.enhance !== false,
  };
  const formula = job.enhanced_prompt || spec.enhanced_prompt;
  if (formula) body.enhanced_prompt = formula;
  for (const key of ['seconds', 'steps', 'guidance', 'style', 'negative_prompt', 'lora', 'lora_scale']) {
    if (spec[key] !== null && spec[key] !== undefined && spec[key] !== '') body[key] = spec[key];
  }
  if (job.input_image_url) body.image = await readAsDataUrl(await fetchBlob(job.input_image_url));
  return body;
}
