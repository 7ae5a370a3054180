package entra

import (
	"context"
	"fmt"
	"net/url"

	abstractions "github.com/microsoft/kiota-abstractions-go"
)

// rawRequest builds a kiota RequestInformation for a path under the connection's Graph endpoint
// (version included, e.g. "/beta/deviceManagement/..."): the beta calls msgraph-sdk-go has no
// builders for go through the same adapter, token and middleware as the v1.0 ones.
func (b *Backend) rawRequest(method abstractions.HttpMethod, path string, query url.Values, body []byte) (*abstractions.RequestInformation, error) {
	u, err := url.Parse(b.cfg.GraphEndpoint + path)
	if err != nil {
		return nil, fmt.Errorf("graph url %s: %w", path, err)
	}
	if len(query) > 0 {
		u.RawQuery = encodeQuery(query)
	}
	ri := abstractions.NewRequestInformation()
	ri.Method = method
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
	}
	return ri, nil
}

// encodeQuery writes OData system query options with a literal '$' and %20 for spaces, as
// Graph's documentation does.
func encodeQuery(q url.Values) string {
	out := ""
	for _, k := range []string{"$select", "$filter", "$top"} {
		vs, ok := q[k]
		if !ok {
			continue
		}
		for _, v := range vs {
			if out != "" {
				out += "&"
			}
			out += k + "=" + url.PathEscape(v)
		}
	}
	return out
}

// getJSON sends a request and returns the raw JSON body (nil for 204).
func (b *Backend) sendJSON(ctx context.Context, ri *abstractions.RequestInformation) ([]byte, error) {
	v, err := b.adapter.SendPrimitive(ctx, ri, "[]byte", errorMapping)
	if err != nil || v == nil {
		return nil, err
	}
	data, _ := v.([]byte)
	return data, nil
}
