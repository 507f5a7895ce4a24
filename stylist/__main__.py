import sys

from stylist.cli import main

sys.exit(main())
