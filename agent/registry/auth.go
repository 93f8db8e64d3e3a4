package registry

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// Basic is a username and password for one registry host.
type Basic struct {
	Username string
	Password string
}

// String hides the password from %v and %s.
func (b Basic) String() string { return b.Username + ":<redacted>" }

// GoString hides the password from %#v.
func (b Basic) GoString() string {
	return fmt.Sprintf("registry.Basic{Username:%q, Password:<redacted>}", b.Username)
}

// LogValue hides the password from slog.
func (b Basic) LogValue() slog.Value { return slog.StringValue(b.String()) }

// keychain answers from explicit basic credentials first, then from one
// Docker config.json, else anonymously.
type keychain struct {
	basic      map[string]Basic // by normalised registry host
	docker     *configfile.ConfigFile
	dockerPath string
}

// Keychain returns credentials for registries: basic entries (keyed by
// registry host, e.g. "registry.example:5000"; "docker.io" means Docker Hub)
// win, then the Docker config.json at dockerConfigPath (its auths and any
// credential helpers it names), else anonymous access. An empty path skips
// the Docker config; a named file must exist and parse. The file is read
// once, here, without touching DOCKER_CONFIG or other process state.
func Keychain(dockerConfigPath string, basic map[string]Basic) (authn.Keychain, error) {
	k := &keychain{basic: make(map[string]Basic, len(basic)), dockerPath: dockerConfigPath}
	for host, b := range basic {
		reg, err := name.NewRegistry(host)
		if host == "" || err != nil {
			return nil, fmt.Errorf("basic auth: registry host %q is not a valid host[:port]", host)
		}
		if b.Username == "" {
			return nil, fmt.Errorf("basic auth for %s: empty username", host)
		}
		k.basic[reg.RegistryStr()] = b
	}
	if dockerConfigPath == "" {
		return k, nil
	}
	f, err := os.Open(dockerConfigPath)
	if err != nil {
		return nil, fmt.Errorf("read docker config: %w", err)
	}
	defer f.Close()
	cf, err := config.LoadFromReader(f)
	if err != nil {
		// The decoder's errors name offsets and characters, never values.
		return nil, fmt.Errorf("parse docker config %s: %w", dockerConfigPath, err)
	}
	k.docker = cf
	return k, nil
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	if b, ok := k.basic[target.RegistryStr()]; ok {
		return authn.FromConfig(authn.AuthConfig{Username: b.Username, Password: b.Password}), nil
	}
	if k.docker == nil {
		return authn.Anonymous, nil
	}
	// The same keys, in the same order, as authn.DefaultKeychain: a
	// repository-specific entry, then the registry's.
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err := k.docker.GetAuthConfig(key)
		if err != nil {
			return nil, fmt.Errorf("docker config %s: credentials for %s: %w", k.dockerPath, key, err)
		}
		if cfg.Username == "" && cfg.Password == "" && cfg.Auth == "" &&
			cfg.IdentityToken == "" && cfg.RegistryToken == "" {
			continue
		}
		return authn.FromConfig(authn.AuthConfig{
			Username:      cfg.Username,
			Password:      cfg.Password,
			Auth:          cfg.Auth,
			IdentityToken: cfg.IdentityToken,
			RegistryToken: cfg.RegistryToken,
		}), nil
	}
	return authn.Anonymous, nil
}
