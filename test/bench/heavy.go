package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// heavy generates the heavy mix: realistic kube-apiserver audit events of a
// busy production cluster, with the apiserver's key order.
type heavy struct {
	rng    *rand.Rand
	ids    *ids
	t0     time.Time
	n      int64
	actors []*actor
	nodes  []string
	w      jw
	tsOff  int
}

type actor struct {
	username, uid string
	groups        []string
	ua            string
	extra         [][2]string // user.extra of a pod-bound service-account token
	reason        string      // authorization.k8s.io/reason
}

type resource struct {
	name, group, version, kind string
	namespaced                 bool
}

var resources = []resource{
	{"leases", "coordination.k8s.io", "v1", "Lease", true},
	{"pods", "", "v1", "Pod", true},
	{"pods", "", "v1", "Pod", true},
	{"configmaps", "", "v1", "ConfigMap", true},
	{"secrets", "", "v1", "Secret", true},
	{"endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", true},
	{"events", "", "v1", "Event", true},
	{"nodes", "", "v1", "Node", false},
	{"deployments", "apps", "v1", "Deployment", true},
	{"replicasets", "apps", "v1", "ReplicaSet", true},
	{"services", "", "v1", "Service", true},
	{"serviceaccounts", "", "v1", "ServiceAccount", true},
	{"namespaces", "", "v1", "Namespace", false},
	{"subjectaccessreviews", "authorization.k8s.io", "v1", "SubjectAccessReview", false},
	{"certificates", "cert-manager.io", "v1", "Certificate", true},
}

var namespaces = []string{
	"kube-system", "default", "monitoring", "ingress-nginx", "cert-manager", "argocd",
	"payments", "checkout", "search", "platform-observability", "team-a", "team-b",
}

var appNames = []string{
	"api", "frontend", "checkout-worker", "payments-gateway", "search-indexer",
	"redis-cache", "kafka-connect", "prometheus-node-exporter", "coredns",
	"ingress-nginx-controller", "cert-manager-webhook", "argocd-repo-server",
}

const k8sVersion = "v1.34.4"

