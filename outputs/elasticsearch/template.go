package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/kubetrail/kubetrail/event"
)

// templatePriority is above the built-in logs-*-* template (100) and the
// Elastic Kubernetes integration's own template (200), so that the events
// this output writes, which are raw audit events and not ECS, get its
// mapping.
const templatePriority = 250

// keyword is a keyword field; long values are kept in _source, not indexed.
var keyword = map[string]any{"type": "keyword", "ignore_above": 1024}

// userMapping maps user and impersonatedUser.
func userMapping(free map[string]any) map[string]any {
	return map[string]any{"properties": map[string]any{
		"username": keyword, "uid": keyword, "groups": keyword, "extra": free,
	}}
}

// templateBody is the composable index template for the output's target.
// The fields every audit event has are mapped on purpose; the objects whose
// keys are chosen by whoever writes Kubernetes objects (requestObject,
// responseObject, annotations, user.extra) are mapped as one field each
// (free), so they can never hit index.mapping.total_fields.limit.
func templateBody(pattern string, dataStream bool, free map[string]any) ([]byte, error) {
	date := map[string]any{"type": "date"}
	mappings := map[string]any{
		"properties": map[string]any{
			"@timestamp":               date,
			"requestReceivedTimestamp": date,
			"stageTimestamp":           date,
			"kind":                     keyword,
			"apiVersion":               keyword,
			"level":                    keyword,
			"auditID":                  keyword,
			"stage":                    keyword,
			"verb":                     keyword,
			"requestURI":               map[string]any{"type": "keyword", "ignore_above": 8191},
			"userAgent":                keyword,
			"sourceIPs":                map[string]any{"type": "ip", "ignore_malformed": true},
			"user":                     userMapping(free),
			"impersonatedUser":         userMapping(free),
			"objectRef": map[string]any{"properties": map[string]any{
				"resource": keyword, "subresource": keyword, "namespace": keyword, "name": keyword,
				"uid": keyword, "apiGroup": keyword, "apiVersion": keyword, "resourceVersion": keyword,
			}},
			"responseStatus": map[string]any{
				// metadata and details hold little, but nothing worth
				// mapping one field at a time either.
				"dynamic": false,
				"properties": map[string]any{
					"code": map[string]any{"type": "integer"}, "status": keyword, "reason": keyword,
					"message": map[string]any{"type": "text"},
				},
			},
			"annotations":    free,
			"requestObject":  free,
			"responseObject": free,
		},
	}
	body := map[string]any{
		"index_patterns": []string{pattern},
		"priority":       templatePriority,
		"template":       map[string]any{"mappings": mappings},
		"_meta":          map[string]any{"managed_by": "kubetrail"},
	}
	if dataStream {
		body["data_stream"] = map[string]any{}
	}
	return json.Marshal(body)
}

// freeMapping is the mapping of one free-form object.
func freeMapping(m ObjectMapping) map[string]any {
	switch m {
	case ObjectMappingFlattened:
		// Values past ignore_above stay in _source: an indexed term is at most
		// 32766 bytes and a CA bundle in a ConfigMap is longer.
		return map[string]any{"type": "flattened", "ignore_above": 8191}
	case ObjectMappingFlatObject:
		return map[string]any{"type": "flat_object"}
	default:
		return map[string]any{"type": "object", "enabled": false}
	}
}

// resolveObjectMapping turns auto into the engine's mapping: flattened on
// Elasticsearch, disabled on OpenSearch (flat_object has no ignore_above and
// fails a whole document over one long value). GET / tells them apart by
// version.distribution; a node without GET / (405) is Elasticsearch.
func (o *Output) resolveObjectMapping(ctx context.Context) (ObjectMapping, error) {
	if o.cfg.ObjectMapping != ObjectMappingAuto {
		return o.cfg.ObjectMapping, nil
	}
	res, err := esapi.InfoRequest{}.Do(ctx, o.client)
	if err != nil {
		return "", fmt.Errorf("GET /: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		if err := statusError("GET /", res, body); res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
			return "", err
		}
		return ObjectMappingFlattened, nil
	}
	var info struct {
		Version struct {
			Distribution string `json:"distribution"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("GET /: %w", err)
	}
	if info.Version.Distribution == "opensearch" {
		return ObjectMappingDisabled, nil
	}
	return ObjectMappingFlattened, nil
}

// installTemplate puts the output's index template.
func (o *Output) installTemplate(ctx context.Context) error {
	m, err := o.resolveObjectMapping(ctx)
	if err != nil {
		return err
	}
	body, err := templateBody(indexPattern(o.name), o.dataStream, freeMapping(m))
	if err != nil {
		return err
	}
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: o.templateName, Body: bytes.NewReader(body)}.Do(ctx, o.client)
	if err != nil {
		return fmt.Errorf("put index template %s: %w", o.templateName, err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		err := statusError("put index template "+o.templateName, res, rb)
		if event.IsPermanent(err) {
			// A template the cluster refuses (a mapping type it lacks, a
			// pattern clashing with another template) is fixed in the
			// configuration or the cluster: unready, not dead letters.
			return event.Unready(errors.Unwrap(err))
		}
		return err
	}
	o.log.Info("index template installed", "template", o.templateName, "pattern", indexPattern(o.name), "objects", string(m))
	return nil
}
