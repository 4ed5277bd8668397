"""``python -m ganzoo ...`` (and ``torchrun --nproc_per_node N -m ganzoo train ...``) runs the CLI."""

from ganzoo.cli import main

if __name__ == "__main__":
    main(prog_name="ganzoo")
