"""The ``noise2atom`` command: arguments -> configuration -> the same functions a notebook calls."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .config import BACKGROUND_MODES, PRESETS, ConfigError, RunConfig, preset_config
from .errors import InputError, WorkerError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Noise2Atom: unsupervised denoising of low-dose STEM movies of atoms.")
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("noise2atom")


def _setup_logging(verbose: bool = False) -> None:
    if not any(isinstance(h, RichHandler) for h in log.handlers):
        log.addHandler(RichHandler(console=err, show_path=False, rich_tracebacks=False))
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


def _training_task(bar: Progress):
    """A progress callback for ``fit``: one bar with the step count and the main losses."""
    task = bar.add_task("train", total=None, info="")

    def on_step(step, total, row):
        info = (f"pairs: mse {row['pair']:.4f}" if "pair" in row else f"merging: mse {row['merge']:.2e}"
                if "merge" in row else f"cycle {row['cycle']:.3f} lfc {row['lfc']:.3f} corr {row['corr']:+.2f}")
        bar.update(task, completed=step, total=total, info=info)

    return on_step


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


@app.command()
def simulate(out: Path = typer.Argument(..., help="Output .npy or .tif"),
             count: int = typer.Option(100, "--count", "-n", min=1, help="Number of images"),
             seed: int = typer.Option(0, help="Random seed"),
             size: int = typer.Option(128, help="Image side in pixels (centre crop of the 256² lattice)"),
             overwrite: bool = typer.Option(False, help="Replace an existing file")) -> None:
    """Simulate clean-domain images (Gaussian atomic peaks in [-1, 1], paper "Datasets" 1)."""
    from .data.clean import simulate_clean
    from .io import write_array

    try:
        from .io import check_output

        check_output(out, overwrite=overwrite)
        if out.suffix.lower() not in (".npy", ".tif", ".tiff"):
            raise InputError(f"{out}: cannot write '{out.suffix}' files; use .npy, .tif or .tiff")
        write_array(out, simulate_clean(count, size=size, seed=seed), overwrite=overwrite)
    except (InputError, ValueError) as exc:
        _fail(exc)
    err.print(f"wrote {count} images of {size}x{size} to {out}")


def _training_start(init: str | None, *, config_file, preset, epochs, pair_steps, context_frames) -> tuple[str | None, str]:
    """Which model `train` starts from (None: fresh weights) and why, for the log.

    Fine-tuning the pretrained default beat training from scratch on the arena (14 of 15 paired
    atom-F1 comparisons over 3 seeds, in 40 % of the time) and on the demo's movie, so it is what
    `train` does unless the options describe a fresh network: a configuration (--config, --preset),
    the paper's game (--epochs, --pair-steps 0) or another input shape (--context-frames)."""
    from .pretrained import DEFAULT_FILE

    if init is not None:
        if init.lower() == "none":
            return None, "--init none"
        return init, f"--init {init}"
    fresh = [name for name, given in (("--config", config_file is not None), ("--preset", preset is not None),
                                      ("--epochs", (epochs or 0) > 0), ("--pair-steps 0", pair_steps == 0),
                                      ("--context-frames", context_frames is not None)) if given]
    if fresh:
        return None, f"{', '.join(fresh)} given; without them train fine-tunes the pretrained default"
    if not DEFAULT_FILE.exists():
        return None, f"the pretrained default {DEFAULT_FILE} is missing"
    return "default", "the default start; --init none trains fresh weights"


