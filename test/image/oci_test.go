package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildOCIImage builds the image with build-oci.sh (buildah, no Docker
// engine) and checks the archive: the binary keeps its file capability in
// the layer, runs as 65532, with the CA bundle and the default config.
func TestBuildOCIImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and an image")
	}
	need(t, os.Geteuid() == 0, "needs root (setcap, buildah's vfs storage)")
	for _, tool := range []string{"buildah", "setcap"} {
		_, err := exec.LookPath(tool)
		need(t, err == nil, tool+" not found (Debian: apt-get install buildah libcap2-bin)")
	}
	out := filepath.Join(t.TempDir(), "kubetrail.tar")
	cmd := exec.Command("./build-oci.sh", out, "oci-test")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)

	blobs := readOCIArchive(t, out)
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	require.NoError(t, json.Unmarshal(blobs["index.json"], &index))
	require.Len(t, index.Manifests, 1)
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	require.NoError(t, json.Unmarshal(blob(t, blobs, index.Manifests[0].Digest), &manifest))
	var config struct {
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			ExposedPorts map[string]any
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal(blob(t, blobs, manifest.Config.Digest), &config))
	assert.Equal(t, "65532:65532", config.Config.User)
	assert.Equal(t, []string{"/usr/local/bin/agent"}, config.Config.Entrypoint)
	assert.Equal(t, []string{"run", "-c", "/etc/kubetrail/agent.yaml"}, config.Config.Cmd)
	assert.Contains(t, config.Config.ExposedPorts, "9108/tcp")

	files := map[string]*tar.Header{}
	for _, l := range manifest.Layers {
		var r io.Reader = bytes.NewReader(blob(t, blobs, l.Digest))
		if strings.HasSuffix(l.MediaType, "gzip") {
			gz, err := gzip.NewReader(r)
			require.NoError(t, err)
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			files[strings.TrimPrefix(h.Name, "./")] = h
		}
	}
	agent := files["usr/local/bin/agent"]
	require.NotNil(t, agent, "the binary is in the image")
	assert.Equal(t, int64(0o755), agent.Mode&0o7777)
	// VFS_CAP_REVISION_2 with CAP_DAC_READ_SEARCH (bit 2) permitted and the
	// effective flag: what `setcap cap_dac_read_search=+ep` writes.
	capXattr := agent.PAXRecords["SCHILY.xattr.security.capability"]
	require.NotEmpty(t, capXattr, "the layer keeps the file capability")
	assert.Equal(t, []byte{0x01, 0x00, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00}, []byte(capXattr)[:8])
	assert.NotNil(t, files["etc/ssl/certs/ca-certificates.crt"], "CA bundle for TLS to the sinks")
	assert.NotNil(t, files["etc/kubetrail/agent.yaml"], "default configuration")
}

// readOCIArchive returns the files of an OCI archive (a tar of an OCI layout).
func readOCIArchive(t *testing.T, path string) map[string][]byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[strings.TrimPrefix(h.Name, "./")] = b
	}
}

func blob(t *testing.T, blobs map[string][]byte, digest string) []byte {
	algo, hex, ok := strings.Cut(digest, ":")
	require.True(t, ok, digest)
	b, ok := blobs["blobs/"+algo+"/"+hex]
	require.True(t, ok, "blob %s in the archive", digest)
	return b
}
