package btpanel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portpath/portpath/firewall/frontend"
)

// newSchema is the firewall.db schema of current panels (config/databases.json).
var newSchema = []string{
	"CREATE TABLE `firewall` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `port` TEXT, `ps` TEXT, `addtime` TEXT)",
	"CREATE TABLE `firewall_country` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `types` TEXT, `country` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '', `ports` TEXT DEFAULT '')",
	"CREATE TABLE `firewall_domain` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `types` TEXT, `domain` TEXT, `domain_total` TEXT, `port` TEXT, `sid` int DEFAULT 0, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `protocol` TEXT DEFAULT '', `addtime` TEXT DEFAULT '')",
	"CREATE TABLE `firewall_ip` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `types` TEXT, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '', `sid` int DEFAULT 0, `domain` TEXT DEFAULT '', `chain` TEXT DEFAULT '')",
	"CREATE TABLE `firewall_new` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `protocol` TEXT DEFAULT '', `ports` TEXT, `types` TEXT, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '', `domain` TEXT DEFAULT '', `sid` int DEFAULT 0, `chain` TEXT DEFAULT '')",
	"CREATE TABLE `firewall_trans` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `start_port` TEXT, `ended_ip` TEXT, `ended_port` TEXT, `protocol` TEXT DEFAULT '', `addtime` TEXT DEFAULT '')",
	"CREATE TABLE `firewall_malicious_ip` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `address` TEXT DEFAULT '', `brief` TEXT DEFAULT '', `addtime` TEXT DEFAULT '')",
}

// oldSchema is the default.db of panels before the split: the legacy firewall table among the others.
var oldSchema = []string{
	"CREATE TABLE `config` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `webserver` TEXT, `backup_path` TEXT, `sites_path` TEXT, `status` INTEGER, `mysql_root` TEXT)",
	"CREATE TABLE `firewall` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `port` TEXT, `ps` TEXT, `addtime` TEXT)",
	"CREATE TABLE `sites` (`id` INTEGER PRIMARY KEY AUTOINCREMENT, `name` TEXT, `path` TEXT, `status` TEXT, `index` TEXT, `ps` TEXT, `addtime` TEXT)",
}

// seedNew are the rows a fresh panel has (80, 21, 22, the panel port) plus a user's own.
var seedNew = []string{
	"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '80', 'accept', '', '网站默认端口', '2024-05-01 10:00:00')",
	"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '21', 'accept', '', 'FTP默认端口', '2024-05-01 10:00:00')",
	"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '22', 'accept', '', 'SSH远程服务', '2024-05-01 10:00:00')",
	"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp', '8888', 'accept', '', '宝塔Linux面板默认端口', '2024-05-01 10:00:00')",
	"INSERT INTO firewall (port, ps, addtime) VALUES ('80', '网站默认端口', '2024-05-01 10:00:00')",
}

// makeDB creates an SQLite database at path with the statements run in order.
func makeDB(t testing.TB, path string, stmts ...string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return path
}

// newDB makes a current firewall.db holding the seed rows and extra in a fresh directory.
func newDB(t testing.TB, extra ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data", "db")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return makeDB(t, filepath.Join(dir, "firewall.db"), slices.Concat(newSchema, seedNew, extra)...)
}

// listing is the names, sizes and modification times of a directory's entries.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %d %s", e.Name(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano)))
	}
	return out
}

