"""``python -m minicnn ...``: the command line (see minicnn.tools.cli)."""
import sys

from minicnn.tools.cli import main

sys.exit(main())
