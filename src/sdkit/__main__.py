"""`python -m sdkit` runs the command line."""

from sdkit.cli.app import main

if __name__ == "__main__":
    main()
