package redistest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TLSServer is a redis-server that accepts TLS connections only (--port 0),
// with a self-signed certificate as some PaaS Redis add-ons have.
type TLSServer struct {
	*Proc
	// CertPEM is the server's self-signed certificate; trust it with
	// [TLSServer.RootCAs].
	CertPEM []byte
}

// StartTLS starts a TLS-only server with a new self-signed certificate for
// 127.0.0.1 and localhost, clients not asked for certificates, plus extra
// arguments args (e.g. "--user", "alice", "on", ">pw", "~*", "&*", "+@all":
// one word per argument). It stops it
// when the test ends.
func StartTLS(tb testing.TB, args ...string) *TLSServer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := RunTLS(ctx, tb.TempDir(), args...)
	if err != nil {
		tb.Fatalf("start TLS redis-server: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// RunTLS is [StartTLS] without a test: files go under dir and the caller
// calls Stop.
func RunTLS(ctx context.Context, dir string, args ...string) (*TLSServer, error) {
	certPEM, keyPEM, err := SelfSignedCert([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	s := &TLSServer{CertPEM: certPEM}
	log := filepath.Join(dir, "redis.log")
	// The readiness probe trusts the certificate; an AUTH demand counts as up.
	probe := &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}
	s.Proc, err = startProc(ctx, procSpec{dir: dir, log: log, tls: probe, args: func(port int) []string {
		a := []string{
			"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--logfile", log,
			"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", certFile,
			"--tls-auth-clients", "no",
		}
		return append(a, args...)
	}})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// RootCAs returns a pool that trusts the server's certificate.
func (s *TLSServer) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM)
	return pool
}

// URL returns rediss://user:password@127.0.0.1:port/0; user and password
// may be empty.
func (s *TLSServer) URL(user, password string) string {
	u := url.URL{Scheme: "rediss", Host: s.Addr(), Path: "/0"}
	if user != "" || password != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// SelfSignedCert returns a PEM certificate and PEM PKCS#8 key of a
// self-signed ECDSA P-256 certificate valid for a day for the given names
// and addresses. The certificate is its own CA.
func SelfSignedCert(dnsNames []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "redistest self-signed", Organization: []string{"telequeue tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
