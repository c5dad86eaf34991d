package configtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubetrail/kubetrail/config"
)

// writeCA makes a self-signed CA that is also the server certificate for
// 127.0.0.1, and returns the PEM files and the tls.Certificate.
func writeCA(t *testing.T, dir string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"kt.test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func fields(err error) []string {
	var out []string
	for _, e := range flatten(err) {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCA(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty", Config{}, nil},
		{"ca", Config{CAFile: certFile}, nil},
		{"mtls", Config{CAFile: certFile, CertFile: certFile, KeyFile: keyFile}, nil},
		{"missing ca", Config{CAFile: filepath.Join(dir, "nope")}, []string{"ca_file"}},
		{"ca not pem", Config{CAFile: notPEM}, []string{"ca_file"}},
		{"cert without key", Config{CertFile: certFile}, []string{"key_file"}},
		{"key without cert", Config{KeyFile: keyFile}, []string{"cert_file"}},
		{"bad pair", Config{CertFile: certFile, KeyFile: notPEM}, []string{"cert_file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fields(tc.cfg.Validate())
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("fields %v, want %v (%v)", got, tc.want, tc.cfg.Validate())
			}
		})
	}
}

// TestLoadHandshake dials a real TLS listener: verification against the CA
// passes, without the CA it fails, server_name is checked, and
// insecure_skip_verify skips it.
func TestLoadHandshake(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, cert := writeCA(t, dir)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	dial := func(c Config) error {
		tc, err := c.Load()
		if err != nil {
			return err
		}
		conn, err := tls.Dial("tcp", ln.Addr().String(), tc)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if err := dial(Config{CAFile: certFile}); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	if err := dial(Config{CAFile: certFile, CertFile: certFile, KeyFile: keyFile, ServerName: "kt.test"}); err != nil {
		t.Errorf("mutual TLS with server_name: %v", err)
	}
	if err := dial(Config{}); err == nil {
		t.Error("system roots accepted a self-signed certificate")
	}
	if err := dial(Config{CAFile: certFile, ServerName: "other.test"}); err == nil {
		t.Error("a wrong server_name was accepted")
	}
	if err := dial(Config{InsecureSkipVerify: true}); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
	tc, err := (&Config{}).Load()
	if err != nil || tc.InsecureSkipVerify || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("defaults: %+v, %v", tc, err)
	}
}
