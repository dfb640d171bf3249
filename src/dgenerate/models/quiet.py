"""Keeping the libraries' notices off the terminal: a module of its own, so that whatever loads a model (a pipeline,
a processor's model) can import it without importing the pipeline loader."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Keep transformers/diffusers notices off the terminal; --debug users can set the variables themselves."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import logging
    import warnings

    # diffusers imports torchao where it is installed (--quantize); its optional CUDA kernels do not load on a CPU
    # build and it registers types torch no longer needs registered: notices nobody can act on.
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)

    import diffusers.utils.logging
    import transformers.utils.logging

    # diffusers' notices of its own internal renames (FluxPosEmbed, ...) say nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*is deprecated and will be removed in version")

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    if "DIFFUSERS_VERBOSITY" not in os.environ or os.environ["DIFFUSERS_VERBOSITY"] == "error":
        diffusers.utils.logging.set_verbosity_error()  # the variable is read once, when diffusers is first imported
    if "TRANSFORMERS_VERBOSITY" not in os.environ or os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        transformers.utils.logging.set_verbosity_error()