func newHeavy(seed uint64) *heavy {
	rng := rand.New(rand.NewPCG(seed, 0x6a09e667f3bcc908))
	h := &heavy{rng: rng, ids: newIDs(seed), t0: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
	for i := range 12 {
		h.nodes = append(h.nodes, fmt.Sprintf("ip-10-%d-%d-%d.eu-west-1.compute.internal", i%3, 16+rng.IntN(200), 2+rng.IntN(250)))
	}
	commit := randHex(rng, 7)
	for _, c := range []string{"endpointslice-controller", "replicaset-controller", "deployment-controller", "namespace-controller", "garbage-collector", "generic-garbage-collector", "resourcequota-controller", "node-controller"} {
		sa := "system:serviceaccount:kube-system:" + c
		h.actors = append(h.actors, &actor{
			username: sa, uid: uuid(rng),
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
			ua:     fmt.Sprintf("kube-controller-manager/%s (linux/amd64) kubernetes/%s/system:serviceaccount:kube-system:%s", k8sVersion, commit, c),
			reason: fmt.Sprintf(`RBAC: allowed by ClusterRoleBinding "system:controller:%s" of ClusterRole "system:controller:%s" to ServiceAccount "%s/kube-system"`, c, c, c),
		})
	}
	h.actors = append(h.actors,
		&actor{username: "system:kube-controller-manager", groups: []string{"system:authenticated"},
			ua:     fmt.Sprintf("kube-controller-manager/%s (linux/amd64) kubernetes/%s/leader-election", k8sVersion, commit),
			reason: `RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager"`},
		&actor{username: "system:kube-scheduler", groups: []string{"system:authenticated"},
			ua:     fmt.Sprintf("kube-scheduler/%s (linux/amd64) kubernetes/%s/scheduler", k8sVersion, commit),
			reason: `RBAC: allowed by ClusterRoleBinding "system:kube-scheduler" of ClusterRole "system:kube-scheduler" to User "system:kube-scheduler"`},
		&actor{username: "system:apiserver", uid: uuid(rng), groups: []string{"system:authenticated", "system:masters"},
			ua: fmt.Sprintf("kube-apiserver/%s (linux/amd64) kubernetes/%s", k8sVersion, commit)},
		&actor{username: "oidc:alice@example.com", groups: []string{"oidc:platform-team", "oidc:sre", "system:authenticated"},
			ua:     "kubectl/v1.34.1 (darwin/arm64) kubernetes/93d9dc5",
			reason: `RBAC: allowed by ClusterRoleBinding "platform-team-admin" of ClusterRole "cluster-admin" to Group "oidc:platform-team"`},
	)
	for _, n := range h.nodes {
		h.actors = append(h.actors, &actor{username: "system:node:" + n, groups: []string{"system:nodes", "system:authenticated"},
			ua: fmt.Sprintf("kubelet/%s (linux/amd64) kubernetes/%s", k8sVersion, commit)})
	}
	for _, p := range []struct{ ns, sa, ua string }{
		{"monitoring", "prometheus-k8s", "Prometheus/2.54.1"},
		{"kube-system", "coredns", "coredns/v1.11.3 (linux/amd64) kubernetes/2e4b5b4"},
		{"argocd", "argocd-application-controller", "argocd-application-controller/v2.12.3+7fca9ab (linux/amd64) kubernetes/$Format"},
		{"ingress-nginx", "ingress-nginx", "nginx-ingress-controller/v1.11.2 (linux/amd64) ingress-nginx/46e76e5916813cfca2a9b0bfdc34b69a0000f6b9"},
		{"cert-manager", "cert-manager", "cert-manager-controller/v1.15.3 (linux/amd64) cert-manager/fd5d3c3c"},
		{"platform-observability", "otel-collector", "otelcol-contrib/0.110.0 (linux/amd64)"},
	} {
		sa := fmt.Sprintf("system:serviceaccount:%s:%s", p.ns, p.sa)
		pod := fmt.Sprintf("%s-%s-%s", p.sa, randHex(rng, 10)[:10], randName(rng, 5))
		node := pick(rng, h.nodes)
		h.actors = append(h.actors, &actor{
			username: sa, uid: uuid(rng),
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + p.ns, "system:authenticated"},
			ua:     p.ua,
			extra: [][2]string{
				{"authentication.kubernetes.io/credential-id", "JTI=" + uuid(rng)},
				{"authentication.kubernetes.io/node-name", node},
				{"authentication.kubernetes.io/node-uid", uuid(rng)},
				{"authentication.kubernetes.io/pod-name", pod},
				{"authentication.kubernetes.io/pod-uid", uuid(rng)},
			},
			reason: fmt.Sprintf(`RBAC: allowed by ClusterRoleBinding "%s" of ClusterRole "%s" to ServiceAccount "%s/%s"`, p.sa, p.sa, p.sa, p.ns),
		})
	}
	return h
}

// next implements generator.
func (h *heavy) next(dst []byte) ([]byte, int, error) {
	h.n++
	h.w = jw{b: dst}
	switch r := h.rng.Float64(); {
	case r < 0.85:
		h.metadata()
	case r < 0.98:
		h.withObjects(logUniform(h.rng, 3<<10, 30<<10))
	default:
		// 100-500 KB: log-uniform up to 480 KB, plus the last item's
		// overshoot: a mean of ~245 KB, two thirds of the bytes at a mean
		// of ~7.3 KB per event.
		h.list(logUniform(h.rng, 100<<10, 480<<10))
	}
	return h.w.b, h.tsOff - len(dst), nil
}

func (h *heavy) now() time.Time { return h.t0.Add(time.Duration(h.n) * 731 * time.Microsecond) }

// ev is what varies between events; objects are written by callbacks.
type ev struct {
	level, stage, verb string
	act                *actor
	res                resource
	ns, name           string
	query              string
	subresource        string
	uid, rv            string // objectRef uid/resourceVersion (writes' ResponseComplete)
	code               int
	reqObj, respObj    func()
	extraAnnotations   [][2]string
}

