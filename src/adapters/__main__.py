"""``python -m threadwire.adapters``: the ``threadwire`` command line."""

import sys

from ._cli import main

sys.exit(main())
