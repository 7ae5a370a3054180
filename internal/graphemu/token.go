package graphemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
)

// serveAuthority is the tenant's slice of the authority host: the OpenID configuration MSAL reads
// and the v2.0 token endpoint (client credentials with a secret or a certificate assertion).
func (s *Server) serveAuthority(w http.ResponseWriter, r *http.Request, rest string) {
	base := s.ts.URL + "/" + s.opts.TenantID
	switch {
	case r.Method == http.MethodGet && rest == "/v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"jwks_uri":                              base + "/discovery/v2.0/keys",
			"response_types_supported":              []string{"code", "id_token", "token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	case r.Method == http.MethodPost && rest == "/oauth2/v2.0/token":
		s.count("token")
		if err := r.ParseForm(); err != nil {
			oauthError(w, "invalid_request", err.Error())
			return
		}
		f := r.PostForm
		if f.Get("grant_type") != "client_credentials" {
			s.violation(r, "grant_type %q: a daemon uses client_credentials", f.Get("grant_type"))
			oauthError(w, "unsupported_grant_type", "AADSTS70003: unsupported grant type")
			return
		}
		if f.Get("client_id") != s.opts.ClientID {
			oauthError(w, "unauthorized_client", "AADSTS700016: Application with identifier '"+f.Get("client_id")+"' was not found in the directory.")
			return
		}
		if want := s.ts.URL + "/.default"; !strings.Contains(" "+f.Get("scope")+" ", " "+want+" ") {
			s.violation(r, "scope %q: want %s", f.Get("scope"), want)
			oauthError(w, "invalid_scope", "AADSTS70011: The provided value for the input parameter 'scope' is not valid.")
			return
		}
		if err := s.checkClientCredential(f.Get("client_secret"), f.Get("client_assertion_type"), f.Get("client_assertion")); err != nil {
			oauthError(w, "invalid_client", "AADSTS7000215: "+err.Error())
			return
		}
		tok := "emu-" + newID()
		s.mu.Lock()
		s.tokens[tok] = true
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": tok})
	default:
		s.violation(r, "no such authority endpoint")
		oauthError(w, "invalid_request", "AADSTS90002: no such endpoint")
	}
}

func (s *Server) checkClientCredential(secret, assertionType, assertion string) error {
	switch {
	case secret != "":
		if s.opts.ClientSecret == "" || secret != s.opts.ClientSecret {
			//lint:ignore ST1005 the token endpoint's own error_description, word for word
			return errors.New("Invalid client secret provided.")
		}
		return nil
	case assertionType == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" && assertion != "":
		return s.checkAssertion(assertion)
	}
	//lint:ignore ST1005 the token endpoint's own error_description, word for word
	return errors.New("The request body must contain client_secret or client_assertion.")
}

// checkAssertion verifies the client assertion JWT against the registered certificate: its
// signature (RS256 or PS256) and its audience (this tenant's token endpoint).
func (s *Server) checkAssertion(jwt string) error {
	if s.opts.ClientCertificatePEM == nil {
		return errors.New("no certificate is registered for the application")
	}
	blk, _ := pem.Decode(s.opts.ClientCertificatePEM)
	if blk == nil {
		return errors.New("registered certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("registered certificate has no RSA key")
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("client assertion is not a JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		X5t string `json:"x5t"`
	}
	var claims struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
	}
	if err := decodeSegment(parts[0], &hdr); err != nil {
		return err
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch hdr.Alg {
	case "RS256":
		err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case "PS256":
		err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, nil)
	default:
		return errors.New("client assertion algorithm " + hdr.Alg + " is not supported")
	}
	if err != nil {
		return errors.New("client assertion signature does not verify with the registered certificate")
	}
	if hdr.X5t != "" {
		thumb := sha1.Sum(cert.Raw)
		if hdr.X5t != base64.RawURLEncoding.EncodeToString(thumb[:]) && hdr.X5t != base64.StdEncoding.EncodeToString(thumb[:]) {
			return errors.New("client assertion x5t names another certificate")
		}
	}
	if claims.Iss != s.opts.ClientID {
		return errors.New("client assertion issuer is not the application")
	}
	if !strings.HasPrefix(claims.Aud, s.ts.URL+"/"+s.opts.TenantID+"/") {
		return errors.New("client assertion audience " + claims.Aud + " is not this tenant's token endpoint")
	}
	return nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func oauthError(w http.ResponseWriter, code, desc string) {
	status := http.StatusBadRequest
	if code == "invalid_client" || code == "unauthorized_client" {
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{}})
}

func (s *Server) authorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[tok]
}
