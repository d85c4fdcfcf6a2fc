"""``python -m pkgdoctor``."""

from pkgdoctor.cli import run

if __name__ == "__main__":
    run()
