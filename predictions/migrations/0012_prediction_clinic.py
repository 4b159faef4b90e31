"""Each prediction stores its image's patient's clinic, so that a clinic's list and its count read one index
(clinic, newest first) instead of joining image, lesion and patient; on PostgreSQL a trigger refuses a row
whose clinic is not its image's."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

# Refuses an inserted or re-pointed prediction whose clinic is not its image's patient's (a few index reads
# per insert). Images move only between lesions of one patient (lesion_merge), and a patient never changes
# clinic, so the stored clinic cannot drift from above.
TRIGGER_SQL = """
CREATE FUNCTION predictions_prediction_clinic_check() RETURNS trigger AS $$
BEGIN
    IF NEW.clinic_id IS DISTINCT FROM (
        SELECT p.clinic_id FROM predictions_lesionimage i
        JOIN predictions_lesion l ON l.id = i.lesion_id
        JOIN predictions_patient p ON p.id = l.patient_id
        WHERE i.id = NEW.image_id
    ) THEN
        RAISE EXCEPTION 'prediction % has clinic % but its image % is of another clinic',
            NEW.id, NEW.clinic_id, NEW.image_id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER prediction_clinic_is_image_clinic
    BEFORE INSERT OR UPDATE OF clinic_id, image_id ON predictions_prediction
    FOR EACH ROW EXECUTE FUNCTION predictions_prediction_clinic_check();
"""
DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS prediction_clinic_is_image_clinic ON predictions_prediction;
DROP FUNCTION IF EXISTS predictions_prediction_clinic_check();
"""


def backfill(apps, schema_editor):
    Prediction = apps.get_model("predictions", "Prediction")
    LesionImage = apps.get_model("predictions", "LesionImage")
    Prediction.objects.filter(clinic__isnull=True).update(
        clinic_id=Subquery(LesionImage.objects.filter(pk=OuterRef("image_id")).values("lesion__patient__clinic_id")[:1])
    )
    if schema_editor.connection.vendor == "postgresql":
        # The new foreign key is checked at commit; check it now so that the column can be altered below.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(TRIGGER_SQL, None)  # None: its % are PL/pgSQL's, not placeholders


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL, None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0011_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="prediction",
            name="clinic",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="predictions.clinic",
            ),
        ),
        migrations.RunPython(backfill, drop_trigger),
        migrations.AlterField(
            model_name="prediction",
            name="clinic",
            field=models.ForeignKey(
                db_index=False,
                help_text="The clinic of the image's patient (kept equal to it).",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="predictions.clinic",
            ),
        ),
        migrations.AddIndex(
            model_name="prediction",
            index=models.Index(fields=["clinic", "-queued_at", "-id"], name="prediction_clinic_queued_idx"),
        ),
    ]
