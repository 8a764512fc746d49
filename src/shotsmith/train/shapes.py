"""Training recipe for the embedded model (`shotsmith train shapes`).

Phases, each resumable from `OUT/checkpoints`:
  1. VAE: AutoencoderKLCogVideoX on short rendered clips (reconstruction + tiny KL).
  2. Data: render N scenes at native size, encode them once to latents, and embed
     several captions per scene once with the frozen text encoder.
  3. T2V: CogVideoXTransformer3DModel on the cached latents, v-prediction with the
     CogVideoX DDIM scheduler, 10% empty captions so classifier-free guidance works.
  4. I2V: the T2V transformer widened to take the first frame's latent as extra
     input channels (CogVideoX I2V layout), fine-tuned the same way.
The result is two diffusers folders: `cogvideox-shapes` and `cogvideox-shapes-i2v`.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from shotsmith.models import embedded as emb
from shotsmith.train import world
from shotsmith.train.checkpoint import save_atomically

Log = Callable[[str], None]


@dataclass
class ShapesRecipe:
    minutes: float = 155.0  # wall-clock cap for the three training phases together
    vae_steps: int = 2400
    decoder_steps: int = 1500
    decoder_noise: float = 0.4  # max latent noise (in scaled units) the decoder learns to ignore
    t2v_steps: int = 3600
    i2v_steps: int = 600
    t2v_more_steps: int = 0  # a second T2V phase after I2V (fresh warm-up, lr/2)
    i2v_more_steps: int = 0  # a second I2V phase (from the first I2V weights, fresh warm-up, lr/2)
    scenes: int = 1200
    captions_per_scene: int = 4
    seed: int = 0
    threads: int = 1  # one thread is far faster than two on a busy 2-core machine
    vae_share: float = 0.25  # share of `minutes` each phase may use at most
    t2v_share: float = 0.55  # the rest goes to I2V
    vae_lr: float = 3e-3
    lr: float = 6e-4
    batch: int = 8
    empty_caption_rate: float = 0.1
    # MiniLM's token vectors share one large common direction: two captions that
    # differ only in the colour word are ~0.05 apart in cosine distance. Starting
    # the transformer's text projection as a PCA whitening of the caption tokens
    # makes those differences as large as everything else from the first step.
    whiten_text: bool = True
    # The objects fill ~10% of the latent; weighting their error makes the loss
    # about the object rather than the (easy) background.
    object_weight: float = 3.0
    ema_decay: float = 0.998
    # I2V must reproduce the given first frame (PSNR >= 25 dB at native size): its
    # latent frame counts this many times more in the loss.
    i2v_first_frame_weight: float = 3.0
    # Share of an I2V phase's samples that also get the clip's last frame in the conditioning
    # channels, at the last latent index (the latent of the last image held for the four frames
    # that latent encodes, as the engine gives it for `last_image`), so the model learns to END
    # on a given frame (first+last keyframes) instead of only having it imposed while sampling.
    # That latent frame's error is then weighted like the first one. 0: first frame only.
    i2v_last_frame_share: float = 0.0
    # Share of the second T2V phase's samples drawn from the high-noise range where a
    # clip's layout and motion are decided (the rest stay uniform over all timesteps).
    # An experiment, off by default: at 0.6 it scored below the uniform phase
    # (docs/training.md), so the shipped model was trained without it.
    t_focus_share: float = 0.0
    t_focus_range: tuple[int, int] = (550, 950)
    # Which T2V phase the focus applies to: "more" (the second phase only, as first
    # measured) or "all" (the first phase too, e.g. a warm-started fine-tune).
    t_focus_phase: str = "more"
    # Extra loss weight on the object's rim in the latent (the mask dilated by one latent
    # pixel minus the mask eroded by one): where a square's corners and a circle's edge
    # differ. 0 (off) in the shipped recipe.
    edge_weight: float = 0.0
    # Auxiliary loss (training only, nothing is exported): a linear head reads the shape
    # of the object under each video token from block `shape_aux_block`'s output, with
    # cross-entropy against the scene's labels (computed from the scene, not the pixels).
    # The shipped models draw squares and triangles as round blobs although colour and
    # motion follow the caption: this asks the tokens under the object to carry the shape
    # word half-way through the network. 0 (off) in the shipped recipe.
    shape_aux_weight: float = 0.0
    shape_aux_block: int = 1
    # The head also tells background tokens from object tokens (a fourth class, its
    # cross-entropy averaged apart from the objects' so the many background tokens do not
    # drown them). With shapes alone the head raised shape but one-object captions came
    # out as none or two objects; this asks the same block where (and how many) objects are.
    shape_aux_background: bool = False
    # Auxiliary loss on what is drawn (training only): a small frozen reader, trained at the
    # phase's start on the clean latents, tells per video token which shape (or background)
    # a latent clip draws there; the transformer's predicted x0 is scored by it with
    # cross-entropy against the scene's labels. The head above makes the tokens *know* the
    # shape (97 %) while the clips still show rounded outlines; this asks the output itself
    # to draw it. 0 (off) in the shipped recipe.
    draw_aux_weight: float = 0.0
    # The reader sees only the outline: a soft mask of where each latent frame differs from
    # its background, one channel. Reading all latent channels it was fooled (its score of the
    # drawn shape rose while the decoded clips' shapes got worse); on the outline it was fooled
    # too, less quickly (docs/training.md, "Seventeenth session"). Neither is in a shipped model.
    draw_aux_outline: bool = False
    # Transformer position embeddings: "rotary" (the shipped model) or "sincos" (absolute,
    # CogVideoX-2B's layout). Tried against the shipped model's static objects: sin-cos
    # positions did not make them move (docs/training.md, "Tried in the fourth session").
    positions: str = "rotary"
    # CogVideoX divides the signal-to-noise ratio by this (3.0 for CogVideoX-2B at 720x480).
    # Our latents have ~26x fewer positions, so a smaller shift seemed worth trying; 1.0
    # scored the same as 3.0 (docs/training.md, "Fifth session"), so 3.0 stays.
    snr_shift: float = 3.0
    # Start the first T2V phase from another trained transformer (a diffusers pipeline
    # or transformer folder) instead of random weights: e.g. to move the shipped rotary
    # model to absolute positions without relearning text, colour and background.
    t2v_init: str | None = None
    # Where the models train ("cpu", "cuda", "cuda:1"). Every random draw stays on the
    # CPU generator and is moved over, so a run's batches and noise do not depend on it.
    # The measured recipe ran on the CPU; no CUDA device was at hand to time it on.
    device: str = "cpu"
    # v2 world and design (docs/training.md, "Sixth session"; shared/docs/MODEL_PROBES.md):
    # "canonical" starts each object where its motion says (+-4 px, separate lanes for two
    # objects) instead of anywhere; "wide" captions use the wider wording of world.py, "broad"
    # ones that and, half the time, world.py's broad lists (words for `--no-enhance`).
    layout: str = "random"
    captions: str = "base"
    two_objects_share: float = 0.25
    # Objects' sizes times this (1-1.5): larger objects span more patch-4 tokens, so the
    # outline the caption names has more tokens to be drawn with (docs/training.md, tenth session).
    object_scale: float = 1.0
    # When set, each scene's scale is drawn between object_scale and this: an I2V model meets
    # users' images with objects of any size, so it learns from a range, not one size.
    object_scale_max: float | None = None
    # Transformer depth and attention heads (32 channels each): 4 and 4 as shipped.
    layers: int = 4
    heads: int = 4
    # 2: 672 video tokens per clip (the first models); 4: 168, about 4x cheaper steps.
    patch_size: int = 2
    # Caption tokens the transformer reads (the pipeline's max_sequence_length); captions
    # are at most ~60 MiniLM tokens, the rest of 226 is padding. Written into the exported
    # transformer config (max_text_seq_length), which the registry reads as text_limit.
    text_tokens: int = 226
    warmup_steps: int = 100
    # Reuse a trained VAE (a pipeline folder with vae/, or a vae folder) instead of
    # training one: skips the VAE and decoder phases.
    vae_init: str | None = None
    # Wall-clock cap of the first T2V phase in minutes (default: minutes x t2v_share).
    t2v_minutes: float | None = None
    # Share (0-1) of each batch's captions written anew for their scene at that step and
    # encoded then, instead of taken from the cache's fixed four per scene. The cache holds
    # 4 x `scenes` captions, which a long run sees many times over; a model that has
    # memorised them reads wording it never met (`--no-enhance`) worse than a linear probe
    # of the same text features does (docs/training.md, twenty-first session). Costs one
    # text-encoder pass over the fresh captions per step. 0: the cache only. Tried on v8 at 0.5
    # (twenty-second session): as written unchanged, half a point better with the agent; not
    # in a shipped model yet.
    fresh_caption_share: float = 0.0
    # I2V phases only: share (0-1) of those fresh captions that name another shape than the
    # clip (and so its first frame) shows. The I2V has the shape in its first frame, yet a
    # shape word it never trained on ("pyramid", "crate") pulls the drawing to another shape
    # as the clip goes on (docs/training.md, twenty-second session); captions that disagree
    # with the frame teach it that the frame decides the shape. Needs fresh_caption_share.
    # Tried at 0.5 of 0.5 (twenty-second session): shape got worse on both paths, the misses
    # still outlines rounded through the clip; not in a shipped model.
    i2v_shape_swap_share: float = 0.0
    # Text-side regularisers for wording the model never trained on (`--no-enhance`): a word
    # it never met gives caption features near, not on, those of the words it knows.
    # text_noise: Gaussian noise on each caption's features, as a multiple of each channel's
    # spread over the cache. text_token_drop: share (0-1) of caption tokens whose features are
    # replaced by the empty caption's at that position, so a colour or shape is read from
    # whichever tokens carry it. 0: off (every shipped model). Both are drawn from the
    # step's generator only when on, so recipes without them keep their batches.
    text_noise: float = 0.0
    text_token_drop: float = 0.0
    # The sentence encoder the transformer reads (embedded.TEXT_ENCODERS): "minilm" (384 wide,
    # the shipped I2V) or "mpnet" (all-mpnet-base-v2, 768 wide, the shipped T2V since v9; it reads
    # held-out wording better, docs/training.md). `train shapes` defaults it to the t2v_init's
    # own (`init_text_encoder`). Exported into shotsmith_recipe.json, from
    # which the loader picks the encoder. A `t2v_init` trained on another encoder gets a text
    # projection fitted by least squares to give, from this encoder, what its own gave.
    text_encoder: str = "minilm"


PATCH_SIZES = (2, 4)
CAPTION_VOCABULARIES = ("base", "wide", "broad")


def check_recipe(recipe: "ShapesRecipe") -> None:
    """ValueError naming the field when a v2 option is out of range (before anything is written)."""
    if recipe.layout not in world.LAYOUTS:
        raise ValueError(f"layout: '{recipe.layout}' is not one of {', '.join(world.LAYOUTS)}")
    if recipe.captions not in CAPTION_VOCABULARIES:
        raise ValueError(f"captions: '{recipe.captions}' is not one of {', '.join(CAPTION_VOCABULARIES)}")
    if recipe.patch_size not in PATCH_SIZES:
        raise ValueError(f"patch_size: {recipe.patch_size} is not one of 2, 4")
    if not 8 <= recipe.text_tokens <= 226:
        raise ValueError(f"text_tokens: {recipe.text_tokens} is not in 8-226")
    if recipe.t_focus_phase not in ("more", "all"):
        raise ValueError(f"t_focus_phase: '{recipe.t_focus_phase}' is not one of more, all")
    if recipe.edge_weight < 0:
        raise ValueError(f"edge_weight: {recipe.edge_weight} is below 0")
    emb.check_text_encoder(recipe.text_encoder)
    if not 0 <= recipe.two_objects_share <= 1:
        raise ValueError(f"two_objects_share: {recipe.two_objects_share} is not in 0-1")
    if not 1 <= recipe.layers <= 24:
        raise ValueError(f"layers: {recipe.layers} is not in 1-24")
    if not 1 <= recipe.heads <= 16:
        raise ValueError(f"heads: {recipe.heads} is not in 1-16")
    lo, hi = world.OBJECT_SCALES
    if not lo <= recipe.object_scale <= hi:  # also refuses NaN
        raise ValueError(f"object_scale: {recipe.object_scale} is not in {lo}-{hi}")
    top = recipe.object_scale_max
    if top is not None and not recipe.object_scale <= top <= hi:
        raise ValueError(f"object_scale_max: {top} is not in {recipe.object_scale:g}-{hi} (object scale up to 1.5)")
    if not 0 <= recipe.fresh_caption_share <= 1:  # also refuses NaN
        raise ValueError(f"fresh_caption_share: {recipe.fresh_caption_share} is not in 0-1")
    if not 0 <= recipe.i2v_shape_swap_share <= 1:  # also refuses NaN
        raise ValueError(f"i2v_shape_swap_share: {recipe.i2v_shape_swap_share} is not in 0-1")
    if not 0 <= recipe.text_noise <= 4:  # also refuses NaN
        raise ValueError(f"text_noise: {recipe.text_noise} is not in 0-4")
    if not 0 <= recipe.text_token_drop < 1:
        raise ValueError(f"text_token_drop: {recipe.text_token_drop} is not in 0-1 (1 excluded)")
    if recipe.i2v_shape_swap_share and not recipe.fresh_caption_share:
        raise ValueError("i2v_shape_swap_share: needs fresh_caption_share above 0 (the captions it rewrites)")
    if not 0 <= recipe.i2v_last_frame_share <= 1:  # also refuses NaN
        raise ValueError(f"i2v_last_frame_share: {recipe.i2v_last_frame_share} is not in 0-1")
    if not recipe.shape_aux_weight >= 0:  # also refuses NaN
        raise ValueError(f"shape_aux_weight: {recipe.shape_aux_weight} is below 0")
    if recipe.shape_aux_background and not recipe.shape_aux_weight:
        raise ValueError("shape_aux_background: needs shape_aux_weight above 0 (the head it extends)")
    if not recipe.draw_aux_weight >= 0:  # also refuses NaN
        raise ValueError(f"draw_aux_weight: {recipe.draw_aux_weight} is below 0")
    if recipe.draw_aux_outline and not recipe.draw_aux_weight:
        raise ValueError("draw_aux_outline: needs draw_aux_weight above 0 (the loss it changes)")
    if not 0 <= recipe.shape_aux_block < recipe.layers:
        raise ValueError(f"shape_aux_block: {recipe.shape_aux_block} is not in 0-{recipe.layers - 1} "
                         f"(the model has {recipe.layers} blocks)")


def check_device(device: str, field: str = "device") -> torch.device:
    """The torch device named by `device`; ValueError naming `field` if torch cannot use it."""
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"{field}: '{device}' is not a torch device (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{field}: '{device}' asked for, but this torch sees no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{field}: '{device}' does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif dev.type != "cpu":
        raise ValueError(f"{field}: '{device}' is not supported (use cpu, cuda or cuda:N)")
    return dev


def _to_video_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).float().div(127.5).sub(1.0)


def _crop_batch(rng: random.Random, clips: int = 4) -> torch.Tensor:
    """Half-size crops of 9-frame clips: 4x cheaper VAE steps, and the VAE is convolutional."""
    frames = [world.render(world.random_scene(rng, 0.3), frames=9) for _ in range(clips)]
    cy, cx = rng.randrange(0, emb.NATIVE_HEIGHT // 2 + 1, 4), rng.randrange(0, emb.NATIVE_WIDTH // 2 + 1, 4)
    x = torch.stack([_to_video_tensor(f) for f in frames])
    return x[:, :, :, cy: cy + emb.NATIVE_HEIGHT // 2, cx: cx + emb.NATIVE_WIDTH // 2]


class _Checkpoints:
    def __init__(self, out: Path):
        self.dir = out / "checkpoints"
        self.dir.mkdir(parents=True, exist_ok=True)

    def done(self, name: str) -> bool:
        return (self.dir / f"{name}.done").exists()

    def mark(self, name: str) -> None:
        (self.dir / f"{name}.done").write_text(time.strftime("%Y-%m-%d %H:%M:%S"))

    def path(self, name: str) -> Path:
        return self.dir / name

    def save(self, obj, name: str) -> None:
        save_atomically(obj, self.dir / name)


def train_vae(recipe: ShapesRecipe, ck: _Checkpoints, log: Log):
    from diffusers import AutoencoderKLCogVideoX

    path = ck.path("vae")
    if ck.done("vae"):
        return AutoencoderKLCogVideoX.from_pretrained(path)
    torch.manual_seed(recipe.seed)
    rng = random.Random(recipe.seed)
    dev = torch.device(recipe.device)
    vae = AutoencoderKLCogVideoX(**emb.VAE_CONFIG).to(dev)
    opt = torch.optim.AdamW(vae.parameters(), lr=recipe.vae_lr, weight_decay=0.0)
    budget = recipe.minutes * 60 * recipe.vae_share
    start, step = time.time(), 0
    while step < recipe.vae_steps and time.time() - start < budget:
        frac = step / recipe.vae_steps
        for g in opt.param_groups:
            g["lr"] = recipe.vae_lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        x = _crop_batch(rng).to(dev)
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        kl = post.kl().mean() / x[0].numel()
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x) + 1e-3 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 50 == 0:
            log(f"vae step {step} loss {loss.item():.4f} ({time.time() - start:.0f}s)")
    vae.eval()
    # Scale latents to unit variance, as CogVideoX's scaling_factor does.
    with torch.no_grad():
        clips = [world.render(world.random_scene(rng, 0.3)) for _ in range(16)]
        z = vae.encode(torch.stack([_to_video_tensor(c) for c in clips]).to(dev)).latent_dist.mean
        vae.register_to_config(scaling_factor=float(1.0 / z.std()))
        rec = vae.decode(z[:4]).sample.clamp(-1, 1)
        x = torch.stack([_to_video_tensor(c) for c in clips[:4]]).to(dev)
        mse = F.mse_loss((rec + 1) / 2, (x + 1) / 2).item()
    log(f"vae done: {step} steps, scaling_factor {vae.config.scaling_factor:.3f}, "
        f"25-frame reconstruction PSNR {10 * math.log10(1 / mse):.1f} dB")
    vae.to("cpu").save_pretrained(path)
    ck.mark("vae")
    return vae


def refine_decoder(recipe: ShapesRecipe, vae, ck: _Checkpoints, log: Log):
    """Fine-tune the decoder alone on noisy latents.

    A denoiser never lands exactly on the encoder's latents; a decoder trained only
    on exact latents turns the small residual error into blocky noise. The encoder
    is frozen, so the latent space (and every cached latent) stays valid.
    """
    from diffusers import AutoencoderKLCogVideoX

    path = ck.path("vae_refined")
    if ck.done("vae_refined"):
        return AutoencoderKLCogVideoX.from_pretrained(path)
    torch.manual_seed(recipe.seed + 11)
    rng = random.Random(recipe.seed + 11)
    dev = torch.device(recipe.device)
    vae.to(dev).train()
    for p in vae.parameters():
        p.requires_grad_(False)
    for p in vae.decoder.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(vae.decoder.parameters(), lr=recipe.vae_lr / 3, weight_decay=0.0)
    sf = vae.config.scaling_factor
    start = time.time()
    for step in range(1, recipe.decoder_steps + 1):
        for g in opt.param_groups:
            g["lr"] = recipe.vae_lr / 3 * 0.5 * (1 + math.cos(math.pi * step / recipe.decoder_steps))
        x = _crop_batch(rng).to(dev)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
            sigma = (torch.rand(z.shape[0], 1, 1, 1, 1) * recipe.decoder_noise / sf).to(dev)
            z = z + sigma * torch.randn_like(z)
        rec = vae.decode(z).sample
        loss = F.mse_loss(rec, x) + 0.5 * F.l1_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.decoder.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            log(f"decoder step {step}/{recipe.decoder_steps} loss {loss.item():.4f} ({time.time() - start:.0f}s)")
    vae.eval()
    for p in vae.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        clips = [world.render(world.random_scene(rng, 0.3)) for _ in range(4)]
        x = torch.stack([_to_video_tensor(c) for c in clips]).to(dev)
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample.clamp(-1, 1)
        mse = F.mse_loss((rec + 1) / 2, (x + 1) / 2).item()
    log(f"decoder done: 25-frame reconstruction PSNR {10 * math.log10(1 / mse):.1f} dB ({time.time() - start:.0f}s)")
    vae.to("cpu").save_pretrained(path)
    ck.mark("vae_refined")
    return vae


@torch.no_grad()
def build_dataset(recipe: ShapesRecipe, vae, ck: _Checkpoints, log: Log) -> dict:
    path = ck.path("data.pt")
    if ck.done("data"):
        return torch.load(path)
    from diffusers import CogVideoXPipeline

    dev = torch.device(recipe.device)
    tokenizer, text_encoder = emb.load_text_encoder(recipe.text_encoder)
    vae.to(dev)
    text_encoder.to(dev)
    pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                             transformer=None, scheduler=None)
    rng = random.Random(recipe.seed + 1)
    sf = vae.config.scaling_factor
    latents, firsts, embeds, owners, scenes, texts = [], [], [], [], [], []
    start = time.time()
    for i in range(0, recipe.scenes, 8):
        batch = [world.random_scene(rng, recipe.two_objects_share, layout=recipe.layout,
                                    object_scale=_scene_scale(recipe, rng))
                 for _ in range(min(8, recipe.scenes - i))]
        frames = [world.render(s) for s in batch]
        x = torch.stack([_to_video_tensor(f) for f in frames]).to(dev)
        latents.append((vae.encode(x).latent_dist.mean * sf).permute(0, 2, 1, 3, 4).half().cpu())
        firsts.append((vae.encode(x[:, :, :1]).latent_dist.mean * sf).permute(0, 2, 1, 3, 4).half().cpu())
        caps = []
        for j, s in enumerate(batch):
            cs = world.captions_for(s, rng, plain=recipe.captions_per_scene // 2,
                                    cinematic=recipe.captions_per_scene - recipe.captions_per_scene // 2,
                                    wide=recipe.captions == "wide", broad=recipe.captions == "broad")
            caps += cs
            texts += cs
            owners += [i + j] * len(cs)
            scenes.append(s.to_dict())
        e, _ = pipe.encode_prompt(caps, do_classifier_free_guidance=False, max_sequence_length=recipe.text_tokens,
                                  device=dev)
        embeds.append(e.half().cpu())
        if (i // 8) % 20 == 0:
            log(f"data {i + len(batch)}/{recipe.scenes} scenes ({time.time() - start:.0f}s)")
    empty, _ = pipe.encode_prompt("", do_classifier_free_guidance=False, max_sequence_length=recipe.text_tokens,
                                  device=dev)
    empty = empty.cpu()
    vae.to("cpu")
    data = {
        "latents": torch.cat(latents), "first_latents": torch.cat(firsts),
        "embeds": torch.cat(embeds), "owners": torch.tensor(owners), "empty": empty[0].half(),
        "scenes": scenes, "captions": texts,
    }
    ck.save(data, path.name)
    ck.mark("data")
    log(f"data done: {len(scenes)} scenes, {len(owners)} captions ({time.time() - start:.0f}s)")
    return data


class FreshCaptions:
    """New captions for cached scenes, encoded as the cache's were (the same text encoder,
    padding and caption window), for `fresh_caption_share`.

    Each step's draws come from a generator seeded by the step, so a resumed run writes the
    same captions it would have written without the interruption."""

    def __init__(self, recipe: ShapesRecipe, scenes: list[dict], offset: int, device, shape_swap: float = 0.0):
        from diffusers import CogVideoXPipeline

        tokenizer, text_encoder = emb.load_text_encoder(recipe.text_encoder)
        self.pipe = CogVideoXPipeline(tokenizer=tokenizer, text_encoder=text_encoder.to(device), vae=None,
                                      transformer=None, scheduler=None)
        self.recipe, self.scenes, self.offset, self.device = recipe, scenes, offset, device
        self.shape_swap = shape_swap  # share of the new captions that name other shapes (I2V)

    def captions(self, owner: torch.Tensor, step: int) -> tuple[list[int], list[str]]:
        """The batch positions that get a new caption at `step`, and those captions."""
        recipe = self.recipe
        rng = random.Random((recipe.seed + 1) * 1_000_003 + self.offset + step)
        picked = [i for i in range(len(owner)) if rng.random() < recipe.fresh_caption_share]
        wide, broad = recipe.captions == "wide", recipe.captions == "broad"
        caps = []
        for i in picked:  # plain and cinematic captions half and half, as in the cache
            scene = _scene(self.scenes[int(owner[i])])
            if self.shape_swap and rng.random() < self.shape_swap:  # drawn only then: T2V captions unchanged
                for obj in scene.objects:
                    obj.shape = rng.choice([s for s in world.SHAPES if s != obj.shape])
            write = world.caption if rng.random() < 0.5 else world.cinematic_caption
            caps.append(write(scene, rng, wide=wide, broad=broad))
        return picked, caps

    @torch.no_grad()
    def __call__(self, text: torch.Tensor, owner: torch.Tensor, step: int) -> torch.Tensor:
        picked, caps = self.captions(owner, step)
        if not picked:
            return text
        fresh, _ = self.pipe.encode_prompt(caps, do_classifier_free_guidance=False,
                                           max_sequence_length=self.recipe.text_tokens, device=self.device)
        text = text.clone()
        text[picked] = fresh.half().to(text.device, text.dtype)  # rounded as the cache's are
        return text


def _scene_scale(recipe: ShapesRecipe, rng: random.Random) -> float:
    """The object scale of the next scene; drawn only for a range, so fixed-scale caches stay as they were."""
    if recipe.object_scale_max is None or recipe.object_scale_max == recipe.object_scale:
        return recipe.object_scale
    return rng.uniform(recipe.object_scale, recipe.object_scale_max)


def _scene(record: dict) -> world.Scene:
    """A cached scene (Scene.to_dict) as a Scene again, to render it."""
    return world.Scene(background=record["background"], objects=[world.ShapeObject(**o) for o in record["objects"]])


@torch.no_grad()
def build_last_latents(recipe: ShapesRecipe, vae, data: dict, ck: _Checkpoints, log: Log) -> torch.Tensor:
    """(N, 1, C, h, w): for each cached scene, the latent of its last frame held for five frames
    (second latent frame), i.e. what `engine.encode_last_frame(..., "held")` gives at inference.

    The scenes are re-rendered from the cache's records (exact, and cheap: 5-frame clips), once
    per cache; the result is kept beside it in the checkpoints folder."""
    path = ck.path("last_latents.pt")
    if ck.done("last_latents"):
        return torch.load(path)
    dev = torch.device(recipe.device)
    vae.to(dev)
    sf = vae.config.scaling_factor
    start, out = time.time(), []
    scenes = data["scenes"]
    for i in range(0, len(scenes), 8):
        lasts = [world.render(_scene(s))[-1] for s in scenes[i: i + 8]]
        x = torch.stack([_to_video_tensor(np.stack([f] * 5)) for f in lasts]).to(dev)
        out.append((vae.encode(x).latent_dist.mean[:, :, 1:2] * sf).permute(0, 2, 1, 3, 4).half().cpu())
    vae.to("cpu")
    lasts = torch.cat(out)
    ck.save(lasts, path.name)
    ck.mark("last_latents")
    log(f"last-frame latents done: {len(scenes)} scenes ({time.time() - start:.0f}s)")
    return lasts


def _rotary(transformer, frames_latent: int):
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    cfg = transformer.config
    gh, gw = cfg.sample_height // cfg.patch_size, cfg.sample_width // cfg.patch_size
    crops = get_resize_crop_region_for_grid((gh, gw), gw, gh)
    return get_3d_rotary_pos_embed(embed_dim=cfg.attention_head_dim, crops_coords=crops,
                                   grid_size=(gh, gw), temporal_size=frames_latent)


def _whitening(embeds: torch.Tensor, dim: int, tokens: int = 64, captions: int = 512):
    """(W, b) so that W @ x + b maps caption token vectors to `dim` whitened PCA components."""
    x = embeds[:captions, :tokens].float().reshape(-1, embeds.shape[-1])
    mean = x.mean(0)
    cov = torch.cov((x - mean).T)
    vals, vecs = torch.linalg.eigh(cov)  # ascending
    vals, vecs = vals.flip(0)[:dim], vecs.flip(1)[:, :dim]
    w = (vecs / vals.clamp_min(1e-6).sqrt()).T
    return w, -(w @ mean)


def recipe_transformer_config(recipe: ShapesRecipe, i2v: bool) -> dict:
    """The transformer config a recipe trains (and its snapshots export)."""
    return emb.transformer_config(i2v=i2v, positions=recipe.positions, patch_size=recipe.patch_size,
                                  text_tokens=recipe.text_tokens, layers=recipe.layers, heads=recipe.heads,
                                  text_dim=emb.TEXT_ENCODERS[recipe.text_encoder].width)


@torch.no_grad()
def bridge_text_projection(init, recipe: ShapesRecipe, data: dict, log: Log, captions: int = 2048,
                           ridge: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A text projection for `recipe.text_encoder` that gives `init` what its own projection
    gave from the encoder it was trained on (its config's width names it), fitted by ridge
    least squares over the token positions of cached captions that both tokenizers split into
    the same number of tokens (then position k is the same word piece in both).

    So a model moved to another text encoder starts reading the words it knew, and the
    training that follows only has to improve on that, not learn the text from nothing."""
    from diffusers import CogVideoXPipeline

    old_width = init.config.text_embed_dim
    old_name = next((n for n, e in emb.TEXT_ENCODERS.items() if e.width == old_width), None)
    if old_name is None:
        raise ValueError(f"t2v_init: its text width {old_width} is no known text encoder's")
    texts = list(data["captions"][:captions]) + [""]
    new_embeds = torch.cat([data["embeds"][:captions].float(), data["empty"][None].float()])
    old_tok, old_enc = emb.load_text_encoder(old_name)
    new_tok, _ = emb.load_text_encoder(recipe.text_encoder)
    pipe = CogVideoXPipeline(tokenizer=old_tok, text_encoder=old_enc, vae=None, transformer=None, scheduler=None)
    old_embeds = torch.cat([pipe.encode_prompt(texts[i:i + 64], do_classifier_free_guidance=False,
                                               max_sequence_length=recipe.text_tokens)[0]
                            for i in range(0, len(texts), 64)]).float()

    def lengths(tok):
        return tok(texts, padding="max_length", max_length=recipe.text_tokens, truncation=True,
                   return_tensors="pt").attention_mask.sum(1)

    keep = lengths(old_tok) == lengths(new_tok)
    proj = init.patch_embed.text_proj.float()
    y = proj(old_embeds[keep].reshape(-1, old_width)).double()
    x = new_embeds[keep].reshape(-1, new_embeds.shape[-1]).double()
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    sol = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)
    fit = 1 - float(((x @ sol - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())
    log(f"text projection bridged from {old_name} to {recipe.text_encoder}: {int(keep.sum())} of {len(texts)} "
        f"captions aligned, R2 {fit:.3f}")
    return sol[:-1].T.float(), sol[-1].float()


AUX_SHAPES = ("circle", "square", "triangle")


def token_shape_labels(scenes: list[dict], frames_latent: int, patch: int, spatial: int = 4, temporal: int = 4,
                       height: int = 64, width: int = 96, frames: int = 25) -> torch.Tensor:
    """(N, frames_latent * rows * cols) int8: per video token (the transformer's order: latent
    frame, row, column), 1 + the index in AUX_SHAPES of the object whose box covers the token's
    centre at that latent frame's last video frame (the later object when both do), 0 for
    background. From the scene records' geometry, so it is exact and needs no rendering."""
    px = patch * spatial
    rows, cols = height // px, width // px
    ys = (np.arange(rows) + 0.5) * px
    xs = (np.arange(cols) + 0.5) * px
    out = np.zeros((len(scenes), frames_latent, rows, cols), dtype=np.int8)
    for n, rec in enumerate(scenes):
        scene = _scene(rec)
        for k in range(frames_latent):
            f = min(k * temporal, frames - 1)
            for obj in scene.objects:
                if obj.shape not in AUX_SHAPES:
                    continue
                cx, cy, s = world._object_at(obj, f / max(frames - 1, 1))
                r = 0.9 * s * height
                inside = (np.abs(ys[:, None] - cy * height) <= r) & (np.abs(xs[None, :] - cx * width) <= r)
                out[n, k][inside] = 1 + AUX_SHAPES.index(obj.shape)
    return torch.from_numpy(out.reshape(len(scenes), -1))


class LatentShapeReader(torch.nn.Module):
    """Reads, per video token (the transformer's order), background or which of AUX_SHAPES a
    latent clip draws there: three 3x3 convolutions over each latent frame (they see a whole
    object, 4-6 latent pixels wide), then one patch-sized step onto the token grid."""

    def __init__(self, channels: int, patch: int, width: int = 32, outline: bool = False):
        super().__init__()
        self.outline = outline  # read the soft object mask (one channel) instead of the latents
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1 if outline else channels, width, 3, padding=1), torch.nn.SiLU(),
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.SiLU(),
            torch.nn.Conv2d(width, width, 3, padding=1), torch.nn.SiLU(),
            torch.nn.Conv2d(width, 1 + len(AUX_SHAPES), patch, stride=patch))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, F, C, H, W) latents -> (B, F * rows * cols, classes) logits."""
        b, f = latents.shape[:2]
        if self.outline:
            latents = soft_object_mask(latents)
        out = self.net(latents.flatten(0, 1))
        return out.view(b, f, out.shape[1], -1).transpose(2, 3).reshape(b, -1, out.shape[1])


def split_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the kept object tokens plus, averaged apart, over the kept background
    tokens (label 0), so the many background tokens do not drown the shapes."""
    loss = logits.new_zeros(())
    for part in (keep & (labels > 0), keep & (labels == 0)):
        if part.any():
            loss = loss + F.cross_entropy(logits[part], labels[part])
    return loss


