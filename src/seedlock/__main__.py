"""``python -m seedlock`` is the ``seedlock`` command."""

from seedlock.cli import main

if __name__ == "__main__":
    main()