func (h *heavy) event(e *ev) {
	w := &h.w
	w.open('{')
	w.ks("kind", "Event")
	w.ks("apiVersion", "audit.k8s.io/v1")
	w.ks("level", e.level)
	w.key("auditID")
	w.sep()
	w.b = append(w.b, '"')
	w.b = h.ids.appendNext(w.b)
	w.b = append(w.b, '"')
	w.comma = true
	w.ks("stage", e.stage)
	w.ks("requestURI", h.uri(e))
	w.ks("verb", e.verb)
	w.obj("user")
	w.ks("username", e.act.username)
	if e.act.uid != "" {
		w.ks("uid", e.act.uid)
	}
	w.strs("groups", e.act.groups...)
	if len(e.act.extra) > 0 {
		w.obj("extra")
		for _, kv := range e.act.extra {
			w.strs(kv[0], kv[1])
		}
		w.close('}')
	}
	w.close('}')
	w.strs("sourceIPs", "10.0."+strconv.Itoa(h.rng.IntN(4))+"."+strconv.Itoa(2+h.rng.IntN(250)))
	w.ks("userAgent", e.act.ua)
	w.obj("objectRef")
	w.ks("resource", e.res.name)
	if e.ns != "" {
		w.ks("namespace", e.ns)
	}
	if e.name != "" {
		w.ks("name", e.name)
	}
	if e.uid != "" {
		w.ks("uid", e.uid)
	}
	if e.res.group != "" {
		w.ks("apiGroup", e.res.group)
	}
	w.ks("apiVersion", e.res.version)
	if e.rv != "" {
		w.ks("resourceVersion", e.rv)
	}
	if e.subresource != "" {
		w.ks("subresource", e.subresource)
	}
	w.close('}')
	if e.stage != "RequestReceived" {
		w.obj("responseStatus")
		w.empty("metadata")
		if e.code >= 400 {
			w.ks("status", "Failure")
			reason := map[int]string{403: "Forbidden", 404: "NotFound", 409: "Conflict"}[e.code]
			switch e.code {
			case 404:
				w.ks("message", fmt.Sprintf("%s %q not found", e.res.name, e.name))
			case 409:
				w.ks("message", fmt.Sprintf("Operation cannot be fulfilled on %s.%s %q: the object has been modified; please apply your changes to the latest version and try again", e.res.name, e.res.group, e.name))
			default:
				w.ks("message", fmt.Sprintf("%s %q is forbidden: User %q cannot %s resource %q in API group %q in the namespace %q", e.res.name, e.name, e.act.username, e.verb, e.res.name, e.res.group, e.ns))
			}
			w.ks("reason", reason)
			w.obj("details")
			w.ks("name", e.name)
			if e.res.group != "" {
				w.ks("group", e.res.group)
			}
			w.ks("kind", e.res.name)
			w.close('}')
		}
		w.ki("code", int64(e.code))
		w.close('}')
	}
	if e.reqObj != nil {
		w.key("requestObject")
		e.reqObj()
	}
	if e.respObj != nil {
		w.key("responseObject")
		e.respObj()
	}
	now := h.now()
	w.key("requestReceivedTimestamp")
	w.sep()
	w.b = append(w.b, '"')
	w.b = appendTimestamp(w.b, now.Add(-time.Duration(1+h.rng.IntN(20000))*time.Microsecond))
	w.b = append(w.b, '"')
	w.comma = true
	w.key("stageTimestamp")
	w.sep()
	w.b = append(w.b, '"')
	h.tsOff = len(w.b)
	w.b = append(w.b, tsPlaceholder...)
	w.b = append(w.b, '"')
	w.comma = true
	if e.stage != "RequestReceived" {
		w.obj("annotations")
		w.ks("authorization.k8s.io/decision", map[bool]string{true: "allow", false: "forbid"}[e.code != 403])
		w.ks("authorization.k8s.io/reason", e.act.reason)
		for _, kv := range e.extraAnnotations {
			w.ks(kv[0], kv[1])
		}
		w.close('}')
	}
	w.close('}')
}

func (h *heavy) uri(e *ev) string {
	var sb strings.Builder
	if e.res.group == "" {
		sb.WriteString("/api/v1")
	} else {
		sb.WriteString("/apis/" + e.res.group + "/" + e.res.version)
	}
	if e.ns != "" {
		sb.WriteString("/namespaces/" + e.ns)
	}
	sb.WriteString("/" + e.res.name)
	if e.name != "" && e.verb != "list" && e.verb != "watch" && e.verb != "create" {
		sb.WriteString("/" + e.name)
	}
	if e.subresource != "" {
		sb.WriteString("/" + e.subresource)
	}
	sb.WriteString(e.query)
	return sb.String()
}

