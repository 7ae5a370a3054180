package entra

import (
	"context"
	"encoding/json"

	abstractions "github.com/microsoft/kiota-abstractions-go"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// TenantLAPSEnabled reads localAdminPassword.isEnabled of the tenant's device registration
// policy: when false, no device can back up a password to Entra ID whatever policy it gets.
func (b *Backend) TenantLAPSEnabled(ctx context.Context) (bool, error) {
	ri, err := b.rawRequest(abstractions.GET, "/v1.0/policies/deviceRegistrationPolicy", nil, nil)
	if err != nil {
		return false, err
	}
	data, err := b.sendJSON(ctx, ri)
	if err != nil {
		return false, b.classify("tenantLAPS", PermRegistration, err)
	}
	var p struct {
		LocalAdminPassword *struct {
			IsEnabled *bool `json:"isEnabled"`
		} `json:"localAdminPassword"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return false, directory.NewError(directory.ErrBadData, b.cfg.Name, "tenantLAPS", err)
	}
	if p.LocalAdminPassword == nil || p.LocalAdminPassword.IsEnabled == nil {
		return false, directory.NewError(directory.ErrBadData, b.cfg.Name, "tenantLAPS", errNoSwitch)
	}
	return *p.LocalAdminPassword.IsEnabled, nil
}
