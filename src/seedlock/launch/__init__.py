"""The launcher: the environment a run needs before its interpreter starts, the child's boot
(seed, hooks, then the script as ``__main__``), and the processes check and repeat start."""
