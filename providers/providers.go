// Package providers is the seam between a check and the clouds: each cloud is a Provider
// that answers, for one target, with the steps of its layers (route, network ACL, security
// group, lightweight-server firewall). A provider only reads its cloud's API.
package providers

import (
	"context"
	"net/netip"

	"github.com/portpath/portpath/report"
)

// Query is what a provider is asked: may Source reach the target's addresses on Proto/Port?
type Query struct {
	// Target is the connection as the user gave it.
	Target report.Target
	// Addrs are the resolved destination addresses; empty means the target did not resolve
	// (the provider can still find the instance by Instance or Name).
	Addrs []netip.Addr
	// Source is the client set; 0.0.0.0/0 stands for the whole internet (::/0 for IPv6 addresses).
	Source netip.Prefix
	// Proto is "tcp" or "udp".
	Proto string
	// Port is the destination port.
	Port uint16
	// Instance names the instance by the cloud's ID (--instance); empty means find it by address.
	Instance string
	// Name names the instance by its name or Name tag (--name); empty means find it by address.
	Name string
}

// Provider is one cloud.
type Provider interface {
	// Name is the provider's short name, the prefix of its layers ("aws").
	Name() string
	// Steps answers q. It never fails the check: what cannot be asked (no credentials, no
	// permission, an API error) is an unknown or skipped step saying why.
	Steps(ctx context.Context, q Query) []report.Step
}
