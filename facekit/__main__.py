import sys

from facekit.cli import main

sys.exit(main())
