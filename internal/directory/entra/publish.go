package entra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/fleetlaps/fleetlaps/internal/directory"
	"github.com/fleetlaps/fleetlaps/internal/directory/entra/ownership"
)

// PublishPolicy publishes a settings-catalog policy without assignments.
func (b *Backend) PublishPolicy(ctx context.Context, name string, document []byte) (directory.PublishedRef, error) {
	return b.PublishAssignedPolicy(ctx, name, document, nil)
}

// PublishAssignedPolicy creates or updates (in place) the configuration policy published under
// name and assigns it to exactly groupIDs. The policy carries an ownership marker in its
// description; an existing policy with the marker is found before anything is created, so a
// crash between creating the policy and recording its id never leaves a duplicate. Policies
// without this connection's marker are never changed.
func (b *Backend) PublishAssignedPolicy(ctx context.Context, name string, document []byte, groupIDs []string) (directory.PublishedRef, error) {
	const op = "publishPolicy"
	body, err := withMarker(document, ownership.Marker(b.cfg.Name, name))
	if err != nil {
		return directory.PublishedRef{}, directory.NewError(directory.ErrBadData, b.cfg.Name, op, err)
	}
	id, err := b.findOwnedPolicy(ctx, name)
	if err != nil {
		return directory.PublishedRef{}, err
	}
	if id != "" {
		ri, rerr := b.rawRequest(abstractions.PATCH, "/beta/deviceManagement/configurationPolicies/"+url.PathEscape(id), nil, body)
		if rerr != nil {
			return directory.PublishedRef{}, rerr
		}
		err = b.adapter.SendNoContent(ctx, ri, errorMapping)
		if directory.KindOf(b.classify(op, PermConfiguration, err)) == directory.ErrNotFound {
			b.forgetPolicy(name)
			id, err = "", nil // deleted behind our back: create it again
		} else if err != nil {
			return directory.PublishedRef{}, b.classify(op, PermConfiguration, err)
		}
	}
	if id == "" {
		ri, rerr := b.rawRequest(abstractions.POST, "/beta/deviceManagement/configurationPolicies", nil, body)
		if rerr != nil {
			return directory.PublishedRef{}, rerr
		}
		data, serr := b.sendJSON(ctx, ri)
		if serr != nil {
			return directory.PublishedRef{}, b.classify(op, PermConfiguration, serr)
		}
		var created struct {
			ID string `json:"id"`
		}
		if jerr := json.Unmarshal(data, &created); jerr != nil || created.ID == "" {
			return directory.PublishedRef{}, directory.NewError(directory.ErrBadData, b.cfg.Name, op, fmt.Errorf("create answered without an id: %v", jerr))
		}
		id = created.ID
		b.log.Info("configuration policy created", "policy", name, "id", id)
	}
	b.mu.Lock()
	b.policyIDs[name] = id
	b.mu.Unlock()
	if err := b.assign(ctx, id, groupIDs); err != nil {
		return directory.PublishedRef{}, err
	}
	return directory.PublishedRef{ID: id, Hash: publishedHash(document, groupIDs)}, nil
}

// publishedHash covers the rendered document and the assignment, so a change of either
// republishes.
func publishedHash(document []byte, groupIDs []string) string {
	g := slices.Clone(groupIDs)
	slices.Sort(g)
	h := sha256.New()
	h.Write(document)
	h.Write([]byte("\x00" + strings.Join(g, ",")))
	return hex.EncodeToString(h.Sum(nil))
}

func (b *Backend) assign(ctx context.Context, id string, groupIDs []string) error {
	type target struct {
		ODataType string `json:"@odata.type"`
		GroupID   string `json:"groupId"`
	}
	type assignment struct {
		Target target `json:"target"`
	}
	body := struct {
		Assignments []assignment `json:"assignments"`
	}{Assignments: []assignment{}}
	for _, g := range groupIDs {
		body.Assignments = append(body.Assignments, assignment{Target: target{ODataType: "#microsoft.graph.groupAssignmentTarget", GroupID: g}})
	}
	data, _ := json.Marshal(body)
	ri, err := b.rawRequest(abstractions.POST, "/beta/deviceManagement/configurationPolicies/"+url.PathEscape(id)+"/assign", nil, data)
	if err != nil {
		return err
	}
	if _, err := b.sendJSON(ctx, ri); err != nil {
		return b.classify("assignPolicy", PermConfiguration, err)
	}
	return nil
}

