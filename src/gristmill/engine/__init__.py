"""The engine that runs recipes: step resolution, recipe loading, the step runner, the shard
runner, the pipeline driver and the executors (process pool, Ray).

It sits above the stage packages and `gristmill.io`, and below the CLI; stages never import
it. `gristmill.core` holds the contracts it runs (`Document`, `Step`, `Drop`, stats, errors,
the `Executor` protocol).
"""