func (h *heavy) objName(res resource) string {
	switch res.name {
	case "nodes":
		return pick(h.rng, h.nodes)
	case "namespaces":
		return pick(h.rng, namespaces)
	case "leases":
		return pick(h.rng, []string{"kube-controller-manager", "kube-scheduler", "cert-manager-controller", "ingress-nginx-leader"})
	}
	return pick(h.rng, appNames) + "-" + randHex(h.rng, 10) + "-" + randName(h.rng, 5)
}

var metaVerbs = []string{"get", "get", "get", "get", "get", "get", "get", "list", "list", "list", "watch", "watch", "watch", "update", "update", "update", "patch", "patch", "create", "delete"}

// metadata writes a Metadata-level event (~1 KB).
func (h *heavy) metadata() {
	e := &ev{level: "Metadata", stage: "ResponseComplete", act: pick(h.rng, h.actors), res: pick(h.rng, resources), code: 200}
	e.verb = pick(h.rng, metaVerbs)
	if e.res.namespaced {
		e.ns = pick(h.rng, namespaces)
	}
	switch e.verb {
	case "list":
		e.query = "?limit=500&resourceVersion=0"
	case "watch":
		e.query = fmt.Sprintf("?allowWatchBookmarks=true&resourceVersion=%d&timeout=%dm%ds&timeoutSeconds=%d&watch=true", 4000000+h.rng.IntN(1000000), 5+h.rng.IntN(4), h.rng.IntN(60), 300+h.rng.IntN(240))
		if h.rng.IntN(2) == 0 {
			e.stage = "ResponseStarted"
		}
	default:
		e.name = h.objName(e.res)
	}
	switch e.verb {
	case "create":
		e.code = 201
		e.name = h.objName(e.res)
	case "update", "patch":
		e.uid, e.rv = uuid(h.rng), strconv.Itoa(4000000+h.rng.IntN(1000000))
		if h.rng.IntN(40) == 0 {
			e.code = 409
		}
		if e.res.name == "pods" && h.rng.IntN(2) == 0 {
			e.subresource = "status"
		}
	case "get":
		if h.rng.IntN(15) == 0 {
			e.code = 404
		}
	}
	if h.rng.IntN(50) == 0 {
		e.extraAnnotations = [][2]string{
			{"apiserver.latency.k8s.io/etcd", fmt.Sprintf("%d.%03dms", 400+h.rng.IntN(300), h.rng.IntN(1000))},
			{"apiserver.latency.k8s.io/response-write", fmt.Sprintf("%d.%dµs", 1+h.rng.IntN(9), h.rng.IntN(10))},
			{"apiserver.latency.k8s.io/serialize-response-object", fmt.Sprintf("%d.%03dms", h.rng.IntN(3), h.rng.IntN(1000))},
			{"apiserver.latency.k8s.io/total", fmt.Sprintf("%d.%03dms", 500+h.rng.IntN(500), h.rng.IntN(1000))},
		}
	}
	h.event(e)
}

// withObjects writes an event with request and/or response objects of about
// size bytes in all.
func (h *heavy) withObjects(size int) {
	// A pod create carries two pod bodies (7.5 KB at least), a deployment
	// update one (4.3 KB at least); a configmap apply can be small.
	switch {
	case size < 4500:
		h.withObjectsKind(size, 2)
	case size < 8000:
		h.withObjectsKind(size, 1+h.rng.IntN(2))
	default:
		h.withObjectsKind(size, h.rng.IntN(3))
	}
}

