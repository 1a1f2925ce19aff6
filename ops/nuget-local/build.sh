#!/usr/bin/env bash
# Rebuilds the redirect package from its nuspec (a .nupkg is a zip with the .nuspec at its root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/patched.distributedlock.core.1.0.11.nupkg"
rm -f "$out"
python3 - "$here/src/Patched.DistributedLock.Core.nuspec" "$out" <<'PY'
import sys, zipfile
nuspec, out = sys.argv[1], sys.argv[2]
ct = ('<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="nuspec" ContentType="application/octet" /></Types>')
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    z.write(nuspec, "Patched.DistributedLock.Core.nuspec")
    z.writestr("[Content_Types].xml", ct)
PY
echo "$out"
