package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"github.com/portpath/portpath/report"
)

// dialErr wraps an errno the way net.Dial does: *net.OpError{Op: "dial"} around *os.SyscallError{"connect"}.
func dialErr(errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp",
		Addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:80")),
		Err:  os.NewSyscallError("connect", errno)}
}

// readErr wraps an errno the way a connected UDP socket's Read does.
func readErr(errno syscall.Errno) error {
	return &net.OpError{Op: "read", Net: "udp",
		Source: net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:40000")),
		Addr:   net.UDPAddrFromAddrPort(netip.MustParseAddrPort("192.0.2.1:53")),
		Err:    os.NewSyscallError("read", errno)}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want report.Symptom
	}{
		{"nil", nil, report.Connected},
		{"dial ECONNREFUSED", dialErr(syscall.ECONNREFUSED), report.Refused},
		{"read ECONNREFUSED", readErr(syscall.ECONNREFUSED), report.Refused},
		{"dial ECONNRESET", dialErr(syscall.ECONNRESET), report.Refused},
		{"dial ENOPROTOOPT", dialErr(syscall.ENOPROTOOPT), report.Refused},
		{"read ENOPROTOOPT", readErr(syscall.ENOPROTOOPT), report.Refused},
		{"dial ETIMEDOUT", dialErr(syscall.ETIMEDOUT), report.Timeout},
		{"dial EHOSTUNREACH", dialErr(syscall.EHOSTUNREACH), report.NoRoute},
		{"read EHOSTUNREACH", readErr(syscall.EHOSTUNREACH), report.NoRoute},
		{"dial ENETUNREACH", dialErr(syscall.ENETUNREACH), report.NoRoute},
		{"dial EACCES", dialErr(syscall.EACCES), report.PermissionDenied},
		{"read EACCES", readErr(syscall.EACCES), report.PermissionDenied},
		{"dial EPERM", dialErr(syscall.EPERM), report.PermissionDenied},
		{"dial EADDRNOTAVAIL", dialErr(syscall.EADDRNOTAVAIL), report.AddressNotAvailable},
		{"bare errno", syscall.ECONNREFUSED, report.Refused},
		{"syscall error", os.NewSyscallError("connect", syscall.EHOSTUNREACH), report.NoRoute},
		{"wrapped again", fmt.Errorf("probe: %w", dialErr(syscall.ECONNREFUSED)), report.Refused},
		{"joined", errors.Join(errors.New("first"), dialErr(syscall.ENETUNREACH)), report.NoRoute},
		{"unknown errno", dialErr(syscall.EINVAL), ""},
		{"EAGAIN is no timeout", dialErr(syscall.EAGAIN), ""},
		{"read deadline", &net.OpError{Op: "read", Net: "udp", Err: os.ErrDeadlineExceeded}, report.Timeout},
		{"dial deadline", &net.OpError{Op: "dial", Net: "tcp", Err: errTimeout}, report.Timeout},
		{"context deadline", context.DeadlineExceeded, report.Timeout},
		{"wrapped context deadline", fmt.Errorf("dial: %w", context.DeadlineExceeded), report.Timeout},
		{"net.Error timeout", timeoutOnly{}, report.Timeout},
		{"dns error", &net.DNSError{Err: "no such host", Name: "nosuch.example", IsNotFound: true}, report.DNSFailure},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}, report.DNSFailure},
		{"canceled", context.Canceled, ""},
		{"eof", io.EOF, ""},
		// Classification never reads the text: an error that only says "refused" is not one.
		{"text only", errors.New("dial tcp 192.0.2.1:80: connect: connection refused"), ""},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("%s: Classify(%v) = %q, want %q", tt.name, tt.err, got, tt.want)
		}
	}
}

// timeoutOnly is a net.Error that is a timeout and nothing else a classifier knows.
type timeoutOnly struct{}

func (timeoutOnly) Error() string   { return "timed out" }
func (timeoutOnly) Timeout() bool   { return true }
func (timeoutOnly) Temporary() bool { return true }
