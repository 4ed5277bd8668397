"""User-facing errors: the CLI prints their message on one line and exits non-zero, without a traceback."""

from __future__ import annotations

import functools
import sys


class GanzooError(Exception):
    """Something the user can fix: a bad config, a missing file, an unknown name."""


class ConfigError(GanzooError):
    """A run config (or a --set override) does not validate."""


class PluginError(GanzooError):
    """A plugin could not be loaded, or two plugins register the same name."""


class DatasetUnavailable(GanzooError):
    """A dataset's files are missing and could not be downloaded."""


class CheckpointError(GanzooError):
    """A checkpoint is missing, unreadable or does not match the run."""


def user_errors(fn):
    """Decorate a click command: a GanzooError becomes one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GanzooError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            sys.exit(2)

    return wrapper
