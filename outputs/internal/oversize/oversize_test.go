package oversize

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/kubetrail/kubetrail/event"
	"github.com/kubetrail/kubetrail/event/truncate"
)

const big = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"configmaps","namespace":"ns1"},"requestObject":{"data":"` + "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" + `"},"stageTimestamp":"2026-11-22T02:27:17.144351Z"}`

func newEvent(t *testing.T, raw string) event.Event {
	t.Helper()
	ev, err := event.New([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestFitTruncates(t *testing.T) {
	ev := newEvent(t, big)
	if err := Fit(&ev, 300, Truncate); err != nil {
		t.Fatal(err)
	}
	if len(ev.Raw) > 300 || bytes.Contains(ev.Raw, []byte("requestObject")) || !bytes.Contains(ev.Raw, []byte(truncate.Annotation)) {
		t.Fatalf("not truncated: %s", ev.Raw)
	}
	if string(ev.AuditID) != "a1" || string(ev.ObjectRef.Namespace) != "ns1" {
		t.Fatalf("meta lost: %+v", ev.Meta)
	}
}

func TestFitStillTooLarge(t *testing.T) {
	ev := newEvent(t, big)
	err := Fit(&ev, 100, Truncate)
	if !event.IsPermanent(err) || !errors.Is(err, truncate.ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	if string(ev.Raw) != big {
		t.Fatal("event changed although it is dead-lettered")
	}
}

func TestFitDeadLetter(t *testing.T) {
	ev := newEvent(t, big)
	err := Fit(&ev, 250, DeadLetter)
	if !event.IsPermanent(err) || !strings.Contains(err.Error(), "dead_letter") {
		t.Fatalf("err = %v", err)
	}
	if string(ev.Raw) != big {
		t.Fatal("event changed")
	}
}

func TestFitFits(t *testing.T) {
	for _, p := range Policies {
		ev := newEvent(t, big)
		if err := Fit(&ev, len(big), p); err != nil || string(ev.Raw) != big {
			t.Fatalf("%s: %v", p, err)
		}
		if err := Fit(&ev, 0, p); err != nil {
			t.Fatalf("%s: no limit: %v", p, err)
		}
	}
}

func TestPolicyText(t *testing.T) {
	var p Policy
	if err := p.UnmarshalText([]byte("Dead_Letter")); err != nil || p != DeadLetter {
		t.Fatal(p, err)
	}
	if err := p.UnmarshalText([]byte("drop")); err == nil {
		t.Fatal("drop accepted")
	}
	if Policy("").Validate() != nil || Policy("x").Validate() == nil {
		t.Fatal("Validate")
	}
}
