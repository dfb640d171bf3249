import sys

from dgenerate.cli import main

sys.exit(main())
