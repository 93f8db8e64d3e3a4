package registry

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

const dockerConfig = "testdata/docker/config.json"

func TestKeychainResolve(t *testing.T) {
	kc, err := Keychain(dockerConfig, map[string]Basic{
		"both.example":   {Username: "frombasic", Password: "basic-s3cret"},
		"docker.io":      {Username: "basichub", Password: "basichub-s3cret"},
		"127.0.0.1:5000": {Username: "local", Password: "local-s3cret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	noBasic, err := Keychain(dockerConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	onlyBasic, err := Keychain("", map[string]Basic{"example.com": {Username: "b", Password: "b-s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kc   authn.Keychain
		repo string
		want authn.AuthConfig // zero means anonymous
	}{
		{"docker config auth", kc, "example.com/shop/checkout", authn.AuthConfig{Username: "ferry", Password: "docker-s3cret"}},
		{"basic wins over docker config", kc, "both.example/shop/checkout", authn.AuthConfig{Username: "frombasic", Password: "basic-s3cret"}},
		{"basic docker.io means Docker Hub", kc, "library/ubuntu", authn.AuthConfig{Username: "basichub", Password: "basichub-s3cret"}},
		{"docker config Docker Hub key", noBasic, "ubuntu", authn.AuthConfig{Username: "hubuser", Password: "hub-s3cret"}},
		{"basic with port", kc, "127.0.0.1:5000/shop/checkout", authn.AuthConfig{Username: "local", Password: "local-s3cret"}},
		{"port must match", kc, "127.0.0.1:5001/shop/checkout", authn.AuthConfig{}},
		{"legacy URL key", kc, "legacy.example:5000/shop/checkout", authn.AuthConfig{Username: "legacy", Password: "legacy-s3cret"}},
		{"repository-scoped key", kc, "scoped.example/team/app", authn.AuthConfig{Username: "scoped", Password: "scoped-s3cret"}},
		// Docker's file store reduces keys to hosts when nothing matches exactly.
		{"repository-scoped key, other repo", kc, "scoped.example/team/other", authn.AuthConfig{Username: "scoped", Password: "scoped-s3cret"}},
		{"identity token", kc, "token.example/shop/checkout", authn.AuthConfig{IdentityToken: "id-tok3n"}},
		{"unknown host is anonymous", kc, "unknown.example/shop/checkout", authn.AuthConfig{}},
		{"no docker config", onlyBasic, "both.example/shop/checkout", authn.AuthConfig{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, err := name.NewRepository(tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			a, err := tt.kc.Resolve(repo)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == (authn.AuthConfig{}) {
				if a != authn.Anonymous {
					t.Fatalf("want anonymous, got %T", a)
				}
				return
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("credentials for %s: user %q, want %q (token set: %v)", tt.repo, got.Username, tt.want.Username, got.IdentityToken != "")
			}
		})
	}
}

func TestKeychainErrors(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		basic  map[string]Basic
		want   string // substring of the error
		secret string // must not appear in the error
	}{
		{"missing file", "testdata/docker/absent.json", nil, "testdata/docker/absent.json", ""},
		{"malformed JSON", "testdata/docker/malformed.json", nil, "testdata/docker/malformed.json", "s3cret"},
		{"auth not base64", "testdata/docker/badauth.json", nil, "testdata/docker/badauth.json", "s3cret"},
		{"auth without user", "testdata/docker/nouser.json", nil, "testdata/docker/nouser.json", "s3cret"},
		{"empty host", "", map[string]Basic{"": {Username: "u", Password: "p-s3cret"}}, `registry host ""`, "s3cret"},
		{"URL as host", "", map[string]Basic{"https://r.example/": {Username: "u", Password: "p-s3cret"}}, `"https://r.example/"`, "s3cret"},
		{"empty username", "", map[string]Basic{"r.example": {Password: "p-s3cret"}}, "r.example: empty username", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Keychain(tt.path, tt.basic)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

func TestBasicRedacted(t *testing.T) {
	b := Basic{Username: "ferry", Password: "p4ss-s3cret"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("creds", "basic", b)
	for _, s := range []string{fmt.Sprint(b), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b), fmt.Sprintf("%v", map[string]Basic{"h": b}), buf.String()} {
		if strings.Contains(s, "p4ss-s3cret") {
			t.Errorf("password shown in %q", s)
		}
		if !strings.Contains(s, "ferry") {
			t.Errorf("username missing from %q", s)
		}
	}
}

// TestClientBasicAuth runs the client against registries that demand basic
// credentials: a loopback one keyed in the basic map, and a TLS one named
// example.com whose credentials come from the Docker config.
func TestClientBasicAuth(t *testing.T) {
	const user, pass = "ferry", "docker-s3cret" // as in testdata/docker/config.json
	reg := newRegistry()
	pushHost := serve(t, reg)
	want := digestOf(t, push(t, pushHost+"/shop/checkout:1.0.0"))
	local := serve(t, basicAuth(user, pass, reg))
	tlsSrv := httptest.NewTLSServer(basicAuth(user, pass, reg))
	t.Cleanup(tlsSrv.Close)

	kc := func(path string, basic map[string]Basic) authn.Keychain {
		k, err := Keychain(path, basic)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tests := []struct {
		name   string
		opts   Options
		repo   string
		wantOK bool
	}{
		{"anonymous is refused", Options{}, local + "/shop/checkout", false},
		{"basic map", Options{Keychain: kc("", map[string]Basic{local: {user, pass}})}, local + "/shop/checkout", true},
		{"wrong password", Options{Keychain: kc("", map[string]Basic{local: {user, "wrong-s3cret"}})}, local + "/shop/checkout", false},
		{"docker config over TLS", Options{
			Keychain:  kc(filepath.FromSlash(dockerConfig), nil),
			Transport: dialAll(tlsSrv.Listener.Addr().String(), tlsSrv),
		}, "example.com/shop/checkout", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.opts)
			tags, terr := c.Tags(t.Context(), tt.repo, false)
			d, rerr := c.Resolve(t.Context(), tt.repo, "1.0.0", false)
			if !tt.wantOK {
				for _, err := range []error{terr, rerr} {
					if err == nil {
						t.Fatal("want an error")
					}
					if !strings.Contains(err.Error(), "UNAUTHORIZED") && !strings.Contains(err.Error(), "401") {
						t.Errorf("error %q does not say unauthorized", err)
					}
					if strings.Contains(err.Error(), "s3cret") {
						t.Errorf("error %q leaks the password", err)
					}
				}
				return
			}
			if terr != nil || rerr != nil {
				t.Fatalf("Tags: %v; Resolve: %v", terr, rerr)
			}
			if !slices.Equal(tags, []string{"1.0.0"}) || d.Digest != want {
				t.Errorf("Tags = %v, Resolve = %s; want [1.0.0], %s", tags, d.Digest, want)
			}
		})
	}
}
