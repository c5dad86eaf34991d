package elasticsearch

import (
	"fmt"
	"strings"

	"github.com/kubetrail/kubetrail/outputs/internal/nametemplate"
)

// indexNameOptions are the characters Elasticsearch and OpenSearch accept
// in an index or data stream name (lowercase only): field values are
// lowercased, other bytes of them become '_'.
var indexNameOptions = nametemplate.Options{
	Valid: func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+'
	},
	Lower: true,
}

func parseName(s string) (*nametemplate.Template, error) {
	t, err := nametemplate.Parse(s, indexNameOptions)
	if err != nil {
		return nil, err
	}
	if strings.IndexAny(s[:1], "-_+") == 0 {
		return nil, fmt.Errorf("%q: an index name may not start with -, _ or +", s)
	}
	return t, nil
}

// indexPattern is the index pattern matching every name t renders: each
// {reference} becomes *.
func indexPattern(t *nametemplate.Template) string {
	var b strings.Builder
	s := t.String()
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		if !strings.HasSuffix(b.String(), "*") {
			b.WriteByte('*')
		}
		j := strings.IndexByte(s[i:], '}')
		s = s[i+j+1:]
	}
	return b.String()
}
