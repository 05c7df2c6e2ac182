package nftables

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Text renders the rule in nft's text syntax as far as the package knows the
// statements ("ip saddr != @allowed4 tcp dport 22 reject with tcp reset");
// statements it does not know appear as short JSON.
func (r *Rule) Text() string {
	parts := make([]string, 0, len(r.Stmts)+1)
	for _, st := range r.Stmts {
		if s := StmtText(st); s != "" {
			parts = append(parts, s)
		}
	}
	if r.Comment != "" {
		parts = append(parts, "comment "+strconv.Quote(r.Comment))
	}
	return strings.Join(parts, " ")
}

// StmtText renders one statement.
func StmtText(st Stmt) string {
	switch s := st.(type) {
	case *Match:
		left := ExprText(s.Left)
		right := valueText(s.Right, quoteFor(s.Left))
		if isMarkKey(s.Left) {
			right = hexValue(s.Right, right)
		}
		switch {
		case s.Op == "==" || s.Op == "in":
			if _, ok := s.Left.(*Binop); ok {
				return left + " == " + right
			}
			return left + " " + right
		default:
			return left + " " + s.Op + " " + right
		}
	case *Verdict:
		if s.Target != "" {
			return s.Kind + " " + s.Target
		}
		return s.Kind
	case *Reject:
		switch {
		case s.Type == "":
			return "reject"
		case s.Code == "":
			return "reject with " + s.Type
		}
		return "reject with " + s.Type + " " + s.Code
	case *Queue:
		if isNull(s.Raw) {
			return "queue"
		}
		var q struct {
			Num   json.RawMessage `json:"num"`
			Flags json.RawMessage `json:"flags"`
		}
		if json.Unmarshal(s.Raw, &q) == nil && len(q.Num) > 0 {
			return "queue num " + valueText(q.Num, false)
		}
		return "queue"
	case *VMap:
		return ExprText(s.Key) + " vmap " + valueText(s.Data, quoteFor(s.Key))
	case *NATStmt:
		return natText(s)
	case *Mangle:
		v := valueText(s.Value, quoteFor(s.Key))
		if isMarkKey(s.Key) {
			v = hexValue(s.Value, v)
		}
		switch x := rawExpr(s.Value).(type) {
		case *Immediate, *OpaqueExpr, nil:
		default:
			v = ExprText(x)
		}
		return ExprText(s.Key) + " set " + v
	case *Limit:
		return limitText(s)
	case *Passive:
		return passiveText(s)
	case *XT:
		return "xt " + s.Type + " " + s.Name
	case *Opaque:
		return fmt.Sprintf("{%q:%s}", s.Key, compactJSON(s.Raw))
	}
	return ""
}

// unqualified meta keys nft prints without "meta".
var unqualifiedMeta = map[string]bool{"iif": true, "oif": true, "iifname": true, "oifname": true, "iiftype": true, "oiftype": true, "iifgroup": true, "oifgroup": true}

