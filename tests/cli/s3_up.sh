#!/usr/bin/env bash
# `kuiga up` with its images in a real Ceph RGW (the CTest fixture's): the CLI's S3 options,
# credentials from a file, a demo run whose image goes to the bucket and back.
set -euo pipefail
kuiga=${1:?kuiga binary}
work=${2:?work directory}
rgw=${KUIGA_TEST_RGW_DIR:?run through ctest: the rgw fixture sets KUIGA_TEST_RGW_DIR}
# shellcheck disable=SC1091
. "$rgw/env"
rm -rf "$work"
mkdir -p "$work"
umask 077
cat >"$work/credentials" <<CREDS
[kuiga]
aws_access_key_id = $S3_ADMIN_KEY
aws_secret_access_key = $S3_ADMIN_SECRET
CREDS
bucket=kuiga-cli-$$
# The bucket is the operator's to make (the master never creates one).
curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -u "$S3_ADMIN_KEY:$S3_ADMIN_SECRET" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT "$S3_ENDPOINT/$bucket" >/dev/null

fail() {
  echo "s3_up: $*" >&2
  exit 1
}

# No credentials anywhere: a clear error before anything starts.
if out=$(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$kuiga" up --port 0 \
  --data "$work/none" --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$bucket" 2>&1); then
  fail "kuiga up started without S3 credentials"
fi
grep -q "no S3 credentials" <<<"$out" || fail "unclear error: $out"
# A bucket that is not there.
if out=$("$kuiga" up --port 0 --data "$work/none" --s3-endpoint "$S3_ENDPOINT" \
  --s3-bucket kuiga-absent --s3-credentials "$work/credentials" --s3-profile kuiga 2>&1); then
  fail "kuiga up started without its bucket"
fi
grep -q "bucket 'kuiga-absent' does not exist" <<<"$out" || fail "unclear error: $out"

out=$("$kuiga" up --demo 3 --demo-seconds 1 --port 0 --data "$work/data" --name ktcli3 \
  --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$bucket" --s3-credentials "$work/credentials" \
  --s3-profile kuiga 2>&1) || fail "kuiga up --demo failed: $out"
grep -q "images in S3 bucket '$bucket'" <<<"$out" || fail "the master did not use S3: $out"
grep -Eq "Summary: deadline jitter .* of 3 devices" <<<"$out" || fail "no demo summary: $out"
[[ ! -e "$work/data/images" ]] || fail "the master kept images locally"
listing=$(curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" -u "$S3_ADMIN_KEY:$S3_ADMIN_SECRET" \
  -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/$bucket?list-type=2")
count=$(grep -o "<Key>sha256/[0-9a-f]*</Key>" <<<"$listing" | wc -l)
[[ $count == 2 ]] || fail "expected the AUT and the manifest in the bucket, found $count: $listing"
echo "s3_up: ok ($count blobs in $bucket)"
