"""The launcher: environment before the interpreter starts, then boot, hooks and runpy."""
