package tencent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
)

// tokenEnv are the variables a session token is read from, first set wins.
var tokenEnv = []string{"TENCENTCLOUD_SESSION_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN", "TENCENTCLOUD_TOKEN"}

// errNoCredentials is returned when no source gives credentials.
var errNoCredentials = errors.New("tencent: no credentials")

// keys are credentials as read from one source; they never appear in output.
type keys struct {
	id, secret, token string
	region            string
}

// credentials finds credentials, in order: the environment, the SDK's credentials file, the
// tccli profile, the CVM role (only when a metadata URL is set and TENCENTCLOUD_METADATA_DISABLED
// is not true). It returns the home region
// (where DescribeRegions is asked) when a source names one.
func (p *Provider) credentials(ctx context.Context) (*common.Credential, string, error) {
	region := os.Getenv("TENCENTCLOUD_REGION")
	pick := func(k keys) (*common.Credential, string, error) {
		if region == "" {
			region = k.region
		}
		if k.token != "" {
			return common.NewTokenCredential(k.id, k.secret, k.token), region, nil
		}
		return common.NewCredential(k.id, k.secret), region, nil
	}
	id, secret := os.Getenv("TENCENTCLOUD_SECRET_ID"), os.Getenv("TENCENTCLOUD_SECRET_KEY")
	switch {
	case id != "" && secret != "":
		k := keys{id: id, secret: secret}
		for _, e := range tokenEnv {
			if k.token = os.Getenv(e); k.token != "" {
				break
			}
		}
		return pick(k)
	case id != "":
		return nil, "", errors.New("tencent: TENCENTCLOUD_SECRET_ID is set but TENCENTCLOUD_SECRET_KEY is not")
	case secret != "":
		return nil, "", errors.New("tencent: TENCENTCLOUD_SECRET_KEY is set but TENCENTCLOUD_SECRET_ID is not")
	}
	home, _ := os.UserHomeDir()
	prof := p.opts.Profile
	if prof == "" {
		prof = os.Getenv("TCCLI_PROFILE")
	}
	if prof == "" {
		prof = "default"
	}
	file := os.Getenv("TENCENTCLOUD_CREDENTIALS_FILE")
	if file == "" && home != "" {
		file = filepath.Join(home, ".tencentcloud", "credentials")
	}
	if file != "" {
		k, err := readINICredentials(file, prof)
		if err != nil {
			return nil, "", err
		}
		if k.id != "" {
			return pick(k)
		}
	}
	if home != "" {
		k, err := readTccli(filepath.Join(home, ".tccli"), prof)
		if err != nil {
			return nil, "", err
		}
		if k.id != "" {
			return pick(k)
		}
	}
	if p.opts.MetadataURL != "" && !metadataDisabled() {
		k, err := roleCredentials(ctx, p.opts.MetadataURL)
		if err != nil {
			return nil, "", fmt.Errorf("%w (CVM role: %v)", errNoCredentials, err)
		}
		return pick(k)
	}
	return nil, "", errNoCredentials
}

// metadataDisabled reports whether TENCENTCLOUD_METADATA_DISABLED turns the CVM role lookup off.
func metadataDisabled() bool {
	switch strings.ToLower(os.Getenv("TENCENTCLOUD_METADATA_DISABLED")) {
	case "1", "true", "yes":
		return true
	}
	return false
}

