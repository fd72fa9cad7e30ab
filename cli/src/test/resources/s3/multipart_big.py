"""A multi-GiB object through a Basalt S3 gateway with boto3 (S3IT): a multipart upload whose parts
go up in parallel and in shuffled order, completed, then read back whole and by ranges across the
2 GiB boundary (where a 32-bit offset would wrap), and deleted. Nothing is held whole: each part is
generated when it is sent and checked as it comes back. Every 4 KiB block of the object starts with
its own block number, so a block served from the wrong place is named by where it came from.

Usage: multipart_big.py ENDPOINT ACCESS_KEY SECRET_KEY BUCKET TOTAL_BYTES PART_BYTES THREADS
Prints one line per step with its rate; exits non-zero at the first failure, saying what differed.
"""
import base64
import concurrent.futures
import hashlib
import random
import struct
import sys
import time

import boto3
from botocore.config import Config

endpoint, access_key, secret_key, bucket = sys.argv[1:5]
total, part_size, threads = (int(a) for a in sys.argv[5:8])
key = "big/object"
BLOCK = 4096
MIB = 1 << 20
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                retries={"max_attempts": 5}, max_pool_connections=threads + 2,
                                read_timeout=300))
PAD = random.Random(20261207).randbytes(MIB)


def fail(what):
    print(f"FAIL {what}", flush=True)
    sys.exit(1)


def expected(offset, length):
    """The object's bytes [offset, offset + length): PAD with each 4 KiB block's number at its start."""
    out = bytearray()
    at = offset
    while at < offset + length:
        mib = at // MIB
        chunk = bytearray(PAD)
        for b in range(MIB // BLOCK):
            struct.pack_into(">QQ", chunk, b * BLOCK, mib * (MIB // BLOCK) + b, 0x62617361)
        start = at - mib * MIB
        take = min(MIB - start, offset + length - at)
        out += chunk[start:start + take]
        at += take
    return bytes(out)


def first_difference(got, offset):
    want = expected(offset, len(got))
    for i in range(0, len(got), BLOCK):
        if got[i:i + BLOCK] != want[i:i + BLOCK]:
            block = got[i:i + 16]
            seen = struct.unpack(">Q", block[:8])[0] if len(block) >= 8 else None
            return f"at byte {offset + i}: block {(offset + i) // BLOCK} expected, got a block starting with " \
                   f"number {seen}"
    return None


s3.create_bucket(Bucket=bucket)
parts = (total + part_size - 1) // part_size
started = time.monotonic()
upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/octet-stream")["UploadId"]
order = list(range(1, parts + 1))
random.Random(7).shuffle(order)
if order == sorted(order):
    order.reverse()
digests = {}


def send(number):
    offset = (number - 1) * part_size
    body = expected(offset, min(part_size, total - offset))
    md5 = hashlib.md5(body)
    etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body,
                          ContentMD5=base64.b64encode(md5.digest()).decode())["ETag"]
    if etag.strip('"') != md5.hexdigest():
        fail(f"part {number}: ETag {etag}, its MD5 is {md5.hexdigest()}")
    digests[number] = md5.digest()
    return number


with concurrent.futures.ThreadPoolExecutor(threads) as pool:
    for future in [pool.submit(send, n) for n in order]:
        future.result()
listed = []
marker = 0
while True:
    page = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload, PartNumberMarker=marker, MaxParts=1000)
    listed += [p["PartNumber"] for p in page.get("Parts", [])]
    if not page.get("IsTruncated"):
        break
    marker = page["NextPartNumberMarker"]
if listed != list(range(1, parts + 1)):
    fail(f"ListParts named {listed}")
done = s3.complete_multipart_upload(
    Bucket=bucket, Key=key, UploadId=upload,
    MultipartUpload={"Parts": [{"PartNumber": n, "ETag": '"' + digests[n].hex() + '"'} for n in range(1, parts + 1)]})
want_etag = '"' + hashlib.md5(b"".join(digests[n] for n in range(1, parts + 1))).hexdigest() + f'-{parts}"'
if done["ETag"] != want_etag:
    fail(f"the completed object's ETag is {done['ETag']}, expected {want_etag}")
elapsed = time.monotonic() - started
print(f"ok uploaded {total} bytes in {parts} parts, {threads} at a time, out of order: "
      f"{total / MIB / elapsed:.1f} MiB/s", flush=True)

head = s3.head_object(Bucket=bucket, Key=key)
if head["ContentLength"] != total or head["ETag"] != want_etag:
    fail(f"HEAD says {head['ContentLength']} bytes, ETag {head['ETag']}")

started = time.monotonic()
body = s3.get_object(Bucket=bucket, Key=key)["Body"]
at = 0
digest = hashlib.md5()
while True:
    chunk = body.read(4 * MIB)
    if not chunk:
        break
    difference = first_difference(chunk, at)
    if difference:
        fail("GET of the whole object " + difference)
    at += len(chunk)
if at != total:
    fail(f"GET of the whole object returned {at} bytes of {total}")
elapsed = time.monotonic() - started
print(f"ok read back whole and checked block by block: {total / MIB / elapsed:.1f} MiB/s", flush=True)

for first, last in [((1 << 31) - 5000, (1 << 31) + 5000), ((1 << 31) - 1, (1 << 31)),
                    (part_size * (parts - 1) - 3, part_size * (parts - 1) + 2), (total - 1000, total - 1)]:
    got = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")
    data = got["Body"].read()
    if got["ContentRange"] != f"bytes {first}-{last}/{total}" or len(data) != last - first + 1:
        fail(f"Range {first}-{last}: Content-Range {got['ContentRange']}, {len(data)} bytes")
    difference = first_difference(data, first)
    if difference:
        fail(f"Range {first}-{last} " + difference)
print("ok ranged reads across the 2 GiB boundary and the last part's", flush=True)

last_part = s3.get_object(Bucket=bucket, Key=key, PartNumber=parts)
first_of_last = part_size * (parts - 1)
if last_part["ContentRange"] != f"bytes {first_of_last}-{total - 1}/{total}" or last_part["PartsCount"] != parts:
    fail(f"GET partNumber={parts}: Content-Range {last_part['ContentRange']}, PartsCount {last_part.get('PartsCount')}")
difference = first_difference(last_part["Body"].read(), first_of_last)
if difference:
    fail(f"GET partNumber={parts} " + difference)
print("ok GET of the last part by its number", flush=True)

s3.delete_object(Bucket=bucket, Key=key)
if s3.list_objects_v2(Bucket=bucket).get("KeyCount") != 0:
    fail("the object is still listed after its delete")
s3.delete_bucket(Bucket=bucket)
print("all multi-GiB checks passed", flush=True)
