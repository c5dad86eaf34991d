package cloudwatch

import (
	"encoding/json"
	"errors"
	"fmt"
)

// TODO(shared): replace with event/truncate.Truncate once it is on main.

// errTooLarge: the event is still larger than the limit without its
// request and response objects.
var errTooLarge = errors.New("still too large without requestObject and responseObject")

// truncateEvent does what kube-apiserver's truncating audit backend does to
// an event larger than max: it drops requestObject and responseObject and
// adds the annotation "audit.k8s.io/truncated": "true".
func truncateEvent(raw []byte, max int) ([]byte, error) {
	if len(raw) <= max {
		return raw, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	delete(fields, "requestObject")
	delete(fields, "responseObject")
	annotations := map[string]json.RawMessage{}
	if a, ok := fields["annotations"]; ok {
		if err := json.Unmarshal(a, &annotations); err != nil {
			return nil, fmt.Errorf("decode annotations: %w", err)
		}
	}
	annotations["audit.k8s.io/truncated"] = json.RawMessage(`"true"`)
	a, err := json.Marshal(annotations)
	if err != nil {
		return nil, err
	}
	fields["annotations"] = a
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, errTooLarge
	}
	return out, nil
}
