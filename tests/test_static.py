from django.core.management import call_command


def test_collectstatic_succeeds_with_the_production_manifest_storage(settings, tmp_path):
    """``make prod`` runs collectstatic with whitenoise's manifest storage, which fails on a dangling reference."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
    assert any(path.name.startswith("chart.umd.min.") for path in (tmp_path / "vendor" / "chartjs").iterdir())
