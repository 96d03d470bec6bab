"""The text a training run shows: the progress bar with its ETA (the step limit or the time
cap, whichever comes first) and the summary printed at the end.

Pure formatting, no TensorFlow: ``train.py`` prints :func:`training_summary` of the dict the
loop returns.
"""

from __future__ import annotations

from typing import Optional


def training_eta(step: int, max_steps: Optional[int], rate: Optional[float], elapsed: float,
                 max_seconds: Optional[float]):
    """``(seconds left, limit)``: when the run stops, by the step limit at ``rate`` iterations
    per second or by the time cap ``max_seconds`` (``elapsed`` spent), whichever comes first;
    ``limit`` is 'steps' or 'time'.  ``(None, None)`` when neither is known yet."""
    left = []
    if max_steps is not None and rate:
        left.append((max(0, max_steps - step) / rate, "steps"))
    if max_seconds is not None:
        left.append((max(0.0, max_seconds - elapsed), "time"))
    return min(left) if left else (None, None)


def training_bar(start_step: int, max_steps: Optional[int], max_seconds: Optional[float],
                 file=None):
    """The training progress bar (tqdm): iterations done out of ``max_steps``, with an ETA that
    the time cap ``max_seconds`` shortens when it comes first; with only ``max_seconds`` the
    total is the number of iterations expected by then at the current rate (``~N``)."""
    from tqdm import tqdm

    class TrainingBar(tqdm):
        @property
        def format_dict(self):
            d = super().format_dict
            done = d["n"] - d["initial"]
            rate = d["rate"] or (done / d["elapsed"] if done and d["elapsed"] > 0 else None)
            eta, limit = training_eta(d["n"], max_steps, rate, d["elapsed"], max_seconds)
            goal = "?" if max_steps is None else str(max_steps)
            if max_steps is None and eta is not None and rate:
                # Only the time cap: the bar fills with the time spent.
                d["total"] = d["n"] + int(round(eta * rate))
                goal = f"~{d['total']}"
            d["goal"] = goal
            d["eta"] = ("?" if eta is None else tqdm.format_interval(eta)
                        + (" time cap" if limit == "time" and max_steps is not None else ""))
            return d

    return TrainingBar(total=max_steps, initial=start_step, unit="it", dynamic_ncols=True,
                       file=file, bar_format="{l_bar}{bar}| {n_fmt}/{goal} "
                       "[{elapsed}<{eta}, {rate_fmt}{postfix}]")


def training_summary(result: dict) -> str:
    """The lines printed at the end of a run (``result`` as :func:`run_training` returns it)."""
    seconds = result["seconds"]
    done = result["step"] - result["start_step"]
    why = result["stopped_by"]
    if why == "max_steps":
        why = f"reached --max_steps={result['max_steps']}"
    elif why == "max_seconds":
        why = f"time cap --max_seconds={result['max_seconds']:g} reached" + (
            f" before --max_steps={result['max_steps']}"
            if result.get("max_steps") is not None else "")
    elif why == "signal":
        why = f"signal {result.get('stopped_by_signal')}"
    lines = [f"trained {done} iterations (step {result['start_step']} -> {result['step']}) in "
             f"{_clock(seconds)}, {done / seconds if seconds > 0 else 0.0:.2f} it/s; "
             f"stopped: {why}"]
    losses = [f"{key[:-5]} {result['last'][key]:.4g}" for key in ("D_loss", "G_loss", "Q_loss")
              if key in result["last"]]
    if losses:
        lines.append("last losses: " + ", ".join(losses))
    if result.get("q_accuracy") is not None:
        lines.append(f"Q accuracy on generated audio: {result['q_accuracy']:.2f} (mean of the "
                     f"last {result['q_accuracy_updates']} G/Q updates)")
    lines.append(f"checkpoint: {result['checkpoint']}")
    return "\n".join(lines)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return (f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600
            else f"{seconds // 60}:{seconds % 60:02d}")

