package pipeline

import (
	"encoding/json"
	"errors"
)

// Extract fills m from the audit event JSON in raw. It returns an error when
// raw is not one JSON object. Slices in m point into raw unless a value had
// escapes.
//
// TEMPORARY implementation with encoding/json; to be replaced by a fast,
// allocation-free scanner.
func Extract(raw []byte, m *Meta) error {
	var v struct {
		AuditID        string `json:"auditID"`
		Stage          string `json:"stage"`
		Level          string `json:"level"`
		Verb           string `json:"verb"`
		StageTimestamp string `json:"stageTimestamp"`
		User           struct {
			Username string `json:"username"`
		} `json:"user"`
		ObjectRef struct {
			Resource, Subresource, Namespace, Name string
			APIGroup                               string `json:"apiGroup"`
		} `json:"objectRef"`
		ResponseStatus struct {
			Code int32 `json:"code"`
		} `json:"responseStatus"`
	}
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("not a JSON object")
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	*m = Meta{
		AuditID: []byte(v.AuditID), Stage: []byte(v.Stage), Level: []byte(v.Level), Verb: []byte(v.Verb),
		StageTimestamp: []byte(v.StageTimestamp), Username: []byte(v.User.Username), Code: v.ResponseStatus.Code,
		ObjectRef: ObjectRef{Resource: []byte(v.ObjectRef.Resource), Subresource: []byte(v.ObjectRef.Subresource),
			Namespace: []byte(v.ObjectRef.Namespace), Name: []byte(v.ObjectRef.Name), APIGroup: []byte(v.ObjectRef.APIGroup)},
	}
	return nil
}