func (h *heavy) withObjectsKind(size, kind int) {
	ns := pick(h.rng, namespaces[2:])
	app := pick(h.rng, appNames)
	switch kind {
	case 0: // pod create, RequestResponse: both bodies
		name := app + "-" + randHex(h.rng, 10) + "-" + randName(h.rng, 5)
		env := max(0, (size-7500)/240) // calibrated: bytes per env entry in both bodies and managedFields
		p := h.podSpec(app, env)
		e := &ev{level: "RequestResponse", stage: "ResponseComplete", verb: "create", code: 201,
			act: h.actors[1], res: resources[1], ns: ns, name: name,
			extraAnnotations: [][2]string{{"pod-security.kubernetes.io/enforce-policy", "baseline:latest"}}}
		e.reqObj = func() { h.pod(ns, name, app, p, false) }
		e.respObj = func() { h.pod(ns, name, app, p, true) }
		h.event(e)
	case 1: // deployment update, Request level: the request body
		env := max(0, (size-4300)/81)
		p := h.podSpec(app, env)
		e := &ev{level: "Request", stage: "ResponseComplete", verb: "update", code: 200,
			act: h.actors[len(h.actors)-1-h.rng.IntN(6)], res: resources[8], ns: ns, name: app,
			uid: uuid(h.rng), rv: strconv.Itoa(4000000 + h.rng.IntN(1000000))}
		e.reqObj = func() { h.deployment(ns, app, p) }
		h.event(e)
	default: // configmap apply, RequestResponse
		keys := max(1, (size-2000)/950)
		e := &ev{level: "RequestResponse", stage: "ResponseComplete", verb: "patch", code: 200,
			act: h.actors[len(h.actors)-5], res: resources[3], ns: ns, name: app + "-config",
			uid: uuid(h.rng), rv: strconv.Itoa(4000000 + h.rng.IntN(1000000)),
			query: "?fieldManager=argocd-controller&force=true"}
		seed := h.rng.Uint64()
		e.reqObj = func() { h.configMap(ns, app+"-config", keys, seed, false) }
		e.respObj = func() { h.configMap(ns, app+"-config", keys, seed, true) }
		h.event(e)
	}
}

// list writes a list response of about size bytes (a PodList or a
// ConfigMapList).
func (h *heavy) list(size int) {
	e := &ev{level: "RequestResponse", stage: "ResponseComplete", verb: "list", code: 200,
		act: pick(h.rng, h.actors[len(h.actors)-6:]), query: "?limit=500&resourceVersion=0"}
	w := &h.w
	pods := h.rng.IntN(3) != 0
	if pods {
		e.res = resources[1]
	} else {
		e.res = resources[3]
	}
	if h.rng.IntN(2) == 0 {
		e.ns = pick(h.rng, namespaces)
	}
	e.respObj = func() {
		start := len(w.b)
		w.open('{')
		if pods {
			w.ks("kind", "PodList")
		} else {
			w.ks("kind", "ConfigMapList")
		}
		w.ks("apiVersion", "v1")
		w.obj("metadata")
		w.ks("resourceVersion", strconv.Itoa(4000000+h.rng.IntN(1000000)))
		w.close('}')
		w.arr("items")
		for len(w.b)-start < size {
			ns := e.ns
			if ns == "" {
				ns = pick(h.rng, namespaces)
			}
			app := pick(h.rng, appNames)
			if pods {
				h.pod(ns, app+"-"+randHex(h.rng, 10)+"-"+randName(h.rng, 5), app, h.podSpec(app, h.rng.IntN(12)), true)
			} else {
				h.configMap(ns, app+"-"+randName(h.rng, 6), 1+h.rng.IntN(8), h.rng.Uint64(), true)
			}
		}
		w.close(']')
		w.close('}')
	}
	h.event(e)
}

// spec is what a pod's request and response share.
type spec struct {
	image, sa, node, hash string
	env                   [][2]string
	port                  int64
	volume                string
}

