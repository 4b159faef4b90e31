"""mlcore: the SkinClinic lesion classifier (data, preprocessing, model, training, evaluation, serving).

Importing this package is cheap: TensorFlow loads only when a model is loaded or trained.
"""

from .classifier import Classifier, PredictionResult
from .errors import DataError, ImageError, ModelError
from .labels import CLASS_NAMES, CLASSES, MALIGNANT_CLASSES, SEXES, SITES
from .preprocess import LesionInput, load_image, preprocess_image

__all__ = [
    "Classifier",
    "PredictionResult",
    "LesionInput",
    "load_image",
    "preprocess_image",
    "CLASSES",
    "CLASS_NAMES",
    "MALIGNANT_CLASSES",
    "SITES",
    "SEXES",
    "ImageError",
    "DataError",
    "ModelError",
]
