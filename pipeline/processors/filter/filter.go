package filter

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"

	"github.com/kubetrail/kubetrail/event"
)

// eventFields are the members of an audit.k8s.io/v1 Event; an expression
// that selects anything else on `event` is a configuration error.
var eventFields = []string{
	"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user",
	"impersonatedUser", "sourceIPs", "userAgent", "objectRef", "responseStatus",
	"requestObject", "responseObject", "requestReceivedTimestamp", "stageTimestamp",
	"annotations",
}

// Program is a compiled, type-checked filter expression.
type Program struct {
	expr string
	prg  cel.Program
}

// newEnv declares the one variable expressions see: event, the audit event
// as a map.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
}

// Compile parses and type-checks expr: it must be a boolean expression over
// `event` naming only fields an audit event has.
func Compile(expr string) (*Program, error) {
	env, err := newEnv()
	if err != nil {
		return nil, err
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if t := checked.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, fmt.Errorf("%q is of type %s, want bool", expr, t)
	}
	if err := checkFields(checked.NativeRep().Expr()); err != nil {
		return nil, err
	}
	prg, err := env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &Program{expr: expr, prg: prg}, nil
}

// checkFields rejects event.<name> for a name an audit event does not have,
// with a did-you-mean hint: a typo would otherwise match nothing, silently.
func checkFields(e ast.Expr) error {
	var errs []error
	visit := ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.SelectKind {
			return
		}
		sel := x.AsSelect()
		if op := sel.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "event" {
			if !slices.Contains(eventFields, sel.FieldName()) {
				msg := fmt.Sprintf("event.%s: an audit event has no field %q", sel.FieldName(), sel.FieldName())
				if s := closest(sel.FieldName()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				errs = append(errs, errors.New(msg))
			}
		}
	})
	ast.PostOrderVisit(e, visit)
	return errors.Join(errs...)
}

// closest returns the known field nearest to s, if close enough.
func closest(s string) string {
	best, bestD := "", 3
	for _, f := range eventFields {
		if d := distance(strings.ToLower(s), strings.ToLower(f)); d < bestD {
			best, bestD = f, d
		}
	}
	return best
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Match evaluates the expression on one event. An evaluation error (a field
// the event lacks, a type mismatch at run time) is returned; the caller
// decides what it means.
func (p *Program) Match(ev *event.Event) (bool, error) {
	out, _, err := p.prg.Eval(map[string]any{"event": newEventVal(ev)})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression gave %s, not a bool", out.Type())
	}
	return bool(b), nil
}
