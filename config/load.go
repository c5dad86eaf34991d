package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kind is a kind of component.
type Kind string

// Component kinds.
const (
	KindInput     Kind = "input"
	KindProcessor Kind = "processor"
	KindOutput    Kind = "output"
)

// Components gives the loader the component types it may instantiate; the
// agent implements it over the inputs, processors and outputs registries.
type Components interface {
	// NewConfig returns a fresh defaulted config (pointer to struct) for a
	// component type, or false if the type is unknown. A nil config means
	// the type takes no settings.
	NewConfig(kind Kind, typ string) (any, bool)
	// Types lists the known types of a kind, for error messages.
	Types(kind Kind) []string
}

// DeliveryDefaulter is implemented by Components whose output types bring
// delivery defaults of their own (bigger batches for a bulk API, more
// batches in flight): the loader decodes an output's delivery keys over
// DefaultDelivery(outputType) instead of the package's DefaultDelivery.
type DeliveryDefaulter interface {
	DefaultDelivery(outputType string) Delivery
}

// Factories is a Components over plain maps: kind, then type, then the
// type's NewConfig.
type Factories map[Kind]map[string]func() any

// NewConfig implements Components.
func (f Factories) NewConfig(kind Kind, typ string) (any, bool) {
	newConfig, ok := f[kind][typ]
	if !ok {
		return nil, false
	}
	if newConfig == nil {
		return nil, true
	}
	return newConfig(), true
}

// Types implements Components.
func (f Factories) Types(kind Kind) []string {
	types := make([]string, 0, len(f[kind]))
	for t := range f[kind] {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// Load reads and parses the configuration file at path.
func Load(path string, comps Components) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading configuration: %w", err)
	}
	return Parse(path, data, comps)
}

