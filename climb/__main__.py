"""`python -m climb` is the same as the `climb` console script."""

import sys

from climb.cli import main

sys.exit(main())
