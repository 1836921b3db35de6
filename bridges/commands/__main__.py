"""``python -m bridges.commands`` = the ``bioplausible`` command."""

import sys

from bridges.commands import main

sys.exit(main())
