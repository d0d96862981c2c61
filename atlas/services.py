"""Writes for tenancy: merchants, staff and API keys."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from atlas.audit import records as audit_records
from atlas.models import ApiKey, Membership, Merchant


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "merchant"
    slug, n = base, 1
    while Merchant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def merchant_create(*, name: str, email: str, password: str, **settings) -> tuple[Merchant, object, str]:
    """Create a merchant, its first (admin) Atlas user and an API key.

    Returns ``(merchant, user, api_key_secret)``; the secret is not stored.
    """
    merchant = Merchant(name=name, slug=_unique_slug(name), company_name=name, company_email=email, **settings)
    merchant.full_clean()
    merchant.save()
    user_model = get_user_model()
    user = user_model.objects.create_user(username=email, email=email, password=password)
    Membership.objects.create(user=user, merchant=merchant, role=Membership.Role.ADMIN)
    _, secret = api_key_create(merchant=merchant, name="Default key", created_by=user)
    return merchant, user, secret


def api_key_create(*, merchant: Merchant, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored and shown only now."""
    secret = ApiKey.generate()
    key = ApiKey.objects.create(
        merchant=merchant,
        name=name,
        prefix=secret[: len(ApiKey.PREFIX) + 6],
        hashed_key=ApiKey.hash(secret),
        created_by=created_by,
    )
    return key, secret


def api_key_revoke(*, key: ApiKey, at=None) -> ApiKey:
    """Revoking is final and idempotent: the first revocation time is kept."""
    before = ApiKey.objects.get(pk=key.pk)
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=at or timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    audit_records.record_update(old=before, new=key)
    return key


def merchant_update(*, merchant: Merchant, **changes) -> Merchant:
    for field, value in changes.items():
        setattr(merchant, field, value)
    merchant.full_clean()
    merchant.save(update_fields=list(changes))
    return merchant
