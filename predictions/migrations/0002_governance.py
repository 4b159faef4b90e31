"""Case review and governance: the audit hash chain (existing records chained in id order, append-only
enforced by a trigger on PostgreSQL), the model registry and the review queue."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

TRIGGER_SQL = """
CREATE OR REPLACE FUNCTION predictions_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only: % on predictions_auditevent refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER predictions_auditevent_append_only
    BEFORE UPDATE OR DELETE ON predictions_auditevent
    FOR EACH ROW EXECUTE FUNCTION predictions_auditevent_append_only();
"""
DROP_TRIGGER_SQL = """
DROP TRIGGER IF EXISTS predictions_auditevent_append_only ON predictions_auditevent;
DROP FUNCTION IF EXISTS predictions_auditevent_append_only();
"""


def chain_existing_records(apps, schema_editor):
    from predictions.models.audit import GENESIS_HASH, chain_hash

    AuditEvent = apps.get_model("predictions", "AuditEvent")
    previous = GENESIS_HASH
    for event in AuditEvent.objects.using(schema_editor.connection.alias).order_by("id").iterator():
        event.prev_hash = previous
        event.hash = chain_hash(event)
        AuditEvent.objects.using(schema_editor.connection.alias).filter(pk=event.pk).update(
            prev_hash=event.prev_hash, hash=event.hash
        )
        previous = event.hash


def create_trigger(apps, schema_editor):
    # Only PostgreSQL: SQLite drops triggers whenever Django rebuilds a table, and its test flush deletes rows.
    # TRUNCATE stays possible (a statement, not row deletes) for the database owner and test teardown.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(TRIGGER_SQL, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("predictions", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # --- Audit hash chain ------------------------------------------------------------------------------------
        migrations.AddField(
            model_name="auditevent",
            name="ip_address",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="from IP address"),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="user_agent",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="created_at",
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunPython(chain_existing_records, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.RunPython(create_trigger, drop_trigger),
        # --- Model registry --------------------------------------------------------------------------------------
        migrations.CreateModel(
            name="ModelVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=80)),
                ("version", models.CharField(max_length=40)),
                (
                    "identifier",
                    models.CharField(
                        editable=False,
                        help_text="name:version, as stored on every prediction it makes.",
                        max_length=100,
                        unique=True,
                    ),
                ),
                ("checksum", models.CharField(max_length=64, verbose_name="weights SHA-256")),
                ("model_dir", models.CharField(blank=True, max_length=500, verbose_name="model directory")),
                (
                    "metrics",
                    models.JSONField(
                        blank=True, default=dict, help_text="Val metrics from the model card (metrics.json)."
                    ),
                ),
                ("model_card", models.TextField(blank=True)),
                ("config", models.JSONField(blank=True, default=dict)),
                ("registered_at", models.DateTimeField(auto_now_add=True)),
                ("is_active", models.BooleanField(default=False, editable=False)),
                ("activated_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "activated_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "registered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-registered_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("is_active", True)), fields=("is_active",), name="model_version_one_active"
                    ),
                    models.UniqueConstraint(fields=("name", "version"), name="model_version_unique_name_version"),
                    models.CheckConstraint(
                        condition=models.Q(("checksum__regex", "^[0-9a-f]{64}$")), name="model_version_checksum_hex"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("is_active", False), ("activated_at__isnull", False), _connector="OR"),
                        name="model_version_active_has_activation_time",
                    ),
                ],
            },
        ),
        # --- Review queue ----------------------------------------------------------------------------------------
        migrations.CreateModel(
            name="ReviewCase",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "state",
                    models.CharField(
                        choices=[("new", "New"), ("in_review", "In review"), ("done", "Done")],
                        default="new",
                        max_length=16,
                    ),
                ),
                ("priority", models.PositiveSmallIntegerField(default=0, help_text="Higher is more urgent.")),
                ("opened_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("assigned_at", models.DateTimeField(blank=True, null=True)),
                ("closed_at", models.DateTimeField(blank=True, null=True)),
                ("resolution", models.TextField(blank=True)),
                (
                    "assignee",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="review_cases",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "closed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "image",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="review_cases",
                        to="predictions.lesionimage",
                    ),
                ),
                (
                    "prediction",
                    models.ForeignKey(
                        blank=True,
                        help_text="The prediction that last added a reason.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="predictions.prediction",
                    ),
                ),
                (
                    "review",
                    models.ForeignKey(
                        blank=True,
                        help_text="The review that resolved the case.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="predictions.review",
                    ),
                ),
            ],
            options={
                "ordering": ["-priority", "opened_at", "id"],
                "indexes": [models.Index(fields=["state", "-priority", "opened_at"], name="review_case_queue_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("state", "done"), _negated=True),
                        fields=("image",),
                        name="review_case_one_open_per_image",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("state__in", ["new", "in_review", "done"])), name="review_case_state_valid"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("state", "done"), _negated=True), ("closed_at__isnull", False), _connector="OR"
                        ),
                        name="review_case_done_has_closed_at",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("state", "in_review"), _negated=True),
                            ("assignee__isnull", False),
                            _connector="OR",
                        ),
                        name="review_case_in_review_has_assignee",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ReviewCaseReason",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(
                        choices=[
                            ("high_risk", "High malignancy risk"),
                            ("version_disagreement", "A newer model version disagrees"),
                            ("uncertain", "Uncertain prediction"),
                            ("failed", "Prediction failed"),
                        ],
                        max_length=32,
                    ),
                ),
                ("priority", models.PositiveSmallIntegerField()),
                ("detail", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reasons", to="predictions.reviewcase"
                    ),
                ),
                (
                    "prediction",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="predictions.prediction",
                    ),
                ),
            ],
            options={
                "ordering": ["-priority", "id"],
                "constraints": [
                    models.UniqueConstraint(fields=("case", "code"), name="review_case_reason_unique_code"),
                    models.CheckConstraint(
                        condition=models.Q(("code__in", ["high_risk", "version_disagreement", "uncertain", "failed"])),
                        name="review_case_reason_code_valid",
                    ),
                ],
            },
        ),
    ]