@app.command()
def train(input: Path = typer.Argument(..., help="Noisy series: TIFF, DM3/DM4, EMD, .emi/.ser, MRC, .hspy, .npy, PNG or a folder of frames"),
          out: Path = typer.Option(..., "--out", "-o", help="Model file to write (e.g. movie.n2a)"),
          preset: Optional[str] = typer.Option(None, help="small (CPU, minutes; the default) or paper (≈14 M "
                                                           "parameters, GPU)"),
          minutes: Optional[float] = typer.Option(None, help="Wall-clock budget; stops cleanly after it"),
          epochs: Optional[int] = typer.Option(
              None, help="Epochs of the paper's adversarial game after the pair stage (default: the preset's, 0; "
                         "the paper: 100 with --pair-steps 0)"),
          seed: Optional[int] = typer.Option(None, help="Random seed (drawn and stored when omitted)"),
          resume: bool = typer.Option(False, help="Continue from the last checkpoint in the work folder"),
          workdir: Optional[Path] = typer.Option(None, help="Losses and checkpoints (default: OUT.run/)"),
          frames: Optional[int] = typer.Option(None, help="Frames sampled for training (default 120)"),
          crop: Optional[int] = typer.Option(None, help="Training crop side (multiple of 16, > 33)"),
          brightness_weight: Optional[float] = typer.Option(
              None, help="Weight of the brightness-consistency term (0 = the paper's exact objective)"),
          pair_steps: Optional[int] = typer.Option(
              None, help="Supervised steps on synthetic pairs matched to the series before the paper's game "
                         "(0 = the paper's method alone; default: the preset's)"),
          pair_background_px: Optional[int] = typer.Option(
              None, help="Width in px of the opening that takes the background in the pair model; wider than "
                         "the largest cluster (default: the preset's)"),
          context_frames: Optional[int] = typer.Option(
              None, help="Earlier frames Ms2c sees beside the one it denoises (0 = single frames; default: the "
                         "preset's, or 0 when --epochs or --pair-steps 0 asks for the paper's game)"),
          init_blend: Optional[float] = typer.Option(
              None, help="After a fine-tune, the share of the starting model's weights mixed into the kept "
                         "ones (0 = the fine-tuned weights; 0.5 = their mean; default: the configuration's)"),
          keep_start: Optional[bool] = typer.Option(
              None, "--keep-start/--no-keep-start",
              help="After a fine-tune, keep the starting network beside the fine-tuned one and denoise with "
                   "the mean of both if it holds up on INPUT (--keep-start-margin), or the network "
                   "--merge-steps teaches it to (default: on for a fine-tune (--init); --no-keep-start: the "
                   "plain fine-tune, and no merge)"),
          keep_start_margin: Optional[float] = typer.Option(
              None, min=0, help="With --keep-start: keep the start only if the two networks' mean predicts "
                                "held-out frames of INPUT at most this much worse (predictive score) than the "
                                "fine-tuned network alone (1 = always keep; default: the configuration's, 0.005)"),
          merge_steps: Optional[int] = typer.Option(
              None, min=0, help="With --keep-start: teach the two networks' mean back to one network in this many "
                                "steps on INPUT's frames (one network's time per frame; 0 = keep both, twice "
                                "the time per frame; default: 100 for a fine-tune (--init), else the "
                                "configuration's)"),
          precision: Optional[str] = typer.Option(
              None, help="fp32, or bf16: the training passes under bfloat16 autocast (faster on GPUs and on "
                         "CPUs with AVX-512 BF16 or AMX, expected slower on others; the weights stay float32; "
                         "default: the configuration's, fp32)"),
          pair_workers: Optional[int] = typer.Option(
              None, min=0, max=64,
              help="Processes that draw the pair steps' synthetic batches ahead of training (for a GPU with "
                   "CPU cores to spare; 0 = in the training process, other batches than 1 or more; "
                   "default: the configuration's, 0; may change on --resume, but not between 0 and more)"),
          pair_sampler: Optional[str] = typer.Option(
              None, help="What draws the pair steps' synthetic batches: numpy (on the CPU) or torch (on the "
                         "training device: on a GPU the batches never leave it; other random draws than numpy's; "
                         "not with --pair-workers; default: the configuration's, numpy)"),
          config_file: Optional[Path] = typer.Option(
              None, "--config", help="A full configuration as JSON (the 'config' part of `noise2atom info`)"),
          init: Optional[str] = typer.Option(
              None, help="Start from this model and fine-tune it on INPUT: 'default' (the pretrained one), a "
                         "model file, or 'none' (fresh weights). Default: 'default', unless --config, --preset, "
                         "--epochs, --pair-steps 0 or --context-frames describes a fresh network. A fine-tune "
                         "uses the model's configuration, with 300 pair steps unless --pair-steps, and keeps "
                         "its start and merges the two networks in 100 steps unless --merge-steps or "
                         "--no-keep-start"),
          device: Optional[str] = typer.Option(None, help="cpu or cuda (default: cuda when available)"),
          overwrite: bool = typer.Option(False, help="Replace an existing model file"),
          verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Train Ms2c (noisy -> clean) on a noisy series and save the model: by default by fine-tuning
    the pretrained default (--init none: fresh weights). Under `torchrun
    --nproc_per_node N` it trains data-parallel over N processes (gloo on CPU, NCCL on GPUs)."""
    from .model import Noise2Atom
    from .report import plot_losses
    from .train.checkpoint import load_checkpoint
    from .train.parallel import ParallelRun

    _setup_logging(verbose)
    workdir = workdir or out.with_name(out.name + ".run")
    init_model, why = None, ""
    par = ParallelRun.from_env(device)
    if par.world > 1:
        device = par.device
        if par.rank > 0:
            log.setLevel(logging.WARNING)
    try:
        if out.exists() and not (overwrite or resume):
            raise InputError(f"{out}: model file exists; pass --overwrite to replace it or --resume to continue")
        if not out.parent.exists():
            raise InputError(f"{out}: folder {out.parent} does not exist")
        state = load_checkpoint(workdir) if resume else None
        if state is not None:
            config = RunConfig.from_dict(json.loads(state["meta_json"])["config"])
            if epochs is not None:
                config = config.with_updates(train={"epochs": epochs})
            if pair_workers is not None:  # a machine's setting: may change on resume (Trainer.resume checks)
                config = config.with_updates(train={"pair_workers": pair_workers})
        else:
            if not resume and (workdir / "last.pt").exists() and not overwrite:
                raise InputError(f"{workdir}: holds checkpoints of an earlier run; pass --resume to continue "
                                 "it or --overwrite to start again")
            init, why = _training_start(init, config_file=config_file, preset=preset, epochs=epochs,
                                        pair_steps=pair_steps, context_frames=context_frames)
            if init is not None:
                from .pretrained import FINETUNE_MERGE_STEPS, FINETUNE_STEPS, finetune_config, resolve_model

                if config_file is not None:
                    raise InputError("--init and --config both give a configuration: choose one")
                init_model = resolve_model(init, device="cpu")
                if preset is not None and preset != init_model.config.preset:
                    raise InputError(f"--init {init}: that model is the {init_model.config.preset!r} preset, not "
                                     f"{preset!r}; leave out --preset (the model's configuration is used)")
                config = finetune_config(init_model, seed=seed, pair_steps=FINETUNE_STEPS,
                                         merge_steps=FINETUNE_MERGE_STEPS)
                if (epochs or 0) > 0 and init_model.config.model.context_frames > 0:
                    raise InputError(f"--init {init}: that model reads {init_model.config.model.context_frames} "
                                     "context frames, which the cycle game (--epochs) cannot train: leave out "
                                     "--epochs (fine-tuning uses pair steps, --pair-steps)")
            elif config_file is not None:
                try:
                    config = RunConfig.from_dict(json.loads(config_file.read_text()))
                except (OSError, json.JSONDecodeError) as exc:
                    raise InputError(f"{config_file}: not a readable JSON configuration ({exc})") from exc
                if seed is not None:
                    config = config.with_updates(seed=seed)
            else:
                config = preset_config(preset or "small", seed=seed)
            if keep_start is False and merge_steps is None:
                merge_steps = 0  # no start kept: nothing to merge (a fine-tune merges by default)
            data_changes = {k: v for k, v in (("n_frames", frames), ("crop_px", crop)) if v is not None}
            train_changes = {k: v for k, v in (("epochs", epochs), ("brightness_weight", brightness_weight),
                                               ("pair_steps", pair_steps),
                                               ("pair_background_px", pair_background_px),
                                               ("init_blend", init_blend), ("keep_start", keep_start),
                                               ("keep_start_margin", keep_start_margin),
                                               ("merge_steps", merge_steps), ("precision", precision),
                                               ("pair_workers", pair_workers), ("pair_sampler", pair_sampler))
                             if v is not None}
            updates = {}
            if context_frames is None and ((epochs or 0) > 0 or pair_steps == 0):
                context_frames = 0  # the game's cycle maps single frames
            if context_frames is not None:
                updates["model"] = {"context_frames": context_frames}
            if data_changes:
                updates["data"] = data_changes
            if train_changes:
                updates["train"] = train_changes
            if crop is not None:
                updates["denoise"] = {"tile_px": crop, "overlap_px": crop // 4}
            if updates:
                config = config.with_updates(**updates)
            if overwrite and workdir.exists():
                for name in ("last.pt", "prev.pt", "losses.csv"):
                    (workdir / name).unlink(missing_ok=True)
        model = Noise2Atom(config, device=device)
        if par.rank > 0:  # the other processes train in step with process 0, which alone writes
            model.fit(input, minutes=minutes, init=init_model, workdir=workdir, resume=resume)
            par.check_same_weights(model.s2c)
            return
        workdir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(workdir / "train.log")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(fh)
        log.info("training preset=%s seed=%d on %s (work folder %s)%s%s", config.preset, config.seed, input, workdir,
                 f", starting from {init} ({why})" if init_model is not None
                 else f", from fresh weights ({why})" if state is None else ", resumed",
                 f", data-parallel over {par.world} processes ({par.backend})" if par.world > 1 else "")
        with _progress() as bar:
            result = model.fit(input, minutes=minutes, workdir=workdir, resume=resume,
                               progress=_training_task(bar), init=init_model)
        if par.world > 1:
            log.info("the %d processes ended with identical weights (checksum %s)", par.world,
                     par.check_same_weights(model.s2c))
        model.save(out, overwrite=True)
        plot_losses(workdir / "losses.csv", workdir / "losses.png",
                    cycle_limit=config.train.convergence_cycle, lfc_limit=config.train.convergence_lfc)
        conv = (f"met at step {result.converged_step}" if result.converged_step
                else "not met")
        log.info("done: %d steps, %.0f s, stopped by %s; paper criteria (cycle < %.2f, lfc < %.2f) %s; "
                 "final %s", result.steps, result.seconds, result.stopped_by, config.train.convergence_cycle,
                 config.train.convergence_lfc, conv, result.final)
        log.info("model written to %s; loss curves in %s", out, workdir / "losses.png")
        log.removeHandler(fh)
    except (InputError, ConfigError, ValueError, WorkerError) as exc:
        _fail(exc)
    finally:
        par.end(sys.exc_info()[1])  # the exception ending the command, if any (see ParallelRun.end)


@app.command()
def denoise(input: Path = typer.Argument(..., help="Noisy series (TIFF, DM3/DM4, EMD, .emi/.ser, MRC, .hspy, .npy, PNG or a folder)"),
            model: str = typer.Option("default", "--model", "-m",
                                      help="Trained model file, or 'default': the pretrained model shipped with "
                                           "noise2atom (no training); 'default-fast': its fast student"),
            fast: bool = typer.Option(False, "--fast", help="Use the default's fast student (about 3x the frames/s "
                                                           "on a CPU; see noise2atom distill for your own model)"),
            out: Path = typer.Option(..., "--out", "-o", help="Output: float32 ImageJ TIFF stack (.tif), .hspy, "
                                                              "or OME-Zarr (.ome.zarr, the [zarr] extra)"),
            tile: Optional[int] = typer.Option(None, help="Tile side in px (default: the model's crop)"),
            overlap: Optional[int] = typer.Option(None, help="Tile overlap in px"),
            batch: Optional[int] = typer.Option(None, help="Tiles per forward pass"),
            rescale: bool = typer.Option(False, help="Write in the input's units instead of [0, 1]"),
            background: Optional[str] = typer.Option(
                None, help="remove: the atoms alone (the paper); keep: the atoms on the input's smooth "
                           "background (default: the model's, remove)"),
            background_frames: Optional[int] = typer.Option(
                None, help="With --background keep: average the support over this many frames (the current "
                           "one and those before it, registered for drift); 0: choose 4 or 8 by the predictive "
                           "score on the first 16 frames (default: the model's, 0)"),
            background_sigma: Optional[float] = typer.Option(
                None, help="With --background keep: blur the support with this σ (px); 0: choose 4, 2.5 or "
                           "1.5 the same way (default: the model's, 0)"),
            atom_frames: Optional[int] = typer.Option(
                None, help="With --background keep: average the atoms over this many registered frames; 0: "
                           "choose 1, 2, 4 or 8 the same way (default: the model's, 0)"),
            atom_power: Optional[float] = typer.Option(
                None, help="With --background keep: raise the atoms (in [0, 1]) to this power before they go on "
                           "the support (>1 dims faint, uncertain atoms); 0: choose 1, 1.5 or 2 the same way "
                           "(default: the model's, 0)"),
            atom_brightness: Optional[str] = typer.Option(
                None, help="With --background keep: fit the atoms' brightness once per frame (frame) or over "
                           "Gaussian windows of σ 32 px (local: follows a brightness that changes across the "
                           "field); auto: choose the same way (default: the model's, auto)"),
            atom_window: Optional[int] = typer.Option(
                None, help="With --background remove: average the atoms over this many frames centred on each "
                           "frame (odd), registered for drift; 1: each frame's own; 0: choose 1-13 by the "
                           "predictive score on the first 16 frames (default: the model's)"),
            tta: Optional[bool] = typer.Option(None, "--tta/--no-tta",
                                               help="Average over the 4 mirror images (4x slower)"),
            device: Optional[str] = typer.Option(None),
            compile_net: bool = typer.Option(False, "--compile", help="Run the network through torch.compile "
                                                                  "(1.3-1.7x the frames/s on a CPU after a "
                                                                  "10-40 s compile; see docs/performance.md)"),
            precision: str = typer.Option("fp32", help="fp32, or bf16 / fp16 autocast (for GPUs: faster, "
                                                       "see docs/performance.md)"),
            overwrite: bool = typer.Option(False, help="Replace an existing output file (and discard a stopped "
                                                       "run's chunks)"),
            resume: bool = typer.Option(False, help="Continue a stopped run of this same command from its finished "
                                                    "chunks (OUT.parts/)"),
            chunk_frames: int = typer.Option(256, min=1, help="Frames per stored chunk: at most this many are "
                                                              "redone after a stop"),
            verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Denoise a series (with the pretrained default model, or a trained one) and write a float32 TIFF
    stack (or a .hspy file) with the input's calibration. The input is read a block at a time and the
    output built from chunks, so a movie larger than memory can be denoised, and a stopped run
    continues with --resume."""
    from ._version import __version__
    from .denoise_file import check_denoised_output, denoise_to_file
    from .io import check_frames, read_stack
    from .pretrained import resolve_model

    _setup_logging(verbose)
    try:
        check_denoised_output(out, overwrite=overwrite)
        if background is not None and background not in BACKGROUND_MODES:
            raise ConfigError(f"--background {background!r}: choose one of {', '.join(BACKGROUND_MODES)}")
        if precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"--precision {precision!r}: choose fp32, bf16 or fp16")
        if fast:
            from .pretrained import DEFAULT_NAME, FAST_NAME

            if model not in (DEFAULT_NAME, FAST_NAME):
                raise InputError(f"--fast uses the default's fast student, not {model}: make a fast student of your "
                                 "model with `noise2atom distill` and pass it as --model")
            model = FAST_NAME
        net = resolve_model(model, device=device)
        stack = read_stack(input, lazy=True)
        check_frames(stack)
        if compile_net:
            log.info("compiling the network (torch.compile)")
            net.compile()
        record = {"noise2atom_version": __version__, "source": str(input), "model": str(model),
                  "background": background or net.config.denoise.background, "rescale": rescale,
                  "tta": net.config.denoise.tta if tta is None else tta}
        with _progress() as bar:
            task = bar.add_task("denoise", total=len(stack), info="")
            denoise_to_file(net, stack, out, chunk_frames=chunk_frames, resume=resume, overwrite=overwrite,
                            on_frame=lambda i: bar.advance(task), record=record,
                            tile_px=-1 if tile is None else tile, overlap_px=overlap, batch_size=batch,
                            rescale=rescale, background=background, background_frames=background_frames,
                            background_sigma_px=background_sigma, atom_frames=atom_frames,
                            atom_power=atom_power, atom_brightness=atom_brightness, tta=tta,
                            precision=precision, atom_window=atom_window)
    except (InputError, ConfigError, ValueError, RuntimeError, OSError) as exc:
        _fail(exc)
    log.info("wrote %d denoised frames to %s", len(stack), out)