func (h *heavy) podSpec(app string, env int) *spec {
	s := &spec{
		image:  fmt.Sprintf("registry.example.com/%s/%s:1.%d.%d", pick(h.rng, []string{"platform", "payments", "search"}), app, h.rng.IntN(30), h.rng.IntN(10)),
		sa:     app,
		node:   pick(h.rng, h.nodes),
		hash:   randHex(h.rng, 10),
		port:   int64(8000 + h.rng.IntN(100)),
		volume: "kube-api-access-" + randName(h.rng, 5),
	}
	for range env {
		k := strings.ToUpper(strings.ReplaceAll(pick(h.rng, appNames), "-", "_")) + "_" + pick(h.rng, []string{"URL", "TIMEOUT", "POOL_SIZE", "FEATURE_FLAGS", "ENDPOINT", "LOG_LEVEL"})
		v := pick(h.rng, []string{
			"https://" + pick(h.rng, appNames) + "." + pick(h.rng, namespaces) + ".svc.cluster.local:8443/v1",
			strconv.Itoa(h.rng.IntN(10000)) + "ms",
			"enable-" + randName(h.rng, 6) + ",disable-" + randName(h.rng, 8) + ",canary=" + strconv.Itoa(h.rng.IntN(100)),
			randHex(h.rng, 32),
		})
		s.env = append(s.env, [2]string{k, v})
	}
	return s
}

