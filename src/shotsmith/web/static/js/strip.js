// The board's shots as cards in a horizontal strip. Each card edits its shot in
// place (formula prompt, mode, duration, seed, K) and shows its status and progress.
// Cards are kept across redraws, so a poll never throws away what is being typed.
// Reordering: drag a card by its handle (pointer events: mouse, pen and touch alike)
// or use its arrow buttons (keyboard).

import { h, readAsDataUrl, shorten, show } from './dom.js';
import { t } from './i18n.js';

export const SHOT_STATUS = {
  draft: t('Not rendered'), waiting: t('Waiting'), queued: t('Queued'),
  rendering: t('Rendering'), done: t('Rendered'), failed: t('Failed'),
};
const MODES = [['t2v', t('Text to video')], ['i2v', t('Image to video')], ['continue', t('Continue the previous shot')]];
// The API's error.param -> the card control that shows it
const CONTROL_OF = {
  prompt: 'prompt', text: 'prompt', mode: 'mode', duration: 'duration', seed: 'seed', candidates: 'candidates',
  image: 'image', image_url: 'image', style: 'mode',
};

class ShotCard {
  constructor(strip, shot) {
    this.strip = strip;
    this.id = shot.id;
    this.shot = shot;
    this.wantsImage = false; // i2v chosen, its first frame not yet
    const on = (name, fn) => (event) => this.strip.handlers[name](this.shot, fn(event));
    this.handle = h('button', { type: 'button', class: 'drag-handle', 'aria-label': t('Drag to reorder'),
      title: t('Drag to reorder') }, '⠿');
    this.title = h('strong', { class: 'shot-title' });
    this.chip = h('span', { class: 'chip' });
    this.thumbImg = h('img', { alt: '', hidden: true });
    this.thumbLabel = h('span', { class: 'thumb-label' });
    this.thumbTake = null; // the take whose cover the thumbnail shows
    this.thumb = h('button', { type: 'button', class: 'shot-thumb', 'aria-label': t('Show the takes of this shot'),
      onclick: () => this.strip.handlers.onSelect(this.shot) }, this.thumbImg, this.thumbLabel);
    this.text = h('p', { class: 'shot-text' });
    this.prompt = h('textarea', { rows: 3, maxlength: 4000, class: 'shot-prompt', 'aria-label': t('Formula prompt') });
    this.mode = h('select', { class: 'shot-mode', 'aria-label': t('Mode') },
      MODES.map(([value, label]) => h('option', { value }, label)));
    this.duration = h('input', { type: 'number', min: 0.5, step: 0.1, inputmode: 'decimal', class: 'shot-duration',
      'aria-label': t('Duration (s)') });
    this.seed = h('input', { inputmode: 'numeric', autocomplete: 'off', class: 'shot-seed', 'aria-label': t('Seed'),
      placeholder: t('random') });
    this.candidates = h('select', { class: 'shot-candidates', 'aria-label': t('Takes per render (K)') },
      [1, 2, 3, 4].map((k) => h('option', { value: k }, String(k))));
    this.imageInput = h('input', { type: 'file', class: 'visually-hidden', accept: 'image/png,image/jpeg,image/webp' });
    this.imagePreview = h('img', { class: 'shot-image', alt: t('The first-frame image'), hidden: true });
    this.imageButton = h('button', { type: 'button', class: 'ghost small', onclick: () => this.imageInput.click() },
      t('Choose the first frame'));
    this.imageRow = h('div', { class: 'row shot-image-row' }, this.imagePreview, this.imageButton, this.imageInput);
    this.progress = h('progress', { max: 100, value: 0, 'aria-label': t('Progress') });
    this.error = h('p', { class: 'error', role: 'alert' });
    this.left = h('button', { type: 'button', class: 'ghost small move-left', 'aria-label': t('Move this shot left'),
      title: t('Move this shot left'), onclick: () => this.strip.move(this.id, -1) }, '←');
    this.right = h('button', { type: 'button', class: 'ghost small move-right', 'aria-label': t('Move this shot right'),
      title: t('Move this shot right'), onclick: () => this.strip.move(this.id, 1) }, '→');
    this.remove = h('button', { type: 'button', class: 'ghost small shot-delete',
      onclick: () => this.strip.handlers.onDelete(this.shot) }, t('Delete'));
    this.el = h('li', { class: 'shot', dataset: { id: shot.id } },
      h('div', { class: 'row shot-head' }, this.handle, this.title, this.chip),
      this.thumb, this.text,
      h('label', { class: 'field' }, h('span', { class: 'label' }, t('Formula prompt')), this.prompt),
      h('div', { class: 'shot-grid' },
        h('label', { class: 'field' }, h('span', { class: 'label' }, t('Mode')), this.mode),
        h('label', { class: 'field' }, h('span', { class: 'label' }, t('Length (s)')), this.duration),
        h('label', { class: 'field' }, h('span', { class: 'label' }, t('Seed')), this.seed),
        h('label', { class: 'field' }, h('span', { class: 'label' }, t('Takes (K)')), this.candidates)),
      this.imageRow, this.progress, this.error,
      h('div', { class: 'row shot-actions' }, this.left, this.right, h('span', { class: 'grow' }), this.remove));

    this.prompt.addEventListener('change', on('onEdit', () => ({ prompt: this.prompt.value })));
    this.mode.addEventListener('change', () => {
      this.wantsImage = this.mode.value === 'i2v' && !this.shot.image_url;
      if (this.wantsImage) { // the first frame comes first: the mode changes with it
        show(this.imageRow);
        this.error.textContent = t('Choose the first frame: the shot becomes image to video once it has one.');
        this.imageButton.focus();
        return;
      }
      this.strip.handlers.onEdit(this.shot, { mode: this.mode.value });
    });
    this.duration.addEventListener('change', on('onEdit', () => ({ duration: Number(this.duration.value) })));
    this.seed.addEventListener('change', on('onEdit', () => ({ seed: this.seed.value.trim() === '' ? null
      : Number(this.seed.value.trim()) })));
    this.candidates.addEventListener('change', on('onEdit', () => ({ candidates: Number(this.candidates.value) })));
    this.imageInput.addEventListener('change', async () => {
      const [file] = this.imageInput.files;
      this.imageInput.value = '';
      if (!file) return;
      this.wantsImage = false;
      this.strip.handlers.onEdit(this.shot, { mode: 'i2v', image: await readAsDataUrl(file) });
    });
    for (const control of [this.prompt, this.mode, this.duration, this.seed, this.candidates]) {
      control.addEventListener('input', () => this.clearError());
    }
    this.text.addEventListener('click', () => this.strip.handlers.onSelect(this.shot));
    this.strip.dragger.bind(this);
  }

