package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/portpath/portpath/report"
)

// Classify names the symptom a connection error shows, from its errno (the net package
// wraps it in *net.OpError and *os.SyscallError) or from its being a timeout. A nil error
// is connected. An error it cannot name gives ""; the caller keeps the raw error text.
// It never looks at the error's text.
func Classify(err error) report.Symptom {
	if err == nil {
		return report.Connected
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return classifyErrno(errno)
	}
	var dnsErr *net.DNSError
	var resErr *ResolveError
	if errors.As(err, &dnsErr) || errors.As(err, &resErr) {
		return report.DNSFailure
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return report.Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return report.Timeout
	}
	return ""
}

// classifyErrno maps the errnos of connect(2) and of a connected socket's read(2);
// research/local-firewall.md §7 has what each server-side situation produces.
func classifyErrno(e syscall.Errno) report.Symptom {
	switch e {
	case syscall.ECONNREFUSED:
		// A TCP reset, or ICMP port unreachable (nothing listens, or REJECT).
		return report.Refused
	case syscall.ECONNRESET:
		// A reset instead of the handshake's answer: the same "something answered no" as a refusal.
		return report.Refused
	case syscall.ENOPROTOOPT:
		// ICMP protocol unreachable (REJECT --reject-with icmp-proto-unreachable): the
		// destination answered at once that it takes no such traffic, which the client
		// experiences as a refusal, not as a missing route or a timeout.
		return report.Refused
	case syscall.ETIMEDOUT:
		return report.Timeout
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return report.NoRoute
	case syscall.EACCES, syscall.EPERM:
		return report.PermissionDenied
	case syscall.EADDRNOTAVAIL:
		return report.AddressNotAvailable
	}
	return ""
}
