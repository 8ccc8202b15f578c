"""``python -m gemini_np <command>``: see :mod:`gemini_np.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
