package splunkhec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kubetrail/kubetrail/event"
)

// kind is what an answer means for the events of its request.
type kind int

const (
	accepted kind = iota
	badData       // 400 about the events: split, dead-letter the bad ones
	tooLarge      // 413: split
	failed        // r.err decides (retryable, Throttled, Unready)
)

type result struct {
	kind         kind
	err          error
	invalidEvent int      // HEC's invalid-event-number, -1 if absent
	wait         *ackWait // with ack, the wait for the request's ackId
}

// hecReply is HEC's JSON answer.
type hecReply struct {
	Text         string          `json:"text"`
	Code         *int            `json:"code"`
	AckID        *uint64         `json:"ackId"`
	InvalidEvent *int            `json:"invalid-event-number"`
	Acks         map[string]bool `json:"acks"`
}

// answer is what HEC answered.
type answer struct {
	status     int
	reply      *hecReply // nil when the body is not HEC's JSON
	text       string    // the reply's text, or the body; token scrubbed
	retryAfter time.Duration
	hasRetry   bool
}

// do runs req and reads the answer: its JSON form when it has one, else its
// text, with the token scrubbed.
func (h *HEC) do(req *http.Request) (answer, error) {
	resp, err := h.client.Do(req)
	if err != nil {
		err = errors.New(h.scrub(err.Error()))
		if certProblem(err) {
			// The CA or server name is wrong: a configuration problem.
			err = event.Unready(fmt.Errorf("%w (check tls: ca_file, server_name)", err))
		}
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return answer{}, fmt.Errorf("read answer: %s", h.scrub(err.Error()))
	}
	a := answer{status: resp.StatusCode}
	raw = bytes.TrimSpace(raw)
	var r hecReply
	if len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, &r) == nil {
		a.reply = &r
		a.text = h.scrub(r.Text)
	} else {
		a.text = h.scrub(strings.Trim(string(raw), `"`))
	}
	a.retryAfter, a.hasRetry = retryAfter(resp.Header.Get("Retry-After"))
	return a, nil
}

// Codes of HEC's JSON errors that concern the request's configuration
// rather than its events: incorrect index (7), data channel missing (10) or
// invalid (11), ack disabled (14), query string authorization disabled (16).
var configCodes = map[int]bool{7: true, 10: true, 11: true, 14: true, 16: true}

// classify maps an answer to a verdict for the events of its request.
func classify(a answer) result {
	r := result{kind: failed, invalidEvent: -1}
	msg := a.text
	if a.reply != nil && a.reply.Code != nil {
		msg = fmt.Sprintf("%s (code %d)", a.text, *a.reply.Code)
	}
	if msg == "" {
		msg = http.StatusText(a.status)
	}
	err := fmt.Errorf("splunk_hec: HEC answered %d: %s", a.status, msg)
	switch {
	case a.status >= 200 && a.status < 300:
		r.kind, err = accepted, nil
	case a.status == http.StatusBadRequest:
		if a.reply != nil && a.reply.Code != nil && configCodes[*a.reply.Code] {
			err = event.Unready(err)
			break
		}
		r.kind = badData
		if a.reply != nil && a.reply.InvalidEvent != nil {
			r.invalidEvent = *a.reply.InvalidEvent
		}
	case a.status == http.StatusRequestEntityTooLarge:
		r.kind = tooLarge
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden:
		err = event.Unready(err)
	case a.status == http.StatusTooManyRequests || a.status >= 500:
		if a.hasRetry {
			err = event.Throttled(err, a.retryAfter)
		}
	case a.status >= 400:
		// 404 (wrong path), 405, 415...: the endpoint is misconfigured.
		err = event.Unready(err)
	}
	r.err = err
	return r
}

func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t)), true
	}
	return 0, false
}

// certProblem reports whether err is a failed verification of the
// server's certificate. (The error was flattened to text by scrub.)
func certProblem(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "x509: ") || strings.Contains(msg, "tls: failed to verify certificate")
}
