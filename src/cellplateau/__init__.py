"""cellplateau: pretraining-data scaling and diversity studies for single-cell foundation models.

The package reads like the pipeline it runs::

    corpus -> selection -> models (pretraining) -> evaluation -> analysis -> report

``import cellplateau`` is light: torch, scanpy and sklearn load inside the stage that needs them.
"""

__version__ = "0.1.0"
