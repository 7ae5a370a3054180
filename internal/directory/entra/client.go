package entra

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kiotaauth "github.com/microsoft/kiota-authentication-azure-go"
	nethttplibrary "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

// userAgent names the controller in Graph's request logs.
const userAgent = "fleetlaps"

// newAdapter builds the Graph request adapter of a connection: one TLS transport (system roots
// plus caFile) shared by the token credential and Graph, and an explicit middleware list:
// bounded retry, redirect, user agent. No compression handler: with it before retry a
// retried POST body arrives corrupted, and the action and policy bodies must arrive intact.
func newAdapter(c *Config) (*msgraphcore.GraphRequestAdapterBase, error) {
	pool, err := c.rootCAs()
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	transport.MaxIdleConnsPerHost = 4

	creds, err := c.loadCredentials()
	if err != nil {
		return nil, err
	}
	tokenClient := &http.Client{Transport: transport, Timeout: c.timeout()}
	clientOpts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: c.AuthorityHost},
		Transport: tokenClient,
	}
	var cred azcore.TokenCredential
	if creds.secret != "" {
		cred, err = azidentity.NewClientSecretCredential(c.TenantID, c.ClientID, creds.secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: clientOpts, DisableInstanceDiscovery: true,
		})
	} else {
		certs, key, perr := azidentity.ParseCertificates(append(append([]byte{}, creds.certChain...), creds.key...), nil)
		if perr != nil {
			return nil, fmt.Errorf("credentialsDir %s: %s/%s: %w", c.CredentialsDir, CertFile, KeyFile, perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(c.TenantID, c.ClientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
			ClientOptions: clientOpts, DisableInstanceDiscovery: true, SendCertificateChain: true,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("token credential: %w", err)
	}
	graph, _ := url.Parse(c.GraphEndpoint)
	// The provider attaches the bearer token only to the hosts listed: the connection's own
	// Graph host, whatever cloud it is.
	auth, err := kiotaauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred,
		[]string{c.GraphEndpoint + "/.default"}, []string{graph.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("authentication provider: %w", err)
	}
	redirect := nethttplibrary.NewRedirectHandler()
	ua := nethttplibrary.NewUserAgentHandlerWithOptions(&nethttplibrary.UserAgentHandlerOptions{
		Enabled: true, ProductName: userAgent, ProductVersion: "1",
	})
	httpClient := nethttplibrary.GetDefaultClient() // replaced transport below
	httpClient.Transport = nethttplibrary.NewCustomTransportWithParentTransport(transport,
		throttleRetry{directory: c.Name, sleep: sleepCtx}, redirect, ua)
	httpClient.Timeout = c.timeout() * time.Duration(MaxRetries+1)
	// The adapter of msgraph-sdk-go (its GraphRequestAdapter wraps this base) without the
	// GraphServiceClient, whose every request builder would have to be compiled in.
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
	write := absser.NewSerializationWriterFactoryRegistry()
	write.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
	adapter, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}, parse, write, httpClient)
	if err != nil {
		return nil, fmt.Errorf("graph request adapter: %w", err)
	}
	adapter.SetBaseUrl(c.GraphEndpoint + "/v1.0")
	return adapter, nil
}
