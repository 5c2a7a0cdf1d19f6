"""Corrections to moto 5.2.5 where it answers unlike AWS, applied (idempotently)
by start-moto.sh to the installed package. Each is a fact of AWS's API that
moto's data gets wrong; none changes what moto emulates otherwise.

- GetBucketVersioning: AWS answers `<VersioningConfiguration>`; moto's S3
  extras lack the operation's result wrapper, so it answers
  `<GetBucketVersioningResponse>`, which strict clients (the Rust SDK) refuse.
"""
import gzip
import json
import pathlib

import moto.s3

extras = pathlib.Path(moto.s3.__file__).parent / "2006-03-01" / "service-2.moto-extras.json.gz"
data = json.loads(gzip.decompress(extras.read_bytes()))
operations = data["merge"]["operations"]
wanted = {"GetBucketVersioning": {"output": {"resultWrapper": "VersioningConfiguration"}}}
if any(operations.get(op) != fix for op, fix in wanted.items()):
    operations.update(wanted)
    extras.write_bytes(gzip.compress(json.dumps(data).encode()))
    print("moto: corrected", ", ".join(wanted))
