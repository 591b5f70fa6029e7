"""gristmill: raw web crawl to language-model training data, and proof of how good it is."""

from gristmill.core.document import Document
from gristmill.core.step import Drop, Step, register
from gristmill.core.version import gristmill_version

__version__ = gristmill_version()

__all__ = ["Document", "Drop", "Pipeline", "Step", "__version__", "register", "steps"]


def __getattr__(name: str):
    # Pipeline pulls in executors and I/O; import it only when asked for.
    if name == "Pipeline":
        from gristmill.engine.pipeline import Pipeline

        return Pipeline
    if name == "steps":
        import gristmill.steps as steps_module

        return steps_module
    raise AttributeError(name)
