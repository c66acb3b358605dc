"""Errors every layer may raise: the shared ground below pipelines, loaders and trainer.

A library module that meets a mistake the user can fix raises `UserError` from here; the command
line (climb.cli) prints it as one line with exit code 2. Defining it here, not in the CLI, keeps
the front door at the top: nothing below it imports climb.cli.
"""


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""