// ExprText renders a left-hand expression ("tcp dport", "ct original ip daddr").
func ExprText(e Expr) string {
	switch x := e.(type) {
	case *Payload:
		if x.Protocol == "" {
			return fmt.Sprintf("@%s,%d,%d", x.Base, x.Offset, x.Len)
		}
		return x.Protocol + " " + x.Field
	case *Meta:
		if unqualifiedMeta[x.Key] {
			return x.Key
		}
		return "meta " + x.Key
	case *Ct:
		if x.Dir != "" {
			return "ct " + x.Dir + " " + x.Key
		}
		return "ct " + x.Key
	case *Fib:
		return "fib " + strings.Join(x.Flags, " . ") + " " + x.Result
	case *Concat:
		parts := make([]string, len(x.Parts))
		for i, p := range x.Parts {
			parts[i] = ExprText(p)
		}
		return strings.Join(parts, " . ")
	case *Binop:
		right := valueText(x.Right, false)
		if v, err := untyped(x.Right); err == nil {
			if l, ok := v.([]any); ok { // flags: (fin|syn|rst|ack)
				parts := make([]string, len(l))
				for i, f := range l {
					parts[i] = anyText(f, false)
				}
				right = "(" + strings.Join(parts, "|") + ")"
			}
		}
		if isMarkKey(x.Left) {
			right = hexValue(x.Right, right)
		}
		return ExprText(x.Left) + " " + x.Op + " " + right
	case *MapLookup:
		return ExprText(x.Key) + " map " + valueText(x.Data, false)
	case *Immediate:
		return valueText(x.Raw, false)
	case *OpaqueExpr:
		var o map[string]any
		if isNull(x.Raw) || json.Unmarshal(x.Raw, &o) != nil {
			return x.Key
		}
		if k, ok := o["key"].(string); ok {
			return x.Key + " " + k
		}
		if m, ok := o["mode"].(string); ok {
			return x.Key + " " + m
		}
		return x.Key
	case nil:
		return ""
	}
	return "?"
}

// isMarkKey reports whether e is a mark, which nft prints in hex.
func isMarkKey(e Expr) bool {
	switch x := e.(type) {
	case *Meta:
		return x.Key == "mark"
	case *Ct:
		return x.Key == "mark"
	case *Binop:
		return isMarkKey(x.Left)
	}
	return false
}

// hexValue prints a plain number as 0x%08x; anything else stays as rendered.
func hexValue(raw json.RawMessage, rendered string) string {
	if n, ok := jsonInt(raw); ok && n >= 0 {
		return fmt.Sprintf("0x%08x", n)
	}
	return rendered
}

// quoteFor says whether string values of this key are quoted (interface names are).
func quoteFor(e Expr) bool {
	switch x := e.(type) {
	case *Meta:
		return x.Key == "iifname" || x.Key == "oifname" || x.Key == "iif" || x.Key == "oif" || x.Key == "ibrname" || x.Key == "obrname"
	case *Fib:
		return x.Result == "oifname" || x.Result == "oif"
	case *Concat:
		for _, p := range x.Parts {
			if quoteFor(p) {
				return true
			}
		}
	}
	return false
}

// valueText renders a right-hand value: 22, "lo", 10.0.0.0/8, 8000-8010, { 80, 443 }, @set.
func valueText(raw json.RawMessage, quote bool) string {
	v, err := untyped(raw)
	if err != nil {
		return clip(raw, 40)
	}
	return anyText(v, quote)
}

func anyText(v any, quote bool) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if quote && !strings.HasPrefix(x, "@") {
			return strconv.Quote(x)
		}
		return x
	case json.Number:
		return string(x)
	case bool:
		if x {
			return "exists"
		}
		return "missing"
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = anyText(p, quote)
		}
		if len(parts) == 2 && isVerdictAny(x[1]) { // a map element
			return parts[0] + " : " + parts[1]
		}
		return strings.Join(parts, ",")
	case map[string]any:
		k, val, ok := single(x)
		if !ok {
			b, _ := json.Marshal(x)
			return clip(b, 40)
		}
		switch k {
		case "set":
			list, isList := val.([]any)
			if !isList {
				list = []any{val}
			}
			parts := make([]string, len(list))
			for i, p := range list {
				if pair, ok := p.([]any); ok && len(pair) == 2 {
					parts[i] = anyText(pair[0], quote) + " : " + anyText(pair[1], quote)
					continue
				}
				parts[i] = anyText(p, quote)
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		case "prefix":
			m, _ := val.(map[string]any)
			return fmt.Sprintf("%v/%v", m["addr"], m["len"])
		case "range":
			ends, _ := val.([]any)
			if len(ends) == 2 {
				return anyText(ends[0], quote) + "-" + anyText(ends[1], quote)
			}
		case "concat":
			parts, _ := val.([]any)
			s := make([]string, len(parts))
			for i, p := range parts {
				s[i] = anyText(p, quote)
			}
			return strings.Join(s, " . ")
		case "elem":
			if m, ok := val.(map[string]any); ok {
				return anyText(m["val"], quote)
			}
		case "accept", "drop", "continue", "return":
			return k
		case "jump", "goto":
			if m, ok := val.(map[string]any); ok {
				return fmt.Sprintf("%s %v", k, m["target"])
			}
		case "payload", "meta", "ct", "fib", "concat ", "&", "|", "^", "map":
			b, _ := json.Marshal(x)
			return ExprText(parseExpr(b))
		}
		b, _ := json.Marshal(x)
		return clip(b, 40)
	}
	return fmt.Sprint(v)
}

