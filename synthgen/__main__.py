"""``python -m synthgen``: same as the ``synthgen`` command (spawn-safe entry point)."""

from .cli import main

if __name__ == "__main__":
    main()
