"""--cache: denoising steps that compute part of the denoiser and take the rest from an earlier step.

- `deepcache` (UNet families): DeepCache (Ma et al., 2023). After `warmup` whole steps, every `interval`-th step
  runs the whole UNet; the steps between run only its outer levels (down and up blocks up to `branch`) and reuse
  what the deeper blocks made at the last whole step. The schedule is fixed, so an image does not depend on the
  others in its batch.
- `first-block` (transformer families): diffusers' First Block Cache. The first block runs at every step; the others
  are skipped while its output changes by less than `threshold` (mean absolute difference, relative). The decision is
  taken over the whole call, so it runs one image per call (--batch-size 1).
- `taylorseer` (transformer families): diffusers' TaylorSeer. The attention outputs are computed every `interval`
  steps after `warmup` whole ones and predicted between them by a Taylor series of `order`.

The settings are the job's (recorded with every default filled in), so a config replays the same steps. No torch at
import: the plan parses and checks the option.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.processors import settings


@dataclass(frozen=True)
class CacheMethod:
    defaults: Mapping[str, str]
    check: Callable[[str, str], None]  # (key, value) -> raises ValueError saying what it takes
    denoiser: str  # the denoiser it works on: "unet" or "transformer" (families declare which they support)
    per_image: bool = False  # it decides over the whole call, so an image would depend on its batch: batch size 1


def _whole(low: int) -> Callable[[str, str], None]:
    def check(_key: str, value: str) -> None:
        if not value.isdigit() or int(value) < low:
            raise ValueError(f"is not a whole number of at least {low}")
    return check


def _first_block_check(_key: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0.0 < number < 10.0:
        raise ValueError("is not a threshold between 0 and 10 (0.05 to 0.2 are usual)")


def _least(lows: Mapping[str, int]) -> Callable[[str, str], None]:
    def check(key: str, value: str) -> None:
        _whole(lows[key])(key, value)
    return check


METHODS: dict[str, CacheMethod] = {
    "deepcache": CacheMethod({"interval": "3", "branch": "0", "warmup": "0"},
                             _least({"interval": 1, "branch": 0, "warmup": 0}), "unet"),
    "first-block": CacheMethod({"threshold": "0.05"}, _first_block_check, "transformer", per_image=True),
    "taylorseer": CacheMethod({"interval": "5", "warmup": "3", "order": "1"},
                              _least({"interval": 1, "warmup": 0, "order": 1}), "transformer"),
}
NONE = "none"  # in a --cache axis: the same images without caching


def parse_cache(text: str, option: str = "--cache") -> str | None:
    """'deepcache;interval=2' -> 'deepcache;interval=2;branch=0' (every setting, in order: the recorded form);
    'none' -> None."""
    name, *parts = [part.strip() for part in text.split(";")]
    if name.lower() == NONE and not parts:
        return None
    method = METHODS.get(name.lower())
    if method is None:
        raise UsageError(f"{option} {text!r}: {name!r} is not a cache method; use one of {', '.join(METHODS)} or "
                         f"{NONE}")
    chosen = settings(parts, method.defaults, method.check, f"{option} {text!r}", name)
    return ";".join([name.lower(), *(f"{key}={value}" for key, value in chosen.items())])


def cache_method(text: str) -> tuple[str, CacheMethod, dict[str, str]]:
    """A recorded --cache value's name, method and settings."""
    name, *parts = text.split(";")
    return name, METHODS[name], dict(part.split("=", 1) for part in parts)


@dataclass
class StepClock:
    """Where the pipeline is in its schedule: the step (counted by the step callback) and the denoiser call within
    it (a pipeline with true guidance calls the denoiser twice a step); and how many of the calls computed the part
    the method caches (for the run's summary)."""

    step: int = 0
    call: int = -1
    calls: int = 0
    computed: int = 0

    def denoiser_called(self) -> int:
        self.call += 1
        self.calls += 1
        return self.call

    def step_ended(self) -> None:
        self.step += 1
        self.call = -1


