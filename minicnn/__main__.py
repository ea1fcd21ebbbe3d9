"""``python -m minicnn ...``: the command line (see minicnn.cli)."""
import sys

from minicnn.cli import main

sys.exit(main())
