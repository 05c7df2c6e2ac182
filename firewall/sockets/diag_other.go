//go:build !linux

package sockets

import (
	"context"
	"errors"
)

func sockDiag(context.Context) (map[uint64]Extra, error) {
	return nil, errors.New("sock_diag exists only on Linux")
}

// DumpTCP lists the TCP sockets through sock_diag, which exists only on Linux.
func DumpTCP(context.Context) ([]Socket, error) {
	return nil, errors.New("sock_diag exists only on Linux")
}
