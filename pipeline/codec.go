package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/kubetrail/kubetrail/event"
)

// RecordVersion is the version byte AppendRecord writes first.
//
// Version 1 layout:
//
//	version byte (1)
//	11 fields, each uvarint(len) + bytes, in this order: AuditID, Stage,
//	  Level, Verb, Username, StageTimestamp, ObjectRef.Resource,
//	  ObjectRef.Subresource, ObjectRef.Namespace, ObjectRef.Name,
//	  ObjectRef.APIGroup
//	Code as a zigzag varint (encoding/binary.AppendVarint)
//	Raw: every remaining byte of the record
const RecordVersion = 1

// ErrCorruptRecord is wrapped by every error DecodeRecord returns.
var ErrCorruptRecord = errors.New("corrupt buffer record")

// recFieldNames names the length-prefixed fields in record order, for errors.
var recFieldNames = [...]string{
	"auditID", "stage", "level", "verb", "username", "stageTimestamp",
	"objectRef.resource", "objectRef.subresource", "objectRef.namespace",
	"objectRef.name", "objectRef.apiGroup",
}

// recFields returns pointers to e's length-prefixed fields in record order.
func recFields(e *event.Event) [len(recFieldNames)]*[]byte {
	return [...]*[]byte{
		&e.AuditID, &e.Stage, &e.Level, &e.Verb, &e.Username, &e.StageTimestamp,
		&e.ObjectRef.Resource, &e.ObjectRef.Subresource, &e.ObjectRef.Namespace,
		&e.ObjectRef.Name, &e.ObjectRef.APIGroup,
	}
}

// AppendRecord appends the buffer record of e (see RecordVersion) to dst and
// returns the extended slice. Meta is stored as extracted, so DecodeRecord
// does not need to parse Raw again.
func AppendRecord(dst []byte, e *event.Event) []byte {
	n := 1 + 2*binary.MaxVarintLen32 + len(e.Raw)
	for _, f := range recFields(e) {
		n += binary.MaxVarintLen32 + len(*f)
	}
	dst = slices.Grow(dst, n) // amortized, like append
	dst = append(dst, RecordVersion)
	for _, f := range recFields(e) {
		dst = binary.AppendUvarint(dst, uint64(len(*f)))
		dst = append(dst, *f...)
	}
	dst = binary.AppendVarint(dst, int64(e.Code))
	return append(dst, e.Raw...)
}

// DecodeRecord fills e from a record written by AppendRecord. Every slice in
// e is a view into rec (capacity clipped to its length; empty fields are nil):
// it does not allocate and e is valid only as long as rec is. On error e is
// reset and the error wraps ErrCorruptRecord.
func DecodeRecord(rec []byte, e *event.Event) error {
	*e = event.Event{}
	if len(rec) == 0 {
		return fmt.Errorf("decode buffer record: empty record: %w", ErrCorruptRecord)
	}
	if rec[0] != RecordVersion {
		return fmt.Errorf("decode buffer record: unknown version %d: %w", rec[0], ErrCorruptRecord)
	}
	i := 1
	for k, f := range recFields(e) {
		l, n := binary.Uvarint(rec[i:])
		if n <= 0 {
			*e = event.Event{}
			return fmt.Errorf("decode buffer record: %s length at byte %d: bad uvarint: %w",
				recFieldNames[k], i, ErrCorruptRecord)
		}
		i += n
		if l > uint64(len(rec)-i) {
			*e = event.Event{}
			return fmt.Errorf("decode buffer record: %s at byte %d: length %d exceeds the %d bytes left: %w",
				recFieldNames[k], i, l, len(rec)-i, ErrCorruptRecord)
		}
		if l > 0 {
			end := i + int(l)
			*f = rec[i:end:end]
			i = end
		}
	}
	code, n := binary.Varint(rec[i:])
	if n <= 0 || code < math.MinInt32 || code > math.MaxInt32 {
		*e = event.Event{}
		return fmt.Errorf("decode buffer record: code at byte %d: bad int32 varint: %w", i, ErrCorruptRecord)
	}
	e.Code = int32(code)
	i += n
	if i < len(rec) {
		e.Raw = rec[i:len(rec):len(rec)]
	}
	return nil
}