func TestReadBothSchemas(t *testing.T) {
	newPath := newDB(t,
		"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime) VALUES ('tcp/udp', '8000-8100,9000', 'accept', '198.51.100.0/24', 'ws', '2024-06-01 12:00:00')",
		"INSERT INTO firewall_new (protocol, ports, types, address, brief, addtime, chain) VALUES ('tcp', '25', 'drop', '', 'smtp out', '2024-06-01 12:00:00', 'OUTPUT')",
		"INSERT INTO firewall_ip (types, address, brief, addtime, chain) VALUES ('drop', '203.0.113.5-203.0.113.9', 'scanner', '2024-06-02 08:00:00', 'INPUT')",
		"INSERT INTO firewall_country (types, country, ports) VALUES ('drop', 'US', '3306')",
		"INSERT INTO firewall_new (protocol, ports, types) VALUES ('tcp', '80a', 'accept')",
	)
	oldDir := t.TempDir()
	oldPath := makeDB(t, filepath.Join(oldDir, "default.db"), append(oldSchema,
		"INSERT INTO firewall (port, ps, addtime) VALUES ('22', 'SSH远程服务', '2019-01-01 00:00:00')",
		"INSERT INTO firewall (port, ps, addtime) VALUES ('39000:40000', 'FTP被动端口范围', '2019-01-01 00:00:00')",
		"INSERT INTO firewall (port, ps, addtime) VALUES ('8282', 'workerman', '2019-01-02 00:00:00')",
		"INSERT INTO firewall (port, ps, addtime) VALUES ('192.0.2.0/24', '屏蔽', '2019-01-03 00:00:00')",
		"INSERT INTO firewall (port, ps, addtime) VALUES ('hello', '', '')",
	)...)

	tests := []struct {
		name       string
		path       string
		wantRules  []string
		wantUnread int
		wantCtry   int
	}{
		{"firewall.db", newPath, []string{
			"port 80/tcp accept from all (ps: 网站默认端口; added 2024-05-01 10:00:00)",
			"port 21/tcp accept from all (ps: FTP默认端口; added 2024-05-01 10:00:00)",
			"port 22/tcp accept from all (ps: SSH远程服务; added 2024-05-01 10:00:00)",
			"port 8888/tcp accept from all (ps: 宝塔Linux面板默认端口; added 2024-05-01 10:00:00)",
			"port 8000-8100,9000/tcp+udp accept from 198.51.100.0/24 (ps: ws; added 2024-06-01 12:00:00)",
			"IP 203.0.113.5-203.0.113.9 drop on every port (ps: scanner; added 2024-06-02 08:00:00)",
		}, 1, 1},
		{"default.db", oldPath, []string{
			"port 22/tcp accept from all (ps: SSH远程服务; added 2019-01-01 00:00:00)",
			"port 39000:40000/tcp accept from all (ps: FTP被动端口范围; added 2019-01-01 00:00:00)",
			"port 8282/tcp+udp accept from all (ps: workerman; added 2019-01-02 00:00:00)",
			"IP 192.0.2.0/24 drop on every port (ps: 屏蔽; added 2019-01-03 00:00:00)",
		}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ReadFile(t.Context(), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := range c.Rules {
				got = append(got, c.Rules[i].Text())
			}
			if !slices.Equal(got, tt.wantRules) {
				t.Errorf("rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantRules, "\n"))
			}
			if len(c.Unread) != tt.wantUnread || len(c.Countries) != tt.wantCtry {
				t.Errorf("unread %q, countries %v; want %d unread, %d countries", c.Unread, c.Countries, tt.wantUnread, tt.wantCtry)
			}
		})
	}
}

// TestOpenWritesNothing: the panel's directory is unchanged after reading, even for a
// database in WAL mode whose -wal and -shm files a normal reader would create or touch.
func TestOpenWritesNothing(t *testing.T) {
	for _, mode := range []string{"delete", "wal"} {
		t.Run(mode, func(t *testing.T) {
			path := newDB(t, "PRAGMA journal_mode="+mode)
			dir := filepath.Dir(path)
			before := listing(t, dir)
			fe, err := Open(t.Context(), frontend.Source{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(fe.(*Panel).Config().Rules); n != 4 {
				t.Errorf("%d rules; want the 4 seed rules", n)
			}
			if after := listing(t, dir); !slices.Equal(before, after) {
				t.Errorf("the directory changed:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := newDB(t)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte{}, raw...)
	for i := 100; i < len(corrupt); i++ { // keep the header, scramble the pages
		corrupt[i] = byte(i * 7)
	}
	truncated := raw[:len(raw)/3]

	tests := []struct {
		name string
		path string
		want string // words the error must contain
	}{
		{"not SQLite", write("firewall.txt", []byte("port,ps\n8282,ws\n")), "is not an SQLite database"},
		{"empty", write("empty.db", nil), "is empty"},
		{"directory", dir, "is a directory"},
		{"corrupt pages", write("corrupt.db", corrupt), "corrupt.db"},
		{"truncated", write("truncated.db", truncated), "truncated.db"},
		{"another program's database", makeDB(t, filepath.Join(dir, "other.db"), "CREATE TABLE users (id INTEGER, name TEXT)"), "no BT panel firewall table"},
		{"another panel version", makeDB(t, filepath.Join(dir, "version.db"), "CREATE TABLE firewall_new (id INTEGER PRIMARY KEY, port TEXT, strategy TEXT)"), "lacks column ports, types"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(t.Context(), frontend.Source{Path: tt.path})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Base(tt.path)) {
				t.Errorf("error %q does not say %q about %s", err, tt.want, filepath.Base(tt.path))
			}
			t.Log(err)
			if errors.Is(err, frontend.ErrAbsent) {
				t.Error("a bad file is not an absent panel")
			}
		})
	}
}

// TestLockedByPanel: a panel holding a write lock (and an uncommitted change) neither
// blocks the read nor shows through: the committed rules are read.
func TestLockedByPanel(t *testing.T) {
	path := newDB(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(t.Context(), "INSERT INTO firewall_new (protocol, ports, types) VALUES ('tcp', '9999', 'accept')"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := ReadFile(ctx, path)
	if err != nil {
		t.Fatalf("read under the panel's lock: %v", err)
	}
	if len(c.Rules) != 4 {
		t.Errorf("%d rules; want the 4 committed ones", len(c.Rules))
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLive(t *testing.T) {
	root := filepath.Join(t.TempDir(), "panel")
	if _, err := open(t.Context(), frontend.Source{Live: true}, root); !errors.Is(err, frontend.ErrAbsent) {
		t.Fatalf("no panel installed: %v; want ErrAbsent", err)
	}
	if _, err := open(t.Context(), frontend.Source{}, root); !errors.Is(err, frontend.ErrAbsent) {
		t.Fatalf("offline without a file: %v; want ErrAbsent", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "data", "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t.Context(), frontend.Source{Live: true}, root); err == nil || !strings.Contains(err.Error(), "firewall.db") {
		t.Fatalf("panel without a database: %v; want an error naming firewall.db", err)
	}
	// an old panel: only data/default.db
	makeDB(t, filepath.Join(root, "data", "default.db"), append(oldSchema, "INSERT INTO firewall (port, ps, addtime) VALUES ('8282', 'ws', '')")...)
	if err := os.WriteFile(filepath.Join(root, "data", "port.pl"), []byte("12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fe, err := open(t.Context(), frontend.Source{Live: true}, root)
	if err != nil {
		t.Fatal(err)
	}
	c := fe.(*Panel).Config()
	if len(c.Rules) != 1 || c.PanelPort != 12345 || c.Tool == "" || c.Files[0] != filepath.Join(root, "data", "default.db") {
		t.Errorf("old panel: files %v, %d rules, panel port %d, tool %q", c.Files, len(c.Rules), c.PanelPort, c.Tool)
	}
	// a newer panel: data/db/firewall.db wins over default.db
	makeDB(t, filepath.Join(root, "data", "db", "firewall.db"), slices.Concat(newSchema, seedNew)...)
	fe, err = open(t.Context(), frontend.Source{Live: true}, root)
	if err != nil {
		t.Fatal(err)
	}
	if c := fe.(*Panel).Config(); len(c.Rules) != 4 || !strings.HasSuffix(c.Files[0], "firewall.db") {
		t.Errorf("new panel: files %v, %d rules", c.Files, len(c.Rules))
	}
	// offline, port.pl is found beside the copied data/ directory
	fe, err = open(t.Context(), frontend.Source{Path: filepath.Join(root, "data", "db", "firewall.db")}, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	if c := fe.(*Panel).Config(); c.PanelPort != 12345 {
		t.Errorf("offline panel port %d; want 12345 from data/port.pl", c.PanelPort)
	}
}

func TestHostTool(t *testing.T) {
	tests := []struct {
		files []string
		want  string
	}{
		{[]string{"/usr/sbin/firewalld", "/usr/bin/yum"}, "firewalld"},
		{[]string{"/etc/redhat-release"}, "firewalld"},
		{[]string{"/usr/bin/apt-get", "/usr/sbin/ufw"}, "ufw"},
		{[]string{"/usr/bin/apt-get"}, "ufw"},
		{nil, "iptables"},
	}
	for _, tt := range tests {
		if got := hostTool(func(p string) bool { return slices.Contains(tt.files, p) }); got != tt.want {
			t.Errorf("%v: %s; want %s", tt.files, got, tt.want)
		}
	}
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePort writes the panel's port.pl into a copied data/ directory.
func writePort(t testing.TB, dataDir, port string) {
	t.Helper()
	writeFile(t, filepath.Join(dataDir, "port.pl"), port+"\n")
}

// TestWALBeside: changes waiting in a -wal file are not read; the step says so.
func TestWALBeside(t *testing.T) {
	path := newDB(t)
	writeFile(t, path+"-wal", "pending frames")
	c, err := ReadFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "firewall.db-wal exists") {
		t.Errorf("warnings %q; want one about the -wal file", c.Warnings)
	}
}
