package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2-very-secret"
	s := Secret(pw)
	type holder struct {
		Password Secret `json:"password"`
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "pw", s, "cfg", holder{s})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "pw", s, "cfg", holder{s})
	js, err := json.Marshal(holder{s})
	if err != nil {
		t.Fatal(err)
	}
	outs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s|%v|%q|%x|%d|%#v|%+v", s, s, s, s, s, s, holder{s}),
		fmt.Sprintf("%v %+v %#v", holder{s}, &holder{s}, holder{s}),
		fmt.Errorf("connect: %v", s).Error(), errors.New(s.String()).Error(),
		string(js), logs.String(),
	}
	for _, out := range outs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", pw)) {
			t.Errorf("secret leaked: %s", out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("no [redacted] marker in %q", out)
		}
	}
	if s.Value() != pw {
		t.Errorf("Value() = %q", s.Value())
	}
	if Secret("").String() != "" {
		t.Error("an empty secret should print empty")
	}
}

func TestSecretDecodes(t *testing.T) {
	t.Setenv("KT_TEST_PW", "from-env-pw")
	var c struct {
		Password Secret `yaml:"password"`
	}
	if err := Decode("test.yaml", []byte("password: ${KT_TEST_PW}\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Password.Value() != "from-env-pw" {
		t.Fatalf("got %q", c.Password.Value())
	}
}