// pod writes a Pod; full adds what the server sets (uid, managedFields,
// status).
func (h *heavy) pod(ns, name, app string, s *spec, full bool) {
	w := &h.w
	w.open('{')
	w.ks("kind", "Pod")
	w.ks("apiVersion", "v1")
	w.obj("metadata")
	w.ks("name", name)
	w.ks("generateName", name[:len(name)-5])
	w.ks("namespace", ns)
	if full {
		w.ks("uid", uuid(h.rng))
		w.ks("resourceVersion", strconv.Itoa(4000000+h.rng.IntN(1000000)))
		w.ks("creationTimestamp", "2026-11-21T"+fmt.Sprintf("%02d:%02d:%02dZ", h.rng.IntN(24), h.rng.IntN(60), h.rng.IntN(60)))
	}
	w.obj("labels")
	w.ks("app.kubernetes.io/name", app)
	w.ks("app.kubernetes.io/part-of", "shop")
	w.ks("pod-template-hash", s.hash)
	w.close('}')
	w.obj("annotations")
	w.ks("kubectl.kubernetes.io/restartedAt", "2026-11-20T08:15:03Z")
	w.ks("prometheus.io/scrape", "true")
	w.ks("prometheus.io/port", strconv.FormatInt(s.port, 10))
	w.close('}')
	w.arr("ownerReferences")
	w.open('{')
	w.ks("apiVersion", "apps/v1")
	w.ks("kind", "ReplicaSet")
	w.ks("name", app+"-"+s.hash)
	w.ks("uid", uuid(h.rng))
	w.kb("controller", true)
	w.kb("blockOwnerDeletion", true)
	w.close('}')
	w.close(']')
	if full {
		w.arr("managedFields")
		w.open('{')
		w.ks("manager", "kube-controller-manager")
		w.ks("operation", "Update")
		w.ks("apiVersion", "v1")
		w.ks("time", "2026-11-21T10:00:00Z")
		w.ks("fieldsType", "FieldsV1")
		w.obj("fieldsV1")
		w.obj("f:metadata")
		w.obj("f:labels")
		w.empty(".")
		w.empty("f:app.kubernetes.io/name")
		w.empty("f:pod-template-hash")
		w.close('}')
		w.obj("f:ownerReferences")
		w.empty(".")
		w.empty(`k:{\"uid\":\"` + uuid(h.rng) + `\"}`)
		w.close('}')
		w.close('}')
		w.obj("f:spec")
		w.obj("f:containers")
		w.obj(`k:{\"name\":\"app\"}`)
		w.empty(".")
		if len(s.env) > 0 {
			w.obj("f:env")
			w.empty(".")
			for _, kv := range s.env {
				w.obj(`k:{\"name\":\"` + kv[0] + `\"}`)
				w.empty(".")
				w.empty("f:name")
				w.empty("f:value")
				w.close('}')
			}
			w.close('}')
		}
		for _, f := range []string{"f:image", "f:imagePullPolicy", "f:name", "f:ports", "f:resources", "f:terminationMessagePath", "f:terminationMessagePolicy"} {
			w.empty(f)
		}
		w.close('}')
		w.close('}')
		for _, f := range []string{"f:dnsPolicy", "f:enableServiceLinks", "f:restartPolicy", "f:schedulerName", "f:securityContext", "f:serviceAccount", "f:serviceAccountName", "f:terminationGracePeriodSeconds"} {
			w.empty(f)
		}
		w.close('}')
		w.close('}')
		w.close('}')
		w.close(']')
	}
	w.close('}')
	w.obj("spec")
	w.arr("volumes")
	w.open('{')
	w.ks("name", s.volume)
	w.obj("projected")
	w.arr("sources")
	w.open('{')
	w.obj("serviceAccountToken")
	w.ki("expirationSeconds", 3607)
	w.ks("path", "token")
	w.close('}')
	w.close('}')
	w.open('{')
	w.obj("configMap")
	w.ks("name", "kube-root-ca.crt")
	w.arr("items")
	w.open('{')
	w.ks("key", "ca.crt")
	w.ks("path", "ca.crt")
	w.close('}')
	w.close(']')
	w.close('}')
	w.close('}')
	w.close(']')
	w.ki("defaultMode", 420)
	w.close('}')
	w.close('}')
	w.close(']')
	w.arr("containers")
	w.open('{')
	w.ks("name", "app")
	w.ks("image", s.image)
	w.arr("ports")
	w.open('{')
	w.ks("name", "http")
	w.ki("containerPort", s.port)
	w.ks("protocol", "TCP")
	w.close('}')
	w.close(']')
	if len(s.env) > 0 {
		w.arr("env")
		for _, kv := range s.env {
			w.open('{')
			w.ks("name", kv[0])
			w.ks("value", kv[1])
			w.close('}')
		}
		w.close(']')
	}
	w.obj("resources")
	w.obj("limits")
	w.ks("cpu", "1")
	w.ks("memory", "512Mi")
	w.close('}')
	w.obj("requests")
	w.ks("cpu", "250m")
	w.ks("memory", "256Mi")
	w.close('}')
	w.close('}')
	w.arr("volumeMounts")
	w.open('{')
	w.ks("name", s.volume)
	w.kb("readOnly", true)
	w.ks("mountPath", "/var/run/secrets/kubernetes.io/serviceaccount")
	w.close('}')
	w.close(']')
	w.obj("readinessProbe")
	w.obj("httpGet")
	w.ks("path", "/healthz")
	w.ki("port", s.port)
	w.ks("scheme", "HTTP")
	w.close('}')
	w.ki("timeoutSeconds", 1)
	w.ki("periodSeconds", 10)
	w.ki("successThreshold", 1)
	w.ki("failureThreshold", 3)
	w.close('}')
	w.ks("terminationMessagePath", "/dev/termination-log")
	w.ks("terminationMessagePolicy", "File")
	w.ks("imagePullPolicy", "IfNotPresent")
	w.obj("securityContext")
	w.kb("runAsNonRoot", true)
	w.kb("allowPrivilegeEscalation", false)
	w.close('}')
	w.close('}')
	w.close(']')
	w.ks("restartPolicy", "Always")
	w.ki("terminationGracePeriodSeconds", 30)
	w.ks("dnsPolicy", "ClusterFirst")
	w.ks("serviceAccountName", s.sa)
	w.ks("serviceAccount", s.sa)
	if full {
		w.ks("nodeName", s.node)
	}
	w.empty("securityContext")
	w.ks("schedulerName", "default-scheduler")
	w.arr("tolerations")
	for _, t := range []string{"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"} {
		w.open('{')
		w.ks("key", t)
		w.ks("operator", "Exists")
		w.ks("effect", "NoExecute")
		w.ki("tolerationSeconds", 300)
		w.close('}')
	}
	w.close(']')
	w.ki("priority", 0)
	w.kb("enableServiceLinks", true)
	w.ks("preemptionPolicy", "PreemptLowerPriority")
	w.close('}')
	w.obj("status")
	if full {
		ip := fmt.Sprintf("10.244.%d.%d", h.rng.IntN(64), 2+h.rng.IntN(250))
		w.ks("phase", "Running")
		w.arr("conditions")
		for _, c := range []string{"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"} {
			w.open('{')
			w.ks("type", c)
			w.ks("status", "True")
			w.key("lastProbeTime")
			w.raw([]byte("null"))
			w.ks("lastTransitionTime", "2026-11-21T10:00:03Z")
			w.close('}')
		}
		w.close(']')
		w.ks("hostIP", "10.0.1.17")
		w.arr("hostIPs")
		w.open('{')
		w.ks("ip", "10.0.1.17")
		w.close('}')
		w.close(']')
		w.ks("podIP", ip)
		w.arr("podIPs")
		w.open('{')
		w.ks("ip", ip)
		w.close('}')
		w.close(']')
		w.ks("startTime", "2026-11-21T10:00:00Z")
		w.arr("containerStatuses")
		w.open('{')
		w.ks("name", "app")
		w.obj("state")
		w.obj("running")
		w.ks("startedAt", "2026-11-21T10:00:02Z")
		w.close('}')
		w.close('}')
		w.empty("lastState")
		w.kb("ready", true)
		w.ki("restartCount", 0)
		w.ks("image", s.image)
		w.ks("imageID", s.image[:strings.LastIndexByte(s.image, ':')]+"@sha256:"+randHex(h.rng, 64))
		w.ks("containerID", "containerd://"+randHex(h.rng, 64))
		w.kb("started", true)
		w.close('}')
		w.close(']')
		w.ks("qosClass", "Burstable")
	}
	w.close('}')
	w.close('}')
}

