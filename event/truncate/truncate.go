// Package truncate owns kube-apiserver's own way of shrinking an audit event
// that is too large for its sink: drop requestObject and responseObject and
// add the annotation "audit.k8s.io/truncated": "true" (k8s.io/apiserver
// plugin/pkg/audit/truncate). Outputs use it for their oversize policy and
// the truncate processor for its size cap.
package truncate

import (
	"errors"
	"fmt"

	"github.com/kubetrail/kubetrail/event/jsonobject"
)

// Annotation is the annotation kube-apiserver adds to a truncated event; its
// value is "true".
const Annotation = "audit.k8s.io/truncated"

// ErrTooLarge is wrapped by Truncate's error when the event is still larger
// than the limit after truncation (kube-apiserver then drops the event).
var ErrTooLarge = errors.New("audit event too large even truncated")

// Truncate returns raw itself when len(raw) <= max. Otherwise it returns a
// new JSON object without the top-level requestObject and responseObject
// members and with annotations["audit.k8s.io/truncated"] = "true" (the
// annotations object is created when absent), keeping the other members,
// their order and their bytes as they were. Its error wraps ErrTooLarge when
// the result is still longer than max, and says why when raw is not a JSON
// object.
func Truncate(raw []byte, max int) ([]byte, error) {
	if len(raw) <= max {
		return raw, nil
	}
	out, err := Strip(raw)
	if err != nil {
		return nil, err
	}
	if len(out) > max {
		return nil, fmt.Errorf("%w: %d bytes, %d without requestObject and responseObject, limit %d",
			ErrTooLarge, len(raw), len(out), max)
	}
	return out, nil
}

// Strip truncates raw regardless of its size (see Truncate).
func Strip(raw []byte) ([]byte, error) {
	ms, err := jsonobject.Members(raw)
	if err != nil {
		return nil, fmt.Errorf("truncate audit event: %w", err)
	}
	kept := ms[:0]
	for _, m := range ms {
		if m.Key != "requestObject" && m.Key != "responseObject" {
			kept = append(kept, m)
		}
	}
	if kept, err = jsonobject.SetAnnotation(kept, Annotation, "true"); err != nil {
		return nil, fmt.Errorf("truncate audit event: annotations: %w", err)
	}
	return jsonobject.Append(make([]byte, 0, len(raw)/2), kept), nil
}
