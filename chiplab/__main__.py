"""``python -m chiplab``: the same as the ``chiplab`` command."""
from chiplab.cli import main

main()
