#!/usr/bin/env bash
# Fetch a real Elasticsearch 8.19 node from Maven Central: the server jar,
# transport-netty4 and the test framework (whose MockNode starts a node
# without a distribution), and compile the two-class launcher beside this
# script. Idempotent: with everything cached, a second run is a no-op.
#
#   ES_CACHE     default ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/elasticsearch
#   ES_VERSION   default 8.19.21 (runs on Java 17)
#
# Cost on a fresh machine: 67 jars, 67 MB, about 17 s. Prints the cache dir
# (holding lib/ and classes/) on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VERSION="${ES_VERSION:-8.19.21}"
CACHE="${ES_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/elasticsearch}"
OUT="$CACHE/$VERSION"
if [ -f "$OUT/.complete" ] && [ "$OUT/classes/EsMain.class" -nt "$HERE/EsMain.java" ]; then
  echo "$OUT"
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn not found (apt-get install maven)" >&2; exit 1; }
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
if [ -f "$OUT/.complete" ]; then
  cp -al "$OUT/lib" "$WORK/lib"
else
  cat > "$WORK/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>es-fetch</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.elasticsearch.test</groupId><artifactId>framework</artifactId><version>$VERSION</version></dependency>
    <dependency><groupId>org.elasticsearch.plugin</groupId><artifactId>transport-netty4</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
POM
  if ! ( cd "$WORK" && mvn -B -q -Dmaven.repo.local="$WORK/m2" \
      dependency:copy-dependencies -DoutputDirectory="$WORK/lib" ) > "$WORK/mvn.log" 2>&1; then
    echo "fetch.sh: mvn failed:" >&2; cat "$WORK/mvn.log" >&2; exit 1
  fi
fi
JAVAC="${JAVA_HOME:+$JAVA_HOME/bin/}javac"
mkdir -p "$WORK/classes"
"$JAVAC" -nowarn -d "$WORK/classes" -cp "$WORK/lib/*" "$HERE/EsMain.java" "$HERE/EsNodeIT.java" >&2
rm -rf "$OUT"
mkdir -p "$OUT"
mv "$WORK/lib" "$WORK/classes" "$OUT/"
touch "$OUT/.complete"
echo "fetch.sh: $(ls "$OUT/lib" | wc -l) jars, $(du -sh "$OUT/lib" | cut -f1), $(( $(date +%s) - start ))s" >&2
echo "$OUT"
