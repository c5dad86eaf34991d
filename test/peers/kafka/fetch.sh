#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars (org.apache.kafka:kafka_2.13) from Maven Central
# with the ordinary `mvn` client, plus an SLF4J binding matching the resolved slf4j-api.
#
# Env:
#   KAFKA_VERSION  default 4.1.1
#   KAFKA_CACHE    cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/kafka)
#   KAFKA_M2       optional maven local repo (-Dmaven.repo.local); default: mvn's own (~/.m2)
# Output (stdout, last line): the lib directory, e.g. $KAFKA_CACHE/4.1.1/lib
# Idempotent: a completed fetch leaves $KAFKA_CACHE/$KAFKA_VERSION/.complete and later
# runs return at once.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_CACHE="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubetrail/kafka}"
dest="$KAFKA_CACHE/$KAFKA_VERSION"

if [[ -f "$dest/.complete" ]]; then
  echo "$dest/lib"
  exit 0
fi

command -v mvn >/dev/null || { echo "fetch.sh: mvn not found" >&2; exit 1; }
command -v java >/dev/null || { echo "fetch.sh: java not found (Kafka 4.x needs Java 17+)" >&2; exit 1; }

mkdir -p "$KAFKA_CACHE"
tmp="$(mktemp -d "$KAFKA_CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kubetrail</groupId><artifactId>kafka-classpath</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF

mvnargs=(-B -q -f "$tmp/pom.xml")
[[ -n "${KAFKA_M2:-}" ]] && mvnargs+=("-Dmaven.repo.local=$KAFKA_M2")

start=$SECONDS
echo "fetch.sh: resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION ..." >&2
mvn "${mvnargs[@]}" dependency:copy-dependencies -DincludeScope=runtime \
  -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1 || { cat "$tmp/mvn.log" >&2; exit 1; }

# SLF4J binding matching the slf4j-api that Kafka's pom resolved (1.7.36 for 4.1.x).
api="$(cd "$tmp/lib" && ls slf4j-api-*.jar 2>/dev/null | head -1)"
slf4j_version="${api#slf4j-api-}"; slf4j_version="${slf4j_version%.jar}"
[[ -n "$slf4j_version" ]] || { echo "fetch.sh: no slf4j-api in resolved classpath" >&2; exit 1; }
mvn "${mvnargs[@]}" dependency:copy -Dartifact="org.slf4j:slf4j-simple:$slf4j_version" \
  -DoutputDirectory="$tmp/lib" >>"$tmp/mvn.log" 2>&1 || { cat "$tmp/mvn.log" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest"
mv "$tmp/lib" "$dest/lib"
echo "$KAFKA_VERSION slf4j=$slf4j_version jars=$(ls "$dest/lib" | wc -l) size=$(du -sh "$dest/lib" | cut -f1) secs=$((SECONDS - start))" >"$dest/.complete"
echo "fetch.sh: $(cat "$dest/.complete")" >&2
echo "$dest/lib"
