# kubetrail developer targets. The benchmark is documented in README.md,
# section "Performance".
#
#   make bench          the whole benchmark (about 12 minutes on 2 cores):
#                       throughput, latency, steady-rate and idle CPU,
#                       memory, targets, CPU profiles
#   make bench-quick    the same at 1/8 size with one run each (a minute)
#   make bench-profile  only the profiles: the agent binary's CPU profile
#                       (agent run -cpuprofile) on the heavy and real mixes,
#                       allocation profiles of the pipeline run in process
#   make bench-smoke    the harness's tests, the agent binary included
#   make bench-kafka    the heavy and real mixes shipped to the Kafka output
#                       (KAFKA_CODECS, default "snappy none": the default
#                       compression, then none) instead of the file output;
#                       needs the broker of test/peers/kafka:
#                       eval "$$(test/peers/kafka/start.sh)" first
#   make bench-hec      the same to the splunk_hec output (gzip, its default,
#                       then none) and the HEC receiver of test/peers/splunkhec,
#                       HEC_SIZE per run (256MiB: the receiver takes 7-8 MiB/s):
#                       eval "$$(test/peers/splunkhec/start.sh)" first
#   make bench-codecs   the network outputs' codecs in process on the real
#                       corpus (CPU-s/GiB and ratio of every candidate: Kafka
#                       record batches, HEC envelopes, Elasticsearch bulk
#                       bodies); no peer needed
#
# BENCH_WORK holds the workload caches (about 2.3 GiB), the run directories
# (up to 3 GiB during a run) and report.md; RUNS is the repetitions.

GO         ?= go
BENCH_WORK ?= /tmp/kubetrail-bench
RUNS       ?= 3
KAFKA_CODECS ?= snappy none
HEC_SIZE   ?= 256MiB
BENCH_BIN  := $(BENCH_WORK)/kubetrail-bench
AGENT_BIN  := $(BENCH_WORK)/agent
PPROF_TOP  := $(GO) tool pprof -nodecount 25

.PHONY: bench bench-quick bench-profile bench-smoke bench-tools bench-kafka bench-hec bench-codecs e2e image

# The real kube-apiserver end to end (test/e2e/README.md). The first run
# builds kube-apiserver and kubectl (5-15 minutes, cached after).
e2e:
	eval "$$(test/peers/kube-apiserver/start.sh)" && $(GO) test -count=1 -v -run TestKubeAPIServer ./test/e2e/

# The agent image as an OCI archive, without a Docker engine (buildah).
image:
	test/image/build-oci.sh kubetrail-agent.tar

bench-tools:
	@mkdir -p $(BENCH_WORK)
	$(GO) build -o $(AGENT_BIN) ./cmd/agent
	$(GO) build -o $(BENCH_BIN) ./test/bench/cmd/kubetrail-bench

bench: bench-tools
	$(BENCH_BIN) suite -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs $(RUNS)
	@$(MAKE) --no-print-directory bench-profile

bench-quick: bench-tools
	$(BENCH_BIN) suite -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs 1 -scale 0.125 -prefault 0

bench-profile: bench-tools
	$(BENCH_BIN) run -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs 1 -mix heavy -size 1GiB \
		-agent-cpuprofile $(BENCH_WORK)/heavy.cpu.pprof
	$(BENCH_BIN) run -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs 1 -mix real -size 1GiB \
		-agent-cpuprofile $(BENCH_WORK)/real.cpu.pprof
	$(BENCH_BIN) profile -work $(BENCH_WORK) -mix heavy -size 1GiB -memprofile $(BENCH_WORK)/heavy.mem.pprof
	$(BENCH_BIN) profile -work $(BENCH_WORK) -mix biglines -size 256MiB -memprofile $(BENCH_WORK)/biglines.mem.pprof
	@for m in heavy real; do \
		echo; echo "== $$m mix, agent binary CPU profile (-cpuprofile): top by cumulative"; \
		$(PPROF_TOP) -top -cum $(AGENT_BIN) $(BENCH_WORK)/$$m.cpu.pprof | sed -n '/flat%/,$$p'; \
		echo; echo "== $$m mix, agent binary CPU profile: top by flat"; \
		$(PPROF_TOP) -top $(AGENT_BIN) $(BENCH_WORK)/$$m.cpu.pprof | sed -n '/flat%/,$$p'; \
	done
	@echo; echo "== heavy mix, in-process: bytes allocated over the run (workload generation left out)"
	@$(GO) tool pprof -sample_index alloc_space -ignore 'bench\.(generate|Prepare)' -nodecount 12 -top \
		$(BENCH_BIN) $(BENCH_WORK)/heavy.mem.pprof | sed -n '/flat%/,$$p'
	@echo; echo "== biglines mix, in-process: heap in use once every event was delivered"
	@$(GO) tool pprof -sample_index inuse_space -nodecount 12 -top \
		$(BENCH_BIN) $(BENCH_WORK)/biglines.mem.pprof | sed -n '/flat%/,$$p'

bench-smoke:
	KUBETRAIL_BENCH_AGENT=build $(GO) test -count=1 -v -run . ./test/bench/

bench-kafka: bench-tools
	@test -n "$(KAFKA_BOOTSTRAP)" || { echo 'KAFKA_BOOTSTRAP is unset: eval "$$(test/peers/kafka/start.sh)"'; exit 1; }
	@for mix in heavy real; do for c in $(KAFKA_CODECS); do \
		echo "== $$mix mix, kafka output, compression $$c"; \
		$(BENCH_BIN) run -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs $(RUNS) -mix $$mix -size 1GiB \
			-output-yaml "{type: kafka, brokers: [\"$(KAFKA_BOOTSTRAP)\"], topic: bench-%RUN%, compression: $$c}" || exit 1; \
	done; done

bench-hec: bench-tools
	@test -n "$(KUBETRAIL_HEC_ENDPOINT)" || { echo 'KUBETRAIL_HEC_ENDPOINT is unset: eval "$$(test/peers/splunkhec/start.sh)"'; exit 1; }
	@for mix in heavy real; do for c in gzip none; do \
		echo "== $$mix mix, splunk_hec output, compression $$c"; \
		$(BENCH_BIN) run -agent $(AGENT_BIN) -work $(BENCH_WORK) -runs $(RUNS) -mix $$mix -size $(HEC_SIZE) \
			-output-yaml "{type: splunk_hec, endpoint: \"$(KUBETRAIL_HEC_ENDPOINT)\", token: \"$(KUBETRAIL_HEC_TOKEN)\", compression: $$c}" || exit 1; \
	done; done

# -benchtime 20x: each iteration compresses the whole corpus (9 MiB).
bench-codecs:
	$(GO) test -run '^$$' -bench Compression -benchtime 20x -count $(RUNS) \
		./outputs/kafka/ ./outputs/splunkhec/ ./outputs/elasticsearch/