// parseINI reads an INI file into sections of keys; name is used in errors.
func parseINI(name string, r io.Reader) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	sec := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: bad section header", name, n)
			}
			sec = strings.TrimSpace(line[1 : len(line)-1])
			if out[sec] == nil {
				out[sec] = map[string]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s:%d: expected key = value", name, n)
		}
		if sec == "" {
			return nil, fmt.Errorf("%s:%d: key outside a section", name, n)
		}
		out[sec][strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// readINICredentials reads ~/.tencentcloud/credentials: section [default] (or the profile's),
// keys secret_id, secret_key and optionally token and region. A missing file gives no keys.
func readINICredentials(path, prof string) (keys, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return keys{}, nil
	}
	if err != nil {
		return keys{}, fmt.Errorf("tencent: read %s: %w", path, err)
	}
	defer f.Close()
	ini, err := parseINI(path, f)
	if err != nil {
		return keys{}, fmt.Errorf("tencent: %w", err)
	}
	s := ini[prof]
	if s == nil {
		s = ini["default"]
	}
	k := keys{id: s["secret_id"], secret: s["secret_key"], token: s["token"], region: s["region"]}
	if (k.id == "") != (k.secret == "") {
		return keys{}, fmt.Errorf("tencent: %s: the section needs both secret_id and secret_key", path)
	}
	return k, nil
}

// tccliCredential is ~/.tccli/<profile>.credential.
type tccliCredential struct {
	SecretID  string `json:"secretId"`
	SecretKey string `json:"secretKey"`
	Token     string `json:"token"`
}

// tccliConfigure is ~/.tccli/<profile>.configure.
type tccliConfigure struct {
	SysParam struct {
		Region string `json:"region"`
	} `json:"_sys_param"`
}

// parseTccli reads a tccli credential file; name is used in errors.
func parseTccli(name string, data []byte) (keys, error) {
	var c tccliCredential
	if err := json.Unmarshal(data, &c); err != nil {
		return keys{}, fmt.Errorf("tencent: %s: not a tccli credential file: %v", name, err)
	}
	if (c.SecretID == "") != (c.SecretKey == "") {
		return keys{}, fmt.Errorf("tencent: %s: needs both secretId and secretKey", name)
	}
	return keys{id: c.SecretID, secret: c.SecretKey, token: c.Token}, nil
}

// readTccli reads the tccli profile's credential and configure files; missing files give no keys.
func readTccli(dir, prof string) (keys, error) {
	path := filepath.Join(dir, prof+".credential")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return keys{}, nil
	}
	if err != nil {
		return keys{}, fmt.Errorf("tencent: read %s: %w", path, err)
	}
	k, err := parseTccli(path, data)
	if err != nil {
		return keys{}, err
	}
	if conf, err := os.ReadFile(filepath.Join(dir, prof+".configure")); err == nil {
		var c tccliConfigure
		if json.Unmarshal(conf, &c) == nil {
			k.region = c.SysParam.Region
		}
	}
	return k, nil
}

// roleCredential is the metadata service's answer for a role.
type roleCredential struct {
	TmpSecretID  string `json:"TmpSecretId"`
	TmpSecretKey string `json:"TmpSecretKey"`
	Token        string `json:"Token"`
	Code         string `json:"Code"`
}

// roleCredentials asks the CVM metadata service for the bound role's temporary keys, within roleTimeout.
func roleCredentials(ctx context.Context, base string) (keys, error) {
	ctx, cancel := context.WithTimeout(ctx, roleTimeout)
	defer cancel()
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("the metadata service did not answer within %v", roleTimeout)
			}
			return nil, errors.New("the metadata service cannot be reached")
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the metadata service answered %s (no role bound?)", resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	}
	const dir = "/latest/meta-data/cam/security-credentials/"
	b, err := get(dir)
	if err != nil {
		return keys{}, err
	}
	role := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if role == "" || strings.ContainsAny(role, "/?#") {
		return keys{}, errors.New("no CAM role is bound to this CVM")
	}
	b, err = get(dir + role)
	if err != nil {
		return keys{}, err
	}
	var rc roleCredential
	if err := json.Unmarshal(b, &rc); err != nil || rc.TmpSecretID == "" || rc.TmpSecretKey == "" {
		return keys{}, fmt.Errorf("the metadata service gave no usable credentials for role %s", role)
	}
	return keys{id: rc.TmpSecretID, secret: rc.TmpSecretKey, token: rc.Token}, nil
}
