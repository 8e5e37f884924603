import sys

from kurrant_core.cli import main

sys.exit(main())
