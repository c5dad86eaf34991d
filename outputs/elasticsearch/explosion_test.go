package elasticsearch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/internal/testcorpus"
	"github.com/kubetrail/kubetrail/pipeline"
)

// manyKeysEvents are update events of ConfigMaps whose data, labels and
// annotations carry keys no other object has, as clusters accumulate them:
// 30 events x 3 x 40 keys, well past the default limit of 1000 fields.
func manyKeysEvents(t *testing.T) *event.Batch {
	b := &event.Batch{}
	for i := range 30 {
		obj := func(prefix string) string {
			var data, labels, annotations []string
			for j := range 40 {
				data = append(data, fmt.Sprintf(`"%s-cfg-%d-%d.yaml":"v"`, prefix, i, j))
				labels = append(labels, fmt.Sprintf(`"team-%d.example.com/key-%d":"x"`, i, j))
				annotations = append(annotations, fmt.Sprintf(`"tool-%d.example.com/note-%d":"y"`, i, j))
			}
			return fmt.Sprintf(`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"cm-%d","namespace":"team-%d","labels":{%s},"annotations":{%s}},"data":{%s}}`,
				i, i, strings.Join(labels, ","), strings.Join(annotations, ","), strings.Join(data, ","))
		}
		raw := strings.Replace(testcorpus.MetadataEvent, `"level":"Metadata"`, `"level":"RequestResponse"`, 1)
		raw = strings.Replace(raw, `"auditID":"b6cbc2b9-28db-4ed8-a6fc-c5e81889e379"`, fmt.Sprintf(`"auditID":"many-keys-%04d"`, i), 1)
		raw = strings.TrimSuffix(raw, "}") + `,"requestObject":` + obj("req") + `,"responseObject":` + obj("resp") + "}"
		ev, err := event.New([]byte(raw))
		require.NoError(t, err)
		b.Events = append(b.Events, ev)
		b.Bytes += len(raw)
	}
	return b
}

// Objects with many distinct keys hit index.mapping.total_fields.limit on an
// index mapped dynamically (those events are rejected with 400, so
// dead-lettered) and index cleanly with the managed template.
func TestManyDistinctKeysNeedTheTemplate(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		ctx := context.Background()
		b := manyKeysEvents(t)

		raw := uniqueName("kt-keys-raw")
		e.cleanup(t, raw)
		o := e.newOutput(t, raw, func(c *Config) { c.Index, c.ManageTemplate = raw, false })
		err := o.Write(ctx, b)
		var pe *event.PartialError
		require.ErrorAs(t, err, &pe)
		for _, ferr := range pe.Failed {
			assert.True(t, event.IsPermanent(ferr), "%v", ferr)
			assert.Contains(t, ferr.Error(), "status 400")
			assert.Contains(t, ferr.Error(), "Limit of total fields [1000]")
		}
		assert.NotEmpty(t, pe.Failed)
		assert.Less(t, len(pe.Failed), len(b.Events), "the first events fit")
		assert.Equal(t, len(b.Events)-len(pe.Failed), e.count(t, raw))

		modes := []ObjectMapping{ObjectMappingAuto, ObjectMappingDisabled, ObjectMappingFlattened}
		if e.name == "opensearch" {
			modes[2] = ObjectMappingFlatObject
		}
		for _, m := range modes {
			t.Run(string(m), func(t *testing.T) {
				idx := uniqueName("kt-keys-" + strings.ReplaceAll(string(m), "_", ""))
				e.cleanup(t, idx, "kubetrail-"+idx)
				o := e.newOutput(t, idx, func(c *Config) { c.Index, c.ObjectMapping = idx, m })
				require.NoError(t, o.Write(ctx, b))
				assert.Equal(t, len(b.Events), e.count(t, idx))
				var mapping map[string]any
				e.do(t, "GET", "/"+idx+"/_mapping", "", &mapping)
				fields := strings.Count(fmt.Sprint(mapping), "type:")
				assert.Less(t, fields, 100, "fields mapped")
				// The common fields are mapped on purpose, whatever the object mapping.
				var hits struct {
					Hits struct {
						Total struct{ Value int } `json:"total"`
					} `json:"hits"`
				}
				e.do(t, "POST", "/"+idx+"/_search", `{"query":{"bool":{"filter":[{"term":{"verb":"watch"}},{"term":{"sourceIPs":"127.0.0.0/8"}},{"range":{"@timestamp":{"gte":"2026-11-22T02:27:17Z"}}}]}}}`, &hits)
				assert.Equal(t, len(b.Events), hits.Hits.Total.Value)
				// Objects mapped as one field are searchable by key.
				e.do(t, "POST", "/"+idx+"/_search", `{"query":{"term":{"requestObject.metadata.name":"cm-7"}}}`, &hits)
				want := 1
				if m == ObjectMappingDisabled || (m == ObjectMappingAuto && e.name == "opensearch") {
					want = 0 // kept in _source only
				}
				assert.Equal(t, want, hits.Hits.Total.Value)

				// A value longer than a term may be (a CA bundle in a
				// ConfigMap): kept in _source, except by flat_object, which
				// rejects the document (why auto does not use it).
				big := strings.Replace(testcorpus.MetadataEvent, `"auditID":"b6cbc2b9`, `"auditID":"big-value`, 1)
				big = strings.TrimSuffix(big, "}") + `,"requestObject":{"kind":"ConfigMap","data":{"ca.crt":"` + strings.Repeat("A", 40000) + `"}}}`
				ev, err := event.New([]byte(big))
				require.NoError(t, err)
				err = o.Write(ctx, &event.Batch{Events: []event.Event{ev}, Bytes: len(big)})
				if m == ObjectMappingFlatObject {
					require.ErrorAs(t, err, &pe)
					assert.True(t, event.IsPermanent(pe.Failed[0]))
					assert.Contains(t, pe.Failed[0].Error(), "immense term")
				} else {
					require.NoError(t, err)
				}
			})
		}
	})
}

// A template the engine refuses (the other engine's mapping type) makes
// Start fail as Unready, with the engine's reason, not as a permanent error.
func TestRefusedTemplateIsUnready(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		idx := uniqueName("kt-refused")
		e.cleanup(t, idx, "kubetrail-"+idx)
		cfg := defaultConfig()
		cfg.Addresses, cfg.Index, cfg.ObjectMapping = []string{e.clientURL}, idx, ObjectMappingFlatObject
		if e.name == "opensearch" {
			cfg.ObjectMapping = ObjectMappingFlattened
		}
		o, err := New(cfg, pipeline.Settings{Name: idx})
		require.NoError(t, err)
		err = o.Start(context.Background())
		require.Error(t, err)
		assert.True(t, event.IsUnready(err), "%v", err)
		assert.False(t, event.IsPermanent(err), "%v", err)
		assert.Contains(t, err.Error(), "HTTP 400")
		assert.Contains(t, err.Error(), string(cfg.ObjectMapping))
	})
}
