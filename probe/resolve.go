package probe

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
)

// Resolver looks up the addresses of a name; *net.Resolver (net.DefaultResolver) is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveKind is what the resolver answered when a lookup failed.
type ResolveKind string

const (
	// ResolveNotFound: the name does not exist, or it has no A or AAAA record.
	ResolveNotFound ResolveKind = "not found"
	// ResolveServerFailure: the DNS server failed (SERVFAIL, refused, a broken answer, no server).
	ResolveServerFailure ResolveKind = "server failure"
	// ResolveTimeout: no DNS server answered in time.
	ResolveTimeout ResolveKind = "timeout"
	// ResolveCanceled: the check was stopped before the answer came.
	ResolveCanceled ResolveKind = "canceled"
)

// words says what the kind means for people.
func (k ResolveKind) words() string {
	switch k {
	case ResolveNotFound:
		return "the name does not exist or has no A/AAAA record"
	case ResolveTimeout:
		return "no DNS server answered in time"
	case ResolveCanceled:
		return "the lookup was stopped"
	}
	return "the DNS server failed to answer"
}

// ResolveError is a failed lookup of the target's host.
type ResolveError struct {
	Host string
	Kind ResolveKind
	// Rcode is the DNS answer code (NXDOMAIN, SERVFAIL, REFUSED, NOERROR for a name without
	// addresses); empty when no DNS message said why (a timeout, or the system resolver).
	Rcode string
	// Err is the resolver's error, usually a *net.DNSError.
	Err error
}

func (e *ResolveError) Error() string {
	if e.Rcode != "" {
		return fmt.Sprintf("%s: %s (%v)", e.Rcode, e.Kind.words(), e.Err)
	}
	return fmt.Sprintf("%s (%v)", e.Kind.words(), e.Err)
}
func (e *ResolveError) Unwrap() error { return e.Err }

// Resolve returns every A and AAAA address of host: IPv4 first, then IPv6, each in the
// resolver's order, without duplicates, IPv4-mapped IPv6 addresses as IPv4. An IP literal
// (zone included) is its own answer and is not looked up. A nil r is net.DefaultResolver.
// A failed lookup, or one with no address, is a *ResolveError.
func Resolve(ctx context.Context, r Resolver, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	got, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &ResolveError{Host: host, Kind: resolveKind(err), Err: err}
	}
	out := make([]netip.Addr, 0, len(got))
	for _, a := range got {
		if a = a.Unmap(); a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &ResolveError{Host: host, Kind: ResolveNotFound,
			Err: &net.DNSError{Err: "no A or AAAA record", Name: host, IsNotFound: true}}
	}
	family := func(a netip.Addr) int {
		if a.Is4() {
			return 4
		}
		return 6
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int { return cmp.Compare(family(a), family(b)) })
	return out, nil
}

// resolveKind reads the kind from the error's fields, never from its text.
func resolveKind(err error) ResolveKind {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsTimeout:
			return ResolveTimeout
		case de.IsNotFound:
			return ResolveNotFound
		case errors.Is(de, context.Canceled):
			return ResolveCanceled
		}
		return ResolveServerFailure
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return ResolveCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ResolveTimeout
	}
	return ResolveServerFailure
}
