#!/usr/bin/env bash
# Vendor Leaflet into the console's static folder (the console needs no CDN at run time,
# and `pip install .` works offline because the files are committed).
#
# Fetches the pinned tarball from the npm registry, checks it against the pinned
# sha512 (the registry's `dist.integrity` for this version), and copies dist/leaflet.js,
# dist/leaflet.css, dist/images/ and LICENSE into
# burgerwacht/console/static/vendor/leaflet-<version>/. Run it only to change the
# version: then update VERSION and INTEGRITY together (`npm view leaflet@X
# dist.integrity`), and the path in console/api.py (LEAFLET) and in the console's HTML.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.9.4
INTEGRITY="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
URL="https://registry.npmjs.org/leaflet/-/leaflet-${VERSION}.tgz"
DEST="burgerwacht/console/static/vendor/leaflet-${VERSION}"  # the version in the path: cached as immutable

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "vendor-leaflet: fetching leaflet ${VERSION}" >&2
curl --fail --silent --show-error --location --max-time 120 -o "$WORK/leaflet.tgz" "$URL"

ACTUAL="sha512-$(openssl dgst -sha512 -binary "$WORK/leaflet.tgz" | base64 -w0)"
if [ "$ACTUAL" != "$INTEGRITY" ]; then
    echo "vendor-leaflet: integrity mismatch for $URL" >&2
    echo "  expected $INTEGRITY" >&2
    echo "  got      $ACTUAL" >&2
    exit 1
fi

tar -xzf "$WORK/leaflet.tgz" -C "$WORK"
rm -rf "$DEST"
mkdir -p "$DEST/images"
cp "$WORK/package/dist/leaflet.js" "$WORK/package/dist/leaflet.css" "$DEST/"
cp "$WORK/package/dist/images/"*.png "$DEST/images/"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
printf 'leaflet %s\n%s\n%s\n' "$VERSION" "$URL" "$INTEGRITY" >"$DEST/VERSION"
echo "vendor-leaflet: leaflet ${VERSION} in $DEST" >&2
