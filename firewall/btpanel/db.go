package btpanel

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// sqliteHeader starts every SQLite 3 database file.
const sqliteHeader = "SQLite format 3\x00"

// table is a panel table this package reads: the columns it needs and those it can do without.
type table struct {
	name     string
	required []string
	optional []string
}

var (
	tableNew     = table{"firewall_new", []string{"id", "ports", "types"}, []string{"protocol", "address", "brief", "addtime", "domain", "chain"}}
	tableIP      = table{"firewall_ip", []string{"id", "types", "address"}, []string{"brief", "addtime", "domain", "chain"}}
	tableLegacy  = table{"firewall", []string{"id", "port"}, []string{"ps", "addtime"}}
	tableCountry = table{"firewall_country", []string{"id", "types", "country"}, []string{"ports"}}
)

// ReadFile reads the panel's firewall tables from one database file, opened read-only and
// immutable: nothing is written beside the file (no journal, -wal or -shm), and a lock the
// panel holds does not stop the read. Bad files give an error naming the file.
func ReadFile(ctx context.Context, path string) (*Config, error) {
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("btpanel: %s: %w", path, err)
	}
	c := &Config{Files: []string{path}}
	if st, err := os.Stat(abs + "-wal"); err == nil && st.Size() > 0 {
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s-wal exists: rules the panel has not yet written into the main file are not read", path))
	}
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&immutable=1"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("btpanel: open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	tables, err := tableNames(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("btpanel: %s: read the schema: %w", path, err)
	}
	var read []table
	switch {
	case slices.Contains(tables, tableNew.name):
		read = []table{tableNew, tableIP, tableCountry}
	case slices.Contains(tables, tableLegacy.name):
		read = []table{tableLegacy, tableIP, tableCountry}
	default:
		names := strings.Join(tables, ", ")
		if names == "" {
			names = "none"
		}
		return nil, fmt.Errorf("btpanel: %s has no BT panel firewall table (firewall_new or firewall); its tables: %s", path, names)
	}
	for _, t := range read {
		if !slices.Contains(tables, t.name) {
			continue
		}
		rows, err := readTable(ctx, db, t)
		if err != nil {
			return nil, fmt.Errorf("btpanel: %s: %w", path, err)
		}
		for _, row := range rows {
			c.add(t.name, row)
		}
	}
	return c, nil
}

// checkHeader tells an SQLite file from anything else before the driver sees it.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("btpanel: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("btpanel: %w", err)
	}
	if st.IsDir() {
		return fmt.Errorf("btpanel: %s is a directory; name the database file (data/db/firewall.db or data/default.db)", path)
	}
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return fmt.Errorf("btpanel: %s is empty, not a BT panel database", path)
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("btpanel: read %s: %w", path, err)
	}
	if !bytes.Equal(head[:n], []byte(sqliteHeader)) || n < len(sqliteHeader) {
		return fmt.Errorf("btpanel: %s is not an SQLite database (it starts with %q)", path, printable(head[:n]))
	}
	return nil
}

func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '.'
		}
		return r
	}, string(b))
}

func tableNames(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// row is one table row, by column name; NULL reads as "".
type row map[string]string

// readTable reads the columns of t the file has; a missing required column is another
// panel version's schema, named in the error.
func readTable(ctx context.Context, db *sql.DB, t table) ([]row, error) {
	cols, err := columns(ctx, db, t.name)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.name, err)
	}
	var missing, want []string
	for _, c := range t.required {
		if !slices.Contains(cols, c) {
			missing = append(missing, c)
		}
		want = append(want, c)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("table %s lacks column %s (has %s): a schema of another panel version", t.name, strings.Join(missing, ", "), strings.Join(cols, ", "))
	}
	for _, c := range t.optional {
		if slices.Contains(cols, c) {
			want = append(want, c)
		}
	}
	quoted := make([]string, len(want))
	for i, c := range want {
		quoted[i] = `"` + c + `"`
	}
	q := fmt.Sprintf(`SELECT %s FROM "%s" ORDER BY "id"`, strings.Join(quoted, ", "), t.name)
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("table %s: %w", t.name, err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		vals := make([]sql.NullString, len(want))
		ptrs := make([]any, len(want))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("table %s: %w", t.name, err)
		}
		r := row{}
		for i, c := range want {
			r[c] = vals[i].String
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("table %s: %w", t.name, err)
	}
	return out, nil
}

func columns(ctx context.Context, db *sql.DB, name string) ([]string, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`PRAGMA table_info("%s")`, name))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			cid     int
			col, ty string
			notnull int
			dflt    sql.NullString
			pk      int
		)
		if err := rows.Scan(&cid, &col, &ty, &notnull, &dflt, &pk); err != nil {
			return nil, err
		}
		out = append(out, strings.ToLower(col))
	}
	return out, rows.Err()
}
