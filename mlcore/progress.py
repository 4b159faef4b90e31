"""Progress bars for long work, on stderr so JSON output on stdout stays clean."""

import sys

from tqdm import tqdm


def progress(iterable, desc: str, enabled: bool = True, total: int | None = None):
    return tqdm(iterable, desc=desc, total=total, disable=not enabled, file=sys.stderr, leave=False)