@contextmanager
def cached_steps(denoiser: Any, text: str | None) -> Iterator[StepClock | None]:
    """The denoiser with the job's --cache for one pipeline call, and as it was afterwards; the clock is to be told of
    every step's end."""
    if text is None:
        yield None
        return
    name, _method, settings = cache_method(text)
    clock = StepClock()
    undo = _deepcache(denoiser, clock, settings) if name == "deepcache" else \
        _diffusers_cache(denoiser, clock, name, settings)
    try:
        yield clock
    finally:
        undo()


def _deepcache(unet: Any, clock: StepClock, settings: dict[str, str]) -> Callable[[], None]:
    """The UNet's blocks below level `branch` answer from the last whole step in the steps between."""
    interval, branch, warmup = (int(settings[key]) for key in ("interval", "branch", "warmup"))
    levels = len(unet.down_blocks)
    if branch >= levels - 1:
        raise UsageError(f"--cache deepcache;branch={branch}: this UNet has {levels} levels, so branch takes 0 to "
                         f"{levels - 2}")
    deep = [*unet.down_blocks[branch + 1:], *([unet.mid_block] if unet.mid_block is not None else []),
            *unet.up_blocks[:levels - 1 - branch]]
    kept: dict[tuple[int, int], Any] = {}

    def reusing(index: int, forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            key = (clock.call, index)
            if clock.step >= warmup and (clock.step - warmup) % interval != 0 and key in kept:
                return kept[key]
            clock.computed += index == 0
            kept[key] = forward(*args, **kwargs)
            return kept[key]
        return run

    def counted(forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            clock.denoiser_called()
            return forward(*args, **kwargs)
        return run

    undos = [_patched(module, partial(reusing, index)) for index, module in enumerate(deep)]
    undos.append(_patched(unet, counted))

    def undo() -> None:
        for each in reversed(undos):
            each()
        kept.clear()
    return undo


def _patched(module: Any, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Callable[[], None]:
    """`module.forward` wrapped by `wrap`, and the function that puts it back exactly as it was (an instance
    attribute set by offloading hooks, or the class's method)."""
    own = vars(module).get("forward")
    module.forward = wrap(module.forward)

    def undo() -> None:
        if own is None:
            del module.forward
        else:
            module.forward = own
    return undo


def _diffusers_cache(transformer: Any, clock: StepClock, name: str, settings: dict[str, str]) -> Callable[[], None]:
    """diffusers' cache hooks on the transformer, each denoiser call of a step in a cache context of its own (the
    pipelines that name contexts themselves would name the same ones)."""
    from diffusers.hooks import FirstBlockCacheConfig, HookRegistry, TaylorSeerCacheConfig
    from diffusers.hooks.first_block_cache import _FBC_BLOCK_HOOK, _FBC_LEADER_BLOCK_HOOK, apply_first_block_cache
    from diffusers.hooks.hooks import CacheContext, _set_cache_context
    from diffusers.hooks.taylorseer_cache import _TAYLORSEER_CACHE_HOOK, apply_taylorseer_cache

    if name == "first-block":
        apply_first_block_cache(transformer, FirstBlockCacheConfig(threshold=float(settings["threshold"])))
        hooks: tuple[str, ...] = (_FBC_LEADER_BLOCK_HOOK, _FBC_BLOCK_HOOK)
    else:
        import torch

        apply_taylorseer_cache(transformer, TaylorSeerCacheConfig(
            cache_interval=int(settings["interval"]), disable_cache_before_step=int(settings["warmup"]),
            max_order=int(settings["order"]), taylor_factors_dtype=torch.float32))
        hooks = (_TAYLORSEER_CACHE_HOOK,)
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.invalidate_child_registries_cache()

    def in_context(forward: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            _set_cache_context(transformer, CacheContext(f"call{clock.denoiser_called()}"))
            try:
                return forward(*args, **kwargs)
            finally:
                _set_cache_context(transformer, None)
        return run

    put_back = _patched(transformer, in_context)
    last_attention = [module for name, module in transformer.named_modules() if name.endswith("to_q")][-1]
    counting = last_attention.register_forward_hook(lambda *_: setattr(clock, "computed", clock.computed + 1))

    def undo() -> None:
        counting.remove()
        put_back()
        registry.reset_stateful_hooks(recurse=True)
        for hook in hooks:
            registry.remove_hook(hook, recurse=True)
        registry.invalidate_child_registries_cache()
    return undo
