"""Drives a Basalt S3 gateway with boto3 (S3IT): listing, versioning, delete markers, checksums,
conditional and ranged reads, presigned URLs. Prints one line per check; exits non-zero at the first
failure, with what differed.

Usage: boto3_check.py ENDPOINT ACCESS_KEY SECRET_KEY BUCKET
"""
import hashlib
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

try:  # botocore before 1.31 (Debian 12's python3-boto3) has no such exception
    from botocore.exceptions import MissingDependencyException
except ImportError:
    class MissingDependencyException(Exception):
        pass

endpoint, access_key, secret_key, bucket = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                retries={"max_attempts": 5}))


def check(name, ok, detail=""):
    if not ok:
        print(f"FAIL {name}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


s3.create_bucket(Bucket=bucket)
check("bucket listed", bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]])

# 1,200 keys in a small tree, listed page by page with and without a delimiter.
keys = sorted(f"dir{d:02d}/file{f:03d}" for d in range(12) for f in range(100))
for key in keys:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
listed, token = [], None
while True:
    args = {"Bucket": bucket, "MaxKeys": 150}
    if token:
        args["ContinuationToken"] = token
    page = s3.list_objects_v2(**args)
    listed += [o["Key"] for o in page.get("Contents", [])]
    if not page["IsTruncated"]:
        break
    token = page["NextContinuationToken"]
check("1200 keys in order, 150 a page", listed == keys, f"{len(listed)} listed")
page = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
prefixes = [p["Prefix"] for p in page.get("CommonPrefixes", [])]
check("common prefixes", prefixes == [f"dir{d:02d}/" for d in range(12)], str(prefixes))
page = s3.list_objects_v2(Bucket=bucket, Prefix="dir03/", StartAfter="dir03/file049", MaxKeys=10)
check("prefix and start-after", [o["Key"] for o in page["Contents"]] == [f"dir03/file{f:03d}" for f in range(50, 60)])
v1 = s3.list_objects(Bucket=bucket, Prefix="dir05/", Marker="dir05/file097")
check("list v1 with a marker", [o["Key"] for o in v1["Contents"]] == ["dir05/file098", "dir05/file099"])

# Metadata, conditional and ranged reads.
body = bytes(range(256)) * 4096  # 1 MiB
put = s3.put_object(Bucket=bucket, Key="meta/obj", Body=body, ContentType="application/x-test",
                    Metadata={"colour": "blue"})
etag = put["ETag"]
check("etag is the md5", etag.strip('"') == hashlib.md5(body).hexdigest(), etag)
head = s3.head_object(Bucket=bucket, Key="meta/obj")
check("metadata back", head["Metadata"] == {"colour": "blue"} and head["ContentType"] == "application/x-test")
got = s3.get_object(Bucket=bucket, Key="meta/obj", Range="bytes=1000-1999")["Body"].read()
check("ranged get", got == body[1000:2000])
check("if-none-match gives 304", error_code(lambda: s3.get_object(Bucket=bucket, Key="meta/obj", IfNoneMatch=etag)) == "304")
check("if-match mismatch gives 412", error_code(lambda: s3.get_object(Bucket=bucket, Key="meta/obj", IfMatch='"0"')) == "PreconditionFailed")
check("missing key", error_code(lambda: s3.get_object(Bucket=bucket, Key="nope")) == "NoSuchKey")

# Checksums the SDK computes, verified on upload and returned in checksum mode.
for algorithm in ["CRC32", "CRC32C", "SHA1", "SHA256"]:
    key = f"sum/{algorithm}"
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm=algorithm)
    except (MissingDependencyException, ClientError, ValueError) as e:
        if isinstance(e, ClientError) or "crt" not in str(e).lower():
            raise
        print(f"skip checksum {algorithm}: this botocore needs awscrt for it", flush=True)
        continue
    back = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    check(f"checksum {algorithm}", back["Body"].read() == body and f"Checksum{algorithm}" in back, str(back.keys()))

# Versioning and delete markers.
vb = bucket + "-versions"
s3.create_bucket(Bucket=vb)
s3.put_bucket_versioning(Bucket=vb, VersioningConfiguration={"Status": "Enabled"})
first = s3.put_object(Bucket=vb, Key="k", Body=b"one")["VersionId"]
second = s3.put_object(Bucket=vb, Key="k", Body=b"two")["VersionId"]
check("two versions", first != second)
check("newest wins", s3.get_object(Bucket=vb, Key="k")["Body"].read() == b"two")
check("old version readable", s3.get_object(Bucket=vb, Key="k", VersionId=first)["Body"].read() == b"one")
marker = s3.delete_object(Bucket=vb, Key="k")
check("delete adds a marker", marker.get("DeleteMarker") is True)
check("deleted key is gone", error_code(lambda: s3.get_object(Bucket=vb, Key="k")) == "NoSuchKey")
versions = s3.list_object_versions(Bucket=vb)
check("versions and marker listed", len(versions.get("Versions", [])) == 2 and len(versions.get("DeleteMarkers", [])) == 1)
s3.delete_object(Bucket=vb, Key="k", VersionId=marker["VersionId"])
check("removing the marker brings it back", s3.get_object(Bucket=vb, Key="k")["Body"].read() == b"two")

# Presigned GET and PUT with curl.
url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "meta/obj"}, ExpiresIn=300)
out = subprocess.run(["curl", "-sf", url], capture_output=True)
check("presigned get with curl", out.returncode == 0 and out.stdout == body, str(out.returncode))
url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"}, ExpiresIn=300)
out = subprocess.run(["curl", "-sf", "-X", "PUT", "--data-binary", "hello", url], capture_output=True)
check("presigned put with curl", out.returncode == 0 and s3.get_object(Bucket=bucket, Key="presigned")["Body"].read() == b"hello")

url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "chunked"}, ExpiresIn=300)
streamed = body * 3  # 3 MiB from stdin: curl sends Transfer-Encoding: chunked, no Content-Length
out = subprocess.run(["curl", "-sf", "-T", "-", url], input=streamed, capture_output=True)
check("chunked put with curl", out.returncode == 0 and s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == streamed,
      str(out.returncode))

# A repeated CompleteMultipartUpload (an SDK retry) answers the completed object again.
upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu/twice")["UploadId"]
part = s3.upload_part(Bucket=bucket, Key="mpu/twice", UploadId=upload, PartNumber=1, Body=b"one part")
parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
done = s3.complete_multipart_upload(Bucket=bucket, Key="mpu/twice", UploadId=upload, MultipartUpload=parts)
again = s3.complete_multipart_upload(Bucket=bucket, Key="mpu/twice", UploadId=upload, MultipartUpload=parts)
check("repeated complete", again["ETag"] == done["ETag"] and done["ETag"].endswith('-1"'), f"{done['ETag']} {again['ETag']}")

# A non-empty bucket cannot be deleted; DeleteObjects empties it.
check("bucket not empty", error_code(lambda: s3.delete_bucket(Bucket=bucket)) == "BucketNotEmpty")
print("all boto3 checks passed", flush=True)