// deployment writes a Deployment whose template is s.
func (h *heavy) deployment(ns, app string, s *spec) {
	w := &h.w
	w.open('{')
	w.ks("kind", "Deployment")
	w.ks("apiVersion", "apps/v1")
	w.obj("metadata")
	w.ks("name", app)
	w.ks("namespace", ns)
	w.ks("uid", uuid(h.rng))
	w.ks("resourceVersion", strconv.Itoa(4000000+h.rng.IntN(1000000)))
	w.ki("generation", int64(1+h.rng.IntN(40)))
	w.ks("creationTimestamp", "2026-10-02T09:12:44Z")
	w.obj("labels")
	w.ks("app.kubernetes.io/instance", app)
	w.ks("app.kubernetes.io/name", app)
	w.close('}')
	w.obj("annotations")
	w.ks("deployment.kubernetes.io/revision", strconv.Itoa(1+h.rng.IntN(40)))
	w.close('}')
	w.close('}')
	w.obj("spec")
	w.ki("replicas", int64(2+h.rng.IntN(6)))
	w.obj("selector")
	w.obj("matchLabels")
	w.ks("app.kubernetes.io/name", app)
	w.close('}')
	w.close('}')
	w.key("template")
	h.pod(ns, app+"-xxxxx", app, s, false)
	w.obj("strategy")
	w.ks("type", "RollingUpdate")
	w.obj("rollingUpdate")
	w.ks("maxUnavailable", "25%")
	w.ks("maxSurge", "25%")
	w.close('}')
	w.close('}')
	w.ki("revisionHistoryLimit", 10)
	w.ki("progressDeadlineSeconds", 600)
	w.close('}')
	w.obj("status")
	w.close('}')
	w.close('}')
}

// configMap writes a ConfigMap with keys files of ~400 bytes of config text
// (newlines and quotes escaped), deterministic in seed.
func (h *heavy) configMap(ns, name string, keys int, seed uint64, full bool) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := &h.w
	w.open('{')
	w.ks("kind", "ConfigMap")
	w.ks("apiVersion", "v1")
	w.obj("metadata")
	w.ks("name", name)
	w.ks("namespace", ns)
	if full {
		w.ks("uid", uuid(rng))
		w.ks("resourceVersion", strconv.Itoa(4000000+rng.IntN(1000000)))
		w.ks("creationTimestamp", "2026-10-02T09:12:44Z")
	}
	w.obj("labels")
	w.ks("app.kubernetes.io/managed-by", "argocd")
	w.close('}')
	w.close('}')
	w.obj("data")
	var sb strings.Builder
	for k := range keys {
		sb.Reset()
		for sb.Len() < 400 {
			fmt.Fprintf(&sb, "%s.%s = \"%s\"\n", pick(rng, []string{"server", "cache", "db", "auth", "log"}), pick(rng, []string{"timeout", "url", "level", "pool", "retries"}), randName(rng, 4+rng.IntN(20)))
		}
		w.ks(fmt.Sprintf("%s-%d.conf", pick(rng, []string{"app", "envoy", "nginx", "logging"}), k), sb.String())
	}
	w.close('}')
	w.close('}')
}
