"""``python -m eproc.cli``."""

from eproc.cli import main

main()
