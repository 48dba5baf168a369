#!/usr/bin/env bash
# Copy the front-end libraries installed by npm into static/vendor/ (served by Django/whitenoise).
set -euo pipefail
out=static/vendor
rm -rf "$out" && mkdir -p "$out"
cp node_modules/htmx.org/dist/htmx.min.js "$out/"
