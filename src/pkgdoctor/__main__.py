"""``python -m pkgdoctor``."""

import sys

from pkgdoctor.cli import main

if __name__ == "__main__":
    sys.exit(main())