func isVerdictAny(v any) bool {
	k, _, ok := single(v)
	switch k {
	case "accept", "drop", "continue", "return", "jump", "goto":
		return ok
	}
	return false
}

func natText(s *NATStmt) string {
	if s.Kind == "masquerade" || (s.Kind == "redirect" && len(s.Port) == 0) {
		return s.Kind
	}
	var b strings.Builder
	b.WriteString(s.Kind)
	if s.Family != "" && s.Kind != "redirect" {
		b.WriteString(" " + s.Family)
	}
	b.WriteString(" to ")
	addr := ""
	if len(s.Addr) > 0 {
		if e, ok := rawExpr(s.Addr).(*MapLookup); ok {
			addr = ExprText(e)
		} else {
			addr = valueText(s.Addr, false)
			if strings.Contains(addr, ":") && len(s.Port) > 0 {
				addr = "[" + addr + "]"
			}
		}
	}
	b.WriteString(addr)
	if len(s.Port) > 0 {
		if e, ok := rawExpr(s.Port).(*MapLookup); ok {
			b.WriteString(":" + ExprText(e))
		} else {
			b.WriteString(":" + valueText(s.Port, false))
		}
	}
	return b.String()
}

func limitText(s *Limit) string {
	m := map[string]any{}
	_ = json.Unmarshal(s.Raw, &m)
	over := ""
	if s.Inv {
		over = "over "
	}
	switch s.Kind {
	case "limit":
		unit := ""
		if u, ok := m["rate_unit"].(string); ok && u != "packets" {
			unit = " " + u
		}
		t := fmt.Sprintf("limit rate %s%v%s/%v", over, m["rate"], unit, m["per"])
		if b, ok := m["burst"].(float64); ok && b > 0 && b != 5 {
			t += fmt.Sprintf(" burst %v packets", b)
		}
		return t
	case "quota":
		return fmt.Sprintf("quota %s%v %v", over, m["val"], m["val_unit"])
	case "ct count":
		return fmt.Sprintf("ct count %s%v", over, m["val"])
	case "meter":
		name, _ := m["name"].(string)
		return "meter " + name
	}
	return s.Kind
}

func passiveText(s *Passive) string {
	switch s.Kind {
	case "counter":
		if len(s.Raw) > 0 && s.Raw[0] == '"' {
			return "counter name " + valueText(s.Raw, true)
		}
		return "counter"
	case "log":
		var l struct {
			Prefix string `json:"prefix"`
		}
		if json.Unmarshal(s.Raw, &l) == nil && l.Prefix != "" {
			return "log prefix " + strconv.Quote(l.Prefix)
		}
		return "log"
	case "notrack":
		return "notrack"
	case "set", "map":
		var u struct {
			Op  string `json:"op"`
			Set string `json:"set"`
		}
		if json.Unmarshal(s.Raw, &u) == nil {
			return u.Op + " " + u.Set
		}
	}
	if isNull(s.Raw) {
		return s.Kind
	}
	return s.Kind + " " + clip(s.Raw, 40)
}

// compactJSON is a short one-line JSON of a value.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return clip(raw, 60)
	}
	return clip(b.Bytes(), 60)
}
