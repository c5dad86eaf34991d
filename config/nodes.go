package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// deref follows aliases and unwraps a document node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 100; i++ {
		switch {
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}

// isNull reports whether n is an explicit or implicit YAML null ("~", "null", nothing).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describeNode names what the user wrote, for "expected X, got Y" messages.
func describeNode(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil || n.Kind == 0:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!bool":
		return "a boolean"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!str":
		return "a string"
	}
	return "a scalar (" + n.Tag + ")"
}

var simpleKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinPath appends a mapping key to a dotted path; keys that would make the
// path ambiguous are written in brackets: labels["app.kubernetes.io/name"].
func joinPath(path, key string) string {
	if !simpleKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// pair is one key/value of a mapping.
type pair struct{ key, val *yaml.Node }

// pairs returns the pairs of mapping n with merge keys (<<) resolved: an
// explicit key overrides a merged one, and among merged mappings the first
// wins. When report is set, a key written twice and a non-scalar key are
// problems; only the first occurrence is kept.
func pairs(n *yaml.Node, path string, p *problems, report bool) []pair {
	return mergedPairs(n, path, p, report, 0)
}

func mergedPairs(n *yaml.Node, path string, p *problems, report bool, depth int) []pair {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out, merged []pair
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if depth > 20 {
				if report {
					p.add(k.Line, path, "merge keys (<<) nested too deeply")
				}
				continue
			}
			merged = append(merged, mergeSources(k, v, path, p, report, depth)...)
			continue
		}
		k = deref(k)
		if k.Kind != yaml.ScalarNode {
			if report {
				p.add(k.Line, path, "a key must be a string, got %s", describeNode(k))
			}
			continue
		}
		if first, dup := seen[k.Value]; dup {
			if report {
				p.add(k.Line, joinPath(path, k.Value), "defined twice (first at line %d)", first.Line)
			}
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, m := range merged {
		if _, dup := seen[m.key.Value]; !dup {
			seen[m.key.Value] = m.key
			out = append(out, m)
		}
	}
	return out
}

func mergeSources(k, v *yaml.Node, path string, p *problems, report bool, depth int) []pair {
	v = deref(v)
	switch v.Kind {
	case yaml.MappingNode:
		return mergedPairs(v, path, p, false, depth+1)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if deref(item).Kind != yaml.MappingNode {
				if report {
					p.add(k.Line, path, "merge key (<<) needs mappings, got %s", describeNode(item))
				}
				continue
			}
			out = append(out, mergedPairs(item, path, p, false, depth+1)...)
		}
		return out
	}
	if report {
		p.add(k.Line, path, "merge key (<<) needs a mapping, got %s", describeNode(v))
	}
	return nil
}

// lookup returns the pair of mapping n whose key is name.
func lookup(n *yaml.Node, name string) (pair, bool) {
	for _, p := range pairs(n, "", nil, false) {
		if p.key.Value == name {
			return p, true
		}
	}
	return pair{}, false
}

// locate resolves field (as in FieldError: "batch.max_bytes", "outputs[1]")
// under the value n, which is found at line at and path. It returns the line
// of the deepest part of field present in the file, and the full path.
func locate(n *yaml.Node, at int, path, field string) (int, string) {
	line, cur, full := at, deref(n), path
	found := true
	for seg := range strings.SplitSeq(field, ".") {
		name, idx, _ := strings.Cut(seg, "[")
		if name != "" {
			full = joinPath(full, name)
			if found {
				if p, ok := lookup(cur, name); ok {
					line, cur = p.key.Line, deref(p.val)
				} else {
					found = false
				}
			}
		}
		if idx == "" {
			continue
		}
		for part := range strings.SplitSeq("["+idx, "[") {
			if part == "" {
				continue
			}
			part = strings.TrimSuffix(part, "]")
			full += "[" + part + "]"
			i, err := strconv.Atoi(part)
			if found && err == nil && cur != nil && cur.Kind == yaml.SequenceNode && i >= 0 && i < len(cur.Content) {
				cur = deref(cur.Content[i])
				line = cur.Line
			} else {
				found = false
			}
		}
	}
	return line, full
}

// indexPath appends a list index to a path.
func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
