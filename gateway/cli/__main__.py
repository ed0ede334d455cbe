"""``python -m gateway.cli`` is the ``parley`` command."""

import sys

from gateway.cli import main

sys.exit(main())
