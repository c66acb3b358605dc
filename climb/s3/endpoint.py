"""Connection details of one S3-compatible endpoint, in the shapes each client wants.

The local SeaweedFS server, moto's fallback server and the fault proxy all hand out an `S3Endpoint`;
tests, benchmarks and the demo then get the same environment, fsspec options and boto3 client
whatever sits behind the URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 endpoint URL with the credentials that open it.

    Args:
        url: http://host:port of the S3 API.
        access_key: AWS_ACCESS_KEY_ID the server accepts.
        secret_key: AWS_SECRET_ACCESS_KEY the server accepts.
        region: signing region; local servers accept any, AWS wants the bucket's.
    """

    url: str
    access_key: str
    secret_key: str
    region: str = DEFAULT_REGION

    def env(self) -> dict[str, str]:
        """Environment that points boto3, s3fs, the AWS CLI, Beam and climb at this endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            # no instance-metadata lookups: they stall for seconds off EC2
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options: `fsspec.filesystem("s3", **endpoint.storage_options())`."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "client_kwargs": {"endpoint_url": self.url, "region_name": self.region},
        }

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def create_bucket(self, name: str) -> str:
        """Create a bucket (no error if this endpoint already has it) and return its name."""
        client = self.client()
        try:
            client.create_bucket(Bucket=name)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        return name

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and every object in it."""
        client = self.client()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=name)


def demo_credentials() -> tuple[str, str]:
    """A fresh random (access key, secret key) pair for a throwaway local server."""
    return f"climb-{secrets.token_hex(4)}", secrets.token_urlsafe(30)
