"""``seedlock check``: re-run a script in fresh processes, compare the runs bitwise, find the
step and layer where they part, and say why."""
