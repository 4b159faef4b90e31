"""The label and metadata vocabularies of HAM10000, shared by every part of mlcore."""

CLASSES = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

CLASS_NAMES = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis-like lesion",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic nevus",
    "vasc": "Vascular lesion",
}

# Malignant or pre-malignant classes; their summed probability is the malignancy risk.
MALIGNANT_CLASSES = ("mel", "bcc", "akiec")

# HAM10000 `localization` vocabulary ("unknown" is also what missing maps to).
SITES = (
    "abdomen",
    "acral",
    "back",
    "chest",
    "ear",
    "face",
    "foot",
    "genital",
    "hand",
    "lower extremity",
    "neck",
    "scalp",
    "trunk",
    "upper extremity",
    "unknown",
)

SEXES = ("male", "female", "unknown")
