"""``python -m soilsciml`` runs the command line."""

import sys

from soilsciml.cli import main

sys.exit(main())
