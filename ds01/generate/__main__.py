"""`python -m ds01.generate [--check]`."""

import sys

from . import main

sys.exit(main())
