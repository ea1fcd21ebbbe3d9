"""``python -m minicnn.bench``."""
import sys

from minicnn.bench.cli import main

sys.exit(main())
