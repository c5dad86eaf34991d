package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

const deployDir = "../../deploy/daemonset"

// kustomizations lists every kustomization under deploy/daemonset.
func kustomizations(t *testing.T) []string {
	var dirs []string
	err := filepath.WalkDir(deployDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 6, "base, 4 overlays, monitoring")
	return dirs
}

// manifests: every kustomization under deploy/daemonset passes a
// server-side dry run against the real apiserver; the pod of each DaemonSet
// is admitted in the namespace as labelled (Pod Security) and refused at
// baseline; every agent configuration passes `agent check`.
func (e *e2e) manifests(t *testing.T) {
	c := e.c
	// The namespace for real (a dry run does not keep it), with the
	// ServiceAccount the controller-manager (absent here) would create.
	_, err := c.kubectl("admin", nil, "apply", "-f", filepath.Join(deployDir, "base", "namespace.yaml"))
	require.NoError(t, err)
	_, err = c.kubectl("admin", nil, "-n", "kubetrail", "create", "serviceaccount", "default")
	require.NoError(t, err)
	// The Prometheus Operator CRDs the monitoring examples need.
	_, err = c.kubectl("admin", nil, "apply", "-f", "testdata/monitoring-crds.yaml")
	require.NoError(t, err)
	_, err = c.kubectl("admin", nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
	require.NoError(t, err)
	// A namespace at the baseline level, where the pod must be refused.
	_, err = c.kubectl("admin", nil, "create", "namespace", "kubetrail-baseline")
	require.NoError(t, err)
	_, err = c.kubectl("admin", nil, "label", "namespace", "kubetrail-baseline", "pod-security.kubernetes.io/enforce=baseline")
	require.NoError(t, err)
	_, err = c.kubectl("admin", nil, "-n", "kubetrail-baseline", "create", "serviceaccount", "default")
	require.NoError(t, err)

	agentBin, err := buildAgent()
	require.NoError(t, err)
	var pending []string
	for _, dir := range kustomizations(t) {
		rel, _ := filepath.Rel(deployDir, dir)
		t.Run(rel, func(t *testing.T) {
			out, err := c.kubectl("admin", nil, "apply", "--dry-run=server", "-k", dir)
			require.NoError(t, err)
			assert.NotContains(t, out, "Warning", "no warnings from the server")
			t.Logf("kubectl apply --dry-run=server -k %s:\n%s", rel, out)

			rendered, err := c.kubectl("admin", nil, "kustomize", dir)
			require.NoError(t, err)
			docs := decodeAll(t, rendered)
			for _, d := range docs {
				switch d["kind"] {
				case "ServiceAccount":
					// For the pod's dry runs below (pods need their ServiceAccount).
					for _, ns := range []string{"kubetrail", "kubetrail-baseline"} {
						d["metadata"].(map[string]any)["namespace"] = ns
						b, _ := json.Marshal(d)
						_, err := c.kubectl("admin", b, "apply", "-f", "-")
						require.NoError(t, err)
					}
				case "ConfigMap":
					data, _ := d["data"].(map[string]any)
					if cfg, ok := data["agent.yaml"].(string); ok {
						if p := checkAgentConfig(t, agentBin, cfg); p != "" {
							pending = append(pending, rel+": "+p)
						}
					}
				}
			}
			for _, d := range docs {
				if d["kind"] != "DaemonSet" {
					continue
				}
				pod := podOf(t, d)
				b, err := json.Marshal(pod)
				require.NoError(t, err)
				_, err = c.kubectl("admin", b, "apply", "--dry-run=server", "-n", "kubetrail", "-f", "-")
				require.NoError(t, err, "the DaemonSet's pod is admitted in namespace kubetrail")
				out, err := c.kubectl("admin", b, "apply", "--dry-run=server", "-n", "kubetrail-baseline", "-f", "-")
				require.Error(t, err, "the pod needs more than Pod Security baseline")
				assert.Contains(t, out, "violates PodSecurity")
				assert.Contains(t, out, "hostPath volumes")
			}
		})
	}
	figure(t, "manifests: %d kustomizations pass kubectl apply --dry-run=server; agent check pending output/processor types: %v",
		len(kustomizations(t)), pending)
}

// decodeAll decodes a multi-document YAML stream.
func decodeAll(t *testing.T, s string) []map[string]any {
	dec := yaml.NewDecoder(strings.NewReader(s))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err)
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// podOf is the Pod a DaemonSet would create (its template, minus the node).
func podOf(t *testing.T, ds map[string]any) map[string]any {
	spec, _ := ds["spec"].(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	require.NotNil(t, tmpl)
	meta, _ := tmpl["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = "kubetrail-dry-run"
	delete(meta, "namespace")
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tmpl["spec"]}
}

var (
	secretPath   = regexp.MustCompile(`/var/run/secrets/kubetrail/[A-Za-z0-9._-]+`)
	unknownType  = regexp.MustCompile(`unknown (output|processor) type "([a-z_]+)"`)
	checkErrLine = regexp.MustCompile(`(?m)^\s+\S+:\d+: .*$`)
)

// checkAgentConfig runs `agent check` on a configuration shipped in a
// ConfigMap, with its secret files and environment stood in for. An output
// or processor type this build does not have yet is returned as pending;
// any other error fails the test.
func checkAgentConfig(t *testing.T, agentBin, cfg string) (pending string) {
	dir := t.TempDir()
	cfg = secretPath.ReplaceAllStringFunc(cfg, func(p string) string {
		f := filepath.Join(dir, "secrets", filepath.Base(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(f), 0o700))
		require.NoError(t, os.WriteFile(f, standInSecret(t, f), 0o600))
		return f
	})
	path := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	cmd := exec.Command(agentBin, "check", "-c", path)
	cmd.Env = append(os.Environ(), "NODE_NAME=node-1", "AWS_REGION=eu-west-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		return ""
	}
	var types []string
	for _, line := range checkErrLine.FindAllString(stderr.String(), -1) {
		m := unknownType.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("agent check: %s", strings.TrimSpace(line))
			continue
		}
		types = append(types, m[2])
	}
	require.NotEmpty(t, types, "agent check failed:\n%s", stderr.String())
	return strings.Join(types, ",")
}

// standInSecret is what a secret file holds for `agent check`: a real
// self-signed certificate or key where one is expected (TLS blocks parse
// them at check time), a placeholder string otherwise.
func standInSecret(t *testing.T, name string) []byte {
	switch filepath.Ext(name) {
	case ".crt", ".pem", ".key":
	default:
		return []byte("not-a-real-secret\n")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	if filepath.Ext(name) == ".key" {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stand-in"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
