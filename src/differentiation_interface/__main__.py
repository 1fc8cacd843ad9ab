"""``python -m differentiation_interface``: see :mod:`differentiation_interface._cli`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