  // Show the shot as the server has it.
  update(shot, index, count, selected) {
    this.shot = shot;
    const editing = document.activeElement;
    // a control being edited, or refused with the API's error beside it, keeps what the user wrote
    const set = (control, value) => {
      if (control !== editing && !control.classList.contains('invalid')) control.value = value;
    };
    this.el.dataset.status = shot.status;
    this.el.dataset.takes = String(shot.takes.length);
    this.el.dataset.index = String(index);
    this.el.classList.toggle('selected', selected);
    this.el.setAttribute('aria-label', t`Shot ${index + 1} of ${count}: ${shot.title}`);
    this.title.textContent = `${index + 1}. ${shot.title}`;
    this.chip.textContent = SHOT_STATUS[shot.status] || shot.status;
    this.chip.className = `chip shot-status status-${shot.status}`;
    this.chip.title = shot.status === 'waiting' ? t('Waits for the pick before it: it continues from that take.') : '';
    this.text.textContent = shorten(shot.text, 160);
    this.text.title = shot.text;
    set(this.prompt, shot.prompt || '');
    set(this.mode, this.wantsImage ? 'i2v' : shot.mode);
    this.mode.querySelector('option[value=continue]').disabled = index === 0;
    set(this.duration, String(shot.duration));
    set(this.seed, shot.seed === null || shot.seed === undefined ? '' : String(shot.seed));
    set(this.candidates, String(shot.candidates));
    const busy = ['queued', 'rendering'].includes(shot.status);
    this.progress.value = shot.progress || 0;
    show(this.progress, busy || shot.status === 'waiting');
    show(this.imageRow, shot.mode === 'i2v' || this.wantsImage);
    this.imageButton.textContent = shot.image_url ? t('Change the first frame') : t('Choose the first frame');
    this.left.disabled = index === 0;
    this.right.disabled = index === count - 1;
    this.updateThumb(shot, busy);
    if (shot.image_url) {
      this.strip.handlers.resolveImage(shot.image_url, (url) => {
        if (url && this.shot === shot) { this.imagePreview.src = url; show(this.imagePreview); }
      });
    } else {
      show(this.imagePreview, false);
    }
  }

  // The picked take's cover; before a pick, the first finished take's, dimmed, with a count.
  updateThumb(shot, busy) {
    const picked = shot.takes.find((take) => take.id === shot.picked_take_id) || null;
    const done = shot.takes.filter((take) => take.status === 'completed');
    const shown = picked || done[0] || null;
    this.thumb.dataset.picked = picked ? 'true' : 'false';
    let label = '';
    if (!picked) {
      if (done.length) label = t`${done.length} takes: pick one`;
      else if (busy) label = t('Rendering…');
      else label = shot.status === 'waiting' ? t('Waiting') : t('No takes yet');
    }
    this.thumbLabel.textContent = label;
    show(this.thumbLabel, Boolean(label));
    this.thumbImg.alt = picked ? t`Picked take of ${shot.title}` : '';
    if (!shown) {
      this.thumbTake = null;
      this.thumbImg.removeAttribute('src');
      show(this.thumbImg, false);
    } else if (this.thumbTake !== shown.id) {
      this.thumbTake = shown.id;
      this.strip.handlers.resolveThumb(shot, shown, (url) => {
        if (!url || this.thumbTake !== shown.id) return;
        this.thumbImg.src = url;
        show(this.thumbImg);
      });
    }
  }

