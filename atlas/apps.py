from django.apps import AppConfig


class AtlasConfig(AppConfig):
    name = "atlas"
    verbose_name = "Atlas tenancy"

    def ready(self):
        # django-auditlog diffs a created or deleted object over every field, reverse relations included: a
        # reverse one-to-one costs a query per object and a reverse foreign key shows as "app.Model.None".
        # Audit a model's own columns only (its exclusions kept). auditlog's ready() ran first (INSTALLED_APPS).
        from auditlog.registry import auditlog

        for model in auditlog.get_models():
            options = auditlog.get_model_fields(model)
            if not options["include_fields"]:
                auditlog.unregister(model)
                auditlog.register(
                    model,
                    include_fields=[field.name for field in model._meta.concrete_fields],
                    exclude_fields=options["exclude_fields"],
                )