// WithdrawPolicy deletes the configuration policy if it carries this connection's ownership
// marker; a missing policy is not an error, a foreign one is refused.
func (b *Backend) WithdrawPolicy(ctx context.Context, ref directory.PublishedRef) error {
	const op = "withdrawPolicy"
	if ref.ID == "" {
		return nil
	}
	ri, err := b.rawRequest(abstractions.GET, "/beta/deviceManagement/configurationPolicies/"+url.PathEscape(ref.ID), url.Values{"$select": {"id,name,description"}}, nil)
	if err != nil {
		return err
	}
	data, err := b.sendJSON(ctx, ri)
	if cerr := b.classify(op, PermConfiguration, err); cerr != nil {
		if directory.KindOf(cerr) == directory.ErrNotFound {
			return nil
		}
		return cerr
	}
	var p struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return directory.NewError(directory.ErrBadData, b.cfg.Name, op, err)
	}
	name, owned := ownership.Owner(p.Description, b.cfg.Name)
	if !owned {
		return directory.NewError(directory.ErrOutOfScope, b.cfg.Name, op, fmt.Errorf("configuration policy %s is not one this connection published; left alone", ref.ID))
	}
	ri, err = b.rawRequest(abstractions.DELETE, "/beta/deviceManagement/configurationPolicies/"+url.PathEscape(ref.ID), nil, nil)
	if err != nil {
		return err
	}
	if err := b.adapter.SendNoContent(ctx, ri, errorMapping); err != nil {
		if cerr := b.classify(op, PermConfiguration, err); directory.KindOf(cerr) != directory.ErrNotFound {
			return cerr
		}
	}
	b.forgetPolicy(name)
	b.log.Info("configuration policy deleted", "policy", name, "id", ref.ID)
	return nil
}

func (b *Backend) forgetPolicy(name string) {
	b.mu.Lock()
	delete(b.policyIDs, name)
	b.mu.Unlock()
}

// findOwnedPolicy returns the id of the policy published under name: from the cache, else by
// listing the tenant's configuration policies (id, name, description only) for the marker.
func (b *Backend) findOwnedPolicy(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	id, ok := b.policyIDs[name]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	marker := ownership.Marker(b.cfg.Name, name)
	ri, err := b.rawRequest(abstractions.GET, "/beta/deviceManagement/configurationPolicies", url.Values{"$select": {"id,name,description"}}, nil)
	if err != nil {
		return "", err
	}
	for ri != nil {
		data, err := b.sendJSON(ctx, ri)
		if err != nil {
			return "", b.classify("findPolicy", PermConfiguration, err)
		}
		var page struct {
			Value []struct {
				ID          string `json:"id"`
				Description string `json:"description"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return "", directory.NewError(directory.ErrBadData, b.cfg.Name, "findPolicy", err)
		}
		for _, p := range page.Value {
			if strings.Contains(p.Description, marker) {
				return p.ID, nil
			}
		}
		ri = nil
		if page.NextLink != "" {
			if !strings.HasPrefix(page.NextLink, b.cfg.GraphEndpoint+"/") {
				return "", directory.NewError(directory.ErrBadData, b.cfg.Name, "findPolicy", fmt.Errorf("@odata.nextLink leaves the Graph endpoint"))
			}
			u, _ := url.Parse(page.NextLink)
			ri = abstractions.NewRequestInformation()
			ri.Method = abstractions.GET
			ri.SetUri(*u)
			ri.Headers.TryAdd("Accept", "application/json")
		}
	}
	return "", nil
}

// withMarker appends the ownership marker to the rendered document's description.
func withMarker(document []byte, marker string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, fmt.Errorf("rendered policy is not a JSON object: %w", err)
	}
	var desc string
	if raw, ok := doc["description"]; ok {
		_ = json.Unmarshal(raw, &desc)
	}
	if !strings.Contains(desc, marker) {
		desc = strings.TrimSpace(desc + " " + marker)
	}
	d, _ := json.Marshal(desc)
	doc["description"] = d
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}
