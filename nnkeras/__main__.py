"""`python -m nnkeras ...` is the same as the `nnkeras` command."""

import sys

from nnkeras.cli import main

sys.exit(main())
