//go:build !linux

package sockets

import (
	"context"
	"errors"
)

func sockDiag(context.Context) (map[uint64]Extra, error) {
	return nil, errors.New("sock_diag exists only on Linux")
}
