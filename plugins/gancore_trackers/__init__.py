"""gancore first-party plugin: training callbacks that record a run (TensorBoard, CSV)."""

import gancore

from .csv_log import CsvLog
from .tensorboard import TensorBoard


@gancore.hookimpl
def register_parts(register):
    register("callback", "tensorboard", TensorBoard)
    register("callback", "csv", CsvLog)