@app.command()
def atoms(input: Path = typer.Argument(..., help="A denoised series, or a noisy one with --model"),
          out: Path = typer.Option(..., "--out", "-o", help="CSV of atom positions to write"),
          model: Optional[str] = typer.Option(None, "--model", "-m",
                                              help="Denoise INPUT with this model file first (atoms alone); "
                                                   "'default': the pretrained model"),
          threshold: float = typer.Option(0.25, min=0.0, max=1.0,
                                          help="Smallest peak height, as a fraction of each frame's range"),
          min_distance: int = typer.Option(2, min=1, help="Smallest distance between two atoms, px"),
          atom_window: Optional[int] = typer.Option(None, help="With --model: average the atoms over this many "
                                                         "frames centred on each frame (odd), registered for "
                                                         "drift; 0: chosen per series (default: the model's)"),
          figure: Optional[Path] = typer.Option(None, help="Figure of the positions over one frame "
                                                           "(default: OUT with .png; a .pdf is written beside it)"),
          figure_frame: int = typer.Option(0, min=0, help="Frame shown in the figure"),
          device: Optional[str] = typer.Option(None),
          overwrite: bool = typer.Option(False, help="Replace existing output files"),
          verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Find atoms (sub-pixel positions and intensities) in every frame; write a CSV and a figure."""
    from .io import check_frames, check_output, read_stack, write_atoms_csv
    from .metrics import locate_atoms
    from .report import companion_path, plot_atoms

    _setup_logging(verbose)
    try:
        if out.suffix.lower() != ".csv":
            raise InputError(f"{out}: atom positions are written as CSV; use a .csv name")
        figure = figure or out.with_suffix(".png")
        if figure.suffix.lower() not in (".png", ".pdf"):
            raise InputError(f"{figure}: the figure is written as .png or .pdf")
        for path in (out, figure, companion_path(figure)):
            check_output(path, overwrite=overwrite)
        stack = read_stack(input)
        check_frames(stack)
        if figure_frame >= len(stack):
            raise InputError(f"{input}: --figure-frame {figure_frame}, but the series has {len(stack)} frames")
        if model is not None:
            from .pretrained import resolve_model

            net = resolve_model(model, device=device)
            nz = net.input_normalization(stack)
            with _progress() as bar:
                task = bar.add_task("denoise", total=len(stack), info="")
                frames = np.stack(list(net.denoise_iter(stack.data, name=stack.name, rescale=True, normalization=nz,
                                                        background="remove", atom_window=atom_window,
                                                        on_frame=lambda i: bar.advance(task))))
        else:
            frames = stack.data
        table = locate_atoms(frames, threshold=threshold, min_distance_px=min_distance)
        write_atoms_csv(out, table, pixel_size=stack.pixel_size, unit=stack.unit, overwrite=overwrite)
        shown = table[table[:, 0] == figure_frame][:, 1:3]
        plot_atoms(frames[figure_frame], shown, figure, title=f"{stack.name}, frame {figure_frame}",
                   pixel_size=stack.pixel_size, unit=stack.unit)
    except (InputError, ConfigError, ValueError) as exc:
        _fail(exc)
    counts = np.bincount(table[:, 0].astype(int), minlength=len(stack))
    cal = "" if stack.pixel_size and stack.unit else " (no pixel size in the input: positions in px only)"
    err.print(f"found {len(table)} atoms in {len(stack)} frames ({counts.mean():.1f} per frame, "
              f"{counts.min()}-{counts.max()}); wrote {out} and {figure}{cal}")


@app.command("css")
def css_cmd(input: Path = typer.Argument(..., help="A series of >= 2 frames"),
            as_json: bool = typer.Option(False, "--json", help='Print {"pairs": [...], "mean": ...} only'),
            low: Optional[float] = typer.Option(None, help="Fixed data range low (default: per-frame min-max)"),
            high: Optional[float] = typer.Option(None, help="Fixed data range high"),
            figure: Optional[Path] = typer.Option(None, help="Also plot CSS over time (.png or .pdf; the other "
                                                             "format is written beside it)"),
            overwrite: bool = typer.Option(False, help="Replace an existing figure")) -> None:
    """Consecutive structural similarity (paper eq. 10) of each consecutive pair and their mean."""
    from .io import check_output, read_stack
    from .metrics import css
    from .report import companion_path, plot_css

    try:
        if (low is None) != (high is None):
            raise InputError("--low and --high must be given together")
        if figure is not None:
            if figure.suffix.lower() not in (".png", ".pdf"):
                raise InputError(f"{figure}: the figure is written as .png or .pdf")
            for path in (figure, companion_path(figure)):
                check_output(path, overwrite=overwrite)
        stack = read_stack(input)
        if len(stack) < 2:
            raise InputError(f"{input}: CSS needs at least 2 frames, the file holds {len(stack)}")
        res = css(stack.data, data_range=(low, high) if low is not None else None)
        if figure is not None:
            plot_css({Path(input).name: res}, figure, frame_time_s=stack.frame_time_s)
    except (InputError, ValueError) as exc:
        _fail(exc)
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict()) + "\n")
        return
    for i, p in enumerate(res.pairs):
        print(f"frames {i}-{i + 1}: {p:.4f}")
    print(f"mean: {res.mean:.4f}")


@app.command()
def demo(out: Path = typer.Option(Path("noise2atom-demo"), "--out", "-o", help="Folder for every result"),
         minutes: float = typer.Option(10.0, help="Training budget in minutes (the fine-tune's 300 steps "
                                                  "take about 1.3 on 2 idle CPU cores; with --init none, the "
                                                  "small preset's 1000 about 4)"),
         input: Optional[Path] = typer.Option(None, "--input", help="Use this series instead of a simulated one"),
         seed: int = typer.Option(0),
         init: str = typer.Option("default", help="default: fine-tune the pretrained default on the movie (what "
                                                  "train does); none: train the small preset from fresh weights"),
         overwrite: bool = typer.Option(False, help="Replace a non-empty --out folder")) -> None:
    """The main job on the bundled default: simulate a noisy movie, fine-tune the pretrained default
    on it (or train from fresh weights), denoise, and write the stack, loss curves, a side-by-side
    figure and a report."""
    from .demo import run_demo

    _setup_logging()
    try:
        if init.lower() not in ("default", "none"):
            raise InputError(f"--init: 'default' or 'none', not {init!r}")
        with _progress() as bar:
            run_demo(out, minutes=minutes, input_path=input, seed=seed, overwrite=overwrite,
                     init=None if init.lower() == "none" else "default", progress=_training_task(bar))
    except (InputError, ConfigError, ValueError) as exc:
        _fail(exc)
    print((out / "report.md").read_text())
    log.info("results in %s", out)


@app.command()
def synth(out: Path = typer.Argument(..., help="Folder for noisy.tif, clean.tif, atoms.tif, positions.csv, config.json"),
          frames: int = typer.Option(20, "--frames", "-t", min=1, help="Number of frames"),
          size: int = typer.Option(128, "--size", "-n", min=16, help="Frame side in pixels (128, 512, 1024...)"),
          dose: float = typer.Option(2.0, "--dose", "-d", help="Mean detected electrons per pixel per frame"),
          seed: int = typer.Option(0, "--seed", "-s"),
          gradient: float = typer.Option(0.0, help="Support thickness change across the field (0 = none)"),
          pixel_size: float = typer.Option(0.05, "--pixel-size", help="nm per pixel"),
          overwrite: bool = typer.Option(False, help="Replace existing files in OUT")) -> None:
    """A realistic noisy HAADF movie of Pt on carbon with its ground truth (the arena's generator)."""
    from .data.arena import SynthConfig, save_synth, synthesize

    try:
        cfg = SynthConfig(frames=frames, size=size, dose=dose, seed=seed, gradient=gradient, pixel_size_nm=pixel_size)
        movie = synthesize(cfg)
        save_synth(movie, out, overwrite=overwrite)
    except (InputError, ValueError) as exc:
        _fail(exc)
    n = sum(len(p) for p in movie.positions)
    err.print(f"wrote {frames} frames of {size}x{size} at {dose:g} e/px ({n} atom columns in all) to {out}")


@app.command()
def benchmark(out: Path = typer.Option(..., "--out", "-o", help="Folder for results.json, results.md and figures"),
              quick: bool = typer.Option(False, help="Tiny setting (64², 6 frames, one dose; a few minutes on CPU)"),
              methods: Optional[str] = typer.Option(None, help="Comma-separated subset of the methods"),
              doses: Optional[str] = typer.Option(None, help="Comma-separated doses in e/px, e.g. 0.5,1,2,5"),
              size: Optional[int] = typer.Option(None, help="Frame side of the synthetic sets"),
              frames: Optional[int] = typer.Option(None, help="Frames per synthetic set"),
              minutes: Optional[float] = typer.Option(None, help="Training minutes of each learned method per set"),
              gradient: float = typer.Option(0.0, help="Also run the first dose with this background gradient"),
              fig4: Optional[str] = typer.Option(None, help="Training-set sizes for the Fig. 4 study, e.g. 1,10,50,100; "
                                                             "'none' to skip"),
              fig4_minutes: Optional[float] = typer.Option(None, help="Training minutes per Fig. 4 model"),
              input: Optional[list[Path]] = typer.Option(None, "--input", help="Real series (no truth: CSS and "
                                                                              "predictive only); repeatable"),
              seed: int = typer.Option(0),
              preset: str = typer.Option("small", help="noise2atom's preset where it trains on a set "
                                                        "(paper: for a GPU)"),
              overwrite: bool = typer.Option(False, help="Write into a non-empty --out folder")) -> None:
    """Run denoisers on the arena's synthetic movies (and real series) and write tables and figures."""
    from .bench.methods import METHODS
    from .bench.run import BenchSpec, run_benchmark

    _setup_logging()
    try:
        if preset not in PRESETS:
            raise ConfigError(f"--preset {preset!r}: choose one of {', '.join(PRESETS)}")
        kw: dict = {"seed": seed, "gradient": gradient, "preset": preset}
        if methods:
            chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
            unknown = [m for m in chosen if m not in METHODS]
            if unknown:
                raise InputError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
            kw["methods"] = chosen
        if doses:
            kw["doses"] = tuple(float(d) for d in doses.split(","))
        for name, value in (("size", size), ("frames", frames), ("minutes", minutes), ("fig4_minutes", fig4_minutes)):
            if value is not None:
                kw[name] = value
        if fig4 is not None:
            kw["fig4_sizes"] = () if fig4.strip().lower() == "none" else tuple(int(k) for k in fig4.split(","))
        if input:
            kw["inputs"] = tuple(str(p) for p in input)
        spec = BenchSpec.quick(**kw) if quick else BenchSpec(**kw)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise InputError(f"{out}: folder exists and is not empty; choose another --out or pass --overwrite")
        with _progress() as bar:
            task = bar.add_task("benchmark", total=None, info="")
            def step(stage: str) -> None:
                bar.update(task, advance=1, info=stage)
                log.debug(stage)

            run_benchmark(spec, out, progress=step)
    except (InputError, ConfigError, ValueError) as exc:
        _fail(exc)
    print((out / "results.md").read_text())
    log.info("results in %s", out)


@app.command("denoise-many")
def denoise_many_cmd(inputs: list[Path] = typer.Argument(..., help="Files (or frame folders) to denoise"),
                     out_dir: Path = typer.Option(..., "--out-dir", "-o", help="Existing folder for NAME-denoised.tif"),
                     model: str = typer.Option("default", "--model", "-m", help="Model file, 'default' or "
                                               "'default-fast' (each worker loads it)"),
                     suffix: str = typer.Option(".tif", help="Output format: .tif, .hspy or .ome.zarr"),
                     scheduler: Optional[str] = typer.Option(None, help="Address of a running Dask scheduler (e.g. "
                                                             "started with dask-jobqueue on Slurm); default: a local "
                                                             "cluster"),
                     workers: int = typer.Option(2, min=1, help="Worker processes of the local cluster"),
                     threads: int = typer.Option(1, min=1, help="Torch threads per worker"),
                     background: Optional[str] = typer.Option(None, help="remove or keep (as for denoise)"),
                     compile_net: bool = typer.Option(False, "--compile", help="Each worker runs the network "
                                                      "through torch.compile (compiled once per worker, "
                                                      "10-40 s; as denoise --compile)"),
                     resume: bool = typer.Option(False, help="Continue stopped files; skip finished ones"),
                     overwrite: bool = typer.Option(False, help="Replace existing outputs"),
                     verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Denoise many files on a Dask cluster (the [dask] extra): a local one with --workers processes,
    or a facility's through --scheduler. Each file as `noise2atom denoise` would; a failing file is
    reported in one line and does not stop the others (exit status 2 if any failed)."""
    from .denoise_file import OUTPUT_SUFFIXES
    from .denoise_many import denoise_many

    _setup_logging(verbose)
    failed = []
    try:
        if suffix.lower().rsplit(".", 1)[-1] not in {s.lstrip(".") for s in OUTPUT_SUFFIXES}:
            raise InputError(f"--suffix {suffix}: choose .tif, .hspy or .ome.zarr")
        if background is not None and background not in BACKGROUND_MODES:
            raise ConfigError(f"--background {background!r}: choose one of {', '.join(BACKGROUND_MODES)}")
        opts = {"background": background} if background else {}
        with _progress() as bar:
            task = bar.add_task("files", total=len(inputs), info="")

            def done(res):
                bar.advance(task)
                if "error" in res:
                    failed.append(res)
                    err.print(f"error: {res['error']}", markup=False, highlight=False)
                else:
                    log.info("%s -> %s (%s)", res["input"], res["output"],
                             res.get("skipped") or f"{res['frames']} frames, {res['seconds']:.1f} s")

            denoise_many(inputs, out_dir, model=model, suffix=suffix, scheduler=scheduler, workers=workers,
                         threads_per_worker=threads, resume=resume, overwrite=overwrite, compile_net=compile_net,
                         on_done=done, **opts)
    except (InputError, ConfigError, ValueError, RuntimeError, OSError) as exc:
        _fail(exc)
    if failed:
        raise typer.Exit(2)


@app.command()
def distill(input: Path = typer.Argument(..., help="The series to distil on (your frames; any readable file)"),
            out: Path = typer.Option(..., "--out", "-o", help="The student's model file (e.g. movie-fast.n2a)"),
            model: str = typer.Option("default", "--model", "-m", help="The teacher: a model file, or 'default'"),
            steps: int = typer.Option(1500, min=1, help="Optimiser steps"),
            minutes: Optional[float] = typer.Option(None, help="Wall-clock budget; stops after the step that "
                                                               "crosses it"),
            crop: int = typer.Option(96, help="Crop side of the training samples (multiple of 8)"),
            seed: int = typer.Option(0),
            device: Optional[str] = typer.Option(None),
            overwrite: bool = typer.Option(False, help="Replace an existing model file"),
            verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Train a fast student of a model on your series: the same input and normalisation, a lighter
    network (about 3x the frames/s on a CPU), trained to give the teacher's output on your frames."""
    from .distill import distill as run_distill
    from .io import check_frames, check_output, read_stack
    from .pretrained import resolve_model

    _setup_logging(verbose)
    try:
        check_output(out, overwrite=overwrite)
        teacher = resolve_model(model, device=device)
        stack = read_stack(input)
        check_frames(stack)
        with _progress() as bar:
            task = bar.add_task("distill", total=steps, info="")
            student, summary = run_distill(teacher, stack.data, steps=steps, minutes=minutes, crop=crop, seed=seed,
                                           progress=lambda i, n, loss: bar.update(task, completed=i,
                                                                                info=f"loss {loss:.2e}"))
        student.record["source"] = str(input)
        student.save(out, overwrite=overwrite)
    except (InputError, ConfigError, ValueError, RuntimeError, OSError) as exc:
        _fail(exc)
    log.info("student written to %s: %d steps in %.0f s, loss %.2e (mean squared difference from the teacher, "
             "[-1, 1] units)", out, summary["steps"], summary["seconds"], summary["final_loss"])


@app.command("export")
def export_cmd(model: str = typer.Argument(..., help="Model file, 'default' or 'default-fast'"),
               out: Path = typer.Option(..., "--out", "-o", help="ONNX file to write"),
               overwrite: bool = typer.Option(False, help="Replace an existing file")) -> None:
    """Export a model's denoiser to ONNX (the [onnx] extra) and check ONNX Runtime against PyTorch."""
    from .export import export_onnx
    from .pretrained import resolve_model

    _setup_logging(False)
    try:
        result = export_onnx(resolve_model(model, device="cpu"), out, overwrite=overwrite)
    except (InputError, ConfigError, ValueError, RuntimeError, OSError) as exc:
        _fail(exc)
    print(json.dumps(result, indent=2))


@app.command()
def info(model: Path = typer.Argument(..., help="Model file")) -> None:
    """Print a model's configuration, normalisation and training record as JSON."""
    from .model import Noise2Atom

    try:
        m = Noise2Atom.load(model, device="cpu")
    except InputError as exc:
        _fail(exc)
    print(json.dumps(m.info(), indent=2, default=str))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
