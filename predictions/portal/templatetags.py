"""Template filters of the portal (`{% load portal %}`): results put into words, without any query."""

from django import template
from django.utils import timezone

from mlcore import CLASS_NAMES

from ..interpretation import prediction_interpret, result_summary, review_standing, risk_band
from ..models.records import age_on

register = template.Library()


@register.filter(name="risk_band")
def risk_band_filter(risk):
    """The RiskBand of a malignancy risk, or None when there is none yet."""
    return None if risk is None else risk_band(float(risk))


@register.inclusion_tag("portal/_body_map.html")
def body_map(lesions=(), current=None, editable=False):
    """`{% body_map lesions %}`: the front and back outline with a dot per lesion that has a point."""
    from .body_map import body_map_context

    return body_map_context(lesions or (), current=current, editable=editable)


@register.filter
def centre_crop_box(image):
    """Where the largest centred square of an image lies, in percent of its width and height (the heatmap's
    place until the browser knows the heatmap's own shape; portal.js then uses that)."""
    side = min(image.width, image.height) or 1
    width, height = side / (image.width or 1) * 100, side / (image.height or 1) * 100
    return {
        name: f"{value:.3f}"
        for name, value in {
            "left": (100 - width) / 2,
            "top": (100 - height) / 2,
            "width": width,
            "height": height,
        }.items()
    }


@register.filter
def listed(item):
    """One object as a list of one (for tags that take a list)."""
    return [item]


@register.simple_tag
def summarise(risk, refer=None, threshold=None, assessable=None):
    """`{% summarise risk refer threshold assessable as summary %}`: a stored result's verdict in a word and a
    colour (None without a risk)."""
    return result_summary(risk, refer, threshold, assessable)


@register.filter
def standing_review(reviews):
    """The review whose diagnosis stands among `reviews` (prefetched): histopathology first, then the newest."""
    return review_standing(reviews)


@register.filter
def interpret(prediction):
    return prediction_interpret(prediction)


@register.filter
def percent(value, digits=1):
    """0.1234 -> "12.3%"; empty for None."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def class_name(code):
    return CLASS_NAMES.get(code, code or "")


@register.filter
def age(date_of_birth):
    """Whole years from a date of birth to today."""
    if not date_of_birth:
        return ""
    return age_on(date_of_birth, timezone.localdate())