def train_shape_reader(latents: torch.Tensor, labels: torch.Tensor, patch: int, *, seed: int, log: Log,
                       steps: int = 600, batch: int = 16, outline: bool = False) -> tuple[LatentShapeReader, float]:
    """Fit a LatentShapeReader on clean latents (with some added noise, so it reads outlines
    rather than exact values) and return it frozen with its accuracy on object tokens of the
    last tenth of the scenes, which it did not train on."""
    gen = torch.Generator().manual_seed(seed + 11)
    reader = LatentShapeReader(latents.shape[2], patch, outline=outline)
    opt = torch.optim.Adam(reader.parameters(), lr=3e-3)
    n_train = max(1, len(latents) - len(latents) // 10)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=gen)
        x = latents[idx].float()
        x = x + 0.3 * torch.rand(batch, 1, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
        y = labels[idx].long()
        loss = split_cross_entropy(reader(x), y, torch.ones_like(y, dtype=torch.bool))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    reader.eval().requires_grad_(False)
    held = slice(n_train, len(latents)) if n_train < len(latents) else slice(0, len(latents))
    with torch.no_grad():
        y = labels[held].long()
        right = (reader(latents[held].float()).argmax(-1) == y)[y > 0]
    accuracy = float(right.float().mean()) if right.numel() else float("nan")
    log(f"drawn-shape reader: {100 * accuracy:.1f}% of object tokens read right on {len(y)} held-out clips")
    return reader, accuracy


def _from_background(x0: torch.Tensor) -> torch.Tensor:
    """(B, F, 1, H, W): how far each latent pixel is from its frame's background (the per-frame median)."""
    bg = x0.median(dim=-1, keepdim=True).values.median(dim=-2, keepdim=True).values
    return (x0 - bg).abs().mean(2, keepdim=True)


def _object_mask(x0: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """1 where a latent differs from its frame's background (the per-frame median), else 0."""
    return (_from_background(x0) > threshold).float()


def soft_object_mask(x0: torch.Tensor, threshold: float = 0.3, softness: float = 0.05) -> torch.Tensor:
    """_object_mask with a sigmoid edge, so a loss on it reaches the latents."""
    return torch.sigmoid((_from_background(x0) - threshold) / softness)


def _rim(mask: torch.Tensor) -> torch.Tensor:
    """1 on the object's outline: the (B, F, 1, H, W) mask dilated by one latent pixel minus it eroded by one."""
    flat = mask.flatten(0, 1)
    grown = F.max_pool2d(flat, 3, stride=1, padding=1)
    shrunk = -F.max_pool2d(-flat, 3, stride=1, padding=1)
    return (grown - shrunk).view_as(mask)


def repatch(state: dict, own: dict) -> dict:
    """Map a transformer's weights to another patch size (2 <-> 4); the blocks are kept.

    The patch embedding of the new size sums (2 from 4) or spreads (4 from 2) the old
    kernel over the sub-blocks, so a flat latent gives the same token either way; the
    output projection draws each new patch as the mean (2 from 4) or a copy (4 from 2)
    of the old patch's sub-blocks. Token positions (rotary) are counted in patches, so
    a warm start at another patch size still has to relearn distances."""
    out = dict(state)
    w_old = state["patch_embed.proj.weight"]
    w_new = own["patch_embed.proj.weight"]
    p_old, p_new = w_old.shape[-1], w_new.shape[-1]
    if p_old == p_new:
        return out
    hidden, chans = w_old.shape[0], w_old.shape[1]
    lat = own["proj_out.weight"].shape[0] // (p_new * p_new)
    wo, bo = state["proj_out.weight"].view(lat, p_old, p_old, hidden), state["proj_out.bias"].view(lat, p_old, p_old)
    if p_old == 2 * p_new:
        out["patch_embed.proj.weight"] = w_old.view(hidden, chans, p_new, 2, p_new, 2).sum((3, 5))
        out["proj_out.weight"] = wo.view(lat, 2, p_new, 2, p_new, hidden).mean((1, 3)).reshape(-1, hidden)
        out["proj_out.bias"] = bo.view(lat, 2, p_new, 2, p_new).mean((1, 3)).reshape(-1)
    elif p_new == 2 * p_old:
        out["patch_embed.proj.weight"] = w_old.repeat_interleave(2, -1).repeat_interleave(2, -2) / 4
        out["proj_out.weight"] = wo.repeat(1, 2, 2, 1).reshape(-1, hidden)
        out["proj_out.bias"] = bo.repeat(1, 2, 2).reshape(-1)
    else:
        raise ValueError(f"patch_size: cannot map patch {p_old} weights to patch {p_new}")
    # the learned position table (sin-cos models) is sized by the patch grid; it is recomputed
    for k in ("patch_embed.pos_embedding",):
        if k in out and k in own and out[k].shape != own[k].shape:
            out[k] = own[k]
    return out


def _state(tr, opt, aux_head, elapsed: float, step: int, ema, reader=None) -> dict:
    state = {"model": tr.state_dict(), "opt": opt.state_dict(), "elapsed": elapsed, "step": step, "ema": ema}
    if aux_head is not None:
        state["aux_head"] = aux_head.state_dict()
    if reader is not None:
        state["draw_reader"] = reader.state_dict()
    return state


def perturb_text(text: torch.Tensor, recipe: ShapesRecipe, spread: torch.Tensor | None, empty: torch.Tensor,
                 gen: torch.Generator) -> torch.Tensor:
    """A batch of caption features (B, tokens, width) with the recipe's text regularisers
    applied: noise of `text_noise` x `spread` per channel, then `text_token_drop` of the tokens
    set to the empty caption's (`empty`, tokens x width). Unchanged when both are off."""
    if recipe.text_noise and spread is not None:
        text = text + recipe.text_noise * spread * torch.randn(text.shape, generator=gen)
    if recipe.text_token_drop:
        gone = torch.rand(text.shape[:2], generator=gen) < recipe.text_token_drop
        text = torch.where(gone[..., None], empty.float().expand_as(text), text)
    return text


def train_transformer(recipe: ShapesRecipe, data: dict, ck: _Checkpoints, log: Log, *, name: str, i2v: bool,
                      init=None, minutes: float, steps: int, lr: float):
    """Train (or resume) the T2V or I2V transformer for `steps`, capped at `minutes`."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXTransformer3DModel

    path = ck.path(name)
    if ck.done(name):
        return CogVideoXTransformer3DModel.from_pretrained(path)
    torch.manual_seed(recipe.seed + (7 if i2v else 3))
    dev = torch.device(recipe.device)
    tr = CogVideoXTransformer3DModel(**recipe_transformer_config(recipe, i2v)).to(dev)
    state_file = ck.path(f"{name}.state.pt")
    elapsed, step = 0.0, 0
    reader_ready = False
    aux_head = aux_labels = None
    hidden: dict[str, torch.Tensor] = {}
    if recipe.shape_aux_weight:
        aux_head = torch.nn.Linear(tr.config.num_attention_heads * tr.config.attention_head_dim,
                                   len(AUX_SHAPES) + int(recipe.shape_aux_background)).to(dev)
        aux_labels = token_shape_labels(data["scenes"], data["latents"].shape[1], tr.config.patch_size)
        tr.transformer_blocks[recipe.shape_aux_block].register_forward_hook(
            lambda _m, _i, out: hidden.__setitem__("video", out[0]))
    reader = None  # the frozen drawn-shape reader (draw_aux_weight)
    if recipe.draw_aux_weight:
        if aux_labels is None:
            aux_labels = token_shape_labels(data["scenes"], data["latents"].shape[1], tr.config.patch_size)
        reader = LatentShapeReader(data["latents"].shape[2], tr.config.patch_size,
                                   outline=recipe.draw_aux_outline).to(dev)  # a resumed run loads into it
    params = list(tr.parameters()) + (list(aux_head.parameters()) if aux_head is not None else [])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    if state_file.exists():
        state = torch.load(state_file, map_location=dev)
        tr.load_state_dict(state["model"])
        opt_state = state["opt"]
        if aux_head is not None and "aux_head" in state:
            had = "with" if state["aux_head"]["weight"].shape[0] > len(AUX_SHAPES) else "without"
            if state["aux_head"]["weight"].shape != aux_head.weight.shape:
                raise ValueError(f"shape_aux_background: the run in {path.parent.parent} was trained {had} the "
                                 f"background class; continue it {had} --shape-aux-background, or start a new "
                                 "--out with --t2v-init on its export")
            aux_head.load_state_dict(state["aux_head"])
        elif aux_head is not None:  # a run that starts reading shapes part-way: the head's parameters join fresh
            ids = opt_state["param_groups"][0]["params"]
            ids += list(range(len(ids), len(params)))
        opt.load_state_dict(opt_state)
        elapsed, step = state["elapsed"], state["step"]
        log(f"{name}: resumed at step {step} ({elapsed:.0f}s done)")
        if reader is not None and "draw_reader" in state:  # the same reader as before the interruption
            if state["draw_reader"]["net.0.weight"].shape != reader.net[0].weight.shape:
                had = "with" if state["draw_reader"]["net.0.weight"].shape[1] == 1 else "without"
                raise ValueError(f"draw_aux_outline: the run in {path.parent.parent} was trained {had} "
                                 f"--draw-aux-outline; continue it {had} the flag, or start a new --out")
            reader.load_state_dict(state["draw_reader"])
            reader.eval().requires_grad_(False)
            reader_ready = True
    elif init is not None:
        own = tr.state_dict()
        init_state = repatch(init.state_dict(), own)
        if init_state["patch_embed.text_proj.weight"].shape != own["patch_embed.text_proj.weight"].shape:
            w, b = bridge_text_projection(init, recipe, data, log)
            init_state["patch_embed.text_proj.weight"], init_state["patch_embed.text_proj.bias"] = w, b
        for k, v in init_state.items():
            if k == "patch_embed.proj.weight" and own[k].shape != v.shape:
                own[k].zero_()
                own[k][:, : v.shape[1]] = v  # new image channels start at zero
            else:
                own[k].copy_(v)
        tr.load_state_dict(own)
    elif recipe.whiten_text:
        w, b = _whitening(data["embeds"], tr.patch_embed.text_proj.out_features)
        with torch.no_grad():
            tr.patch_embed.text_proj.weight.copy_(w)
            tr.patch_embed.text_proj.bias.copy_(b)
    if reader is not None and not reader_ready:
        # 600 steps fit the reader to a full cache in about a minute; a tiny run needs far fewer
        reader, _ = train_shape_reader(data["latents"], aux_labels, tr.config.patch_size, seed=recipe.seed, log=log,
                                       steps=min(600, 4 * len(data["latents"])), outline=recipe.draw_aux_outline)
        reader.to(dev)
    ema = None
    if recipe.ema_decay:
        ema = {k: v.detach().clone() for k, v in tr.state_dict().items()}
        if state_file.exists() and "ema" in state:
            ema = state["ema"]
    sched = CogVideoXDDIMScheduler(**emb.scheduler_config(recipe.snr_shift))
    alphas = sched.alphas_cumprod.float()
    rot = _rotary(tr, data["latents"].shape[1]) if tr.config.use_rotary_positional_embeddings else None
    if rot is not None:
        rot = tuple(r.to(dev) for r in rot)
    # A later phase over the same data draws other batches and noise than the first one.
    gen = torch.Generator().manual_seed(recipe.seed + step + (100_000 if name.endswith("_more") else 0))
    n_caps = len(data["owners"])
    fresh = None
    if recipe.fresh_caption_share:
        fresh = FreshCaptions(recipe, data["scenes"], 100_000 * ((2 if i2v else 0) + name.endswith("_more")), dev,
                              shape_swap=recipe.i2v_shape_swap_share if i2v else 0.0)
    text_spread = None
    if recipe.text_noise:  # each channel's spread over (up to) the first 2,000 cached captions
        text_spread = data["embeds"][:2000].float().std(dim=(0, 1))
    budget = minutes * 60
    t0, last_save = time.time() - elapsed, time.time()
    aux_read: list[float] = []  # the head's accuracy on object tokens, logged with the loss
    draw_read: list[float] = []  # the reader's accuracy on the drawn object tokens, logged too
    tr.train()
    while step < steps and time.time() - t0 < budget:
        # Cosine over whichever limit comes first, steps or wall time, so a time-capped
        # run still ends at the low learning rate.
        frac = min(1.0, max(step / steps, (time.time() - t0) / budget))
        warm = min(1.0, (step + 1) / max(recipe.warmup_steps, 1))
        for g in opt.param_groups:
            g["lr"] = lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = torch.randint(0, n_caps, (recipe.batch,), generator=gen)
        owner = data["owners"][idx]
        x0 = data["latents"][owner].float()
        text = data["embeds"][idx].float()
        if fresh is not None:
            text = fresh(text, owner, step)
        text = perturb_text(text, recipe, text_spread, data["empty"], gen)
        drop = torch.rand(recipe.batch, generator=gen) < recipe.empty_caption_rate
        text[drop] = data["empty"].float()
        t = torch.randint(0, 1000, (recipe.batch,), generator=gen)
        if recipe.t_focus_share and not i2v and (name == "transformer_more" or recipe.t_focus_phase == "all"):
            lo, hi = recipe.t_focus_range
            focus = torch.rand(recipe.batch, generator=gen) < recipe.t_focus_share
            t = torch.where(focus, torch.randint(lo, hi, (recipe.batch,), generator=gen), t)
        noise = torch.randn(x0.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1, 1)
        x0, text, noise, a, t = x0.to(dev), text.to(dev), noise.to(dev), a.to(dev), t.to(dev)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        target = a.sqrt() * noise - (1 - a).sqrt() * x0  # v-prediction
        inp = noisy
        ends = None  # samples that are also given their last frame
        if i2v:
            first = data["first_latents"][owner].float().to(dev)
            cond = torch.cat([first, torch.zeros_like(x0[:, 1:])], dim=1)
            if recipe.i2v_last_frame_share:  # drawn only then: runs without it keep their batches
                ends = (torch.rand(recipe.batch, generator=gen) < recipe.i2v_last_frame_share).to(dev)
                last = data["last_latents"][owner].float().to(dev)
                cond[:, -1:] = torch.where(ends.view(-1, 1, 1, 1, 1), last, cond[:, -1:])
            inp = torch.cat([noisy, cond], dim=2)
        pred = tr(hidden_states=inp, encoder_hidden_states=text, timestep=t, image_rotary_emb=rot).sample
        if recipe.object_weight or recipe.edge_weight or (i2v and recipe.i2v_first_frame_weight != 1):
            mask = _object_mask(x0)
            weight = 1 + recipe.object_weight * mask
            if recipe.edge_weight:
                weight = weight + recipe.edge_weight * _rim(mask)
            if i2v:
                weight = weight.clone()
                weight[:, :1] *= recipe.i2v_first_frame_weight
                if ends is not None:  # a given last frame must be met like the first
                    weight[ends, -1:] *= recipe.i2v_first_frame_weight
            loss = (weight * (pred - target) ** 2).mean() / weight.mean()
        else:
            loss = F.mse_loss(pred, target)
        if aux_head is not None or reader is not None:
            labels = aux_labels[owner].to(dev).long()  # (B, tokens)
            # the shape is only knowable from a caption
            captioned = (~drop.to(dev).view(-1, 1)).expand_as(labels)
            on_object = (labels > 0) & captioned
        if aux_head is not None and on_object.any():
            if recipe.shape_aux_background:  # class 0 is the background: objects and it averaged apart
                logits = aux_head(hidden["video"])
                aux_loss = split_cross_entropy(logits, labels, captioned)
                read = logits[on_object].argmax(-1) == labels[on_object]
            else:  # three classes, objects only: the labels shift down by one
                logits = aux_head(hidden["video"][on_object])
                aux_loss = F.cross_entropy(logits, labels[on_object] - 1)
                read = logits.argmax(-1) == labels[on_object] - 1
            aux_read.append(float(read.float().mean()))
            loss = loss + recipe.shape_aux_weight * aux_loss
        if reader is not None:
            # Score what the model draws: its x0 estimate from this noisy clip, read token by token.
            drawn = reader(a.sqrt() * noisy - (1 - a).sqrt() * pred)
            loss = loss + recipe.draw_aux_weight * split_cross_entropy(drawn, labels, captioned)
            if on_object.any():
                draw_read.append(float((drawn.argmax(-1) == labels)[on_object].float().mean()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if ema is not None:
            decay = min(recipe.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for k, v in tr.state_dict().items():
                    if v.dtype.is_floating_point:
                        ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        if step % 50 == 0:
            read = f", shape read {100 * sum(aux_read) / len(aux_read):.0f}%" if aux_read else ""
            read += f", drawn shape {100 * sum(draw_read) / len(draw_read):.0f}%" if draw_read else ""
            log(f"{name} step {step}/{steps} loss {loss.item():.4f}{read} ({time.time() - t0:.0f}s)")
            aux_read.clear()
            draw_read.clear()
        if time.time() - last_save > 300:
            ck.save(_state(tr, opt, aux_head, time.time() - t0, step, ema, reader), state_file.name)
            last_save = time.time()
    if steps:  # the final state too, so a finished phase can be snapshotted or continued
        ck.save(_state(tr, opt, aux_head, time.time() - t0, step, ema, reader), state_file.name)
    if ema is not None:  # ship the averaged weights: smoother samples than the last step's
        tr.load_state_dict(ema)
    tr.to("cpu").eval()
    tr.save_pretrained(path)
    ck.mark(name)
    log(f"{name} done: {step} steps in {time.time() - t0:.0f}s")
    return tr


def export(out: Path, vae, transformer, transformer_i2v, recipe: ShapesRecipe, log: Log) -> dict[str, Path]:
    """Write the two diffusers folders (text encoder left to its own package); the I2V
    one only when there is an I2V transformer."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXImageToVideoPipeline, CogVideoXPipeline

    encoder = emb.check_text_encoder(recipe.text_encoder)
    tokenizer, _ = emb.load_text_encoder(recipe.text_encoder)
    paths = {}
    for name, cls, tr in ((emb.T2V_NAME, CogVideoXPipeline, transformer),
                          (emb.I2V_NAME, CogVideoXImageToVideoPipeline, transformer_i2v)):
        if tr is None:
            continue
        folder = out / name
        if folder.exists():
            shutil.rmtree(folder)
        # The transformer's weights in float16 (a copy: the caller's model stays float32): half
        # the shipped size, so the 2x-wide model's two folders fit the 40 MB budget; diffusers
        # loads them as float32 on its own, and the clips differ from float32 weights' by ~0.02
        # of 255 (docs/training.md, eleventh session).
        pipe = cls(tokenizer=tokenizer, text_encoder=None, vae=vae, transformer=copy.deepcopy(tr).to(torch.float16),
                   scheduler=CogVideoXDDIMScheduler(**emb.scheduler_config(recipe.snr_shift)))
        pipe.save_pretrained(folder)
        index = json.loads((folder / "model_index.json").read_text())
        index["text_encoder"] = ["transformers", encoder.model_class]
        (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        (folder / "shotsmith_recipe.json").write_text(json.dumps(
            {"recipe": asdict(recipe), "text_encoder": encoder.description,
             "native": {"width": emb.NATIVE_WIDTH, "height": emb.NATIVE_HEIGHT, "frames": emb.NATIVE_FRAMES,
                        "fps": emb.NATIVE_FPS}}, indent=2) + "\n")
        paths[name] = folder
        log(f"wrote {folder}")
    return paths


def _load_vae(folder: str | Path):
    from diffusers import AutoencoderKLCogVideoX

    path = Path(folder)
    if (path / "vae").is_dir():
        path = path / "vae"
    if not (path / "config.json").is_file():
        raise ValueError(f"vae_init: {folder} is not a diffusers pipeline folder or VAE folder")
    return AutoencoderKLCogVideoX.from_pretrained(path).eval()


# `train shapes --snapshot-phase` names -> the phases' checkpoint names.
SNAPSHOT_PHASES = {"t2v": "transformer", "t2v-more": "transformer_more", "i2v": "transformer_i2v",
                   "i2v-more": "transformer_i2v_more"}


def export_snapshot(out: Path, recipe: ShapesRecipe, dest: Path, name: str = "transformer",
                    log: Log = print) -> Path:
    """Export the averaged (EMA) weights of a running or stopped transformer phase as a folder.

    Reads `OUT/checkpoints/<name>.state.pt` (written every 5 minutes while training), so a
    long run can be judged, or shipped, without stopping it. An I2V phase (a name with
    "i2v") gives an I2V folder, the others a T2V one. Returns the folder.
    """
    from diffusers import CogVideoXTransformer3DModel

    ck = _Checkpoints(out)
    i2v = "i2v" in name
    state = torch.load(ck.path(f"{name}.state.pt"), map_location="cpu")
    tr = CogVideoXTransformer3DModel(**recipe_transformer_config(recipe, i2v))
    tr.load_state_dict(state["ema"] if state.get("ema") is not None else state["model"])
    tr.eval()
    vae = _load_vae(recipe.vae_init) if recipe.vae_init else _load_vae(ck.path("vae_refined"))
    log(f"snapshot of {name} at step {state['step']} ({state['elapsed']:.0f}s)")
    paths = export(dest, vae, None if i2v else tr, tr if i2v else None, recipe, log)
    return paths[emb.I2V_NAME if i2v else emb.T2V_NAME]


def init_text_encoder(t2v_init: str | Path | None) -> str:
    """The text encoder a run reads when none is named: its `t2v_init`'s own (a pipeline folder
    or its transformer folder), so that a warm start is not moved to another encoder by surprise;
    "minilm" without one."""
    if t2v_init is None:
        return "minilm"
    folder = Path(t2v_init)
    if not (folder / "shotsmith_recipe.json").is_file() and (folder.parent / "shotsmith_recipe.json").is_file():
        folder = folder.parent  # the transformer folder inside a pipeline folder
    return emb.folder_text_encoder(folder)


def transformer_folder(folder: str | Path, field: str = "t2v_init") -> Path:
    """The transformer folder inside a pipeline folder (or the folder itself); ValueError naming `field`."""
    path = Path(folder)
    if (path / "transformer").is_dir():
        path = path / "transformer"
    if not (path / "config.json").is_file():
        raise ValueError(f"{field}: {folder} is not a diffusers pipeline folder or transformer folder")
    return path


def _load_transformer(folder: str):
    from diffusers import CogVideoXTransformer3DModel

    return CogVideoXTransformer3DModel.from_pretrained(transformer_folder(folder))


def train_shapes(out: Path, recipe: ShapesRecipe, log: Log = print) -> dict[str, Path]:
    check_device(recipe.device)  # before anything is written
    check_recipe(recipe)
    vae_init = _load_vae(recipe.vae_init) if recipe.vae_init else None
    torch.set_num_threads(recipe.threads)
    out.mkdir(parents=True, exist_ok=True)
    ck = _Checkpoints(out)
    started = time.time()
    vae = vae_init if vae_init is not None else train_vae(recipe, ck, log)
    data = build_dataset(recipe, vae, ck, log)
    if vae_init is None:
        vae = refine_decoder(recipe, vae, ck, log)  # after the data: the encoder's latents are final
    t2v_minutes = recipe.t2v_minutes if recipe.t2v_minutes is not None else recipe.minutes * recipe.t2v_share
    t2v = train_transformer(recipe, data, ck, log, name="transformer", i2v=False, steps=recipe.t2v_steps,
                            init=_load_transformer(recipe.t2v_init)
                            if recipe.t2v_init and not ck.done("transformer") else None,
                            minutes=t2v_minutes, lr=recipe.lr)
    i2v_share = 1 - recipe.vae_share - recipe.t2v_share
    if recipe.i2v_last_frame_share and (recipe.i2v_steps or recipe.i2v_more_steps):
        data["last_latents"] = build_last_latents(recipe, vae, data, ck, log)
    i2v = None  # no I2V phase asked for (and none trained before): only the T2V folder is written
    if recipe.i2v_steps or recipe.i2v_more_steps or ck.done("transformer_i2v"):
        i2v = train_transformer(recipe, data, ck, log, name="transformer_i2v", i2v=True, init=t2v,
                                steps=recipe.i2v_steps, minutes=recipe.minutes * i2v_share, lr=recipe.lr)
    # Second phases continue from the first ones' (averaged) weights. Each is its own
    # checkpoint, so two processes over copies of one checkpoint folder can run the
    # T2V and I2V continuations side by side on two cores.
    if recipe.t2v_more_steps:
        t2v = train_transformer(recipe, data, ck, log, name="transformer_more", i2v=False, init=t2v,
                                steps=recipe.t2v_more_steps, minutes=recipe.minutes, lr=recipe.lr / 2)
    if recipe.i2v_more_steps:
        i2v = train_transformer(recipe, data, ck, log, name="transformer_i2v_more", i2v=True, init=i2v,
                                steps=recipe.i2v_more_steps, minutes=recipe.minutes, lr=recipe.lr / 2)
    paths = export(out, vae, t2v, i2v, recipe, log)
    log(f"train shapes finished in {(time.time() - started) / 60:.1f} min")
    return paths
