package entra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/fleetlaps/fleetlaps/internal/directory"
)

// Graph application permissions each call needs; permission errors name them.
const (
	PermLAPSMetadata   = "DeviceLocalCredential.ReadBasic.All"
	PermManagedDevices = "DeviceManagementManagedDevices.Read.All"
	// The rotate action's reference page lists read permissions, while practitioners grant
	// PrivilegedOperations; which one the service enforces is unverified
	// (LAPS-REFERENCE.md §2), so the error names both.
	PermRotate        = "DeviceManagementManagedDevices.PrivilegedOperations.All (or DeviceManagementConfiguration.Read.All with DeviceManagementManagedDevices.Read.All)"
	PermConfiguration = "DeviceManagementConfiguration.ReadWrite.All"
	PermRegistration  = "Policy.Read.DeviceConfiguration"
)

// errorMapping parses Graph's OData error bodies for every status.
var errorMapping = abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// classify turns a Graph call's failure into a directory error. perm is the permission the call
// needs (named in 401/403 messages). The OData error's own Error() is never called: it panics
// on a body without a message.
func (b *Backend) classify(op, perm string, err error) error {
	if err == nil {
		return nil
	}
	var authFailed *azidentity.AuthenticationFailedError
	if errors.As(err, &authFailed) {
		status := 0
		if authFailed.RawResponse != nil {
			status = authFailed.RawResponse.StatusCode
		}
		return directory.NewError(directory.ErrAuthFailed, b.cfg.Name, op,
			fmt.Errorf("the token endpoint %s refused the application %s of tenant %s (HTTP %d); check clientID, tenantID and the credentials in credentialsDir", b.cfg.AuthorityHost, b.cfg.ClientID, b.cfg.TenantID, status))
	}
	var apiErr abstractions.ApiErrorable
	if errors.As(err, &apiErr) {
		status := apiErr.GetStatusCode()
		detail := odataDetail(err)
		switch {
		case status == 401:
			return directory.NewError(directory.ErrAuthFailed, b.cfg.Name, op, fmt.Errorf("the Graph API refused the token (HTTP 401%s)", detail))
		case status == 403:
			return directory.NewError(directory.ErrPermissionDenied, b.cfg.Name, op, fmt.Errorf("the application lacks the Graph application permission %s (HTTP 403%s); grant it with admin consent", perm, detail))
		case status == 404:
			return directory.NewError(directory.ErrNotFound, b.cfg.Name, op, fmt.Errorf("HTTP 404%s", detail))
		case status == 429 || status == 503 || status == 504:
			return directory.NewError(directory.ErrThrottled, b.cfg.Name, op, fmt.Errorf("the Graph API still asks to slow down after %d retries (HTTP %d%s)", MaxRetries, status, detail))
		case status >= 500:
			return directory.NewError(directory.ErrUnreachable, b.cfg.Name, op, fmt.Errorf("HTTP %d%s", status, detail))
		default:
			return directory.NewError(directory.ErrBadData, b.cfg.Name, op, fmt.Errorf("HTTP %d%s", status, detail))
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return directory.NewError(directory.ErrUnreachable, b.cfg.Name, op, err)
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return directory.NewError(directory.ErrUnreachable, b.cfg.Name, op, err)
	}
	return directory.NewError(directory.ErrBadData, b.cfg.Name, op, err)
}

func odataDetail(err error) string {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return ""
	}
	main := oe.GetErrorEscaped()
	if main == nil {
		return ""
	}
	out := ""
	if c := main.GetCode(); c != nil && *c != "" {
		out += ", " + *c
	}
	if m := main.GetMessage(); m != nil && *m != "" {
		out += ": " + *m
	}
	return out
}

var errNoSwitch = errors.New("the device registration policy has no localAdminPassword.isEnabled")
