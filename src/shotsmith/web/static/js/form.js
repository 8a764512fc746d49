// The Create form: mode (text, image or a clip to edit), first and last frames, the
// clip to edit and its strength, idea or scene + content, the prompt agent, and the
// generation settings. It builds the body of POST /api/v1/jobs and shows any error
// beside the field it is about.

import { ApiError, api } from './api.js';
import { $, $$, fmtSeconds, h, readAsDataUrl, shorten, show } from './dom.js';
import { fmtNumber, t } from './i18n.js';

// The API's error.param -> the field whose error line (#<name>-error) shows it.
const FIELD_OF = {
  image: 'image', input_reference: 'image', last_image: 'last-image', video: 'video', strength: 'strength', audio: 'audio',
  prompt: 'prompt', enhanced_prompt: 'prompt', text: 'idea',
  scene: 'idea', content: 'idea', negative_prompt: 'negative', seed: 'seed', model: 'model', size: 'size',
  width: 'size', height: 'size', native_width: 'size', native_height: 'size', seconds: 'seconds',
  frames: 'seconds', fps: 'fps', steps: 'steps', guidance: 'guidance', interpolation: 'interpolation',
  style: 'style', candidates: 'candidates', mode: 'form', backend: 'form', lora: 'lora', lora_scale: 'lora-scale',
};
const ADVANCED = new Set(['negative', 'steps', 'guidance', 'interpolation', 'lora', 'lora-scale']);
const MB = (n) => fmtNumber(n / 1048576, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
// A model task per form mode: an edit runs on a text-to-video model.
const TASK_OF_MODE = { t2v: 't2v', i2v: 'i2v', v2v: 't2v' };
const SOURCE_LABEL = {
  user: t('your words'), preset: t('style preset'), default: t('default'), director: t('chosen for the content'), llm: 'LLM', omitted: t('left out to fit'),
};

// One image input with a drop area, a preview and Remove: the first frame (#image-*) and
// the last frame (#last-image-*) of image to video.
class ImageSlot {
  constructor(prefix, what, form) {
    this.prefix = prefix; // the ids' prefix and the error line's name
    this.what = what; // 'first-frame' or 'last-frame', for messages
    this.form = form;
    this.value = null; // {dataUrl, note}
    const el = this.el.bind(this);
    el('input').addEventListener('change', (event) => {
      const [file] = event.target.files;
      if (file) this.setFile(file);
      event.target.value = '';
    });
    dropTarget(el('drop'), (file) => this.setFile(file));
    el('clear').addEventListener('click', () => { this.clear(); el('input').focus(); });
  }

  el(part) { return $(`#${this.prefix}-${part}`); }

  async setFile(file) {
    this.form.clearErrors([this.prefix]);
    const limit = this.form.config ? this.form.config.limits.max_image_bytes : Infinity;
    if (file.type && !file.type.startsWith('image/')) {
      this.form.fieldError(this.prefix, t`${file.name} is not an image: choose a PNG, JPEG, WebP, BMP or GIF file.`);
      return;
    }
    if (file.size > limit) {
      this.form.fieldError(this.prefix, t`${file.name} is ${MB(file.size)} MB; this server takes images up to ${
        MB(limit)} MB.`);
      return;
    }
    await this.setBlob(file, file.name);
  }

  async setBlob(blob, note) {
    const dataUrl = await readAsDataUrl(blob);
    this.value = { dataUrl, note };
    const preview = this.el('preview');
    preview.onload = () => {
      this.el('note').textContent = `${note} · ${preview.naturalWidth} × ${preview.naturalHeight}`;
    };
    preview.onerror = () => {
      show(preview, false);
      show(this.el('hint'));
      this.el('note').textContent = t`${note} (no preview: the browser cannot show this file)`;
    };
    preview.src = dataUrl;
    show(preview);
    show(this.el('hint'), false);
    this.el('note').textContent = note;
    show(this.el('clear'));
    this.form.clearErrors([this.prefix]);
  }

  clear() {
    this.value = null;
    const preview = this.el('preview');
    preview.removeAttribute('src');
    show(preview, false);
    show(this.el('hint'));
    this.el('note').textContent = '';
    show(this.el('clear'), false);
    this.form.clearErrors([this.prefix]);
  }
}

function dropTarget(area, onFile) {
  area.addEventListener('dragover', (event) => { event.preventDefault(); area.classList.add('over'); });
  area.addEventListener('dragleave', () => area.classList.remove('over'));
  area.addEventListener('drop', (event) => {
    event.preventDefault();
    area.classList.remove('over');
    const [file] = event.dataTransfer.files;
    if (file) onFile(file);
  });
}

export class CreateForm {
  constructor({ onSubmit, onAuthError }) {
    this.onSubmit = onSubmit;
    this.onAuthError = onAuthError;
    this.config = null;
    this.first = new ImageSlot('image', 'first-frame', this);
    this.last = new ImageSlot('last-image', 'last-frame', this);
    // The clip to edit: {job, note} (a result, sent as its id) or {dataUrl, note} (an upload)
    this.video = null;
    this.videoUrl = null; // the preview's object URL, released when the clip changes
    this.formulaMode = null; // the mode the formula prompt on screen was written for
    this.formulaModel = null; // and the model: its caption window sets the prompt (48 tokens for the embedded ones)
    this.bind();
  }

  get image() { return this.first.value; }

  // Setup -------------------------------------------------------------------

  bind() {
    $$('input[name=mode]').forEach((el) => el.addEventListener('change', () => this.applyMode()));
    $$('input[name=input]').forEach((el) => el.addEventListener('change', () => this.applyInput()));
    $('#video-input').addEventListener('change', (event) => {
      const [file] = event.target.files;
      if (file) this.setVideoFile(file);
      event.target.value = '';
    });
    dropTarget($('#video-drop'), (file) => this.setVideoFile(file));
    $('#video-clear').addEventListener('click', () => { this.clearVideo(); $('#video-input').focus(); });
    $('#strength').addEventListener('input', () => this.showStrength());
    $('#enhance').addEventListener('click', () => this.enhance());
    $('#prompt-discard').addEventListener('click', () => this.discardFormula());
    $('#seed-random').addEventListener('click', () => { $('#seed').value = ''; this.clearErrors(['seed']); });
    $('#size').addEventListener('change', () => this.applySize());
    $('#model').addEventListener('change', () => { this.dropFormulaOfOtherModel(); this.applyModel(); });
    $('#create-form').addEventListener('submit', (event) => { event.preventDefault(); this.submit(); });
    $('#create-form').addEventListener('input', (event) => this.clearErrorOf(event.target));
  }

  populate(config) {
    this.config = config;
    const style = $('#style');
    for (const preset of config.styles) {
      style.append(h('option', { value: preset.name, title: preset.description }, t(preset.title)));
    }
    const model = $('#model');
    for (const entry of config.models) {
      const kind = entry.task === 'i2v' ? t('image to video') : t('text to video');
      const label = entry.available ? entry.name : t`${entry.name} (not downloaded)`;
      model.append(h('option', { value: entry.name, title: `${entry.description} (${kind})`,
        dataset: { task: entry.task, can: (entry.can || []).join(' ') } }, label));
    }
    const size = $('#size');
    for (const value of config.sizes) size.append(h('option', { value }, value.replace('x', ' × ')));
    size.append(h('option', { value: 'custom' }, t('Custom…')));
    size.value = config.defaults.size;
    const fps = $('#fps');
    for (const value of config.fps_choices) fps.append(h('option', { value }, String(value)));
    fps.value = String(config.defaults.fps);
    $('#interpolation').value = config.defaults.interpolation;
    for (const name of config.loras || []) $('#lora').append(h('option', { value: name }, name));
    $('#auto-enhance').checked = config.defaults.enhance;
    $('#seed').placeholder = t('random');
    this.setStrength(config.defaults.strength ?? 0.6);
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

  get task() { return TASK_OF_MODE[this.mode]; }

  applyMode() {
    const i2v = this.mode === 'i2v';
    const formulaTask = this.formulaMode && TASK_OF_MODE[this.formulaMode];
    if (formulaTask && formulaTask !== this.task && !$('#enhanced').hidden) {
      // a formula prompt is written for one task (an i2v one continues the first frame): not reused
      this.discardFormula();
      $('#enhance-note').textContent = i2v ? t('Mode changed: press Enhance again for a prompt written for image to video.')
        : t('Mode changed: press Enhance again for a prompt written for text to video.');
    }
    show($('#frames'), i2v);
    show($('#video-field'), this.mode === 'v2v');
    show($('#idea-optional'), i2v);
    const select = $('#model');
    // only the models that can do what the mode asks: an edit needs a video-to-video pipeline
    const needs = this.mode === 'v2v' ? 'edit' : this.task;
    for (const option of select.options) {
      option.disabled = option.dataset.task !== this.task || !option.dataset.can.split(' ').includes(needs);
    }
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
    const parts = [t`native ${entry.native_size.replace('x', '×')} at ${entry.fps} fps, up to ${entry.max_seconds} s`];
    if (!entry.available) parts.push(t('weights not on this server yet'));
    $('#model-note').textContent = parts.join(' · ');
    $('#steps').placeholder = String(entry.steps);
    $('#guidance').placeholder = String(entry.guidance);
    $('#seconds').placeholder = String(entry.native_seconds);
    $('#seconds').max = String(entry.max_seconds);
    this.applyLastFrame();
    // the sound switch only for a model that makes sound
    show($('#audio-field'), (entry.can || []).includes('audio'));
  }

  // The last-frame input is offered where the model can end on a given frame. One already
  // chosen stays on screen (and is sent) under a model that cannot: the API then says why.
  applyLastFrame() {
    const entry = this.modelEntry();
    const able = Boolean(entry && entry.last_frame);
    show($('#last-image-field'), this.mode === 'i2v' && (able || Boolean(this.last.value)));
    $('#frames').classList.toggle('pair', able || Boolean(this.last.value));
    if (!able && this.last.value && entry) {
      const which = this.config.models.filter((m) => m.last_frame).map((m) => m.name);
      this.last.el('note').textContent = which.length
        ? t`${entry.name} cannot end on a given frame (models that can: ${which.join(', ')}); remove it or pick another model.`
        : t`${entry.name} cannot end on a given frame; remove it or pick another model.`;
    }
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

  // First and last frames ----------------------------------------------------

  async setImageBlob(blob, note) {
    await this.first.setBlob(blob, note);
    if (this.mode !== 'i2v') this.setMode('i2v');
  }

  // The clip to edit ---------------------------------------------------------

  // A clip of its own: the server's clip limit, and it goes as a data: URL (base64, 4/3 the
  // size) in the JSON body, so the body limit bounds it too.
  maxVideoBytes() {
    if (!this.config) return Infinity;
    const { max_video_bytes: clip, max_body_bytes: body } = this.config.limits;
    return Math.min(clip || Infinity, Math.floor((body - 64 * 1024) * 0.74));
  }

  async setVideoFile(file) {
    this.clearErrors(['video']);
    if (file.type ? file.type !== 'video/mp4' : !/\.mp4$/i.test(file.name)) {
      this.fieldError('video', t`${file.name} is not an MP4 clip: choose an .mp4 file.`);
      return;
    }
    if (file.size > this.maxVideoBytes()) {
      this.fieldError('video', t`${file.name} is ${MB(file.size)} MB; this server takes clips up to ${
        MB(this.maxVideoBytes())} MB.`);
      return;
    }
    const dataUrl = await readAsDataUrl(file);
    this.showVideo({ dataUrl, note: file.name }, URL.createObjectURL(file), true);
  }

  // "Edit with a prompt" on a finished clip: that clip (by id), its prompt and its size.
  editClip(job) {
    this.clearErrors();
    this.setMode('v2v');
    this.showVideo({ job, note: t`your clip “${shorten(job.prompt || job.enhanced_prompt || job.id, 60)}”` },
      job.links[0].video, false);
    $('input[name=input][value=idea]').checked = true;
    this.applyInput();
    $('#idea').value = job.prompt || '';
    this.discardFormula();
    const clip = job.clips[0];
    if (clip) this.setSize(`${clip.width}x${clip.height}`);
    $('#seconds').value = '';
  }

  showVideo(source, previewUrl, owned) {
    if (this.videoUrl) URL.revokeObjectURL(this.videoUrl);
    this.videoUrl = owned ? previewUrl : null;
    this.video = source;
    const preview = $('#video-preview');
    preview.src = previewUrl;
    preview.muted = true;
    preview.onloadedmetadata = () => {
      $('#video-note').textContent = `${source.note} · ${preview.videoWidth} × ${preview.videoHeight}, ${
        fmtSeconds(preview.duration)}`;
    };
    preview.onerror = () => {
      show(preview, false);
      show($('#video-hint'));
      $('#video-note').textContent = t`${source.note} (no preview: this browser cannot play it)`;
    };
    show(preview);
    show($('#video-hint'), false);
    $('#video-note').textContent = source.note;
    show($('#video-clear'));
    if (this.mode !== 'v2v') this.setMode('v2v');
  }

  clearVideo() {
    if (this.videoUrl) URL.revokeObjectURL(this.videoUrl);
    this.videoUrl = null;
    this.video = null;
    const preview = $('#video-preview');
    preview.removeAttribute('src');
    preview.load();
    show(preview, false);
    show($('#video-hint'));
    $('#video-note').textContent = '';
    show($('#video-clear'), false);
    this.clearErrors(['video']);
  }

  setStrength(value) {
    $('#strength').value = String(value);
    this.showStrength();
  }

  showStrength() {
    const value = Number($('#strength').value);
    $('#strength-value').textContent = value.toFixed(2);
    $('#strength').setAttribute('aria-valuetext', `${value.toFixed(2)}: ${
      value < 0.25 ? t('close to your clip') : value > 0.75 ? t('mostly the prompt') : t('a mix of the clip and the prompt')}`);
  }

  setSize(size) {
    const listed = this.config.sizes.includes(size);
    $('#size').value = listed ? size : 'custom';
    $('#size-custom').value = listed ? '' : size;
    show($('#size-custom'), !listed);
  }

  // Prompt agent ------------------------------------------------------------

  enhanceBody() {
    // the prompt is written for the chosen model: the embedded ones read a short caption as typed
    const body = { mode: this.task, model: $('#model').value };
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
    if (this.task === 't2v' && !body.text && !body.scene && !body.content) {
      this.fieldError('idea', t('Type an idea first (or a scene and what happens in it).'));
      return;
    }
    const button = $('#enhance');
    button.disabled = true;
    button.textContent = t('Enhancing…');
    try {
      this.showFormula(await api.enhance(body));
    } catch (err) {
      this.showError(err, 'idea');
    } finally {
      button.disabled = false;
      button.textContent = t('Enhance');
    }
  }

  showFormula(result, mode = this.mode, model = $('#model').value) {
    this.formulaMode = mode;
    this.formulaModel = model;
    $('#enhance-note').textContent = '';
    show($('#enhanced'));
    $('#prompt').value = result.prompt;
    const slots = $('#slots');
    slots.replaceChildren();
    for (const [name, slot] of Object.entries(result.slots || {})) {
      slots.append(h('li', { class: `slot src-${slot.source}`, dataset: { slot: name, source: slot.source } },
        h('b', {}, t(name)), h('span', {}, slot.text || '—'), h('em', {}, SOURCE_LABEL[slot.source] || slot.source)));
    }
    const meta = [];
    if (result.tokens !== undefined) meta.push(t`${result.tokens} / ${result.token_limit} tokens`);
    if (result.style) {
      const preset = this.config && this.config.styles.find((s) => s.name === result.style);
      meta.push(t`style: ${preset ? preset.title : result.style}`);
    }
    if (result.fallback_reason) meta.push(t`rule-based (${result.fallback_reason})`);
    if (result.translation) meta.push(t`in English: ${result.translation}`);
    for (const note of result.notes || []) meta.push(note);
    $('#prompt-meta').textContent = meta.join(' · ');
  }

  // A prompt enhanced for one model is not sent to another (a 48-token caption for a 226-token one).
  dropFormulaOfOtherModel() {
    const model = $('#model').value;
    if (this.formulaModel && this.formulaModel !== model && !$('#enhanced').hidden) {
      this.discardFormula();
      $('#enhance-note').textContent = t`Model changed: press Enhance again for a prompt written for ${model}.`;
    }
  }

  discardFormula() {
    this.formulaMode = null;
    this.formulaModel = null;
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
    button.textContent = t('Sending…');
    try {
      await this.onSubmit(await this.request());
    } catch (err) {
      if (err.status === 401) this.onAuthError(err);
      else this.showError(err);
    } finally {
      button.disabled = false;
      button.textContent = t('Generate');
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
      throw new ApiError(t('Choose a first-frame image (or use a frame of one of your clips).'), { field: 'image' });
    }
    if (mode === 'v2v' && !this.video) {
      throw new ApiError(t('Choose an MP4 clip to edit (or press Edit with a prompt under one of your clips).'),
        { field: 'video' });
    }
    if (this.task === 't2v' && !idea && !formula) {
      throw new ApiError(t('Type an idea first (or a scene and what happens in it).'), { field: 'text' });
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
        throw new ApiError(t`Seed must be a whole number from 0 to ${max} (or empty for a random one).`,
          { field: 'seed' });
      }
      body.seed = Number(seed);
    }
    for (const [id, key] of [['seconds', 'seconds'], ['steps', 'steps'], ['guidance', 'guidance']]) {
      const el = $(`#${id}`);
      if (el.value.trim() === '') continue;
      if (el.validity.badInput || Number.isNaN(Number(el.value))) { // ranges are the API's to judge
        throw new ApiError(t`${el.labels[0].textContent.trim()} must be a number.`, { field: key });
      }
      body[key] = Number(el.value);
    }
    const negative = $('#negative').value.trim();
    if (negative) body.negative_prompt = negative;
    if (!$('#audio-field').hidden) body.audio = $('#audio').checked;
    if ($('#lora').value) {
      body.lora = $('#lora').value;
      const scale = $('#lora-scale').value.trim();
      if (scale !== '') {
        if (Number.isNaN(Number(scale))) throw new ApiError(t('LoRA strength must be a number.'), { field: 'lora_scale' });
        body.lora_scale = Number(scale);
      }
    }
    if (mode === 'i2v') {
      body.image = this.image.dataUrl;
      if (this.last.value) body.last_image = this.last.value.dataUrl;
    }
    if (mode === 'v2v') {
      body.video = this.video.job ? this.video.job.id : this.video.dataUrl;
      body.strength = Number($('#strength').value);
    }
    return body;
  }

  // Load a finished job's settings for "Edit & remix".
  async load(job, { keepSeed = true } = {}) {
    const spec = job.spec;
    this.clearErrors();
    const mode = job.operation === 'edit' ? 'v2v' : job.task;
    this.setMode(mode);
    $('input[name=input][value=idea]').checked = true;
    this.applyInput();
    $('#idea').value = spec.prompt || '';
    const formula = job.enhanced_prompt || spec.enhanced_prompt;
    if (formula) {
      this.showFormula({ prompt: formula, slots: {}, notes: [t('the prompt this clip was made with')] }, mode,
        spec.model);
    }
    else this.discardFormula();
    $('#style').value = spec.style || '';
    $('#model').value = spec.model;
    this.applyModel();
    this.setSize(`${spec.width}x${spec.height}`);
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
    if (job.input_image_url) await this.first.setBlob(await fetchBlob(job.input_image_url), t`first frame of ${job.id}`);
    else this.first.clear();
    if (job.last_image_url) await this.last.setBlob(await fetchBlob(job.last_image_url), t`last frame of ${job.id}`);
    else this.last.clear();
    if (job.operation === 'edit') {
      this.setStrength(spec.strength ?? this.config.defaults.strength);
      const source = job.source_clip;
      if (source && source.exists) {
        const original = await api.job(source.id);
        this.showVideo({ job: original, note: t`your clip “${shorten(source.prompt || source.id, 60)}”` },
          original.links[0].video, false);
      } else {
        const blob = await fetchBlob(job.input_video_url, t('the clip this edit started from'), 'video');
        this.showVideo({ dataUrl: await readAsDataUrl(blob), note: t`the clip ${job.id} was edited from` },
          URL.createObjectURL(blob), true);
      }
    } else {
      this.clearVideo();
    }
    this.applyLastFrame();
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

async function fetchBlob(url, what = t('the first-frame image of that clip'), field = 'image') {
  const response = await fetch(url);
  if (!response.ok) throw new ApiError(t`Could not load ${what}.`, { field });
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
  for (const key of ['seconds', 'steps', 'guidance', 'style', 'negative_prompt', 'lora', 'lora_scale', 'strength']) {
    if (spec[key] !== null && spec[key] !== undefined && spec[key] !== '') body[key] = spec[key];
  }
  if (job.input_image_url) body.image = await readAsDataUrl(await fetchBlob(job.input_image_url));
  if (job.last_image_url) {
    body.last_image = await readAsDataUrl(await fetchBlob(job.last_image_url, t('the last-frame image of that clip'), 'last_image'));
  }
  if (job.operation !== 'generate') {
    // the same source: the job it came from while it is there, else the copy this job kept
    const source = job.source_clip && job.source_clip.exists ? job.source_clip.id
      : await readAsDataUrl(await fetchBlob(job.input_video_url, t('the source clip of that clip'), 'video'));
    body[job.operation === 'edit' ? 'video' : 'extend_from'] = source;
  }
  return body;
}