// Parse parses a configuration; file names it in errors and relative
// ${file:PATH} references are resolved against its directory. On failure
// the error joins one *Error per problem found, sorted by line.
func Parse(file string, data []byte, comps Components) (*Config, error) {
	if comps == nil {
		comps = Factories{}
	}
	l := &loader{decoder: newDecoder(file, newExpander(file)), comps: comps}
	cfg := l.load(data)
	if err := l.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// document is the top level of a file; sections are decoded by hand.
type document struct {
	Agent      Agent     `yaml:"agent"`
	Inputs     yaml.Node `yaml:"inputs"`
	Processors yaml.Node `yaml:"processors"`
	Outputs    yaml.Node `yaml:"outputs"`
	Pipelines  yaml.Node `yaml:"pipelines"`
}

type loader struct {
	*decoder
	comps Components
}

// named is a section entry in file order.
type named struct {
	name string
	key  *yaml.Node // the name's key node
	val  *yaml.Node // its (dereferenced) value
}

func (l *loader) load(data []byte) *Config {
	root, ok := l.parse(data)
	if !ok {
		return nil
	}
	if root == nil {
		l.add(0, "", "the file is empty; at least one pipeline is required")
		return nil
	}
	top := deref(root)
	if top.Kind != yaml.MappingNode {
		l.add(top.Line, "", "expected a mapping with agent, inputs, processors, outputs and pipelines, got %s", describeNode(top))
		return nil
	}
	// Top-level keys starting with "x-" are ignored: a place for anchors.
	var extensions []string
	for _, p := range pairs(top, "", nil, false) {
		if strings.HasPrefix(p.key.Value, "x-") {
			extensions = append(extensions, p.key.Value)
		}
	}
	doc := document{Agent: DefaultAgent()}
	l.decodeFields(top, "", []reflect.Value{reflect.ValueOf(&doc).Elem()}, extensions)
	cfg := &Config{File: l.file, Agent: doc.Agent}
	if cfg.Agent.DeadLetter.Path == "" {
		cfg.Agent.DeadLetter.Path = filepath.Join(cfg.Agent.StateDir, DeadLetterFileName)
	}

	var inputs, processors, outputs []named
	cfg.Inputs, inputs = l.components(&doc.Inputs, "inputs", KindInput)
	cfg.Processors, processors = l.components(&doc.Processors, "processors", KindProcessor)
	cfg.Outputs, outputs = l.outputs(&doc.Outputs)
	var pipes []named
	cfg.Pipelines, pipes = l.pipelines(&doc.Pipelines)
	if len(pipes) == 0 {
		line, _ := locate(root, 0, "", "pipelines")
		l.add(line, "pipelines", "at least one pipeline is required")
	}
	l.crossCheck(cfg, pipes, inputs, processors, outputs)
	l.checkFiles(cfg, inputs, outputs)
	return cfg
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// section returns the entries of a section (inputs, outputs, ...) in file
// order, reporting a section that is not a mapping and bad names.
func (l *loader) section(n *yaml.Node, path string) []named {
	if isNull(n) {
		return nil
	}
	m := deref(n)
	if m.Kind != yaml.MappingNode {
		l.add(m.Line, path, "expected a mapping of names to definitions, got %s", describeNode(m))
		return nil
	}
	var out []named
	for _, p := range pairs(m, path, &l.problems, true) {
		if !validName.MatchString(p.key.Value) || len(p.key.Value) > 64 {
			l.add(p.key.Line, path, "invalid name %q (use up to 64 letters, digits, '_', '-' and '.', starting with a letter or digit)", p.key.Value)
		}
		out = append(out, named{name: p.key.Value, key: p.key, val: deref(p.val)})
	}
	return out
}

func (l *loader) components(n *yaml.Node, path string, kind Kind) (map[string]Component, []named) {
	entries := l.section(n, path)
	out := make(map[string]Component, len(entries))
	for _, e := range entries {
		c, _, ok := l.component(e, joinPath(path, e.name), kind, nil)
		if ok {
			out[e.name] = c
		}
	}
	return out, entries
}

func (l *loader) outputs(n *yaml.Node) (map[string]Output, []named) {
	entries := l.section(n, "outputs")
	out := make(map[string]Output, len(entries))
	for _, e := range entries {
		delivery := DefaultDelivery()
		c, node, ok := l.component(e, joinPath("outputs", e.name), KindOutput, &delivery)
		if !ok {
			continue
		}
		l.validate(node, e.key.Line, joinPath("outputs", e.name), reflect.ValueOf(&delivery).Elem())
		out[e.name] = Output{Component: c, Delivery: delivery}
	}
	return out, entries
}

// component decodes one component definition: its type, then the other
// keys into the type's config (and into delivery, for outputs, first).
func (l *loader) component(e named, path string, kind Kind, delivery *Delivery) (Component, *yaml.Node, bool) {
	c := Component{Line: e.key.Line}
	if e.val.Kind != yaml.MappingNode {
		l.add(e.val.Line, path, "expected a mapping with a \"type\" key, got %s", describeNode(e.val))
		return c, nil, false
	}
	typeKey, ok := lookup(e.val, "type")
	if !ok {
		l.add(e.key.Line, path, "missing \"type\"%s", l.typeList(kind, ""))
		return c, nil, false
	}
	typ, ok := l.scalar(typeKey.val, joinPath(path, "type"), "a string")
	if !ok {
		return c, nil, false
	}
	c.Type = typ.text
	line := deref(typeKey.val).Line
	if c.Type == "" {
		l.add(line, joinPath(path, "type"), "must not be empty%s", l.typeList(kind, ""))
		return c, nil, false
	}
	cfg, ok := l.comps.NewConfig(kind, c.Type)
	if !ok {
		l.add(line, joinPath(path, "type"), "unknown %s type %s%s", kind, typ.show(), l.typeList(kind, c.Type))
		return c, nil, false
	}
	c.Config = cfg

	var targets []reflect.Value
	if dd, ok := l.comps.(DeliveryDefaulter); ok && delivery != nil {
		*delivery = dd.DefaultDelivery(c.Type)
	}
	if delivery != nil {
		targets = append(targets, reflect.ValueOf(delivery).Elem())
	}
	var own reflect.Value
	if cfg != nil {
		own = reflect.ValueOf(cfg)
		if own.Kind() != reflect.Pointer || own.IsNil() {
			l.add(e.key.Line, path, "%s type %q: NewConfig returned %T, not a pointer", kind, c.Type, cfg)
			return c, nil, false
		}
		own = own.Elem()
	}
	if own.IsValid() && own.Kind() == reflect.Struct {
		targets = append(targets, own)
	}
	skip := []string{"type"}
	if own.IsValid() && own.Kind() != reflect.Struct {
		// A non-struct config (a map, say) gets every key but ours.
		rest := without(e.val, append(skip, deliveryKeysIf(delivery)...))
		l.decode(rest, e.key.Line, path, own)
		skip = append(skip, keysOf(rest)...)
	}
	l.decodeFields(e.val, path, targets, skip)
	if own.IsValid() && own.Kind() == reflect.Struct {
		l.validate(e.val, e.key.Line, path, own)
	}
	return c, e.val, true
}

// typeList renders the known types of kind for a message, suggesting the
// closest to got when there is one.
func (l *loader) typeList(kind Kind, got string) string {
	types := l.comps.Types(kind)
	if len(types) == 0 {
		return fmt.Sprintf(" (no %s types are registered)", kind)
	}
	if got != "" {
		if s, ok := closest(got, types); ok {
			return fmt.Sprintf(" (did you mean %q? known: %s)", s, strings.Join(types, ", "))
		}
	}
	return " (known: " + strings.Join(types, ", ") + ")"
}

func deliveryKeysIf(d *Delivery) []string {
	if d == nil {
		return nil
	}
	return deliveryKeys
}

// without returns a copy of mapping n without the given keys.
func without(n *yaml.Node, keys []string) *yaml.Node {
	cp := *n
	cp.Anchor = ""
	cp.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.Tag != "!!merge" && slices.Contains(keys, k.Value) {
			continue
		}
		cp.Content = append(cp.Content, k, n.Content[i+1])
	}
	return &cp
}

func keysOf(n *yaml.Node) []string {
	var keys []string
	for _, p := range pairs(n, "", nil, false) {
		keys = append(keys, p.key.Value)
	}
	return keys
}

func (l *loader) pipelines(n *yaml.Node) (map[string]Pipeline, []named) {
	entries := l.section(n, "pipelines")
	out := make(map[string]Pipeline, len(entries))
	for _, e := range entries {
		p := DefaultPipeline()
		p.Line = e.key.Line
		path := joinPath("pipelines", e.name)
		if isNull(e.val) {
			// An empty definition still has to name inputs and outputs.
			l.validate(e.val, e.key.Line, path, reflect.ValueOf(&p).Elem())
		} else {
			l.decode(e.val, e.key.Line, path, reflect.ValueOf(&p).Elem())
		}
		out[e.name] = p
	}
	return out, entries
}

// crossCheck checks what pipelines name against the sections, in file order.
func (l *loader) crossCheck(cfg *Config, pipes, inputs, processors, outputs []named) {
	type use struct {
		pipeline string
		line     int
	}
	usedBy := make(map[string]use)
	for _, pe := range pipes {
		p, ok := cfg.Pipelines[pe.name]
		if !ok {
			continue
		}
		path := joinPath("pipelines", pe.name)
		for _, list := range []struct {
			key     string
			kind    Kind
			names   []string
			defined []named
		}{
			{"inputs", KindInput, p.Inputs, inputs},
			{"processors", KindProcessor, p.Processors, processors},
			{"outputs", KindOutput, p.Outputs, outputs},
		} {
			var defined []string
			for _, d := range list.defined {
				defined = append(defined, d.name)
			}
			for i, name := range list.names {
				line, itemPath := locate(pe.val, pe.key.Line, path, indexPath(list.key, i))
				if !slices.Contains(defined, name) {
					l.add(line, itemPath, "undefined %s %q%s", list.kind, name, definedHint(list.kind, name, defined))
					continue
				}
				if list.kind != KindOutput {
					continue
				}
				if prev, dup := usedBy[name]; dup && prev.pipeline != pe.name {
					l.add(line, itemPath, "output %q is already used by pipeline %q (line %d); an output reads one pipeline's buffer, so define another output for this pipeline", name, prev.pipeline, prev.line)
					continue
				}
				if _, dup := usedBy[name]; !dup {
					usedBy[name] = use{pipeline: pe.name, line: line}
				}
			}
		}
	}
}

func definedHint(kind Kind, name string, defined []string) string {
	if len(defined) == 0 {
		return fmt.Sprintf(" (no %ss are defined)", kind)
	}
	if s, ok := closest(name, defined); ok {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return fmt.Sprintf(" (defined %ss: %s)", kind, strings.Join(sorted(defined), ", "))
}
