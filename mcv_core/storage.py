"""S3: uploads under server-generated keys, reads, and short-lived presigned URLs."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import quote

import botocore.exceptions as bce

from . import stack
from .clients import Clients
from .config import Settings
from .errors import StorageError
from .images import SourceImage


def upload_key(image: SourceImage, when: datetime) -> str:
    """uploads/YYYY/MM/DD/<sha256>.<ext>: made by the server from the content, never from the user's file name."""
    return f"{stack.UPLOAD_PREFIX}{when:%Y/%m/%d}/{image.sha256}.{image.ext}"


def storage_error(exc: Exception, action: str, hint: str) -> StorageError:
    if isinstance(exc, bce.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return StorageError(f"{action} failed: {code or exc}", hint=hint)
    return StorageError(f"{action} failed: {exc}", hint=hint)


class ImageStore:
    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings = settings
        self._s3 = clients.aws("s3", timeout=30)

    @property
    def bucket(self) -> str:
        return self.settings.require("upload_bucket")

    def upload(self, image: SourceImage, when: datetime | None = None) -> str:
        """Store the original bytes; the same image on the same day maps to the same key (content addressed)."""
        key = upload_key(image, when or datetime.now(timezone.utc))
        metadata = {
            "sha256": image.sha256,
            "width": str(image.width),
            "height": str(image.height),
            # S3 metadata must be ASCII: the display name travels percent-encoded.
            "original-name": quote(image.name, safe=""),
        }
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=image.data,
                ContentType=image.media_type,
                ServerSideEncryption="AES256",
                Metadata=metadata,
            )
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise storage_error(exc, f"upload to s3://{self.bucket}", "check the bucket name and that the local cloud or AWS is reachable") from exc
        return key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store a file of the app's own (a batch benchmark's manifest) under `key`."""
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, ServerSideEncryption="AES256")
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise storage_error(exc, f"upload to s3://{self.bucket}", "check the bucket name and that the local cloud or AWS is reachable") from exc

    def read(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except (bce.BotoCoreError, bce.ClientError) as exc:
            raise storage_error(exc, f"read of s3://{self.bucket}/{key}", "the object may have expired (30-day lifecycle)") from exc

    def presigned_url(self, key: str, expires_s: int = stack.PRESIGN_EXPIRES_S) -> str:
        return self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