  showError(err) {
    const name = CONTROL_OF[err.field] || CONTROL_OF[String(err.field || '').split('.').pop()];
    let message = err.message;
    if (err.field && message.startsWith(`${err.field}: `)) message = message.slice(err.field.length + 2);
    this.error.textContent = message;
    this.el.classList.add('invalid');
    for (const control of [this.prompt, this.mode, this.duration, this.seed, this.candidates, this.imageButton]) {
      control.classList.toggle('invalid', name !== undefined && this[name] === control);
    }
    if (name === 'image') this.imageButton.classList.add('invalid');
    this.el.scrollIntoView({ block: 'nearest', inline: 'nearest', behavior: 'smooth' });
  }

  clearError() {
    this.error.textContent = '';
    this.el.classList.remove('invalid');
    for (const control of this.el.querySelectorAll('.invalid')) control.classList.remove('invalid');
  }
}

// Drag a card by its handle; the strip shows the new order as the pointer moves and
// the order is sent once on release (a drop where it started sends nothing).
class Dragger {
  constructor(strip) {
    this.strip = strip;
    this.card = null;
  }

  bind(card) {
    const handle = card.handle;
    handle.addEventListener('pointerdown', (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      this.card = card;
      this.before = this.strip.order();
      card.el.classList.add('dragging');
      this.strip.el.classList.add('reordering');
    });
    handle.addEventListener('pointermove', (event) => {
      if (this.card !== card) return;
      this.over(event.clientX);
      this.autoscroll(event.clientX);
    });
    const end = () => {
      if (this.card !== card) return;
      this.card = null;
      card.el.classList.remove('dragging');
      this.strip.el.classList.remove('reordering');
      const after = this.strip.order();
      if (after.join() !== this.before.join()) this.strip.handlers.onReorder(after);
    };
    handle.addEventListener('pointerup', end);
    handle.addEventListener('pointercancel', end);
    handle.addEventListener('lostpointercapture', end);
  }

  // Put the dragged card before the first other card whose middle is right of the pointer.
  over(x) {
    const dragged = this.card.el;
    const others = [...this.strip.el.children].filter((el) => el !== dragged);
    const next = others.find((el) => {
      const box = el.getBoundingClientRect();
      return x < box.left + box.width / 2;
    });
    if (next) {
      if (dragged.nextElementSibling !== next) this.strip.el.insertBefore(dragged, next);
    } else if (this.strip.el.lastElementChild !== dragged) {
      this.strip.el.append(dragged);
    }
  }

  autoscroll(x) {
    const box = this.strip.el.getBoundingClientRect();
    const edge = Math.min(60, box.width / 6);
    if (x < box.left + edge) this.strip.el.scrollLeft -= 12;
    else if (x > box.right - edge) this.strip.el.scrollLeft += 12;
  }
}

export class ShotStrip {
  // handlers: onEdit(shot, patch), onReorder(shotIds), onSelect(shot), onDelete(shot),
  //           resolveThumb(shot, take, done(url)), resolveImage(url, done(url))
  constructor(el, handlers) {
    this.el = el;
    this.handlers = handlers;
    this.cards = new Map();
    this.dragger = new Dragger(this);
  }

  order() {
    return [...this.el.children].map((el) => el.dataset.id);
  }

  render(shots, selectedId) {
    const seen = new Set();
    shots.forEach((shot, index) => {
      let card = this.cards.get(shot.id);
      if (!card) {
        card = new ShotCard(this, shot);
        this.cards.set(shot.id, card);
      }
      seen.add(shot.id);
      card.update(shot, index, shots.length, shot.id === selectedId);
    });
    for (const [id, card] of this.cards) {
      if (!seen.has(id)) {
        card.el.remove();
        this.cards.delete(id);
      }
    }
    if (this.dragger.card) return; // the user is dragging: the DOM order is theirs until release
    shots.forEach((shot, index) => {
      const el = this.cards.get(shot.id).el;
      if (this.el.children[index] !== el) this.el.insertBefore(el, this.el.children[index] || null);
    });
  }

  // The arrow buttons: one place left (-1) or right (+1), kept focused for the next press.
  move(id, step) {
    const ids = this.order();
    const from = ids.indexOf(id);
    const to = from + step;
    if (from < 0 || to < 0 || to >= ids.length) return;
    ids.splice(to, 0, ...ids.splice(from, 1));
    for (const other of ids) this.el.append(this.cards.get(other).el);
    const card = this.cards.get(id);
    const atEnd = to === 0 || to === ids.length - 1;
    ((step < 0) !== atEnd ? card.left : card.right).focus(); // the arrow that can still move it
    this.handlers.onReorder(ids);
  }

  card(id) {
    return this.cards.get(id) || null;
  }

  clearErrors() {
    for (const card of this.cards.values()) card.clearError();
  }

  clear() {
    this.cards.clear();
    this.el.replaceChildren();
  }
}
