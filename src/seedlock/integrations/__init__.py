"""Where seedlock meets other tools: the pytest plugin, IPython magics, Lightning callbacks and
exports to MLflow. Each module imports its tool on use, never at ``import seedlock``."""
